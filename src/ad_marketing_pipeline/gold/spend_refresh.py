"""Gold's spend table kept up to date: the hours a batch changes (`planning.spend_scope`),
recomputed from Silver read from the scope's start on, replaced whole in gold_advertiser_spend
with one MERGE (or the whole table rewritten by a rebuild)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DecimalType, StringType, TimestampType

from ad_marketing_pipeline.config import PipelineConfig, TableKey
from ad_marketing_pipeline.frames import local_frame, schema_of
from ad_marketing_pipeline.gold.click_lookup import ClickLookup
from ad_marketing_pipeline.gold.planning import (
    SPEND_EVENT_TYPES,
    BatchSummary,
    of_type,
    spend_scope,
    touched_spend_keys,
)
from ad_marketing_pipeline.gold.spend import (
    OBSERVATION_COLUMNS,
    advertiser_spend_hours,
    credited_refunds,
    spend_observations,
)
from ad_marketing_pipeline.gold.tables import (
    ADVERTISER_SPEND_SCHEMA,
)
from ad_marketing_pipeline.io import MicroBatch

CARRIED_BUDGETS = schema_of(advertiser_key=StringType(), carried_budget_value=DecimalType(18, 6))
CLICK_KEYS = schema_of(click_id=StringType(), advertiser_key=StringType())
REFUND_TIMES = schema_of(click_id=StringType(), event_time=TimestampType())
TOUCHED_KEYS = schema_of(advertiser_key=StringType(), event_time=TimestampType())
ADVERTISER_KEYS = schema_of(advertiser_key=StringType())
SCOPE_STARTS = schema_of(advertiser_key=StringType(), scope_start=TimestampType())
SPEND_KEYS = ("advertiser_key", "window_start")


def _credited_since(
    silver: DataFrame, since: datetime, clicks: ClickLookup, left_out: frozenset[str]
) -> DataFrame:
    """Credited refunds booked from `since` on (each click's first refund, see spend.py)."""
    refunds = of_type(silver, "click_refund")
    recent = refunds.filter(F.col("event_time") >= since).select("click_id").distinct()
    ids = {row["click_id"] for row in recent.collect()}
    found = clicks.find(silver, ids, since, left_out)
    first_click = min((row["event_time"] for row in found.rows), default=None)
    if first_click is None:
        return credited_refunds(refunds.limit(0), found.frame)
    # All refunds of those clicks, earlier ones too, decide which refund is each click's first.
    their_refunds = refunds.filter(F.col("event_time") >= first_click).join(
        F.broadcast(found.frame.select("click_id")), "click_id", "left_semi"
    )
    return credited_refunds(their_refunds, found.frame).filter(F.col("event_time") >= since)


def _touched_spend_keys(
    changed: DataFrame,
    silver: DataFrame,
    summary: BatchSummary,
    clicks: ClickLookup,
    left_out: frozenset[str],
) -> DataFrame:
    """`planning.touched_spend_keys` of the batch, with the clicks its refunds credit and the
    refunds of its clicks looked up in Silver (each read only when the batch has such events,
    from the earliest of them on)."""
    spark = silver.sparkSession
    credited_clicks = local_frame(spark, [], CLICK_KEYS)
    if summary.has("click_refund"):
        refunded = summary.refunded_clicks
        since = summary.earliest["click_refund"]
        credited_clicks = clicks.find(silver, refunded, since, left_out).frame
    early_refunds = local_frame(spark, [], REFUND_TIMES)
    if summary.has("ad_click"):
        early_refunds = (
            of_type(silver, "click_refund")
            .filter(F.col("event_time") >= summary.earliest["ad_click"])
            .select("click_id", "event_time")
        )
    return touched_spend_keys(changed, credited_clicks, early_refunds)


def _all_spend_hours(silver: DataFrame, config: PipelineConfig) -> DataFrame:
    clicks = of_type(silver, "ad_click")
    refunds = of_type(silver, "click_refund")
    observations = spend_observations(
        clicks, credited_refunds(refunds, clicks), of_type(silver, "budget_update")
    )
    no_carried = local_frame(silver.sparkSession, [], CARRIED_BUDGETS)
    return observations.select(*OBSERVATION_COLUMNS).transform(
        advertiser_spend_hours(config.budget, no_carried)
    )


def refresh_spend(
    silver: DataFrame,
    config: PipelineConfig,
    changed: DataFrame | None,
    summary: BatchSummary,
    *,
    moves: Mapping[str, str],
    batch: MicroBatch,
    clicks: ClickLookup | None = None,
    left_out: frozenset[str] = frozenset(),
) -> None:
    """Bring gold_advertiser_spend up to date with Silver (events with `advertiser_key`): for
    the changed events' advertisers and periods, or entirely when `changed` is None. The hours
    of each advertiser in scope are replaced whole (rows the recomputation no longer has are
    deleted), and so are the hours of the keys `moves` names (old key -> new key). Refunded
    clicks are found through `clicks` (the stream's lookup, which remembers searches of all of
    Silver; a fresh one when None), never among the `left_out` (dead-lettered) events."""
    spark = silver.sparkSession
    table = config.table(TableKey.GOLD_ADVERTISER_SPEND)
    columns = ADVERTISER_SPEND_SCHEMA.fieldNames()
    if changed is None:
        batch.overwrite_table(_all_spend_hours(silver, config), table, columns)
        return
    clicks = ClickLookup() if clicks is None else clicks
    existing = spark.table(table)
    moved_from: dict[str, datetime] = {}
    if moves:
        keys = local_frame(spark, [(key,) for key in sorted(moves)], ADVERTISER_KEYS)
        for row in (
            existing.join(F.broadcast(keys), "advertiser_key", "left_semi")
            .groupBy("advertiser_key")
            .agg(F.min("period_start").alias("scope_start"))
            .collect()
        ):
            moved_from[row["advertiser_key"]] = row["scope_start"]
    touched = (
        _touched_spend_keys(changed, silver, summary, clicks, left_out)
        if summary.has(*SPEND_EVENT_TYPES)
        else local_frame(spark, [], TOUCHED_KEYS)
    )
    scope_starts = spend_scope(touched, config.budget, moved_from=moved_from, moves=moves)
    if not scope_starts:
        return
    scope = F.broadcast(local_frame(spark, sorted(scope_starts.items()), SCOPE_STARTS))
    since = min(scope_starts.values())
    recent = silver.filter(F.col("event_time") >= since)
    observations = spend_observations(
        of_type(recent, "ad_click"),
        _credited_since(silver, since, clicks, left_out),
        of_type(recent, "budget_update"),
    )
    in_scope = observations.join(scope, "advertiser_key").filter(
        F.col("event_time") >= F.col("scope_start")
    )
    carried = (
        existing.join(scope, "advertiser_key")
        .filter(F.col("window_start") < F.col("scope_start"))
        .groupBy("advertiser_key")
        .agg(F.max_by("budget_value", "window_start").alias("carried_budget_value"))
    )
    hours = in_scope.select(*OBSERVATION_COLUMNS).transform(
        advertiser_spend_hours(config.budget, carried)
    )
    replaced = (
        existing.join(scope, "advertiser_key")
        .filter(F.col("window_start") >= F.col("scope_start"))
        .select(*SPEND_KEYS)
    )
    batch.replace_keys(hours.select(*columns), replaced, table, SPEND_KEYS)
