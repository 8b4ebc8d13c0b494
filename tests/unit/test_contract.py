"""The event contract: pydantic models, the Spark schema derived from them, event ids."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType, TimestampType

from ad_marketing_pipeline import contract
from ad_marketing_pipeline.errors import ContractError
from events import BUILDERS, Event
from helpers import assert_frames_equal

ORIGINAL_CLICK = (
    '{"event_type":"ad_click","click_id":"c-1","advertiser":"advertiser-123","ad_id":"ad-456",'
    '"amount":0.50,"budget_value":1000.0,"timestamp":"2024-01-01T12:00:00Z"}'
)
NOON = "2024-01-01T12:00:00Z"


# Each type's optional fields (all of a click's), on top of the builders' defaults: a round trip
# through the Spark schema covers them.
OPTIONAL_FIELDS: dict[str, dict[str, object]] = {
    "ad_click": {
        "click_id": "click-1",
        "advertiser_id": "adv-1",
        "amount": 0.25,
        "campaign_id": "cmp-1",
        "campaign_name": "Winter sale",
        "user_id": "user-1",
        "budget_value": 100.0,
        "source": "google",
        "medium": "cpc",
        "platform": "google_ads",
        "currency": "USD",
        "metadata": {"device": "mobile"},
    },
    "impression": {"advertiser_id": "adv-1", "campaign_id": "cmp-1", "user_id": "user-1"},
    "conversion": {
        "conversion_id": "conv-1",
        "revenue": 49.99,
        "advertiser_id": "adv-1",
        "currency": "EUR",
        "conversion_type": "purchase",
        "device_id": "dev-1",
    },
    "conversion_cancellation": {"conversion_id": "conv-1", "reason": "fraud"},
    "click_refund": {"click_id": "click-1", "reason": "invalid traffic"},
    "budget_update": {"budget_value": 250, "budget_period": "day"},
    "page_view": {"session_id": "s-1", "page": "/", "source": "newsletter", "medium": "email"},
}


def full(event_type: str, **overrides: object) -> Event:
    """An event of this type with its OPTIONAL_FIELDS, at noon."""
    return BUILDERS[event_type](**{**OPTIONAL_FIELDS[event_type], "at": NOON, **overrides})


def raw_frame(spark: SparkSession, payloads: Sequence[str | None]) -> DataFrame:
    schema = StructType([StructField("raw", StringType())])
    return spark.createDataFrame([(payload,) for payload in payloads], schema)


def parsed_events(spark: SparkSession, payloads: list[str]) -> DataFrame:
    return contract.parse_payloads(raw_frame(spark, payloads), "raw").select("event.*")


def test_every_event_type_has_a_builder_and_validates() -> None:
    assert set(BUILDERS) == set(contract.EVENT_TYPES) == set(OPTIONAL_FIELDS)
    for event_type, build in BUILDERS.items():
        for built in (build(), full(event_type)):
            event = contract.parse_event(built.payload())
            assert event.event_type == built.event_type == event_type
            assert event.timestamp == datetime(2024, 1, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize("event_type", contract.EVENT_TYPES)
def test_each_event_type_round_trips_through_the_spark_schema(
    spark: SparkSession, event_type: str
) -> None:
    event = contract.parse_event(full(event_type).payload())
    payload = event.model_dump_json(exclude_none=True)

    actual = parsed_events(spark, [payload])

    expected_row: dict[str, Any] = {field.name: None for field in contract.event_schema().fields}
    for name, value in event.model_dump(exclude_none=True).items():
        if isinstance(value, dict):  # metadata: nested values are kept as JSON text
            expected_row[name] = {key: str(item) for key, item in value.items()}
        elif isinstance(value, datetime):  # Spark shows UTC timestamps as naive local times
            expected_row[name] = value.replace(tzinfo=None)
        else:
            expected_row[name] = value
    expected = spark.createDataFrame([expected_row], contract.event_schema())
    assert_frames_equal(actual, expected)


def test_original_pipeline_click_is_accepted_verbatim(spark: SparkSession) -> None:
    click = contract.parse_event(json.loads(ORIGINAL_CLICK))
    assert isinstance(click, contract.AdClick)
    assert (click.advertiser, click.amount, click.budget_value) == (
        "advertiser-123",
        Decimal("0.50"),
        Decimal("1000.0"),
    )

    row = parsed_events(spark, [ORIGINAL_CLICK]).select(
        "event_type", "click_id", "advertiser", "ad_id", "amount", "budget_value", "timestamp"
    )
    expected = spark.createDataFrame(
        [
            (
                "ad_click",
                "c-1",
                "advertiser-123",
                "ad-456",
                Decimal("0.5"),
                Decimal(1000),
                datetime(2024, 1, 1, 12),
            )
        ],
        "event_type string, click_id string, advertiser string, ad_id string, "
        "amount decimal(18,6), budget_value decimal(18,6), timestamp timestamp",
    )
    assert_frames_equal(row, expected)


def test_schema_is_derived_from_the_models() -> None:
    names = contract.event_schema().fieldNames()
    model_fields = {name for model in contract.EVENT_MODELS.values() for name in model.model_fields}
    assert set(names) == model_fields
    assert len(names) == len(set(names))
    assert contract.event_schema()["amount"].dataType == contract.MONEY_TYPE
    assert contract.event_schema()["timestamp"].dataType == TimestampType()
    assert {field.dataType for field in contract.payload_schema().fields} == {StringType()}
    assert contract.payload_schema().fieldNames() == names


def test_required_fields_follow_the_contract() -> None:
    assert contract.required_fields("ad_click") == ("timestamp", "click_id", "ad_id", "amount")
    assert contract.required_one_of("ad_click") == (("advertiser", "advertiser_id"),)
    assert contract.required_fields("impression") == ("timestamp", "ad_id")
    assert contract.required_fields("conversion") == (
        "timestamp",
        "conversion_id",
        "user_id",
        "revenue",
    )
    assert contract.required_fields("page_view") == ("timestamp", "user_id")


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        (full("ad_click", advertiser=None, advertiser_id=None), "advertiser or advertiser_id"),
        (full("ad_click", amount=-1), "amount"),
        (full("ad_click", currency="usd"), "currency"),
        (full("ad_click", at="yesterday"), "timestamp"),
        (full("conversion", revenue=-5), "revenue"),
        (full("budget_update", budget_period="week"), "budget_period"),
        ({"event_type": "click", "timestamp": NOON}, "event_type"),
    ],
)
def test_invalid_events_raise_contract_error_naming_the_field(
    event: Event | dict[str, Any], problem: str
) -> None:
    with pytest.raises(ContractError, match=problem):
        contract.parse_event(event.payload() if isinstance(event, Event) else event)


def test_unknown_extra_fields_are_kept() -> None:
    click = contract.parse_event(full("ad_click", experiment="b").payload())
    assert click.model_extra == {"experiment": "b"}


def test_timestamp_without_zone_is_utc(spark: SparkSession) -> None:
    same_instants = ["2024-01-01T12:00:00", "2024-01-01T12:00:00Z", "2024-01-01T14:00:00+02:00"]
    for text in same_instants:
        assert contract.parse_event_timestamp(text) == datetime(2024, 1, 1, 12, tzinfo=UTC)

    texts = [*same_instants, "not a time", "2024-13-45T99:00:00Z"]
    actual = spark.createDataFrame([(t,) for t in texts], "text string").select(
        "text", contract.event_timestamp_column(F.col("text")).alias("ts")
    )
    noon = datetime(2024, 1, 1, 12)
    expected = spark.createDataFrame(
        [(t, noon) for t in same_instants] + [(t, None) for t in texts[3:]],
        "text string, ts timestamp",
    )
    assert_frames_equal(actual, expected)


def test_event_id_is_the_event_type_and_its_own_id_then_its_given_id_then_a_payload_hash() -> None:
    assert contract.derive_event_id(full("ad_click").line()) == "ad_click:click-1"
    assert contract.derive_event_id(full("conversion").line()) == "conversion:conv-1"
    assert contract.derive_event_id(full("impression", event_id="imp-9").line()) == (
        "impression:imp-9"
    )
    refund_a = contract.derive_event_id(full("click_refund", click_id="a").line())
    refund_b = contract.derive_event_id(full("click_refund", click_id="b").line())
    assert refund_a != refund_b
    assert refund_a.startswith("click_refund:")
    assert len(refund_a) == len("click_refund:") + 64


def test_a_click_and_a_conversion_with_the_same_id_are_two_events() -> None:
    click = contract.derive_event_id(full("ad_click", click_id="42").line())
    conversion = contract.derive_event_id(full("conversion", conversion_id="42").line())
    assert click != conversion


def test_the_payload_hash_collapses_an_exact_resend_and_nothing_else() -> None:
    impression = full("impression", amount="0.01").line()
    assert contract.derive_event_id(impression) == contract.derive_event_id(
        f"\ufeff {impression}\n"
    )
    other_amount = full("impression", amount="0.02").line()
    assert contract.derive_event_id(impression) != contract.derive_event_id(other_amount)
    first = full("budget_update", budget_value=10).line()
    second = full("budget_update", budget_value=20).line()
    assert contract.derive_event_id(first) != contract.derive_event_id(second)


def test_event_id_is_the_same_in_python_and_spark(spark: SparkSession) -> None:
    events = [
        full("ad_click"),
        full("ad_click", click_id="42"),
        full("conversion", conversion_id="42"),
        full("impression"),
        full("impression", amount="0.02"),
        full("impression", event_id="imp-9"),
        full("conversion_cancellation"),
        full("click_refund"),
        full("budget_update"),
        full("page_view", at="2024-01-01T12:00:00.123456"),
    ]
    payloads = [event.line() for event in events] + [f" {full('page_view').line()}\r\n"]
    actual = (
        contract.parse_payloads(raw_frame(spark, payloads), "raw")
        .select("raw", "event.*")
        .select("raw", contract.event_id_column(F.col("raw")).alias("event_id"))
    )
    expected = spark.createDataFrame(
        [(payload, contract.derive_event_id(payload)) for payload in payloads],
        "raw string, event_id string",
    )
    assert_frames_equal(actual, expected)


def test_a_field_of_the_wrong_type_is_null_and_the_rest_parses(spark: SparkSession) -> None:
    payloads = [
        full("ad_click", amount="abc", click_id="c-abc").line(),
        full("ad_click", amount=1e30, click_id="c-huge").line(),
        full("ad_click", amount="0.5", click_id="c-text").line(),
        full("ad_click", metadata=5, click_id="c-meta").line(),
        full("ad_click", click_id=123).line(),
    ]
    actual = parsed_events(spark, payloads).select("click_id", "amount", "metadata", "advertiser")
    expected = spark.createDataFrame(
        [
            ("c-abc", None, {"device": "mobile"}, "acme"),
            ("c-huge", None, {"device": "mobile"}, "acme"),
            ("c-text", Decimal("0.5"), {"device": "mobile"}, "acme"),
            ("c-meta", Decimal("0.25"), None, "acme"),
            ("123", Decimal("0.25"), {"device": "mobile"}, "acme"),
        ],
        "click_id string, amount decimal(18,6), metadata map<string,string>, advertiser string",
    )
    assert_frames_equal(actual, expected)


def test_malformed_payload_parses_to_null(spark: SparkSession) -> None:
    payloads = ["not json", '{"event_type": "ad_click"', '[{"event_type": "ad_click"}]', "", None]
    actual = contract.parse_payloads(raw_frame(spark, payloads), "raw").select(
        F.col("event").isNull().alias("unparsed")
    )
    expected = spark.createDataFrame([(True,)] * len(payloads), "unparsed boolean")
    assert_frames_equal(actual, expected)
