"""Silver's parsing and validation rules: one named case per rule, compared with chispa."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ad_marketing_pipeline import contract
from ad_marketing_pipeline.config import QualityConfig
from ad_marketing_pipeline.errors import ContractError
from ad_marketing_pipeline.frames import day_spans
from ad_marketing_pipeline.silver import transforms as silver
from events import BUILDERS, JSON_NULL, Raw, budget, click, conversion, silver_frame
from helpers import assert_frames_equal

NOW = datetime(2024, 1, 2, 0, 0)
QUALITY = QualityConfig(max_future_skew_minutes=15, max_event_age_days=30, max_payload_bytes=2000)
REASONS_TYPE = "array<struct<code:string,field:string>>"


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
    "valid click": (click().line(), []),
    "valid conversion": (conversion().line(), []),
    "valid budget update": (budget(budget_period="month").line(), []),
    "not json": ("this is not json", [("malformed_json", None)]),
    "truncated json": (click().line()[:40], [("malformed_json", None)]),
    "json array": (f"[{click().line()}]", [("malformed_json", None)]),
    "empty payload": ("", [("malformed_json", None)]),
    "unknown event type": (
        click(event_type="click").line(),
        [("unknown_event_type", "event_type")],
    ),
    "wrong case event type": (
        click(event_type="AD_CLICK").line(),
        [("unknown_event_type", "event_type")],
    ),
    "null event type": (click(event_type=JSON_NULL).line(), [("unknown_event_type", "event_type")]),
    "missing click_id": (click(click_id=None).line(), [("missing_required_field", "click_id")]),
    "empty click_id": (click(click_id=" ").line(), [("missing_required_field", "click_id")]),
    "no advertiser at all": (
        click(advertiser=None).line(),
        [("missing_required_field", "advertiser or advertiser_id")],
    ),
    "amount is text": (click(amount="abc").line(), [("wrong_type", "amount")]),
    "amount too large": (click(amount=1e30).line(), [("wrong_type", "amount")]),
    "amount below a millionth": (click(amount="0.1234567").line(), [("wrong_type", "amount")]),
    "amount with six decimals": (click(amount="0.123456").line(), []),
    "negative amount": (click(amount=-0.5).line(), [("negative_value", "amount")]),
    "negative revenue": (conversion(revenue=-1).line(), [("negative_value", "revenue")]),
    "negative budget": (budget(budget_value=-100).line(), [("negative_value", "budget_value")]),
    "unparsable timestamp": (click(at="yesterday").line(), [("unparsable_timestamp", "timestamp")]),
    "timestamp in the future": (
        click(at="2024-01-02T00:30:00Z").line(),
        [("timestamp_in_future", "timestamp")],
    ),
    "timestamp too old": (
        click(at="2023-11-01T00:00:00Z").line(),
        [("timestamp_too_old", "timestamp")],
    ),
    "timestamp before 2000 (a broken clock)": (
        click(at="0001-01-01T00:00:00Z").line(),
        [("timestamp_too_old", "timestamp")],
    ),
    "amount above the sane range": (
        click(amount=999999999999).line(),
        [("value_out_of_range", "amount")],
    ),
    "amount at the top of the sane range": (click(amount=100_000).line(), []),
    "revenue above the sane range": (
        conversion(revenue=1e10).line(),
        [("value_out_of_range", "revenue")],
    ),
    "budget above the sane range": (
        budget(budget_value=1e11 + 1).line(),
        [("value_out_of_range", "budget_value")],
    ),
    "lowercase currency": (click(currency="usd").line(), [("invalid_currency", "currency")]),
    "bad budget period": (
        budget(budget_period="week").line(),
        [("invalid_value", "budget_period")],
    ),
    "lone surrogate escape": (
        click(click_id=Raw('"\\ud800"')).line(),
        [("invalid_unicode", None)],
    ),
    "bytes that were not UTF-8": (
        click(click_id="c-\ufffd").line(),
        [("invalid_unicode", None)],
    ),
    "escaped surrogate pair": (click(click_id=Raw('"\\ud83d\\ude00"')).line(), []),
    "byte-order mark before the object": ("\ufeff" + click().line(), []),
    "oversized payload": (click(click_id="x" * 3000).line(), [("oversized_payload", None)]),
    "several problems at once": (
        click(click_id=None, amount=-1, currency="dollars").line(),
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
    (click(amount="1_000").line(), [("wrong_type", "amount")]),
    (click(amount=" 5\t").line(), []),  # ASCII whitespace around money text is ignored
    (click(amount="\u0661\u0662").line(), [("wrong_type", "amount")]),  # Arabic-Indic digits
    (click(amount="NaN").line(), [("wrong_type", "amount")]),
    (click(amount=float("nan")).line(), [("wrong_type", "amount")]),
    (click(amount=1e-308).line(), [("wrong_type", "amount")]),
    (click(amount="1e2").line(), []),
    (click(click_id=123).line(), [("wrong_type", "click_id")]),
    (click(advertiser=True).line(), [("wrong_type", "advertiser")]),
    (click(metadata='{"device": "tv"}').line(), [("wrong_type", "metadata")]),
    (click(metadata=["device"]).line(), [("wrong_type", "metadata")]),
    (click(currency="USD\n").line(), [("invalid_currency", "currency")]),
    (click(click_id="\t \n").line(), [("missing_required_field", "click_id")]),
    (click(at="9999-12-31T23:00:00-05:00").line(), [("unparsable_timestamp", "timestamp")]),
    (click(at="2024-W01-1").line(), [("unparsable_timestamp", "timestamp")]),
    (click(at="2024-01-01T12:00:00,5Z").line(), [("unparsable_timestamp", "timestamp")]),
    (click(at="+2024-01-01T12:00:00Z").line(), [("unparsable_timestamp", "timestamp")]),
    (click(at="2024-1-1T12:00:00Z").line(), [("unparsable_timestamp", "timestamp")]),
    (click(at="2024-01-01").line(), []),
    (click(at="2024-01-01 12:00+0100").line(), []),
    (click().line() + ' {"event_type": "ad_click"}', [("malformed_json", None)]),
    (click().line() + " trailing", [("malformed_json", None)]),
    (click().line().replace('"', "'"), [("malformed_json", None)]),
    ("\t" + click().line(), []),
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
        validated(spark, [click().line()], broker_time=received).select("reasons.code").first()
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
    payload = click(experiment="b", nested={"x": 1}).line()
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
    payload = click(amount=-1).line()
    parsed = bronze_rows(spark, [payload]).transform(silver.parse_payloads)
    _, invalid = silver.split_invalid(parsed.transform(silver.validate(QUALITY)))

    actual = invalid.transform(silver.to_quarantine).select("payload", "reason_codes", "file_path")

    expected = spark.createDataFrame(
        [(payload, ["negative_value"], "/landing/events-00000.jsonl")],
        "payload string, reason_codes array<string>, file_path string",
    )
    assert_frames_equal(actual, expected)


def test_the_test_builders_silver_rows_are_the_rows_silver_makes_of_their_lines(
    spark: SparkSession,
) -> None:
    # tests/events.py's silver_row stands in for Silver in the tests of the layers after it.
    events = [build() for build in BUILDERS.values()] + [
        click(
            "c-2",
            amount=" 2.5",
            at="2024-01-01T13:00:00+01:00",
            advertiser_id="adv-1",
            metadata={"device": "tv", "size": [1, 2]},
            experiment={"arm": "B"},
            score=0.7,
        ),
        conversion(revenue="19.990000", currency="EUR", event_id="given-id"),
        budget(advertiser=None, advertiser_id="adv-2", budget_period="month"),
    ]
    records = bronze_rows(spark, [event.line() for event in events])
    valid, invalid = silver.split_invalid(
        records.transform(silver.parse_payloads).transform(silver.validate(QUALITY))
    )
    assert invalid.isEmpty()
    made = valid.transform(silver.to_silver_events).drop("processed_at")

    built = silver_frame(
        spark, events, file_path="/landing/events-00000.jsonl", ingested_at=datetime(2024, 1, 1, 13)
    )

    assert_frames_equal(made, built.select(*made.columns))


def test_a_batch_is_checked_against_the_stored_events_near_its_own(spark: SparkSession) -> None:
    day = datetime(2026, 3, 10, tzinfo=UTC)
    stored = silver_frame(
        spark,
        [
            click("same", at=day + timedelta(hours=9)),
            click("next-day", at=day + timedelta(days=1, hours=23, minutes=59)),
            click("two-days", at=day + timedelta(days=2)),
            click("other-id", at=day + timedelta(hours=9)),
        ],
    )
    batch = silver_frame(
        spark,
        [
            click(click_id, at=day + timedelta(hours=10))
            for click_id in ("same", "next-day", "two-days", "new")
        ],
    )
    batch_day = (day - datetime(1970, 1, 1, tzinfo=UTC)).days

    in_scope = stored.filter(silver.duplicate_scope([batch_day], 1)).select("event_id")
    new = silver.not_stored_before(batch, stored, 1).select("event_id")

    ids = [("ad_click:same",), ("ad_click:next-day",), ("ad_click:other-id",)]
    assert_frames_equal(in_scope, spark.createDataFrame(ids, "event_id string"))
    expected = [("ad_click:two-days",), ("ad_click:new",)]
    assert_frames_equal(new, spark.createDataFrame(expected, "event_id string"))
    assert stored.filter(silver.duplicate_scope([], 1)).count() == 0


def test_the_days_a_batch_touches_merge_into_few_ranges() -> None:
    assert day_spans([20, 10, 11, 10, 13], 1) == [(9, 15), (19, 22)]
    assert day_spans([10, 12], 0) == [(10, 11), (12, 13)]
    assert day_spans([], 3) == []
    # a batch on every other day of years: one span, not a filter of thousands of ranges
    assert day_spans(range(0, 4_000, 2), 0) == [(0, 3_999)]
