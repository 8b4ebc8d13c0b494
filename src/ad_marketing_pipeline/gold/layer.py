"""Gold's I/O edge: the Silver -> Gold stream (one MERGE per table per micro-batch, touching only
the keys the batch affects) and the full rebuild from Silver (`--full-refresh`).

What a micro-batch of new Silver events recomputes:
- spend: for each advertiser it touches (clicks, budget updates, refunds of its clicks, or late
  clicks whose refunds came first), every hour from the start of the earliest budget period
  touched onwards; the budget in effect before that comes from Gold's row before it;
- conversion facts: new conversions, cancelled ones, and conversions whose last click may have
  changed (a late click of the same user within the lookback before them);
- ad performance: the day x source x platform x campaign keys of the batch's clicks and
  impressions and of the conversion facts before and after their update.
Each recomputation reads Silver filtered by event time (Delta skips files by their min/max
event_time), so its cost follows what changed more than the history's length. Every write is a
MERGE on the table's keys that gives the same rows when a batch is re-run.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from delta.tables import DeltaTable
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ad_marketing_pipeline.config import PipelineConfig
from ad_marketing_pipeline.gold.facts import (
    PERFORMANCE_KEYS,
    ad_performance,
    conversion_facts,
    conversion_keys,
    delivery_keys,
)
from ad_marketing_pipeline.gold.spend import (
    OBSERVATION_COLUMNS,
    advertiser_column,
    advertiser_names,
    advertiser_spend_hours,
    credited_refunds,
    local_hour_columns,
    spend_observations,
    with_advertiser_names,
)
from ad_marketing_pipeline.gold.tables import (
    AD_PERFORMANCE_SCHEMA,
    ADVERTISER_SPEND_SCHEMA,
    CONVERSION_FACTS_SCHEMA,
)
from ad_marketing_pipeline.io import replace_keys, upsert_by_keys

CARRIED_BUDGETS_DDL = "advertiser string, carried_budget_value decimal(18,6)"
SPEND_KEYS = ("advertiser", "window_start")


def of_type(events: DataFrame, *event_types: str) -> DataFrame:
    return events.filter(F.col("event_type").isin(*event_types))


def overwrite_table(frame: DataFrame, table_name: str, columns: list[str]) -> None:
    """Replace a table's rows (its definition and properties stay)."""
    frame.select(*columns).write.format("delta").mode("overwrite").saveAsTable(table_name)


# ---------------------------------------------------------------------------------------------
# Spend
# ---------------------------------------------------------------------------------------------


def _touched_advertisers(changed: DataFrame, silver: DataFrame) -> DataFrame:
    """(advertiser, event_time) of every spend observation the changed events add or move."""
    changed_clicks = of_type(changed, "ad_click")
    silver_clicks = of_type(silver, "ad_click")
    direct = of_type(changed, "ad_click", "budget_update").select(
        advertiser_column().alias("advertiser"), "event_time"
    )
    refund_ids = of_type(changed, "click_refund").select(F.col("click_id").alias("event_id"))
    refunds_of_known_clicks = (
        silver_clicks.join(F.broadcast(refund_ids.distinct()), "event_id", "left_semi")
        .select(advertiser_column().alias("advertiser"), F.col("event_id").alias("click_id"))
        .join(of_type(changed, "click_refund").select("click_id", "event_time"), "click_id")
        .select("advertiser", "event_time")
    )
    refunds_before_their_click = (
        of_type(silver, "click_refund")
        .select("click_id", "event_time")
        .join(
            F.broadcast(
                changed_clicks.select(
                    F.col("event_id").alias("click_id"), advertiser_column().alias("advertiser")
                )
            ),
            "click_id",
        )
        .select("advertiser", "event_time")
    )
    return direct.unionByName(refunds_of_known_clicks).unionByName(refunds_before_their_click)


def _spend_hours(
    silver: DataFrame, config: PipelineConfig, scope: DataFrame | None, carried: DataFrame
) -> DataFrame:
    """gold_advertiser_spend rows from Silver: all of them (scope None), or those of each
    scope advertiser from its scope_start on."""
    clicks = of_type(silver, "ad_click")
    refunds = of_type(silver, "click_refund")
    budgets = of_type(silver, "budget_update")
    if scope is not None:
        earliest = scope.agg(F.min("scope_start")).first()
        since = F.col("event_time") >= F.lit(earliest[0] if earliest else None)
        recent_refund_clicks = refunds.filter(since).select("click_id").distinct()
        refunds = refunds.join(F.broadcast(recent_refund_clicks), "click_id", "left_semi")
        clicks_of_refunds = clicks.join(
            F.broadcast(recent_refund_clicks.select(F.col("click_id").alias("event_id"))),
            "event_id",
            "left_semi",
        )
        credited = credited_refunds(refunds, clicks_of_refunds)
        observations = spend_observations(clicks.filter(since), credited, budgets.filter(since))
        observations = observations.join(F.broadcast(scope), "advertiser").filter(
            F.col("event_time") >= F.col("scope_start")
        )
    else:
        observations = spend_observations(clicks, credited_refunds(refunds, clicks), budgets)
    return observations.select(*OBSERVATION_COLUMNS).transform(
        advertiser_spend_hours(config.budget, carried)
    )


def refresh_spend(silver: DataFrame, config: PipelineConfig, changed: DataFrame | None) -> None:
    """Bring gold_advertiser_spend up to date with Silver: for the changed events' advertisers
    and periods, or entirely when `changed` is None."""
    spark = silver.sparkSession
    table = config.table("gold_advertiser_spend")
    columns = ADVERTISER_SPEND_SCHEMA.fieldNames()
    no_carried = spark.createDataFrame([], CARRIED_BUDGETS_DDL)
    if changed is None:
        overwrite_table(_spend_hours(silver, config, None, no_carried), table, columns)
        return
    period_start = local_hour_columns(F.col("event_time"), config.budget)["period_start"]
    scope_rows = (
        _touched_advertisers(changed, silver)
        .filter(F.col("advertiser").isNotNull())
        .groupBy("advertiser")
        .agg(F.min(period_start).alias("scope_start"))
        .collect()
    )
    if not scope_rows:
        return
    scope = spark.createDataFrame(scope_rows, "advertiser string, scope_start timestamp")
    carried = (
        spark.table(table)
        .join(F.broadcast(scope), "advertiser")
        .filter(F.col("window_start") < F.col("scope_start"))
        .groupBy("advertiser")
        .agg(F.max_by("budget_value", "window_start").alias("carried_budget_value"))
    )
    upsert_by_keys(_spend_hours(silver, config, scope, carried).select(*columns), table, SPEND_KEYS)


# ---------------------------------------------------------------------------------------------
# Conversion and ad-performance facts
# ---------------------------------------------------------------------------------------------


def _time_bounds(frame: DataFrame, column: str) -> tuple[datetime, datetime] | None:
    row = frame.agg(F.min(column), F.max(column)).first()
    if row is None or row[0] is None:
        return None
    return row[0], row[1]


def _facts_for(
    silver: DataFrame, conversion_ids: DataFrame | None, config: PipelineConfig
) -> DataFrame:
    """Conversion facts of these conversions (all when None), from Silver."""
    lookback = config.attribution.lookback_days
    conversions = of_type(silver, "conversion").withColumn("conversion_id", F.col("event_id"))
    cancellations = of_type(silver, "conversion_cancellation")
    clicks = of_type(silver, "ad_click")
    if conversion_ids is not None:
        conversions = conversions.join(F.broadcast(conversion_ids), "conversion_id", "left_semi")
        cancellations = cancellations.join(
            F.broadcast(conversion_ids), "conversion_id", "left_semi"
        )
        bounds = _time_bounds(conversions, "event_time")
        if bounds is None:
            clicks = clicks.limit(0)
        else:
            users = conversions.select("user_id").distinct()
            clicks = clicks.filter(
                F.col("event_time").between(bounds[0] - timedelta(days=lookback), bounds[1])
            ).join(F.broadcast(users), "user_id", "left_semi")
    return conversion_facts(
        conversions, cancellations, clicks, lookback_days=lookback, zone=config.budget.timezone
    )


def _affected_conversions(
    changed: DataFrame, existing_facts: DataFrame, config: PipelineConfig
) -> DataFrame:
    """Conversions whose facts the changed events may alter."""
    lookback = F.expr(f"INTERVAL {config.attribution.lookback_days} DAYS")
    clicks = of_type(changed, "ad_click").select(
        F.col("user_id").alias("click_user_id"), F.col("event_time").alias("clicked_at")
    )
    reattributed = existing_facts.join(
        F.broadcast(clicks),
        (F.col("user_id") == F.col("click_user_id"))
        & (F.col("clicked_at") <= F.col("converted_at"))
        & (F.col("clicked_at") > F.col("converted_at") - lookback),
    ).select("conversion_id")
    return (
        of_type(changed, "conversion")
        .select(F.col("event_id").alias("conversion_id"))
        .unionByName(of_type(changed, "conversion_cancellation").select("conversion_id"))
        .unionByName(reattributed)
        .distinct()
    )


def _performance_for(
    silver: DataFrame, facts: DataFrame, keys: DataFrame | None, config: PipelineConfig
) -> DataFrame:
    """Ad-performance rows of these keys (all when None)."""
    zone = config.budget.timezone
    clicks = of_type(silver, "ad_click")
    impressions = of_type(silver, "impression")
    if keys is not None:
        dates = keys.agg(F.min("performance_date"), F.max("performance_date")).first()
        assert dates is not None and dates[0] is not None
        # A day in any time zone lies within a day either side of the same UTC date.
        since = datetime.combine(dates[0], datetime.min.time()) - timedelta(days=1)
        until = datetime.combine(dates[1], datetime.min.time()) + timedelta(days=2)
        in_days = F.col("event_time").between(since, until)
        clicks, impressions = clicks.filter(in_days), impressions.filter(in_days)
        facts = facts.filter(F.col("conversion_date").between(dates[0], dates[1]))
    rows = ad_performance(clicks, impressions, facts, zone=zone)
    if keys is not None:
        rows = rows.join(F.broadcast(keys), list(PERFORMANCE_KEYS), "left_semi")
    return rows.select(*AD_PERFORMANCE_SCHEMA.fieldNames())


def refresh_facts(silver: DataFrame, config: PipelineConfig, changed: DataFrame | None) -> None:
    """Bring gold_fact_conversions and gold_fact_ad_performance up to date with Silver."""
    spark = silver.sparkSession
    facts_table = config.table("gold_fact_conversions")
    performance_table = config.table("gold_fact_ad_performance")
    fact_columns = CONVERSION_FACTS_SCHEMA.fieldNames()
    if changed is None:
        overwrite_table(_facts_for(silver, None, config), facts_table, fact_columns)
        performance = _performance_for(silver, spark.table(facts_table), None, config)
        overwrite_table(performance, performance_table, AD_PERFORMANCE_SCHEMA.fieldNames())
        return
    existing_facts = spark.table(facts_table)
    conversion_ids = _affected_conversions(changed, existing_facts, config).localCheckpoint()
    old_keys = conversion_keys(
        existing_facts.join(F.broadcast(conversion_ids), "conversion_id", "left_semi")
    ).localCheckpoint()
    if not conversion_ids.isEmpty():
        new_facts = _facts_for(silver, conversion_ids, config).select(*fact_columns)
        upsert_by_keys(new_facts, facts_table, ["conversion_id"])
    updated_facts = spark.table(facts_table)
    new_keys = conversion_keys(
        updated_facts.join(F.broadcast(conversion_ids), "conversion_id", "left_semi")
    )
    zone = config.budget.timezone
    keys = (
        delivery_keys(of_type(changed, "ad_click", "impression"), zone)
        .unionByName(old_keys)
        .unionByName(new_keys)
        .distinct()
        .localCheckpoint()
    )
    if keys.isEmpty():
        return
    performance = _performance_for(silver, updated_facts, keys, config)
    replace_keys(performance, keys, performance_table, PERFORMANCE_KEYS)


# ---------------------------------------------------------------------------------------------
# The layer
# ---------------------------------------------------------------------------------------------


def refresh_advertiser_names(
    silver: DataFrame, config: PipelineConfig, changed: DataFrame | None
) -> DataFrame:
    """Learn advertiser names from the changed events (all of Silver when None); returns the
    names known now. The name of an id is the smallest one events gave it, in both modes."""
    table = config.table("gold_advertisers")
    if changed is None:
        overwrite_table(advertiser_names(silver), table, ["advertiser_id", "advertiser_name"])
    else:
        (
            DeltaTable.forName(silver.sparkSession, table)
            .alias("t")
            .merge(advertiser_names(changed).alias("s"), "t.advertiser_id = s.advertiser_id")
            .whenMatchedUpdate(
                condition="s.advertiser_name < t.advertiser_name",
                set={"advertiser_name": "s.advertiser_name"},
            )
            .whenNotMatchedInsertAll()
            .execute()
        )
    return silver.sparkSession.table(table)


def refresh_gold(silver: DataFrame, config: PipelineConfig, changed: DataFrame | None) -> None:
    """Every Gold table up to date with Silver, for what `changed` touches (None: rebuild)."""
    names = refresh_advertiser_names(silver, config, changed).localCheckpoint()
    named = with_advertiser_names(names)
    named_changed = changed.transform(named) if changed is not None else None
    refresh_spend(silver.transform(named), config, named_changed)
    refresh_facts(silver.transform(named), config, named_changed)


def gold_foreach_batch(config: PipelineConfig) -> Callable[[DataFrame, int], None]:
    """The Silver -> Gold micro-batch writer (foreachBatch: MERGEs cannot stream)."""
    silver_table = config.table("silver_events")

    def write(batch: DataFrame, batch_id: int) -> None:
        changed = batch.select(
            "event_id",
            "event_type",
            "event_time",
            "advertiser",
            "advertiser_id",
            "click_id",
            "conversion_id",
            "user_id",
            "source",
            "platform",
            "campaign_id",
        ).localCheckpoint()
        refresh_gold(batch.sparkSession.table(silver_table), config, changed)

    return write
