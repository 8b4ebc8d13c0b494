"""The serving status: may each advertiser's ads serve now. One row per advertiser, kept by a
stream of its own that reads the source directly, so an ad server sees a click's effect seconds
after it is sent instead of after Bronze, Silver and Gold.

Spark de-duplicates a micro-batch's clicks and sums its events per advertiser and budget period
(`batch_partials`); the driver folds those few partial states into the table's rows (`fold`):
on a few rows, plain Python takes milliseconds where every Spark job costs a fixed overhead.

The row is a state that new events fold into: the advertiser's newest budget period (from its
clicks and budget observations), the gross spend of that period, and the newest budget value seen.
Folding is associative and commutative, so a batch's events, the table's current row and a row
kept under a stand-in name (an id whose name was just learned) combine in any order, and the
result agrees with gold_advertiser_spend's newest row of the advertiser (see spend.py):

- `spend_to_date` is the gross spend of the newest period: a click of a newer period starts a
  new sum, a click of an older (closed) period does not count;
- the budget in effect is the newest budget observation, by (event time, budget update before
  a click's budget value, event id), as `_budget_of_hour` orders them in spend.py;
- `can_serve` is spend_to_date < budget_value; with no known budget the `missing_budget` policy.

Refunds credit clicks back (net spend) but never reopen serving, so they are not read here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ad_marketing_pipeline.config import BudgetPolicy
from ad_marketing_pipeline.gold.spend import local_hour_columns, money
from ad_marketing_pipeline.gold.tables import BUDGET_ORDER_TYPE

Transform = Callable[[DataFrame], DataFrame]

SERVING_EVENT_COLUMNS = (
    "event_id",
    "event_type",
    "event_time",
    "advertiser",
    "advertiser_id",
    "amount",
    "budget_value",
)
_BUDGET_UPDATE_RANK = 2  # as in spend.py: a budget update outranks a click's budget value
_CLICK_BUDGET_RANK = 1


def _has_text(name: str) -> Column:
    return F.coalesce(F.trim(F.col(name)) != "", F.lit(False))


def serving_events(valid: DataFrame) -> DataFrame:
    """The valid Silver-shaped events the serving status needs: clicks and budget updates, and
    any event naming both an advertiser and its id (they teach advertiser names)."""
    spend = F.col("event_type").isin("ad_click", "budget_update")
    names = _has_text("advertiser") & _has_text("advertiser_id")
    return valid.filter(spend | names).select(*SERVING_EVENT_COLUMNS)


def dedup_watermark(policy: BudgetPolicy) -> str:
    """How long a click id is remembered: a budget period (the longest day or month) and an
    hour more. A click older than that belongs to a closed period, which no longer decides
    serving, and the stream drops it."""
    longest = timedelta(days=32) if policy.period == "month" else timedelta(hours=25)
    return f"{int((longest + timedelta(hours=1)).total_seconds())} seconds"


def with_spend_counted_once(policy: BudgetPolicy) -> Transform:
    """The events, each once as an observation (its time, hour, period, budget value: folding
    these in twice changes nothing), plus each click once more as spend (`counts_spend`),
    de-duplicated on its event_id by the stream's state within `dedup_watermark`. Silver
    de-duplicates across all history; a click of a closed period that comes back later than
    that no longer changes serving, so forgetting it bounds the state."""

    def apply(events: DataFrame) -> DataFrame:
        spend = (
            events.filter(F.col("event_type") == "ad_click")
            .withWatermark("event_time", dedup_watermark(policy))
            .dropDuplicatesWithinWatermark(["event_id"])
        )
        return events.withColumn("counts_spend", F.lit(False)).unionByName(
            spend.withColumn("counts_spend", F.lit(True))
        )

    return apply


def batch_partials(policy: BudgetPolicy) -> Transform:
    """A batch's events (`with_spend_counted_once`) summed per advertiser (as the events name
    it: its name and id, or one of them), id and budget period, in one pass: the partial
    states the driver folds into the table's rows (`fold`; rows whose `observed` is false come
    only from events that teach a name), a handful of rows per advertiser whatever the batch's
    size."""

    def apply(events: DataFrame) -> DataFrame:
        hour = local_hour_columns(F.col("event_time"), policy)
        is_click = F.col("event_type") == "ad_click"
        observed = F.col("event_type").isin("ad_click", "budget_update")
        counts = F.col("counts_spend") & is_click
        rank = F.when(is_click, F.lit(_CLICK_BUDGET_RANK)).otherwise(F.lit(_BUDGET_UPDATE_RANK))
        budget = F.when(observed & ~F.col("counts_spend"), money(F.col("budget_value")))
        order = F.when(budget.isNotNull(), F.struct(F.col("event_time"), rank, F.col("event_id")))
        rows = events.select(
            F.when(_has_text("advertiser"), F.col("advertiser")).alias("advertiser"),
            F.when(_has_text("advertiser_id"), F.col("advertiser_id")).alias("advertiser_id"),
            hour["period_start"].alias("period_start"),
            observed.alias("observed"),
            money(F.when(counts, F.col("amount")).otherwise(F.lit(0))).alias("spend"),
            F.when(counts, F.lit(1)).otherwise(F.lit(0)).alias("clicks"),
            budget.alias("budget_value"),
            order.cast(BUDGET_ORDER_TYPE).alias("budget_order"),
            F.when(observed, hour["window_start"]).alias("window_start"),
            F.when(observed, F.col("event_time")).alias("event_time"),
        )
        return rows.groupBy("advertiser", "advertiser_id", "period_start").agg(
            F.bool_or("observed").alias("observed"),
            money(F.sum("spend")).alias("spend_to_date"),
            F.sum("clicks").cast("long").alias("clicks"),
            F.max_by("budget_value", "budget_order").alias("budget_value"),
            F.max("budget_order").alias("budget_order"),
            F.max("window_start").alias("latest_hour"),
            F.max("event_time").alias("latest_event_time"),
        )

    return apply


# ---------------------------------------------------------------------------------------------
# Folding partial states (on the driver: a few rows per advertiser)
# ---------------------------------------------------------------------------------------------

BudgetOrder = tuple[datetime, int, str]


@dataclass(frozen=True)
class ServingState:
    """What the serving status knows of one advertiser (a row of gold_serving_status without
    can_serve and bookkeeping), or a partial state to fold into it."""

    advertiser: str
    advertiser_id: str | None
    period_start: datetime
    spend_to_date: Decimal
    clicks: int
    budget_value: Decimal | None
    budget_order: BudgetOrder | None
    latest_hour: datetime
    latest_event_time: datetime

    def can_serve(self, policy: BudgetPolicy) -> bool:
        if self.budget_value is None:
            return policy.missing_budget == "serve"
        return self.spend_to_date < self.budget_value


def _largest(first: str | None, second: str | None) -> str | None:
    if first is None or second is None:
        return first if second is None else second
    return max(first, second)


def fold(state: ServingState, other: ServingState) -> ServingState:
    """Two states of one advertiser as one: the newer period's spend (a tie adds them up), the
    budget observation ordered last, the newest hour and event, the largest id. Associative and
    commutative, so events fold in whatever order and grouping they arrive."""
    if state.period_start == other.period_start:
        spend, clicks = state.spend_to_date + other.spend_to_date, state.clicks + other.clicks
    else:
        newer = state if state.period_start > other.period_start else other
        spend, clicks = newer.spend_to_date, newer.clicks
    budget_value, budget_order = state.budget_value, state.budget_order
    if other.budget_order is not None and (
        budget_order is None or other.budget_order > budget_order
    ):
        budget_value, budget_order = other.budget_value, other.budget_order
    return ServingState(
        advertiser=state.advertiser,
        advertiser_id=_largest(state.advertiser_id, other.advertiser_id),
        period_start=max(state.period_start, other.period_start),
        spend_to_date=spend,
        clicks=clicks,
        budget_value=budget_value,
        budget_order=budget_order,
        latest_hour=max(state.latest_hour, other.latest_hour),
        latest_event_time=max(state.latest_event_time, other.latest_event_time),
    )


def fold_batch(
    current: Mapping[str, ServingState],
    partials: Iterable[ServingState],
    stand_ins: Mapping[str, str],
) -> tuple[dict[str, ServingState], set[str]]:
    """The states a batch changes (advertiser -> new state) and the keys it removes: the
    batch's partial states (advertiser names already resolved) folded into the current ones,
    and the rows kept under a stand-in (an id, or a former name) folded into the name just
    learned for it."""
    changed: dict[str, ServingState] = {}

    def add(state: ServingState) -> None:
        known = changed.get(state.advertiser) or current.get(state.advertiser)
        changed[state.advertiser] = state if known is None else fold(known, state)

    removed = {stand_in for stand_in in stand_ins if stand_in in current}
    for stand_in in sorted(removed):
        add(replace(current[stand_in], advertiser=stand_ins[stand_in]))
    for partial in partials:
        add(partial)
    return changed, removed - set(changed)


def stand_ins_among(states: Mapping[str, ServingState], names: Mapping[str, str]) -> dict[str, str]:
    """Rows kept under their advertiser's id whose name is known now -> that name."""
    return {
        key: names[key]
        for key, state in states.items()
        if key == state.advertiser_id and key in names
    }
