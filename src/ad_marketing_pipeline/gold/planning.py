"""What a Gold micro-batch must recompute, decided from small frames: the batch's events (with
their advertiser keys) and the few rows of Silver and Gold the stream looked up for it. Nothing
here reads or writes a table; `stream.py` reads, recomputes what these plans name and MERGEs.

- spend: for each advertiser the batch touches (its clicks and budget updates, the clicks its
  refunds credit, the refunds that came before its clicks) every hour from the start of the
  earliest budget period touched onwards; and the hours of an advertiser whose key moved (a
  name that got its id, a relabelled id) from its first kept hour (`spend_scope`);
- conversion facts: new conversions, cancelled known ones, known ones a late click may now be
  the last click of, and those kept under a moved key (`affected_conversions`,
  `conversions_under`);
- ad performance: the day x source x platform x campaign keys of the batch's clicks and
  impressions and of the conversion facts before and after their update
  (`performance_scope`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import reduce

from pyspark.sql import Column, DataFrame, Row
from pyspark.sql import functions as F

from ad_marketing_pipeline.config import BudgetPolicy
from ad_marketing_pipeline.gold.advertisers import Pair, pair_column
from ad_marketing_pipeline.gold.facts import conversion_keys, delivery_keys
from ad_marketing_pipeline.gold.spend import local_hour_columns

SPEND_EVENT_TYPES = ("ad_click", "click_refund", "budget_update")
FACT_EVENT_TYPES = ("conversion", "conversion_cancellation", "ad_click", "impression")


def of_type(events: DataFrame, *event_types: str) -> DataFrame:
    return events.filter(F.col("event_type").isin(*event_types))


@dataclass(frozen=True)
class BatchSummary:
    """What the planning needs to know of a micro-batch, from one aggregate over it: the event
    types it holds and the earliest event time of each, the click ids its refunds name, the
    conversion ids its cancellations name, and the (advertiser_id, name) pairs it gives."""

    earliest: dict[str, datetime]
    refunded_clicks: frozenset[str] = frozenset()
    cancelled_conversions: frozenset[str] = frozenset()
    pairs: frozenset[Pair] = frozenset()

    @classmethod
    def of(cls, changed: DataFrame) -> BatchSummary:
        def ids_of(event_type: str, column: str) -> Column:
            return F.collect_set(F.when(F.col("event_type") == event_type, F.col(column)))

        rows = (
            changed.groupBy("event_type")
            .agg(
                F.min("event_time").alias("earliest"),
                ids_of("click_refund", "click_id").alias("refunded_clicks"),
                ids_of("conversion_cancellation", "conversion_id").alias("cancelled"),
                F.collect_set(pair_column()).alias("pairs"),
            )
            .collect()
        )
        return cls(
            earliest={row["event_type"]: row["earliest"] for row in rows},
            refunded_clicks=frozenset(i for row in rows for i in row["refunded_clicks"]),
            cancelled_conversions=frozenset(i for row in rows for i in row["cancelled"]),
            pairs=frozenset((pair[0], pair[1]) for row in rows for pair in row["pairs"]),
        )

    def has(self, *event_types: str) -> bool:
        return any(event_type in self.earliest for event_type in event_types)


# ---------------------------------------------------------------------------------------------
# Spend
# ---------------------------------------------------------------------------------------------


def touched_spend_keys(
    changed: DataFrame, credited_clicks: DataFrame, refunds_of_changed_clicks: DataFrame
) -> DataFrame:
    """(advertiser_key, event_time) of the spend observations the batch adds or moves: its
    clicks and budget updates; its refunds, under the advertiser of the click each credits
    (`credited_clicks`: click_id, advertiser_key); and the refunds that came before the
    batch's clicks (`refunds_of_changed_clicks`: click_id, event_time), booked now that their
    click arrived."""
    own = of_type(changed, "ad_click", "budget_update").select("advertiser_key", "event_time")
    refunds = (
        of_type(changed, "click_refund")
        .select("click_id", "event_time")
        .join(credited_clicks.select("click_id", "advertiser_key"), "click_id")
        .select("advertiser_key", "event_time")
    )
    changed_clicks = of_type(changed, "ad_click").select("click_id", "advertiser_key")
    early_refunds = (
        refunds_of_changed_clicks.select("click_id", "event_time")
        .join(F.broadcast(changed_clicks), "click_id")
        .select("advertiser_key", "event_time")
    )
    return reduce(DataFrame.unionByName, (own, refunds, early_refunds))


def spend_scope(
    touched: DataFrame,
    budget: BudgetPolicy,
    *,
    moved_from: Mapping[str, datetime],
    moves: Mapping[str, str],
) -> dict[str, datetime]:
    """Advertiser key -> start of the earliest budget period whose hours the batch changes:
    the period of each advertiser's earliest touched observation (`touched_spend_keys`), and
    for a key whose events move (`moves`: old key -> new key) the first hour kept under it
    (`moved_from`), for the old key and the new one alike."""
    period_start = local_hour_columns(F.col("event_time"), budget)["period_start"]
    scope: dict[str, datetime] = {
        row["advertiser_key"]: row["scope_start"]
        for row in touched.filter(F.col("advertiser_key").isNotNull())
        .groupBy("advertiser_key")
        .agg(F.min(period_start).alias("scope_start"))
        .collect()
    }
    for old_key, new_key in moves.items():
        start = moved_from.get(old_key)
        if start is not None:
            for key in (old_key, new_key):
                scope[key] = min(scope.get(key, start), start)
    return scope


# ---------------------------------------------------------------------------------------------
# Conversion and ad-performance facts
# ---------------------------------------------------------------------------------------------


def affected_conversions(
    changed: DataFrame, known_facts: DataFrame, lookback_days: int
) -> dict[str, datetime]:
    """Conversion id -> time of the conversions whose facts the batch may alter: new ones,
    known ones just cancelled, and known ones a late click may now be the last click of (a
    cancellation of a conversion not seen yet counts when the conversion arrives).
    `known_facts` holds conversion_id, user_id and converted_at of the stored facts."""
    lookback = F.expr(f"INTERVAL {lookback_days} DAYS")
    known = known_facts.select("conversion_id", "user_id", "converted_at")
    clicks = of_type(changed, "ad_click").select(
        F.col("user_id").alias("click_user_id"), F.col("event_time").alias("clicked_at")
    )
    reattributed = known.join(
        F.broadcast(clicks),
        (F.col("user_id") == F.col("click_user_id"))
        & (F.col("clicked_at") <= F.col("converted_at"))
        & (F.col("clicked_at") > F.col("converted_at") - lookback),
    )
    cancelled = known.join(
        F.broadcast(of_type(changed, "conversion_cancellation").select("conversion_id")),
        "conversion_id",
        "left_semi",
    )
    new = of_type(changed, "conversion").select(
        "conversion_id", F.col("event_time").alias("converted_at")
    )
    affected = (
        new.unionByName(cancelled.select("conversion_id", "converted_at"))
        .unionByName(reattributed.select("conversion_id", "converted_at"))
        .groupBy("conversion_id")
        .agg(F.min("converted_at").alias("converted_at"))
    )
    return {row["conversion_id"]: row["converted_at"] for row in affected.collect()}


def conversions_under(known_facts: DataFrame, keys: Iterable[str]) -> dict[str, datetime]:
    """Conversion id -> time of the stored facts kept under these advertiser keys (keys whose
    advertiser moved or was relabelled)."""
    wanted = sorted(keys)
    if not wanted:
        return {}
    return {
        row["conversion_id"]: row["converted_at"]
        for row in known_facts.filter(F.col("advertiser_key").isin(*wanted))
        .select("conversion_id", "converted_at")
        .collect()
    }


def performance_scope(
    changed: DataFrame, facts_before: DataFrame, facts_after: DataFrame, zone: str
) -> list[Row]:
    """The ad-performance keys (performance_date, source, platform, campaign_id) the batch
    changes, sorted: those of its clicks and impressions, and those the updated conversion facts
    counted under before (`facts_before`) and after (`facts_after`) the update."""
    deliveries = delivery_keys(of_type(changed, "ad_click", "impression"), zone)
    keys = deliveries.unionByName(conversion_keys(facts_before)).unionByName(
        conversion_keys(facts_after)
    )
    return sorted(set(keys.collect()))
