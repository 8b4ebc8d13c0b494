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
from helpers import assert_frames_equal

ORIGINAL_CLICK = (
    '{"event_type":"ad_click","click_id":"c-1","advertiser":"advertiser-123","ad_id":"ad-456",'
    '"amount":0.50,"budget_value":1000.0,"timestamp":"2024-01-01T12:00:00Z"}'
)
NOON = "2024-01-01T12:00:00Z"


def make_click(**overrides: Any) -> dict[str, Any]:
    event = {
        "event_type": "ad_click",
        "click_id": "click-1",
        "advertiser": "advertiser-1",
        "advertiser_id": "adv-1",
        "ad_id": "ad-1",
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
        "timestamp": NOON,
    }
    return {**event, **overrides}


def make_impression(**overrides: Any) -> dict[str, Any]:
    event = {"event_type": "impression", "advertiser_id": "adv-1", "ad_id": "ad-1"}
    return {**event, "timestamp": NOON, **overrides}


def make_conversion(**overrides: Any) -> dict[str, Any]:
    event = {
        "event_type": "conversion",
        "conversion_id": "conv-1",
        "user_id": "user-1",
        "revenue": 49.99,
        "advertiser_id": "adv-1",
        "currency": "EUR",
        "conversion_type": "purchase",
        "device_id": "dev-1",
    }
    return {**event, "timestamp": NOON, **overrides}


def make_cancellation(**overrides: Any) -> dict[str, Any]:
    event = {"event_type": "conversion_cancellation", "conversion_id": "conv-1", "reason": "fraud"}
    return {**event, "timestamp": NOON, **overrides}


def make_refund(**overrides: Any) -> dict[str, Any]:
    event = {"event_type": "click_refund", "click_id": "click-1", "reason": "invalid traffic"}
    return {**event, "timestamp": NOON, **overrides}


def make_budget_update(**overrides: Any) -> dict[str, Any]:
    event = {"event_type": "budget_update", "advertiser": "advertiser-1", "budget_value": 250}
    return {**event, "budget_period": "day", "timestamp": NOON, **overrides}


def make_page_view(**overrides: Any) -> dict[str, Any]:
    event = {"event_type": "page_view", "user_id": "user-1", "session_id": "s-1", "page": "/"}
    return {**event, "source": "newsletter", "medium": "email", "timestamp": NOON, **overrides}


EVERY_TYPE = {
    "ad_click": make_click,
    "impression": make_impression,
    "conversion": make_conversion,
    "conversion_cancellation": make_cancellation,
    "click_refund": make_refund,
    "budget_update": make_budget_update,
    "page_view": make_page_view,
}


def raw_frame(spark: SparkSession, payloads: Sequence[str | None]) -> DataFrame:
    schema = StructType([StructField("raw", StringType())])
    return spark.createDataFrame([(payload,) for payload in payloads], schema)


def parsed_events(spark: SparkSession, payloads: list[str]) -> DataFrame:
    return contract.parse_payloads(raw_frame(spark, payloads), "raw").select("event.*")


def test_every_event_type_has_a_builder_and_validates() -> None:
    assert set(EVERY_TYPE) == set(contract.EVENT_TYPES)
    for event_type, build in EVERY_TYPE.items():
        event = contract.parse_event(build())
        assert event.event_type == event_type
        assert event.timestamp == datetime(2024, 1, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize("event_type", contract.EVENT_TYPES)
def test_each_event_type_round_trips_through_the_spark_schema(
    spark: SparkSession, event_type: str
) -> None:
    event = contract.parse_event(EVERY_TYPE[event_type]())
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
        (make_click(advertiser=None, advertiser_id=None), "advertiser or advertiser_id"),
        (make_click(amount=-1), "amount"),
        (make_click(currency="usd"), "currency"),
        (make_click(timestamp="yesterday"), "timestamp"),
        (make_conversion(revenue=-5), "revenue"),
        (make_budget_update(budget_period="week"), "budget_period"),
        ({"event_type": "click", "timestamp": NOON}, "event_type"),
    ],
)
def test_invalid_events_raise_contract_error_naming_the_field(
    event: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ContractError, match=problem):
        contract.parse_event(event)


def test_unknown_extra_fields_are_kept() -> None:
    click = contract.parse_event(make_click(experiment="b"))
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
    assert contract.derive_event_id(json.dumps(make_click())) == "ad_click:click-1"
    assert contract.derive_event_id(json.dumps(make_conversion())) == "conversion:conv-1"
    assert contract.derive_event_id(json.dumps(make_impression(event_id="imp-9"))) == (
        "impression:imp-9"
    )
    refund_a = contract.derive_event_id(json.dumps(make_refund(click_id="a")))
    refund_b = contract.derive_event_id(json.dumps(make_refund(click_id="b")))
    assert refund_a != refund_b
    assert refund_a.startswith("click_refund:")
    assert len(refund_a) == len("click_refund:") + 64


def test_a_click_and_a_conversion_with_the_same_id_are_two_events() -> None:
    click = contract.derive_event_id(json.dumps(make_click(click_id="42")))
    conversion = contract.derive_event_id(json.dumps(make_conversion(conversion_id="42")))
    assert click != conversion


def test_the_payload_hash_collapses_an_exact_resend_and_nothing_else() -> None:
    impression = json.dumps(make_impression(amount="0.01"))
    assert contract.derive_event_id(impression) == contract.derive_event_id(
        f"\ufeff {impression}\n"
    )
    other_amount = json.dumps(make_impression(amount="0.02"))
    assert contract.derive_event_id(impression) != contract.derive_event_id(other_amount)
    first = json.dumps(make_budget_update(budget_value=10))
    second = json.dumps(make_budget_update(budget_value=20))
    assert contract.derive_event_id(first) != contract.derive_event_id(second)


def test_event_id_is_the_same_in_python_and_spark(spark: SparkSession) -> None:
    events = [
        make_click(),
        make_click(click_id="42"),
        make_conversion(conversion_id="42"),
        make_impression(),
        make_impression(amount="0.02"),
        make_impression(event_id="imp-9"),
        make_cancellation(),
        make_refund(),
        make_budget_update(),
        make_page_view(timestamp="2024-01-01T12:00:00.123456"),
    ]
    payloads = [json.dumps(event) for event in events] + [f" {json.dumps(make_page_view())}\r\n"]
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
        json.dumps(make_click(amount="abc", click_id="c-abc")),
        json.dumps(make_click(amount=1e30, click_id="c-huge")),
        json.dumps(make_click(amount="0.5", click_id="c-text")),
        json.dumps(make_click(metadata=5, click_id="c-meta")),
        json.dumps(make_click(click_id=123)),
    ]
    actual = parsed_events(spark, payloads).select("click_id", "amount", "metadata", "advertiser")
    expected = spark.createDataFrame(
        [
            ("c-abc", None, {"device": "mobile"}, "advertiser-1"),
            ("c-huge", None, {"device": "mobile"}, "advertiser-1"),
            ("c-text", Decimal("0.5"), {"device": "mobile"}, "advertiser-1"),
            ("c-meta", Decimal("0.25"), None, "advertiser-1"),
            ("123", Decimal("0.25"), {"device": "mobile"}, "advertiser-1"),
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
