"""Silver's parsing and validation rules: one named case per rule, compared with chispa."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ad_marketing_pipeline import contract
from ad_marketing_pipeline.config import QualityConfig
from ad_marketing_pipeline.errors import ContractError
from ad_marketing_pipeline.silver import transforms as silver
from helpers import assert_frames_equal

NOW = datetime(2024, 1, 2, 0, 0)
QUALITY = QualityConfig(max_future_skew_minutes=15, max_event_age_days=30, max_payload_bytes=2000)
REASONS_TYPE = "array<struct<code:string,field:string>>"


def click(**overrides: Any) -> str:
    event = {
        "event_type": "ad_click",
        "click_id": "c-1",
        "advertiser": "advertiser-123",
        "ad_id": "ad-456",
        "amount": 0.5,
        "budget_value": 1000.0,
        "currency": "USD",
        "timestamp": "2024-01-01T12:00:00Z",
    }
    return json.dumps({key: value for key, value in {**event, **overrides}.items() if value != ...})


def conversion(**overrides: Any) -> str:
    event = {"event_type": "conversion", "conversion_id": "v-1", "user_id": "u-1", "revenue": 20}
    return json.dumps({**event, "timestamp": "2024-01-01T12:00:00Z", **overrides})


def budget(**overrides: Any) -> str:
    event = {"event_type": "budget_update", "advertiser_id": "adv-1", "budget_value": 100}
    return json.dumps({**event, "timestamp": "2024-01-01T12:00:00Z", **overrides})


def validated(
    spark: SparkSession, payloads: list[str], *, broker_time: datetime | None = None
) -> DataFrame:
    """The payloads validated as records a broker received at `broker_time` (files: none) and
    Bronze ingested at NOW."""
    frame = spark.createDataFrame(
        [(p, broker_time, NOW) for p in payloads],
        "payload string, source_timestamp timestamp, ingested_at timestamp",
    )
    return frame.transform(silver.parse_payloads).transform(silver.validate(QUALITY))


CASES: dict[str, tuple[str, list[tuple[str, str | None]]]] = {
    "valid original click": (click(), []),
    "valid conversion": (conversion(), []),
    "valid budget update": (budget(budget_period="month"), []),
    "not json": ("this is not json", [("malformed_json", None)]),
    "truncated json": (click()[:40], [("malformed_json", None)]),
    "json array": (f"[{click()}]", [("malformed_json", None)]),
    "empty payload": ("", [("malformed_json", None)]),
    "unknown event type": (click(event_type="click"), [("unknown_event_type", "event_type")]),
    "wrong case event type": (click(event_type="AD_CLICK"), [("unknown_event_type", "event_type")]),
    "null event type": (click(event_type=None), [("unknown_event_type", "event_type")]),
    "missing click_id": (click(click_id=...), [("missing_required_field", "click_id")]),
    "empty click_id": (click(click_id=" "), [("missing_required_field", "click_id")]),
    "no advertiser at all": (
        click(advertiser=...),
        [("missing_required_field", "advertiser or advertiser_id")],
    ),
    "amount is text": (click(amount="abc"), [("wrong_type", "amount")]),
    "amount too large": (click(amount=1e30), [("wrong_type", "amount")]),
    "amount below a millionth": (click(amount="0.1234567"), [("wrong_type", "amount")]),
    "amount with six decimals": (click(amount="0.123456"), []),
    "negative amount": (click(amount=-0.5), [("negative_value", "amount")]),
    "negative revenue": (conversion(revenue=-1), [("negative_value", "revenue")]),
    "negative budget": (budget(budget_value=-100), [("negative_value", "budget_value")]),
    "unparsable timestamp": (click(timestamp="yesterday"), [("unparsable_timestamp", "timestamp")]),
    "timestamp in the future": (
        click(timestamp="2024-01-02T00:30:00Z"),
        [("timestamp_in_future", "timestamp")],
    ),
    "timestamp too old": (
        click(timestamp="2023-11-01T00:00:00Z"),
        [("timestamp_too_old", "timestamp")],
    ),
    "timestamp before 2000 (a broken clock)": (
        click(timestamp="0001-01-01T00:00:00Z"),
        [("timestamp_too_old", "timestamp")],
    ),
    "amount above the sane range": (
        click(amount=999999999999),
        [("value_out_of_range", "amount")],
    ),
    "amount at the top of the sane range": (click(amount=100_000), []),
    "revenue above the sane range": (
        conversion(revenue=1e10),
        [("value_out_of_range", "revenue")],
    ),
    "budget above the sane range": (
        budget(budget_value=1e11 + 1),
        [("value_out_of_range", "budget_value")],
    ),
    "lowercase currency": (click(currency="usd"), [("invalid_currency", "currency")]),
    "bad budget period": (budget(budget_period="week"), [("invalid_value", "budget_period")]),
    "lone surrogate escape": (
        click().replace('"c-1"', '"\\ud800"'),
        [("invalid_unicode", None)],
    ),
    "bytes that were not UTF-8": (
        click().replace('"c-1"', '"c-\ufffd"'),
        [("invalid_unicode", None)],
    ),
    "escaped surrogate pair": (click().replace('"c-1"', '"\\ud83d\\ude00"'), []),
    "byte-order mark before the object": ("\ufeff" + click(), []),
    "oversized payload": (click(click_id="x" * 3000), [("oversized_payload", None)]),
    "several problems at once": (
        click(click_id=..., amount=-1, currency="dollars"),
        [
            ("invalid_currency", "currency"),
            ("missing_required_field", "click_id"),
            ("negative_value", "amount"),
        ],
    ),
}


# Odd values where Python's json/Decimal/datetime and Spark's parsers disagree unless the
# contract spells the form out: Silver and the Python contract must give the same verdict.
HOSTILE_VALUES: list[tuple[str, list[tuple[str, str | None]]]] = [
    (click(amount="1_000"), [("wrong_type", "amount")]),
    (click(amount=" 5\t"), []),  # ASCII whitespace around money text is ignored
    (click(amount="\u0661\u0662"), [("wrong_type", "amount")]),  # Arabic-Indic digits
    (click(amount="NaN"), [("wrong_type", "amount")]),
    (click(amount=float("nan")), [("wrong_type", "amount")]),
    (click(amount=1e-308), [("wrong_type", "amount")]),
    (click(amount="1e2"), []),
    (click(click_id=123), [("wrong_type", "click_id")]),
    (click(advertiser=True), [("wrong_type", "advertiser")]),
    (click(metadata='{"device": "tv"}'), [("wrong_type", "metadata")]),
    (click(metadata=["device"]), [("wrong_type", "metadata")]),
    (click(currency="USD\n"), [("invalid_currency", "currency")]),
    (click(click_id="\t \n"), [("missing_required_field", "click_id")]),
    (click(timestamp="9999-12-31T23:00:00-05:00"), [("unparsable_timestamp", "timestamp")]),
    (click(timestamp="2024-W01-1"), [("unparsable_timestamp", "timestamp")]),
    (click(timestamp="2024-01-01T12:00:00,5Z"), [("unparsable_timestamp", "timestamp")]),
    (click(timestamp="+2024-01-01T12:00:00Z"), [("unparsable_timestamp", "timestamp")]),
    (click(timestamp="2024-1-1T12:00:00Z"), [("unparsable_timestamp", "timestamp")]),
    (click(timestamp="2024-01-01"), []),
    (click(timestamp="2024-01-01 12:00+0100"), []),
    (click() + ' {"event_type": "ad_click"}', [("malformed_json", None)]),
    (click() + " trailing", [("malformed_json", None)]),
    (click().replace('"', "'"), [("malformed_json", None)]),
    ("\t" + click(), []),
]


def test_silver_and_the_python_contract_agree_on_odd_values(spark: SparkSession) -> None:
    payloads = [payload for payload, _ in HOSTILE_VALUES]
    actual = validated(spark, payloads).select("payload", F.array_sort("reasons").alias("reasons"))
    expected = spark.createDataFrame(
        [(payload, sorted(reasons)) for payload, reasons in HOSTILE_VALUES],
        f"payload string, reasons {REASONS_TYPE}",
    )
    assert_frames_equal(actual, expected)
    for payload, reasons in HOSTILE_VALUES:
        assert follows_the_contract(payload) == (not reasons), payload


def follows_the_contract(payload: str) -> bool:
    """Whether Python's json (numbers as Decimals) and the pydantic contract accept it."""
    try:
        contract.parse_event(json.loads(payload, parse_float=Decimal))
    except (ValueError, ContractError):
        return False
    return True


@pytest.mark.parametrize("case", list(CASES))
def test_rule(spark: SparkSession, case: str) -> None:
    payload, expected_reasons = CASES[case]

    actual = validated(spark, [payload]).select(F.array_sort("reasons").alias("reasons"))

    expected = spark.createDataFrame([(sorted(expected_reasons),)], f"reasons {REASONS_TYPE}")
    assert_frames_equal(actual, expected)


def test_split_keeps_every_record(spark: SparkSession) -> None:
    payloads = [payload for payload, _ in CASES.values()]
    valid, invalid = silver.split_invalid(validated(spark, payloads))
    expected_valid = sum(1 for _, reasons in CASES.values() if not reasons)
    assert valid.count() == expected_valid
    assert invalid.count() == len(payloads) - expected_valid
    assert valid.select("event.*").columns[0] == "event_type"


def test_reason_codes_are_stable() -> None:
    assert silver.REASON_CODES == (
        "malformed_json",
        "oversized_payload",
        "unknown_event_type",
        "missing_required_field",
        "wrong_type",
        "negative_value",
        "unparsable_timestamp",
        "timestamp_in_future",
        "timestamp_too_old",
        "invalid_currency",
        "invalid_value",
        "invalid_unicode",
        "value_out_of_range",
    )


def test_time_rules_judge_an_event_against_when_it_was_received(spark: SparkSession) -> None:
    # Stamped 12:00; the broker received it at 11:00 (ahead by an hour: in the future) or at
    # 11:50 (within the 15 minutes allowed), whenever Silver runs.
    early, late = datetime(2024, 1, 1, 11), datetime(2024, 1, 1, 11, 50)
    verdicts = [
        validated(spark, [click()], broker_time=received).select("reasons.code").first()
        for received in (early, late)
    ]
    assert [row[0] if row else None for row in verdicts] == [["timestamp_in_future"], []]


def bronze_rows(spark: SparkSession, payloads: list[str]) -> DataFrame:
    rows = [
        (
            payload,
            "files",
            None,
            None,
            line,
            None,
            "/landing/events-00000.jsonl",
            datetime(2024, 1, 1, 13),
        )
        for line, payload in enumerate(payloads)
    ]
    return spark.createDataFrame(
        rows,
        "payload string, source_kind string, topic string, partition int, offset bigint, "
        "source_timestamp timestamp, file_path string, ingested_at timestamp",
    )


def test_valid_records_become_silver_rows(spark: SparkSession) -> None:
    payload = click(experiment="b", nested={"x": 1})
    parsed = bronze_rows(spark, [payload]).transform(silver.parse_payloads)
    valid, _ = silver.split_invalid(parsed.transform(silver.validate(QUALITY)))

    rows = valid.transform(silver.to_silver_events)

    actual = rows.select(
        "event_id",
        "event_type",
        "event_time",
        "amount",
        "extra_fields",
        "is_valid",
        "ingest_year",
        "ingest_month",
        "ingest_day",
        "ingest_hour",
        "file_path",
        "received_at",
    )
    expected = spark.createDataFrame(
        [
            (
                "ad_click:c-1",
                "ad_click",
                datetime(2024, 1, 1, 12),
                Decimal("0.5"),
                {"experiment": "b", "nested": '{"x":1}'},
                True,
                2024,
                1,
                1,
                13,
                "/landing/events-00000.jsonl",
                datetime(2024, 1, 1, 13),
            )
        ],
        "event_id string, event_type string, event_time timestamp, amount decimal(18,6), "
        "extra_fields map<string,string>, is_valid boolean, ingest_year int, ingest_month int, "
        "ingest_day int, ingest_hour int, file_path string, received_at timestamp",
    )
    assert_frames_equal(actual, expected)


def test_invalid_records_keep_payload_reasons_and_source(spark: SparkSession) -> None:
    payload = click(amount=-1)
    parsed = bronze_rows(spark, [payload]).transform(silver.parse_payloads)
    _, invalid = silver.split_invalid(parsed.transform(silver.validate(QUALITY)))

    actual = invalid.transform(silver.to_quarantine).select("payload", "reason_codes", "file_path")

    expected = spark.createDataFrame(
        [(payload, ["negative_value"], "/landing/events-00000.jsonl")],
        "payload string, reason_codes array<string>, file_path string",
    )
    assert_frames_equal(actual, expected)
