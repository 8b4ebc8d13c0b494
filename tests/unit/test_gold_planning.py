"""What a Gold micro-batch must recompute, on small hand-made frames: the planning functions of
gold/planning.py, apart from the reads and MERGEs that use their plans."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pyspark.sql import DataFrame, Row, SparkSession

from ad_marketing_pipeline.config import BudgetPolicy
from ad_marketing_pipeline.gold.planning import (
    BatchSummary,
    affected_conversions,
    conversions_under,
    performance_scope,
    spend_scope,
    touched_spend_keys,
)
from events import (
    Event,
    budget,
    cancellation,
    click,
    conversion,
    impression,
    page_view,
    refund,
    silver_frame,
    with_advertiser_key,
)
from helpers import assert_frames_equal

CHANGED_SCHEMA = (
    "event_id string, event_type string, event_time timestamp, advertiser_key string, "
    "click_id string, conversion_id string, user_id string, source string, platform string, "
    "campaign_id string"
)
FACTS_SCHEMA = (
    "conversion_id string, advertiser_key string, user_id string, converted_at timestamp, "
    "conversion_date date, source string, platform string, performance_campaign_id string"
)
TOUCHED_SCHEMA = "advertiser_key string, event_time timestamp"


def utc(text: str) -> datetime:
    """'MM-DD HH:MM' in 2024, UTC."""
    return datetime.strptime(f"2024-{text}", "%Y-%m-%d %H:%M")


def changed_events(spark: SparkSession, events: list[Event]) -> DataFrame:
    """A batch's changed events as Gold's planning reads them: their Silver rows' columns of
    CHANGED_SCHEMA, with the key Gold gives an advertiser (its id, else its name)."""
    return silver_frame(spark, [with_advertiser_key(event) for event in events], CHANGED_SCHEMA)


def fact(conversion_id: str, user: str, time: str, advertiser: str = "a") -> dict[str, Any]:
    """A row of gold_fact_conversions with the columns planning reads: Gold's own table, not an
    event, so not one of tests/events.py's builders."""
    converted = utc(time)
    return {
        "conversion_id": conversion_id,
        "advertiser_key": advertiser,
        "user_id": user,
        "converted_at": converted,
        "conversion_date": converted.date(),
        "source": "google",
        "platform": "search",
        "performance_campaign_id": "cmp-1",
    }


def frame(spark: SparkSession, rows: list[dict[str, Any]], schema: str) -> DataFrame:
    return spark.createDataFrame(rows, schema)


def test_the_touched_spend_keys_are_the_batch_s_own_and_those_its_refunds_move(
    spark: SparkSession,
) -> None:
    changed = changed_events(
        spark,
        [
            click("c1", at=utc("01-02 10:15"), advertiser="A", user_id="u-1"),
            budget(event_id="b1", at=utc("01-02 11:00"), advertiser="B"),
            refund("c9", at=utc("01-02 12:00")),  # credits C's click from an earlier batch
            # its refund came before it
            click("c5", at=utc("01-02 13:00"), advertiser="D", user_id="u-1"),
            page_view(event_id="v1", at=utc("01-02 14:00"), user_id="u-1"),
        ],
    )
    credited = spark.createDataFrame([("c9", "C")], "click_id string, advertiser_key string")
    early_refunds = spark.createDataFrame(
        [("c5", utc("01-02 09:00")), ("c7", utc("01-02 09:30"))],  # c7: not a click of the batch
        "click_id string, event_time timestamp",
    )

    touched = touched_spend_keys(changed, credited, early_refunds)

    expected = spark.createDataFrame(
        [
            ("A", utc("01-02 10:15")),
            ("B", utc("01-02 11:00")),
            ("C", utc("01-02 12:00")),
            ("D", utc("01-02 13:00")),
            ("D", utc("01-02 09:00")),  # the refund, booked now that its click arrived
        ],
        TOUCHED_SCHEMA,
    )
    assert_frames_equal(touched, expected)


def test_the_spend_scope_starts_at_the_earliest_touched_period_and_covers_moved_keys(
    spark: SparkSession,
) -> None:
    touched = spark.createDataFrame(
        [
            ("A", utc("01-02 10:00")),
            ("A", utc("01-01 23:30")),
            ("X-1", utc("01-03 08:00")),
            (None, utc("01-01 00:00")),  # an event without an advertiser moves nothing
        ],
        TOUCHED_SCHEMA,
    )
    moves = {"name:acme": "X-1", "name:gone": "X-2"}  # name:gone kept no hours
    moved_from = {"name:acme": utc("12-30 00:00").replace(year=2023)}

    scope = spend_scope(touched, BudgetPolicy(), moved_from=moved_from, moves=moves)

    assert scope == {
        "A": utc("01-01 00:00"),
        "X-1": datetime(2023, 12, 30),
        "name:acme": datetime(2023, 12, 30),
    }


def test_the_spend_scope_follows_the_budget_period_and_time_zone(spark: SparkSession) -> None:
    touched = spark.createDataFrame([("A", utc("03-01 03:00"))], TOUCHED_SCHEMA)
    monthly_in_new_york = BudgetPolicy(period="month", timezone="America/New_York")

    scope = spend_scope(touched, monthly_in_new_york, moved_from={}, moves={})

    # 03:00 UTC on 1 March is still February in New York: February 1st, 00:00 EST = 05:00 UTC.
    assert scope == {"A": utc("02-01 05:00")}


def test_affected_conversions_are_new_cancelled_and_reattributed_ones(
    spark: SparkSession,
) -> None:
    known = frame(
        spark,
        [
            fact("k1", "u-1", "01-10 12:00"),  # a late click of u-1 lands in its lookback
            fact("k2", "u-2", "01-10 12:00"),  # cancelled by the batch
            fact("k3", "u-3", "01-10 12:00"),  # u-3's click comes after it: unchanged
            fact("k4", "u-4", "01-10 12:00"),  # u-4's click is older than the lookback
        ],
        FACTS_SCHEMA,
    )
    changed = changed_events(
        spark,
        [
            click("c1", at=utc("01-09 08:00"), advertiser="a", user_id="u-1"),
            click("c3", at=utc("01-11 08:00"), advertiser="a", user_id="u-3"),
            click("c4", at=utc("01-01 08:00"), advertiser="a", user_id="u-4"),
            cancellation("k2", event_id="x2", at=utc("01-12 00:00")),
            cancellation("k9", event_id="x9", at=utc("01-12 00:00")),
            conversion("n1", at=utc("01-12 09:00"), user_id="u-5"),
        ],
    )

    affected = affected_conversions(changed, known, lookback_days=7)

    assert affected == {
        "k1": utc("01-10 12:00"),
        "k2": utc("01-10 12:00"),
        "n1": utc("01-12 09:00"),
    }


def test_conversions_under_moved_keys(spark: SparkSession) -> None:
    known = frame(
        spark,
        [fact("k1", "u-1", "01-10 12:00", "name:acme"), fact("k2", "u-2", "01-11 12:00", "B")],
        FACTS_SCHEMA,
    )

    assert conversions_under(known, ["name:acme"]) == {"k1": utc("01-10 12:00")}
    assert conversions_under(known, []) == {}


def test_the_performance_scope_is_the_deliveries_and_the_facts_before_and_after(
    spark: SparkSession,
) -> None:
    changed = changed_events(
        spark,
        [
            click(
                "c1",
                at=utc("01-02 10:00"),
                advertiser="A",
                user_id="u-1",
                source="google",
                platform="search",
                campaign_id="x",
            ),
            # the same key as the click: listed once
            impression(
                event_id="i1",
                at=utc("01-02 11:00"),
                advertiser="A",
                source="google",
                platform="search",
                campaign_id="x",
            ),
            budget(event_id="b1", at=utc("01-02 12:00"), advertiser="A"),  # no performance key
        ],
    )
    before = frame(spark, [fact("k1", "u-1", "01-01 09:00")], FACTS_SCHEMA)
    after = frame(spark, [fact("k1", "u-1", "01-03 09:00")], FACTS_SCHEMA)

    keys = performance_scope(changed, before, after, "UTC")

    assert keys == [
        Row(
            performance_date=date(2024, 1, 1),
            source="google",
            platform="search",
            campaign_id="cmp-1",
        ),
        Row(performance_date=date(2024, 1, 2), source="google", platform="search", campaign_id="x"),
        Row(
            performance_date=date(2024, 1, 3),
            source="google",
            platform="search",
            campaign_id="cmp-1",
        ),
    ]


def test_the_batch_summary_names_types_earliest_times_ids_and_pairs(spark: SparkSession) -> None:
    changed = silver_frame(
        spark,
        [
            click("c1", at=utc("01-02 10:00"), advertiser="Acme", advertiser_id="X-1"),
            click("c2", at=utc("01-01 10:00"), advertiser="Acme", advertiser_id=" "),
            budget(at=utc("01-01 09:00"), advertiser="Beta", advertiser_id="X-2"),
            refund("c1", at=utc("01-03 00:00")),
            refund("c9", at=utc("01-04 00:00")),
            cancellation("v-7", at=utc("01-05 00:00")),
        ],
        "event_id string, event_type string, event_time timestamp, advertiser string, "
        "advertiser_id string, click_id string, conversion_id string",
    )

    summary = BatchSummary.of(changed)

    assert summary.earliest == {
        "ad_click": utc("01-01 10:00"),
        "budget_update": utc("01-01 09:00"),
        "click_refund": utc("01-03 00:00"),
        "conversion_cancellation": utc("01-05 00:00"),
    }
    assert summary.has("click_refund", "conversion")
    assert not summary.has("conversion")
    assert summary.refunded_clicks == {"c1", "c9"}
    assert summary.cancelled_conversions == {"v-7"}
    assert summary.pairs == {("X-1", "Acme"), ("X-2", "Beta")}
