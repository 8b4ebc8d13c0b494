"""Advertiser spend against budgets, per hour: pure transforms from Silver events to the rows of
gold_advertiser_spend.

Rules (ARCHITECTURE.md, budget and serving rules):
- An advertiser is its key (`advertiser_key`, see advertisers.py): the id when events carry
  one, names are labels. The transforms here take events with the key already resolved.
- Hours are the wall-clock hours of the budget time zone (`budget.timezone`), so they nest in its
  days and months; `window_start`/`window_end` are their UTC instants. (At a daylight-saving
  fall-back the repeated wall-clock hour is one row, two hours long.)
- The budget in effect at an hour is the latest `budget_value` seen up to the hour's end, from
  `budget_update` events or the value carried on clicks: by event time, a budget update before a
  click's value at the same instant, and of two values of the same kind at one instant the one
  received later (`budget_order`).
- `spend_to_date` is the gross spend of the budget period up to the hour's end; `can_serve` is
  false once it reaches the budget; with no known budget the `missing_budget` policy decides.
- A refund credits its click back in the refund's hour (`net_spend`); it never reopens serving.
  Only a click's first refund counts, for at most the click's amount.
- Sums are DECIMAL(38, 6): no number of clicks of the largest accepted amount overflows them.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from ad_marketing_pipeline.config import BudgetPolicy
from ad_marketing_pipeline.contract import MONEY_SUM_TYPE, MONEY_TYPE
from ad_marketing_pipeline.gold.rules import (
    BUDGET_UPDATE_RANK,
    CLICK_BUDGET_RANK,
    budget_order,
    can_serve_column,
)

Transform = Callable[[DataFrame], DataFrame]

OBSERVATION_COLUMNS = (
    "advertiser_key",
    "advertiser",
    "advertiser_id",
    "event_id",
    "event_time",
    "gross_amount",
    "credited_amount",
    "clicks",
    "budget_value",
    "budget_order",
)


def money(value: Column) -> Column:
    """One amount of money (a click's cost, a budget)."""
    return value.cast(MONEY_TYPE)


def money_sum(value: Column) -> Column:
    """A sum of amounts of money."""
    return value.cast(MONEY_SUM_TYPE)


def credited_refunds(refunds: DataFrame, clicks: DataFrame) -> DataFrame:
    """Each refunded click's first refund, with the click's advertiser and the amount credited:
    the refund's amount (the click's when not given), at most the click's amount. Refunds of
    clicks Silver does not have yet wait for them (an inner join: they count once it arrives)."""
    first_refund = Window.partitionBy("click_id").orderBy("event_time", "event_id")
    first = (
        refunds.select("click_id", "event_id", "event_time", F.col("amount").alias("refund_amount"))
        .withColumn("_rank", F.row_number().over(first_refund))
        .filter("_rank = 1")
        .drop("_rank")
    )
    refunded = clicks.select(
        "click_id",
        "advertiser_key",
        "advertiser",
        "advertiser_id",
        F.col("amount").alias("click_amount"),
    )
    credit = F.least(F.coalesce("refund_amount", "click_amount"), F.col("click_amount"))
    return first.join(refunded, "click_id").select(
        "advertiser_key",
        "advertiser",
        "advertiser_id",
        "event_id",
        "event_time",
        money(credit).alias("credit"),
    )


def spend_observations(
    clicks: DataFrame, credited: DataFrame, budget_updates: DataFrame
) -> DataFrame:
    """Clicks, credited refunds and budget updates (with `advertiser_key`) as one frame of
    OBSERVATION_COLUMNS."""
    zero, none = money(F.lit(0)), money(F.lit(None))
    advertiser = ("advertiser_key", "advertiser", "advertiser_id")
    click_rows = clicks.select(
        *advertiser,
        "event_id",
        "event_time",
        money(F.col("amount")).alias("gross_amount"),
        zero.alias("credited_amount"),
        F.lit(1).alias("clicks"),
        money(F.col("budget_value")).alias("budget_value"),
        F.when(F.col("budget_value").isNotNull(), budget_order(F.lit(CLICK_BUDGET_RANK))).alias(
            "budget_order"
        ),
    )
    refund_rows = credited.select(
        *advertiser,
        "event_id",
        "event_time",
        zero.alias("gross_amount"),
        F.col("credit").alias("credited_amount"),
        F.lit(0).alias("clicks"),
        none.alias("budget_value"),
        F.lit(None).cast(click_rows.schema["budget_order"].dataType).alias("budget_order"),
    )
    budget_rows = budget_updates.select(
        *advertiser,
        "event_id",
        "event_time",
        zero.alias("gross_amount"),
        zero.alias("credited_amount"),
        F.lit(0).alias("clicks"),
        money(F.col("budget_value")).alias("budget_value"),
        budget_order(F.lit(BUDGET_UPDATE_RANK)).alias("budget_order"),
    )
    return click_rows.unionByName(refund_rows).unionByName(budget_rows)


def local_hour_columns(event_time: Column, policy: BudgetPolicy) -> dict[str, Column]:
    """The budget time zone's hour of `event_time`: its UTC window, day, month and period."""
    zone = policy.timezone
    local_hour = F.date_trunc("hour", F.from_utc_timestamp(event_time, zone))
    local_period = F.date_trunc(policy.period, local_hour)
    next_period = (
        F.date_add(local_period, 1).cast("timestamp")
        if policy.period == "day"
        else F.add_months(local_period, 1).cast("timestamp")
    )
    return {
        "window_start": F.to_utc_timestamp(local_hour, zone),
        "window_end": F.to_utc_timestamp(local_hour + F.expr("INTERVAL 1 HOUR"), zone),
        "spend_day": F.to_date(local_hour),
        "spend_month": F.trunc(F.to_date(local_hour), "month"),
        "period_start": F.to_utc_timestamp(local_period, zone),
        "period_end": F.to_utc_timestamp(next_period, zone),
    }


def _budget_of_hour(observations: DataFrame) -> Column:
    """The last budget value seen in the hour (`budget_order`)."""
    return F.max_by("budget_value", F.col("budget_order"))


def _safe_ratio(numerator: Column, denominator: Column) -> Column:
    return F.when(denominator != 0, numerator.cast("double") / denominator.cast("double"))


def advertiser_spend_hours(policy: BudgetPolicy, carried_budgets: DataFrame) -> Transform:
    """Spend observations -> one row per advertiser and hour with spend, the budget in effect,
    spend_to_date, can_serve and pacing.

    The rows must cover whole budget periods of each advertiser from some period on;
    `carried_budgets` (advertiser_key, carried_budget_value) gives the budget in effect before
    the first of them (empty for a full rebuild).
    """

    def apply(observations: DataFrame) -> DataFrame:
        hours = observations.withColumns(local_hour_columns(F.col("event_time"), policy))
        per_hour = hours.groupBy(
            "advertiser_key",
            "window_start",
            "window_end",
            "spend_day",
            "spend_month",
            "period_start",
            "period_end",
        ).agg(
            F.max("advertiser").alias("advertiser"),
            F.max("advertiser_id").alias("advertiser_id"),
            money_sum(F.sum("gross_amount")).alias("gross_spend"),
            money_sum(F.sum("credited_amount")).alias("credited_spend"),
            F.sum("clicks").cast("long").alias("record_count"),
            _budget_of_hour(hours).alias("hour_budget_value"),
            money(F.avg("budget_value")).alias("avg_budget"),
            F.max("event_time").alias("latest_event_time"),
        )
        by_advertiser = Window.partitionBy("advertiser_key").orderBy("window_start")
        so_far = by_advertiser.rowsBetween(Window.unboundedPreceding, Window.currentRow)
        in_period = (
            Window.partitionBy("advertiser_key", "period_start")
            .orderBy("window_start")
            .rowsBetween(Window.unboundedPreceding, Window.currentRow)
        )
        budget_in_effect = F.coalesce(
            F.last("hour_budget_value", ignorenulls=True).over(so_far),
            F.col("carried_budget_value"),
        )
        with_budget = (
            per_hour.join(F.broadcast(carried_budgets), "advertiser_key", "left")
            .withColumn("budget_value", budget_in_effect)
            .withColumn(
                "previous_budget_value",
                F.coalesce(
                    F.lag("budget_value").over(by_advertiser), F.col("carried_budget_value")
                ),
            )
            .withColumn("spend_to_date", money_sum(F.sum("gross_spend").over(in_period)))
        )
        return _with_serving(with_budget, policy)

    return apply


def _with_serving(hours: DataFrame, policy: BudgetPolicy) -> DataFrame:
    period_seconds = F.unix_timestamp("period_end") - F.unix_timestamp("period_start")
    elapsed_seconds = F.unix_timestamp("window_end") - F.unix_timestamp("period_start")
    expected = money_sum(
        F.col("budget_value") * elapsed_seconds.cast("decimal(12,0)") / period_seconds
    )
    return hours.select(
        "advertiser_key",
        "advertiser",
        "advertiser_id",
        F.col("window_start").alias("spend_hour"),
        "window_start",
        "window_end",
        "spend_day",
        "spend_month",
        "period_start",
        "gross_spend",
        "credited_spend",
        money_sum(F.col("gross_spend") - F.col("credited_spend")).alias("net_spend"),
        "record_count",
        "budget_value",
        "avg_budget",
        (~F.col("budget_value").eqNullSafe(F.col("previous_budget_value"))).alias("budget_changed"),
        "spend_to_date",
        can_serve_column(F.col("spend_to_date"), F.col("budget_value"), policy).alias("can_serve"),
        expected.alias("expected_spend_to_date"),
        _safe_ratio(F.col("spend_to_date"), expected).alias("pacing_ratio"),
        "latest_event_time",
    )
