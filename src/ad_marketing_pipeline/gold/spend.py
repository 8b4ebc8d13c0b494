"""Advertiser spend against budgets, per hour: pure transforms from Silver events to the rows of
gold_advertiser_spend.

Rules (ARCHITECTURE.md, budget and serving rules):
- An advertiser is `advertiser` (its name). An event that carries only `advertiser_id` gets the
  name other events gave that id; until one has, the id stands in for the name.
- Hours are the wall-clock hours of the budget time zone (`budget.timezone`), so they nest in its
  days and months; `window_start`/`window_end` are their UTC instants. (At a daylight-saving
  fall-back the repeated wall-clock hour is one row, two hours long.)
- The budget in effect at an hour is the latest `budget_value` seen up to the hour's end, from
  `budget_update` events or the value carried on clicks (a budget update wins a tie).
- `spend_to_date` is the gross spend of the budget period up to the hour's end; `can_serve` is
  false once it reaches the budget; with no known budget the `missing_budget` policy decides.
- A refund credits its click back in the refund's hour (`net_spend`); it never reopens serving.
  Only a click's first refund counts, for at most the click's amount.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from ad_marketing_pipeline.config import BudgetPolicy
from ad_marketing_pipeline.contract import MONEY_TYPE

Transform = Callable[[DataFrame], DataFrame]

OBSERVATION_COLUMNS = (
    "advertiser",
    "advertiser_id",
    "event_id",
    "event_time",
    "gross_amount",
    "credited_amount",
    "clicks",
    "budget_value",
    "budget_rank",
)
_BUDGET_UPDATE_RANK = 2  # a budget update outranks a click's budget at the same instant
_CLICK_BUDGET_RANK = 1


def money(value: Column) -> Column:
    return value.cast(MONEY_TYPE)


def advertiser_column() -> Column:
    """The advertiser an event belongs to: its name, else its id (see `with_advertiser_names`)."""
    name = F.when(F.trim(F.col("advertiser")) != "", F.col("advertiser"))
    return F.coalesce(name, F.col("advertiser_id"))


def advertiser_names(events: DataFrame) -> DataFrame:
    """(advertiser_id, advertiser_name) learned from events that carry both fields."""
    both = events.filter(
        (F.trim(F.col("advertiser")) != "") & (F.trim(F.col("advertiser_id")) != "")
    )
    return both.groupBy("advertiser_id").agg(F.min("advertiser").alias("advertiser_name"))


def learn_names(
    known: Mapping[str, str], seen: Iterable[tuple[str, str]]
) -> tuple[dict[str, str], dict[str, str]]:
    """What (advertiser_id, name) pairs just seen teach, given the names `known` so far:
    (the ids whose name is new or smaller than the known one -> that name, and the stand-ins
    to move to it: the id itself, and the former name, under which rows may be kept)."""
    smallest: dict[str, str] = {}
    for advertiser_id, name in seen:
        if advertiser_id not in smallest or name < smallest[advertiser_id]:
            smallest[advertiser_id] = name
    learned = {
        advertiser_id: name
        for advertiser_id, name in smallest.items()
        if advertiser_id not in known or name < known[advertiser_id]
    }
    stand_ins = dict(learned)
    stand_ins.update({known[i]: name for i, name in learned.items() if i in known})
    return learned, stand_ins


def with_advertiser_names(names: DataFrame) -> Transform:
    """Fill in the advertiser name of events that carry only `advertiser_id`, from the names
    learned so far, so both kinds of events count for one advertiser."""

    def apply(events: DataFrame) -> DataFrame:
        named = events.join(F.broadcast(names), "advertiser_id", "left")
        name = F.when(F.trim(F.col("advertiser")) != "", F.col("advertiser"))
        return named.withColumn("advertiser", F.coalesce(name, F.col("advertiser_name"))).drop(
            "advertiser_name"
        )

    return apply


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
        F.col("event_id").alias("click_id"),
        advertiser_column().alias("advertiser"),
        "advertiser_id",
        F.col("amount").alias("click_amount"),
    )
    credit = F.least(F.coalesce("refund_amount", "click_amount"), F.col("click_amount"))
    return first.join(refunded, "click_id").select(
        "advertiser", "advertiser_id", "event_id", "event_time", money(credit).alias("credit")
    )


def spend_observations(
    clicks: DataFrame, credited: DataFrame, budget_updates: DataFrame
) -> DataFrame:
    """Clicks, credited refunds and budget updates as one frame of OBSERVATION_COLUMNS."""
    zero, none = money(F.lit(0)), money(F.lit(None))
    click_rows = clicks.select(
        advertiser_column().alias("advertiser"),
        "advertiser_id",
        "event_id",
        "event_time",
        money(F.col("amount")).alias("gross_amount"),
        zero.alias("credited_amount"),
        F.lit(1).alias("clicks"),
        money(F.col("budget_value")).alias("budget_value"),
        F.lit(_CLICK_BUDGET_RANK).alias("budget_rank"),
    )
    refund_rows = credited.select(
        "advertiser",
        "advertiser_id",
        "event_id",
        "event_time",
        zero.alias("gross_amount"),
        F.col("credit").alias("credited_amount"),
        F.lit(0).alias("clicks"),
        none.alias("budget_value"),
        F.lit(None).cast("int").alias("budget_rank"),
    )
    budget_rows = budget_updates.select(
        advertiser_column().alias("advertiser"),
        "advertiser_id",
        "event_id",
        "event_time",
        zero.alias("gross_amount"),
        zero.alias("credited_amount"),
        F.lit(0).alias("clicks"),
        money(F.col("budget_value")).alias("budget_value"),
        F.lit(_BUDGET_UPDATE_RANK).alias("budget_rank"),
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
    """The last budget value seen in the hour (time, then budget update over click)."""
    order = F.when(
        F.col("budget_value").isNotNull(),
        F.struct("event_time", "budget_rank", "event_id"),
    )
    return F.max_by("budget_value", order)


def _safe_ratio(numerator: Column, denominator: Column) -> Column:
    return F.when(denominator != 0, numerator.cast("double") / denominator.cast("double"))


def advertiser_spend_hours(policy: BudgetPolicy, carried_budgets: DataFrame) -> Transform:
    """Spend observations -> one row per advertiser and hour with spend, the budget in effect,
    spend_to_date, can_serve and pacing.

    The rows must cover whole budget periods of each advertiser from some period on;
    `carried_budgets` (advertiser, carried_budget_value) gives the budget in effect before the
    first of them (empty for a full rebuild).
    """

    def apply(observations: DataFrame) -> DataFrame:
        hours = observations.withColumns(local_hour_columns(F.col("event_time"), policy))
        per_hour = hours.groupBy(
            "advertiser",
            "window_start",
            "window_end",
            "spend_day",
            "spend_month",
            "period_start",
            "period_end",
        ).agg(
            F.max("advertiser_id").alias("advertiser_id"),
            money(F.sum("gross_amount")).alias("gross_spend"),
            money(F.sum("credited_amount")).alias("credited_spend"),
            F.sum("clicks").cast("long").alias("record_count"),
            _budget_of_hour(hours).alias("hour_budget_value"),
            money(F.avg("budget_value")).alias("avg_budget"),
            F.max("event_time").alias("latest_event_time"),
        )
        by_advertiser = Window.partitionBy("advertiser").orderBy("window_start")
        so_far = by_advertiser.rowsBetween(Window.unboundedPreceding, Window.currentRow)
        in_period = (
            Window.partitionBy("advertiser", "period_start")
            .orderBy("window_start")
            .rowsBetween(Window.unboundedPreceding, Window.currentRow)
        )
        budget_in_effect = F.coalesce(
            F.last("hour_budget_value", ignorenulls=True).over(so_far),
            F.col("carried_budget_value"),
        )
        with_budget = (
            per_hour.join(F.broadcast(carried_budgets), "advertiser", "left")
            .withColumn("budget_value", budget_in_effect)
            .withColumn(
                "previous_budget_value",
                F.coalesce(
                    F.lag("budget_value").over(by_advertiser), F.col("carried_budget_value")
                ),
            )
            .withColumn("spend_to_date", money(F.sum("gross_spend").over(in_period)))
        )
        return _with_serving(with_budget, policy)

    return apply


def _with_serving(hours: DataFrame, policy: BudgetPolicy) -> DataFrame:
    period_seconds = F.unix_timestamp("period_end") - F.unix_timestamp("period_start")
    elapsed_seconds = F.unix_timestamp("window_end") - F.unix_timestamp("period_start")
    expected = money(F.col("budget_value") * elapsed_seconds.cast("decimal(12,0)") / period_seconds)
    no_budget_serves = F.lit(policy.missing_budget == "serve")
    return hours.select(
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
        money(F.col("gross_spend") - F.col("credited_spend")).alias("net_spend"),
        "record_count",
        "budget_value",
        "avg_budget",
        (~F.col("budget_value").eqNullSafe(F.col("previous_budget_value"))).alias("budget_changed"),
        "spend_to_date",
        F.when(F.col("budget_value").isNull(), no_budget_serves)
        .otherwise(F.col("spend_to_date") < F.col("budget_value"))
        .alias("can_serve"),
        expected.alias("expected_spend_to_date"),
        _safe_ratio(F.col("spend_to_date"), expected).alias("pacing_ratio"),
        "latest_event_time",
    )
