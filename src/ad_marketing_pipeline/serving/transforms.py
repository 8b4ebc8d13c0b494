"""The serving status: may each advertiser's ads serve now. One row per advertiser, kept by a
stream of its own that reads the source directly, so an ad server sees a click's effect seconds
after it is sent instead of after Bronze, Silver and Gold.

Spark de-duplicates a micro-batch's clicks and sums its events per advertiser and budget period
(`batch_partials`); the driver folds those few partial states into the table's rows (`fold`):
on a few rows, plain Python takes milliseconds where every Spark job costs a fixed overhead.

The rules agree with gold_advertiser_spend (gold/spend.py) and Silver:

- an advertiser is its key (advertisers.py: the id when events give one; names are labels);
- of several copies of one event id in a batch, the one received first counts (Silver's rule);
  a copy arriving in a later batch is a duplicate and counts for nothing (the stream's state
  remembers click and budget update ids for a budget period, the allowed clock skew and an
  hour, `dedup_watermark`);
- the spend of each budget period is kept apart, so a click stamped in the next period (allowed
  by `quality.max_future_skew_minutes`) waits for that period instead of replacing the spend of
  the current one;
- "now" (`as_of`) is the newest instant any valid event shows, each event counting for no more
  than when it was received (`least(event_time, received_at)`): one event stamped ahead of its
  arrival cannot move "now" (and the current period) ahead. Replayed history (events far older
  than their arrival) still has its own newest event as "now";
- `spend_to_date` is the gross spend of the current period (the period of "now");
- the budget in effect is the newest budget observation by `budget_order` (gold/rules.py);
- `can_serve` is spend_to_date < budget_value; with no known budget the `missing_budget` policy
  (gold/rules.py: the same rules as Gold's, in their Python form).

Folding is associative and commutative, so events fold in whatever order and grouping they
arrive. Refunds credit clicks back (net spend) but never reopen serving, so they are not read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from ad_marketing_pipeline.config import BudgetPolicy, PipelineConfig, QualityConfig
from ad_marketing_pipeline.gold.advertisers import given_column
from ad_marketing_pipeline.gold.rules import (
    BUDGET_UPDATE_RANK,
    CLICK_BUDGET_RANK,
    BudgetOrder,
    budget_order,
    can_serve_value,
    order_key,
)
from ad_marketing_pipeline.gold.spend import local_hour_columns, money, money_sum
from ad_marketing_pipeline.silver.transforms import (
    parse_payloads,
    received_order,
    split_invalid,
    to_silver_events,
    validate,
)

Transform = Callable[[DataFrame], DataFrame]

SERVING_EVENT_COLUMNS = (
    "event_id",
    "event_type",
    "event_time",
    "advertiser",
    "advertiser_id",
    "amount",
    "budget_value",
    "received_at",
    "ingested_at",
    "file_path",
    "partition",
    "offset",
)


def serving_input(config: PipelineConfig) -> Transform:
    """Bronze-shaped records -> the serving stream's input: the valid events (Silver's rules;
    Silver quarantines the others, here they just end) with the columns serving needs, plus
    the ids new to the stream (`with_new_ids`)."""

    def apply(records: DataFrame) -> DataFrame:
        validated = records.transform(parse_payloads).transform(validate(config.quality))
        valid, _invalid = split_invalid(validated)
        return (
            valid.transform(to_silver_events)
            .transform(serving_events)
            .transform(with_new_ids(config.budget, config.quality))
        )

    return apply


def serving_events(valid: DataFrame) -> DataFrame:
    """The valid Silver-shaped events, with the columns the serving status needs: clicks and
    budget observations count; every event names advertisers and moves "now"."""
    return valid.select(*SERVING_EVENT_COLUMNS)


def dedup_watermark(policy: BudgetPolicy, quality: QualityConfig) -> str:
    """How long, in the stream's own read time, an event id is remembered: a budget period
    (the longest day or month), the allowed clock skew and an hour more. A copy of a click read
    that much later than the first belongs to a closed period, which no longer decides
    serving."""
    longest = timedelta(days=32) if policy.period == "month" else timedelta(hours=25)
    skew = timedelta(minutes=quality.max_future_skew_minutes)
    return f"{int((longest + skew + timedelta(hours=1)).total_seconds())} seconds"


OBSERVED_TYPES = ("ad_click", "budget_update")


def with_new_ids(policy: BudgetPolicy, quality: QualityConfig) -> Transform:
    """The events (`is_new_id` false), plus the id of each click and budget update new to the
    stream (`is_new_id` true): de-duplicated on event_id by the stream's state within
    `dedup_watermark` of when the stream read it (`ingested_at`, which only grows, so no
    event is ever too late to count, however old its event time). Which copy of a new id counts
    is decided per batch (`batch_partials`: the first received); a copy of an id the stream has
    seen counts for nothing, as in Silver. Silver de-duplicates across all history; here a copy
    read more than the watermark after the first counts again, which for a click only touches
    a closed period, and forgetting bounds the state."""

    def apply(events: DataFrame) -> DataFrame:
        new_ids = (
            events.filter(F.col("event_type").isin(*OBSERVED_TYPES))
            .select("event_id", "ingested_at")
            .withWatermark("ingested_at", dedup_watermark(policy, quality))
            .dropDuplicatesWithinWatermark(["event_id"])
        )
        id_rows = new_ids.select(
            *(
                F.col(field.name)
                if field.name in ("event_id", "ingested_at")
                else F.lit(None).cast(field.dataType).alias(field.name)
                for field in events.schema.fields
            ),
            F.lit(True).alias("is_new_id"),
        )
        return events.withColumn("is_new_id", F.lit(False)).unionByName(id_rows)

    return apply


def batch_partials(policy: BudgetPolicy) -> Transform:
    """A batch's events (`with_new_ids`) summed per advertiser (as the events name it: its name
    and id, or one of them), id and budget period, in one pass: the partial states the driver
    folds into the table's rows (`fold`). Each event id counts once, as its first received copy
    of the batch, and a click or budget update only when the stream has not seen its id before.
    Every row also carries the newest instant its events show (`now_candidate`, each event
    counting for no more than when it was received) and that instant's period; rows whose
    `observed` is false come only from events that name an advertiser or move "now"."""

    def apply(events: DataFrame) -> DataFrame:
        by_id = Window.partitionBy("event_id")
        copies_first = by_id.orderBy(F.col("is_new_id").asc(), received_order())
        firsts = (
            events.withColumn("_new", F.bool_or("is_new_id").over(by_id))
            .withColumn("_copy", F.row_number().over(copies_first))
            .filter("_copy = 1 AND NOT is_new_id")
            .drop("_copy", "is_new_id")
            .filter(~F.col("event_type").isin(*OBSERVED_TYPES) | F.col("_new"))
        )
        hour = local_hour_columns(F.col("event_time"), policy)
        now_candidate = F.least(F.col("event_time"), F.col("received_at"))
        is_click = F.col("event_type") == "ad_click"
        observed = F.col("event_type").isin(*OBSERVED_TYPES)
        counts = is_click
        rank = F.when(is_click, F.lit(CLICK_BUDGET_RANK)).otherwise(F.lit(BUDGET_UPDATE_RANK))
        budget = F.when(observed, money(F.col("budget_value")))
        rows = firsts.select(
            given_column("advertiser").alias("advertiser"),
            given_column("advertiser_id").alias("advertiser_id"),
            hour["period_start"].alias("period_start"),
            observed.alias("observed"),
            money(F.when(counts, F.col("amount")).otherwise(F.lit(0))).alias("spend"),
            F.when(counts, F.lit(1)).otherwise(F.lit(0)).alias("clicks"),
            budget.alias("budget_value"),
            F.when(budget.isNotNull(), budget_order(rank)).alias("budget_order"),
            F.when(observed, hour["window_start"]).alias("window_start"),
            F.when(observed, F.col("event_time")).alias("event_time"),
            now_candidate.alias("now_candidate"),
            local_hour_columns(now_candidate, policy)["period_start"].alias("now_period"),
        )
        return rows.groupBy("advertiser", "advertiser_id", "period_start").agg(
            F.bool_or("observed").alias("observed"),
            money_sum(F.sum("spend")).alias("spend_to_date"),
            F.sum("clicks").cast("long").alias("clicks"),
            F.max_by("budget_value", "budget_order").alias("budget_value"),
            F.max("budget_order").alias("budget_order"),
            F.max("window_start").alias("latest_hour"),
            F.max("event_time").alias("latest_event_time"),
            F.max("now_candidate").alias("now_candidate"),
            F.max_by("now_period", "now_candidate").alias("now_period"),
        )

    return apply


# ---------------------------------------------------------------------------------------------
# Folding partial states (on the driver: a few rows per advertiser)
# ---------------------------------------------------------------------------------------------

PeriodSpend = tuple[Decimal, int]  # (spend, clicks)


@dataclass(frozen=True)
class ServingState:
    """What the serving status knows of one advertiser (a row of gold_serving_status without
    its label, can_serve and bookkeeping), or a partial state to fold into it."""

    key: str
    advertiser_id: str | None  # the key, when it is an id (None: a stand-in name)
    periods: Mapping[datetime, PeriodSpend]
    budget_value: Decimal | None
    budget_order: BudgetOrder | None
    latest_hour: datetime
    latest_event_time: datetime

    def spend_in(self, period_start: datetime | None) -> PeriodSpend:
        """(spend, clicks) of one budget period."""
        if period_start is None:
            return Decimal(0), 0
        return self.periods.get(period_start, (Decimal(0), 0))

    def can_serve(self, period_start: datetime | None, policy: BudgetPolicy) -> bool:
        return can_serve_value(self.spend_in(period_start)[0], self.budget_value, policy)

    def since(self, period_start: datetime) -> ServingState:
        """The state without the spend of periods before `period_start` (they are closed)."""
        kept = {start: spend for start, spend in self.periods.items() if start >= period_start}
        return replace(self, periods=kept)


def fold(state: ServingState, other: ServingState) -> ServingState:
    """Two states of one advertiser as one: each period's spend added up, the budget
    observation ordered last, the newest hour and event. Associative and commutative, so events
    fold in whatever order and grouping they arrive."""
    periods = dict(state.periods)
    for start, (spend, clicks) in other.periods.items():
        known_spend, known_clicks = periods.get(start, (Decimal(0), 0))
        periods[start] = (known_spend + spend, known_clicks + clicks)
    budget_value, order = state.budget_value, state.budget_order
    if other.budget_order is not None and order_key(other.budget_order) > order_key(order):
        budget_value, order = other.budget_value, other.budget_order
    return ServingState(
        key=state.key,
        advertiser_id=state.advertiser_id or other.advertiser_id,
        periods=periods,
        budget_value=budget_value,
        budget_order=order,
        latest_hour=max(state.latest_hour, other.latest_hour),
        latest_event_time=max(state.latest_event_time, other.latest_event_time),
    )


def fold_batch(
    current: Mapping[str, ServingState],
    partials: Iterable[ServingState],
    moves: Mapping[str, str],
) -> tuple[dict[str, ServingState], set[str]]:
    """The states a batch changes (key -> new state) and the keys it removes: the rows kept
    under a stand-in name that just got its id (`moves`: old key -> new key) folded into the
    id's, then the batch's partial states (keys already resolved)."""
    changed: dict[str, ServingState] = {}

    def add(state: ServingState) -> None:
        known = changed.get(state.key) or current.get(state.key)
        changed[state.key] = state if known is None else fold(known, state)

    removed = {old for old, new in moves.items() if old in current and old != new}
    for old in sorted(removed):
        add(replace(current[old], key=moves[old], advertiser_id=moves[old]))
    for partial in partials:
        add(partial)
    return changed, removed - set(changed)
