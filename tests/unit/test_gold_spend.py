"""Gold's spend rules on hand-computed scenarios: budgets, periods, time zones, refunds, pacing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession

from ad_marketing_pipeline.config import BudgetPolicy
from ad_marketing_pipeline.gold.spend import (
    advertiser_spend_hours,
    credited_refunds,
    spend_observations,
)
from events import Event, budget, click, refund, silver_frame, with_advertiser_key
from helpers import assert_frames_equal

EVENTS_SCHEMA = (
    "event_id string, event_time timestamp, advertiser_key string, advertiser string, "
    "advertiser_id string, click_id string, amount decimal(18,6), budget_value decimal(18,6), "
    "received_at timestamp, file_path string, partition int, offset bigint"
)
RESULT_SCHEMA = (
    "window_start timestamp, gross_spend decimal(38,6), net_spend decimal(38,6), "
    "budget_value decimal(18,6), spend_to_date decimal(38,6), can_serve boolean"
)
DAILY_IN_UTC = BudgetPolicy()
RESULT_COLUMNS = [field.split()[0] for field in RESULT_SCHEMA.split(", ")]


def utc(text: str) -> datetime:
    """A UTC time such as '01-02 09:10' (2024)."""
    return datetime.strptime(f"2024-{text}", "%Y-%m-%d %H:%M")


def money(value: float | str | None) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(Decimal("0.000001"))


def frame(spark: SparkSession, events: Sequence[Event]) -> DataFrame:
    """The events' Silver rows as the spend transforms read them, received in the order listed,
    with the key Gold gives an advertiser (here its id, else its name: advertisers.py's rule,
    tested on its own). Only the columns the transforms read (EVENTS_SCHEMA), so this is a
    transform-level frame rather than a Silver table."""
    return silver_frame(spark, [with_advertiser_key(event) for event in events], EVENTS_SCHEMA)


def spend_hours(
    spark: SparkSession,
    *,
    clicks: Sequence[Event] = (),
    budgets: Sequence[Event] = (),
    refunds: Sequence[Event] = (),
    policy: BudgetPolicy = DAILY_IN_UTC,
) -> DataFrame:
    click_frame = frame(spark, clicks)
    observations = spend_observations(
        click_frame, credited_refunds(frame(spark, refunds), click_frame), frame(spark, budgets)
    )
    carried = spark.createDataFrame([], "advertiser_key string, carried_budget_value decimal(18,6)")
    return observations.transform(advertiser_spend_hours(policy, carried))


def expected(spark: SparkSession, rows: list[tuple[str, Any, Any, Any, Any, bool]]) -> DataFrame:
    """(hour 'MM-DD HH:MM', gross, net, budget, spend_to_date, can_serve) per hour."""
    return spark.createDataFrame(
        [
            (utc(hour), money(gross), money(net), money(budget_value), money(to_date), serve)
            for hour, gross, net, budget_value, to_date, serve in rows
        ],
        RESULT_SCHEMA,
    )


def test_spend_crossing_the_budget_inside_an_hour_stops_serving_for_the_rest_of_the_day(
    spark: SparkSession,
) -> None:
    actual = spend_hours(
        spark,
        budgets=[budget(at=utc("01-02 00:00"), budget_value=10)],
        clicks=[
            click("c1", at=utc("01-02 09:10"), amount=4),
            click("c2", at=utc("01-02 10:05"), amount=4),
            click("c3", at=utc("01-02 10:40"), amount=4),
            click("c4", at=utc("01-02 11:30"), amount=1),
        ],
    )
    assert_frames_equal(
        actual.select(*RESULT_COLUMNS),
        expected(
            spark,
            [
                ("01-02 00:00", 0, 0, 10, 0, True),
                ("01-02 09:00", 4, 4, 10, 4, True),
                ("01-02 10:00", 8, 8, 10, 12, False),
                ("01-02 11:00", 1, 1, 10, 13, False),
            ],
        ),
    )


def test_exactly_reaching_the_budget_stops_serving(spark: SparkSession) -> None:
    actual = spend_hours(
        spark,
        clicks=[
            click("c1", at=utc("01-02 09:00"), amount=6, budget_value=10),
            click("c2", at=utc("01-02 10:59"), amount=4, budget_value=10),
        ],
    )
    assert_frames_equal(
        actual.select(*RESULT_COLUMNS),
        expected(spark, [("01-02 09:00", 6, 6, 10, 6, True), ("01-02 10:00", 4, 4, 10, 10, False)]),
    )


def test_a_budget_raised_mid_day_resumes_serving_from_that_hour_and_keeps_earlier_hours(
    spark: SparkSession,
) -> None:
    actual = spend_hours(
        spark,
        budgets=[
            budget(at=utc("01-02 00:00"), budget_value=10),
            budget(at=utc("01-02 11:15"), budget_value=20),
        ],
        clicks=[
            click("c1", at=utc("01-02 09:30"), amount=10),
            click("c2", at=utc("01-02 12:00"), amount=1),
        ],
    )
    assert_frames_equal(
        actual.select(*RESULT_COLUMNS),
        expected(
            spark,
            [
                ("01-02 00:00", 0, 0, 10, 0, True),
                ("01-02 09:00", 10, 10, 10, 10, False),
                ("01-02 11:00", 0, 0, 20, 10, True),
                ("01-02 12:00", 1, 1, 20, 11, True),
            ],
        ),
    )


def test_a_budget_lowered_below_spend_stops_serving(spark: SparkSession) -> None:
    actual = spend_hours(
        spark,
        clicks=[click("c1", at=utc("01-02 09:00"), amount=30, budget_value=100)],
        budgets=[budget(at=utc("01-02 10:30"), budget_value=20)],
    )
    assert_frames_equal(
        actual.select(*RESULT_COLUMNS),
        expected(
            spark,
            [("01-02 09:00", 30, 30, 100, 30, True), ("01-02 10:00", 0, 0, 20, 30, False)],
        ),
    )


def test_a_budget_update_beats_a_click_budget_at_the_same_instant(spark: SparkSession) -> None:
    actual = spend_hours(
        spark,
        clicks=[click("c1", at=utc("01-02 09:00"), amount=1, budget_value=100)],
        budgets=[budget(at=utc("01-02 09:00"), budget_value=5)],
    )
    assert_frames_equal(
        actual.select(*RESULT_COLUMNS), expected(spark, [("01-02 09:00", 1, 1, 5, 1, True)])
    )


def test_of_two_budget_updates_at_one_instant_the_one_received_later_is_in_effect(
    spark: SparkSession,
) -> None:
    # Listed (received) 20 first, then 10: 10 is in effect, whatever the event ids say.
    actual = spend_hours(
        spark,
        clicks=[click("c1", at=utc("01-02 09:30"), amount=12)],
        budgets=[
            budget(at=utc("01-02 09:00"), budget_value=20),
            budget(at=utc("01-02 09:00"), budget_value=10),
        ],
    )
    assert_frames_equal(
        actual.select(*RESULT_COLUMNS), expected(spark, [("01-02 09:00", 12, 12, 10, 12, False)])
    )


def test_a_new_day_resets_spend_to_date_and_reopens_serving(spark: SparkSession) -> None:
    actual = spend_hours(
        spark,
        clicks=[
            click("c1", at=utc("01-02 23:10"), amount=10, budget_value=10),
            click("c2", at=utc("01-03 01:00"), amount=1),
        ],
    )
    assert_frames_equal(
        actual.select(*RESULT_COLUMNS),
        expected(
            spark, [("01-02 23:00", 10, 10, 10, 10, False), ("01-03 01:00", 1, 1, 10, 1, True)]
        ),
    )


def test_a_monthly_period_accumulates_across_days_and_resets_next_month(
    spark: SparkSession,
) -> None:
    actual = spend_hours(
        spark,
        clicks=[
            click("c1", at=utc("01-30 10:00"), amount=6, budget_value=10),
            click("c2", at=utc("01-31 10:00"), amount=6),
            click("c3", at=utc("02-01 10:00"), amount=6),
        ],
        policy=BudgetPolicy(period="month"),
    )
    assert_frames_equal(
        actual.select(*RESULT_COLUMNS),
        expected(
            spark,
            [
                ("01-30 10:00", 6, 6, 10, 6, True),
                ("01-31 10:00", 6, 6, 10, 12, False),
                ("02-01 10:00", 6, 6, 10, 6, True),
            ],
        ),
    )


def test_a_time_zone_other_than_utc_moves_the_day_boundary(spark: SparkSession) -> None:
    # New York is UTC-5 in January: 03:00 UTC on Jan 2 is still Jan 1 there; 06:00 is Jan 2.
    actual = spend_hours(
        spark,
        clicks=[
            click("c1", at=utc("01-01 20:00"), amount=6, budget_value=10),
            click("c2", at=utc("01-02 03:00"), amount=6),
            click("c3", at=utc("01-02 06:00"), amount=6),
        ],
        policy=BudgetPolicy(timezone="America/New_York"),
    )
    assert_frames_equal(
        actual.select(*RESULT_COLUMNS),
        expected(
            spark,
            [
                ("01-01 20:00", 6, 6, 10, 6, True),
                ("01-02 03:00", 6, 6, 10, 12, False),
                ("01-02 06:00", 6, 6, 10, 6, True),
            ],
        ),
    )
    days = actual.select("spend_day").distinct().orderBy("spend_day").collect()
    assert [str(row["spend_day"]) for row in days] == ["2024-01-01", "2024-01-02"]


def test_a_refund_credits_an_earlier_hours_click_in_the_refunds_hour(spark: SparkSession) -> None:
    refunded = click("c-1", at=utc("01-02 09:05"), amount=5, budget_value=10)
    actual = spend_hours(
        spark,
        clicks=[refunded, click("c-2", at=utc("01-02 09:30"), amount=5)],
        refunds=[
            refund("c-1", at=utc("01-02 11:00")),
            refund("c-1", at=utc("01-02 12:00"), amount=2),
        ],
    )
    # The second refund of the same click counts for nothing; serving does not reopen.
    assert_frames_equal(
        actual.select(*RESULT_COLUMNS),
        expected(
            spark, [("01-02 09:00", 10, 10, 10, 10, False), ("01-02 11:00", 0, -5, 10, 10, False)]
        ),
    )


def test_a_partial_refund_credits_at_most_the_clicks_amount(spark: SparkSession) -> None:
    actual = spend_hours(
        spark,
        clicks=[click("c-1", at=utc("01-02 09:05"), amount=5, budget_value=100)],
        refunds=[
            refund("c-1", at=utc("01-02 09:30"), amount=9),
            refund("unknown", at=utc("01-02 09:40")),
        ],
    )
    assert_frames_equal(
        actual.select(*RESULT_COLUMNS), expected(spark, [("01-02 09:00", 5, 0, 100, 5, True)])
    )


@pytest.mark.parametrize(("policy", "serves"), [("serve", True), ("block", False)])
def test_an_advertiser_with_no_budget_follows_the_configured_policy(
    spark: SparkSession, policy: str, serves: bool
) -> None:
    actual = spend_hours(
        spark,
        clicks=[click("c1", at=utc("01-02 09:00"), amount=5)],
        policy=BudgetPolicy.model_validate({"missing_budget": policy}),
    )
    assert_frames_equal(
        actual.select(*RESULT_COLUMNS), expected(spark, [("01-02 09:00", 5, 5, None, 5, serves)])
    )


def test_pacing_compares_spend_with_the_elapsed_share_of_the_budget(spark: SparkSession) -> None:
    # Budget 24 a day: by 10:00 the expected spend is 10; 15 spent is 1.5 x the pace.
    actual = spend_hours(
        spark, clicks=[click("c1", at=utc("01-02 09:30"), amount=15, budget_value=24)]
    )
    assert_frames_equal(
        actual.select("expected_spend_to_date", "pacing_ratio", "budget_changed"),
        spark.createDataFrame(
            [(money(10), 1.5, True)],
            "expected_spend_to_date decimal(38,6), pacing_ratio double, budget_changed boolean",
        ),
    )
