"""Silver against a corpus of bad input, late events and its typed views, on the real stream."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ad_marketing_pipeline.config import PipelineConfig, TableKey
from ad_marketing_pipeline.io import StreamTrigger
from ad_marketing_pipeline.pipeline import run_layers
from ad_marketing_pipeline.provisioning import create_views, ensure_tables
from ad_marketing_pipeline.runtime import prepare_runtime
from ad_marketing_pipeline.silver.stream import SILVER
from ad_marketing_pipeline.tables import BRONZE_SCHEMA
from ad_marketing_pipeline.views import SILVER_EVENT_TYPE_VIEWS, event_type_view_columns
from helpers import assert_frames_equal

AN_HOUR_AGO = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def click(**overrides: Any) -> str:
    """The original pipeline's click, an hour old; `...` removes a field."""
    event = {
        "event_type": "ad_click",
        "click_id": f"c-{uuid.uuid4().hex[:8]}",
        "advertiser": "advertiser-123",
        "ad_id": "ad-456",
        "amount": 0.5,
        "budget_value": 1000.0,
        "timestamp": stamp(AN_HOUR_AGO),
    }
    merged = {key: value for key, value in {**event, **overrides}.items() if value is not ...}
    return json.dumps(merged, ensure_ascii=False)


def with_raw_amount(raw: str) -> str:
    """A click whose amount is written as the given raw JSON text (e.g. NaN)."""
    return click(amount=0.25).replace('"amount": 0.25', f'"amount": {raw}')


def conversion(**overrides: Any) -> str:
    event = {"event_type": "conversion", "conversion_id": "v-9", "user_id": "u-1", "revenue": 20}
    return json.dumps({**event, "timestamp": stamp(AN_HOUR_AGO), **overrides})


def budget(**overrides: Any) -> str:
    event = {"event_type": "budget_update", "advertiser_id": "adv-1", "budget_value": 100}
    return json.dumps({**event, "timestamp": stamp(AN_HOUR_AGO), **overrides})


# name -> (payload, the reason codes it must be quarantined with)
BAD_INPUT: dict[str, tuple[str, set[str]]] = {
    "not json": ("definitely not json", {"malformed_json"}),
    "truncated json": (click()[:45], {"malformed_json"}),
    "json array instead of object": (f"[{click()}]", {"malformed_json"}),
    "json string": ('"ad_click"', {"malformed_json"}),
    "json null": ("null", {"malformed_json"}),
    "empty line": ("", {"malformed_json"}),
    "empty object": ("{}", {"unknown_event_type"}),
    "nulls everywhere": (
        json.dumps(dict.fromkeys(json.loads(click()))),
        {"unknown_event_type"},
    ),
    "nulls everywhere but the type": (
        json.dumps({**dict.fromkeys(json.loads(click())), "event_type": "ad_click"}),
        {"missing_required_field"},
    ),
    "unknown event type": (click(event_type="ad_view"), {"unknown_event_type"}),
    "wrong-case event type": (click(event_type="Ad_Click"), {"unknown_event_type"}),
    "zero-width space in event type": (click(event_type="ad\u200bclick"), {"unknown_event_type"}),
    "event type is a number": (click(event_type=7), {"unknown_event_type"}),
    "missing click_id": (click(click_id=...), {"missing_required_field"}),
    "missing both advertiser fields": (click(advertiser=...), {"missing_required_field"}),
    "amount is text": (click(amount="cheap"), {"wrong_type"}),
    "amount is nested garbage": (click(amount={"a": [1, {"b": None}]}), {"wrong_type"}),
    "amount is a boolean": (click(amount=True), {"wrong_type"}),
    "amount NaN": (with_raw_amount("NaN"), {"wrong_type"}),
    "amount Infinity": (with_raw_amount("Infinity"), {"wrong_type"}),
    "amount -Infinity": (with_raw_amount("-Infinity"), {"wrong_type"}),
    "amount 1e400": (with_raw_amount("1e400"), {"wrong_type"}),
    "amount with 30 digits": (with_raw_amount("123456789012345678901234567890"), {"wrong_type"}),
    "negative amount": (click(amount=-0.01), {"negative_value"}),
    "negative revenue": (conversion(revenue=-5), {"negative_value"}),
    "negative budget": (budget(budget_value=-1), {"negative_value"}),
    "unparsable timestamp": (click(timestamp="yesterday noon"), {"unparsable_timestamp"}),
    "epoch number as timestamp": (click(timestamp=1_704_067_200), {"unparsable_timestamp"}),
    "timestamp a day ahead": (
        click(timestamp=stamp(AN_HOUR_AGO + timedelta(days=1))),
        {"timestamp_in_future"},
    ),
    "timestamp older than retention": (
        click(timestamp="2001-09-09T01:46:40Z"),
        {"timestamp_too_old"},
    ),
    "currency of four letters": (click(currency="EURO"), {"invalid_currency"}),
    "lowercase currency": (click(currency="usd"), {"invalid_currency"}),
    "unknown budget period": (budget(budget_period="fortnight"), {"invalid_value"}),
    "oversized payload": (click(campaign_name="x" * 5_000), {"oversized_payload"}),
    "lone surrogate in an id": (
        click(click_id="PLACEHOLDER").replace("PLACEHOLDER", "\\ud800"),
        {"invalid_unicode"},
    ),
    "several faults at once": (
        click(click_id=..., amount=-3, currency="dollars"),
        {"missing_required_field", "negative_value", "invalid_currency"},
    ),
}

GOOD_INPUT: dict[str, str] = {
    "the original pipeline's click": click(click_id="c-original"),
    "odd but valid Unicode": click(
        click_id="c-\U0001f600-\u202e-广告", advertiser="广告主 \u00e9\u0301", ad_id="ad-\u0000x"
    ),
    "escaped surrogate pair": click(click_id="PAIR").replace("PAIR", "c-\\ud83d\\ude00"),
    "nested metadata": click(click_id="c-meta", metadata={"a": {"b": [1, 2]}, "n": None}),
    "unknown extra fields": click(click_id="c-extra", experiment={"arm": "B"}, score=0.7),
    "byte-order mark first": "\ufeff" + click(click_id="c-bom"),
    "conversion": conversion(conversion_id="v-1"),
    "budget update": budget(budget_period="month"),
    "page view": json.dumps(
        {"event_type": "page_view", "user_id": "u-1", "timestamp": stamp(AN_HOUR_AGO)}
    ),
    "impression without amount": json.dumps(
        {
            "event_type": "impression",
            "advertiser": "advertiser-123",
            "ad_id": "ad-456",
            "timestamp": stamp(AN_HOUR_AGO),
        }
    ),
}
# The same click_id twice with different payloads: the first received wins, the second is a
# duplicate (counted, not quarantined).
FIRST_OF_DUPLICATE = click(click_id="c-dup", amount=1.0)
SECOND_OF_DUPLICATE = click(click_id="c-dup", amount=9.0)


def corpus_config(root: Path) -> PipelineConfig:
    return PipelineConfig.model_validate(
        {
            "env": "test",
            "schema": f"corpus_{uuid.uuid4().hex[:10]}",
            "paths": {"root": str(root)},
            "quality": {"max_event_age_days": 365, "max_payload_bytes": 4_000},
        }
    )


def bronze_records(spark: SparkSession, payloads: Sequence[str], first_offset: int) -> DataFrame:
    """Bronze rows as the Kafka source writes them, one offset per payload in order."""
    received = datetime.now(UTC).replace(tzinfo=None)
    rows = [
        {
            "payload": payload,
            "source_kind": "kafka",
            "topic": "ad-events",
            "partition": 0,
            "offset": first_offset + number,
            "ingested_at": received,
            "ingest_date": received.date(),
        }
        for number, payload in enumerate(payloads)
    ]
    return spark.createDataFrame(rows, BRONZE_SCHEMA)


def append_to_bronze(
    spark: SparkSession, config: PipelineConfig, payloads: Sequence[str], first_offset: int
) -> None:
    records = bronze_records(spark, payloads, first_offset)
    records.write.format("delta").mode("append").saveAsTable(config.table(TableKey.BRONZE_EVENTS))


def run_silver(spark: SparkSession, config: PipelineConfig) -> None:
    run_layers(prepare_runtime(spark, config, environ={}), ["silver"], StreamTrigger())


def provisioned(spark: SparkSession, root: Path) -> PipelineConfig:
    config = corpus_config(root)
    runtime = prepare_runtime(spark, config, environ={})
    ensure_tables(runtime, SILVER.tables)
    return config


@pytest.mark.slow
def test_every_kind_of_bad_input_is_quarantined_for_its_reason_and_no_good_event_is_lost(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = provisioned(spark, tmp_path)
    bad = [payload for payload, _ in BAD_INPUT.values()]
    good = list(GOOD_INPUT.values())
    # Bad records, each followed by a good one (good ones repeat: producer retries), then the
    # duplicate pair, over two Bronze commits.
    good_repeated = [good[number % len(good)] for number in range(len(bad))]
    mixed = [payload for pair in zip(bad, good_repeated, strict=True) for payload in pair]
    first_half = [*mixed[: len(mixed) // 2], FIRST_OF_DUPLICATE]
    second_half = [*mixed[len(mixed) // 2 :], SECOND_OF_DUPLICATE]
    append_to_bronze(spark, config, first_half, first_offset=0)
    append_to_bronze(spark, config, second_half, first_offset=len(first_half))
    assert len(BAD_INPUT) >= 25 and len(bad) > len(good)

    run_silver(spark, config)  # must not raise: bad input never fails the stream

    quarantine = spark.table(config.table(TableKey.SILVER_QUARANTINE))
    expected_quarantine = spark.createDataFrame(
        [(payload, sorted(codes)) for payload, codes in BAD_INPUT.values()],
        "payload string, reason_codes array<string>",
    )
    assert_frames_equal(
        quarantine.select(
            "payload", F.array_sort(F.array_distinct("reason_codes")).alias("reason_codes")
        ),
        expected_quarantine,
    )
    silver = spark.table(config.table(TableKey.SILVER_EVENTS))
    assert silver.count() == len(good) + 1
    dup = silver.filter(F.col("event_id") == "ad_click:c-dup").select("amount").first()
    assert dup is not None and float(dup["amount"]) == 1.0
    assert silver.filter(F.col("click_id") == "c-\U0001f600-\u202e-广告").count() == 1
    assert silver.filter(F.col("click_id") == "c-\U0001f600").count() == 1
    extra = silver.filter(F.col("event_id") == "ad_click:c-extra").select("extra_fields").first()
    assert extra is not None and extra["extra_fields"] == {
        "experiment": '{"arm":"B"}',
        "score": "0.7",
    }
    quality = spark.table(config.table(TableKey.OPS_DATA_QUALITY)).agg(
        F.sum("input_rows").alias("input_rows"),
        F.sum("inserted_rows").alias("inserted_rows"),
        F.sum("duplicate_rows").alias("duplicate_rows"),
        F.sum("quarantined_rows").alias("quarantined_rows"),
    )
    expected_quality = spark.createDataFrame(
        [(2 * len(bad) + 2, len(good) + 1, len(bad) - len(good) + 1, len(bad))],
        "input_rows long, inserted_rows long, duplicate_rows long, quarantined_rows long",
    )
    assert_frames_equal(quality, expected_quality)


@pytest.mark.slow
def test_late_events_land_once_and_a_later_replay_of_them_is_a_duplicate(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = provisioned(spark, tmp_path)
    on_time = [click(click_id=f"c-now-{n}") for n in range(5)]
    append_to_bronze(spark, config, on_time, first_offset=0)
    run_silver(spark, config)
    # Events from 200 days ago (within retention) arrive after newer ones were processed.
    long_ago = stamp(AN_HOUR_AGO - timedelta(days=200))
    late = [click(click_id=f"c-late-{n}", timestamp=long_ago) for n in range(3)]
    append_to_bronze(spark, config, late, first_offset=5)
    run_silver(spark, config)
    append_to_bronze(spark, config, late, first_offset=8)  # the same late events again
    run_silver(spark, config)

    silver = spark.table(config.table(TableKey.SILVER_EVENTS)).select("event_id")
    expected = spark.createDataFrame(
        [(f"ad_click:c-now-{n}",) for n in range(5)]
        + [(f"ad_click:c-late-{n}",) for n in range(3)],
        "event_id string",
    )
    assert_frames_equal(silver, expected)
    duplicates = spark.table(config.table(TableKey.OPS_DATA_QUALITY)).agg(F.sum("duplicate_rows"))
    assert duplicates.first() == (3,)


def test_each_event_type_has_a_typed_view_that_provisioning_recreates(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = provisioned(spark, tmp_path)
    append_to_bronze(spark, config, list(GOOD_INPUT.values()), first_offset=0)
    run_silver(spark, config)
    silver = spark.table(config.table(TableKey.SILVER_EVENTS))

    for view in SILVER_EVENT_TYPE_VIEWS:
        spark.sql(f"DROP VIEW {config.table(view.key)}")  # as in a new local process
    create_views(spark, config)  # what a run or `ad-pipeline sql` does first

    for view in SILVER_EVENT_TYPE_VIEWS:
        rows = spark.table(config.table(view.key))
        assert rows.columns == event_type_view_columns(view.event_type)
        expected = silver.filter(F.col("event_type") == view.event_type).select(*rows.columns)
        assert_frames_equal(rows, expected)
    clicks = spark.table(config.table(TableKey.SILVER_AD_CLICKS))
    assert {"click_id", "amount", "budget_value", "currency"} <= set(clicks.columns)
    assert "revenue" not in clicks.columns
