"""Silver against a corpus of bad input, late events and its typed views, on the real stream."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

import events
from ad_marketing_pipeline.config import PipelineConfig, TableKey
from ad_marketing_pipeline.io import StreamTrigger
from ad_marketing_pipeline.pipeline import run_layers
from ad_marketing_pipeline.provisioning import create_views, ensure_tables
from ad_marketing_pipeline.runtime import prepare_runtime
from ad_marketing_pipeline.silver.stream import SILVER
from ad_marketing_pipeline.tables import BRONZE_SCHEMA
from ad_marketing_pipeline.views import SILVER_EVENT_TYPE_VIEWS, event_type_view_columns
from helpers import assert_frames_equal, pipeline_config

AN_HOUR_AGO = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


# The corpus's events are an hour old: within every time rule unless a case says otherwise.
click = partial(events.click, at=AN_HOUR_AGO)
conversion = partial(events.conversion, at=AN_HOUR_AGO)
budget = partial(events.budget, at=AN_HOUR_AGO)
# A click whose every field is null.
NULL_CLICK = click().with_fields(**dict.fromkeys(click().fields, events.JSON_NULL))


# name -> (payload, the reason codes it must be quarantined with)
BAD_INPUT: dict[str, tuple[str, set[str]]] = {
    "not json": ("definitely not json", {"malformed_json"}),
    "truncated json": (click().line()[:45], {"malformed_json"}),
    "json array instead of object": (f"[{click().line()}]", {"malformed_json"}),
    "json string": ('"ad_click"', {"malformed_json"}),
    "json null": ("null", {"malformed_json"}),
    "empty line": ("", {"malformed_json"}),
    "empty object": ("{}", {"unknown_event_type"}),
    "nulls everywhere": (
        NULL_CLICK.line(),
        {"unknown_event_type"},
    ),
    "nulls everywhere but the type": (
        NULL_CLICK.with_fields(event_type="ad_click").line(),
        {"missing_required_field"},
    ),
    "unknown event type": (click(event_type="ad_view").line(), {"unknown_event_type"}),
    "wrong-case event type": (click(event_type="Ad_Click").line(), {"unknown_event_type"}),
    "zero-width space in event type": (
        click(event_type="ad\u200bclick").line(),
        {"unknown_event_type"},
    ),
    "event type is a number": (click(event_type=7).line(), {"unknown_event_type"}),
    "missing click_id": (click(click_id=None).line(), {"missing_required_field"}),
    "missing both advertiser fields": (click(advertiser=None).line(), {"missing_required_field"}),
    "amount is text": (click(amount="cheap").line(), {"wrong_type"}),
    "amount is nested garbage": (click(amount={"a": [1, {"b": None}]}).line(), {"wrong_type"}),
    "amount is a boolean": (click(amount=True).line(), {"wrong_type"}),
    "amount NaN": (click(amount=events.Raw("NaN")).line(), {"wrong_type"}),
    "amount Infinity": (click(amount=events.Raw("Infinity")).line(), {"wrong_type"}),
    "amount -Infinity": (click(amount=events.Raw("-Infinity")).line(), {"wrong_type"}),
    "amount 1e400": (click(amount=events.Raw("1e400")).line(), {"wrong_type"}),
    "amount with 30 digits": (
        click(amount=events.Raw("123456789012345678901234567890")).line(),
        {"wrong_type"},
    ),
    "negative amount": (click(amount=-0.01).line(), {"negative_value"}),
    "negative revenue": (conversion(revenue=-5).line(), {"negative_value"}),
    "negative budget": (budget(budget_value=-1).line(), {"negative_value"}),
    "unparsable timestamp": (click(at="yesterday noon").line(), {"unparsable_timestamp"}),
    "epoch number as timestamp": (click(at=1_704_067_200).line(), {"unparsable_timestamp"}),
    "timestamp a day ahead": (
        click(at=AN_HOUR_AGO + timedelta(days=1)).line(),
        {"timestamp_in_future"},
    ),
    "timestamp older than retention": (
        click(at="2001-09-09T01:46:40Z").line(),
        {"timestamp_too_old"},
    ),
    "currency of four letters": (click(currency="EURO").line(), {"invalid_currency"}),
    "lowercase currency": (click(currency="usd").line(), {"invalid_currency"}),
    "unknown budget period": (budget(budget_period="fortnight").line(), {"invalid_value"}),
    "oversized payload": (click(campaign_name="x" * 5_000).line(), {"oversized_payload"}),
    "lone surrogate in an id": (
        click(click_id=events.Raw('"\\ud800"')).line(),
        {"invalid_unicode"},
    ),
    "several faults at once": (
        click(click_id=None, amount=-3, currency="dollars").line(),
        {"missing_required_field", "negative_value", "invalid_currency"},
    ),
}

GOOD_INPUT: dict[str, str] = {
    "the original pipeline's click": click(
        "c-original", advertiser="advertiser-123", ad_id="ad-456", amount=0.5, budget_value=1000.0
    ).line(),
    "odd but valid Unicode": click(
        click_id="c-\U0001f600-\u202e-广告", advertiser="广告主 \u00e9\u0301", ad_id="ad-\u0000x"
    ).line(),
    "escaped surrogate pair": click(click_id=events.Raw('"c-\\ud83d\\ude00"')).line(),
    "nested metadata": click("c-meta", metadata={"a": {"b": [1, 2]}, "n": None}).line(),
    "unknown extra fields": click("c-extra", experiment={"arm": "B"}, score=0.7).line(),
    "byte-order mark first": "\ufeff" + click("c-bom").line(),
    "conversion": conversion("v-1").line(),
    "budget update": budget(budget_period="month").line(),
    "page view": events.page_view(user_id="u-1", at=AN_HOUR_AGO).line(),
    "impression without amount": events.impression(at=AN_HOUR_AGO).line(),
}
# The same click_id twice with different payloads: the first received wins, the second is a
# duplicate (counted, not quarantined).
FIRST_OF_DUPLICATE = click("c-dup", amount=1.0).line()
SECOND_OF_DUPLICATE = click("c-dup", amount=9.0).line()


def corpus_config(root: Path) -> PipelineConfig:
    return pipeline_config(
        root, "corpus", quality={"max_event_age_days": 365, "max_payload_bytes": 4_000}
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
    on_time = [click(f"c-now-{n}").line() for n in range(5)]
    append_to_bronze(spark, config, on_time, first_offset=0)
    run_silver(spark, config)
    # Events from 200 days ago (within retention) arrive after newer ones were processed.
    long_ago = AN_HOUR_AGO - timedelta(days=200)
    late = [click(f"c-late-{n}", at=long_ago).line() for n in range(3)]
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
