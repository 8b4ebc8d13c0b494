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

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import reduce

from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, DecimalType, StringType, TimestampType

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
    learn_names,
    local_hour_columns,
    spend_observations,
    with_advertiser_names,
)
from ad_marketing_pipeline.gold.tables import (
    AD_PERFORMANCE_SCHEMA,
    ADVERTISER_SPEND_SCHEMA,
    CONVERSION_FACTS_SCHEMA,
)
from ad_marketing_pipeline.io import local_frame, replace_keys, schema_of, upsert_by_keys

CARRIED_BUDGETS = schema_of(advertiser=StringType(), carried_budget_value=DecimalType(18, 6))
EVENT_IDS = schema_of(event_id=StringType())
CONVERSION_IDS = schema_of(conversion_id=StringType())
STAND_IN_NAMES = schema_of(advertiser=StringType(), advertiser_name=StringType())
SCOPE_STARTS = schema_of(advertiser=StringType(), scope_start=TimestampType())
SPEND_KEYS = ("advertiser", "window_start")


def of_type(events: DataFrame, *event_types: str) -> DataFrame:
    return events.filter(F.col("event_type").isin(*event_types))


def overwrite_table(frame: DataFrame, table_name: str, columns: list[str]) -> None:
    """Replace a table's rows (its definition and properties stay). Delta's overwrite forgets
    the table's liquid clustering columns, so they are set again after it."""
    spark = frame.sparkSession
    detail = spark.sql(f"DESCRIBE DETAIL {table_name}").first()
    clustering = list(detail["clusteringColumns"] or []) if detail is not None else []
    frame.select(*columns).write.format("delta").mode("overwrite").saveAsTable(table_name)
    if clustering:
        keys = ", ".join(f"`{name}`" for name in clustering)
        spark.sql(f"ALTER TABLE {table_name} CLUSTER BY ({keys})")


# ---------------------------------------------------------------------------------------------
# Spend
# ---------------------------------------------------------------------------------------------


SPEND_EVENT_TYPES = ("ad_click", "click_refund", "budget_update")
# Refunds come after their clicks, usually within days: a click is first looked for this long
# before its refund (Delta skips older files by event_time), then, if not found, everywhere.
REFUNDED_CLICK_SEARCH = timedelta(days=31)
_CLICK_COLUMNS = ("event_id", "event_time", "advertiser", "advertiser_id", "amount")


@dataclass(frozen=True)
class ChangedTypes:
    """Which event types a micro-batch holds, and the earliest event time of each."""

    earliest: dict[str, datetime]

    @classmethod
    def of(cls, changed: DataFrame) -> ChangedTypes:
        rows = changed.groupBy("event_type").agg(F.min("event_time").alias("earliest")).collect()
        return cls({row["event_type"]: row["earliest"] for row in rows})

    def has(self, *event_types: str) -> bool:
        return any(event_type in self.earliest for event_type in event_types)


def _find_clicks(silver: DataFrame, click_ids: set[str], not_before: datetime) -> DataFrame:
    """The clicks with these ids (a small frame), looked for from `not_before` -
    REFUNDED_CLICK_SEARCH on first, and in all of Silver only for those not found there."""
    spark = silver.sparkSession
    clicks = of_type(silver, "ad_click").select(*_CLICK_COLUMNS)

    def lookup(frame: DataFrame, ids: set[str]) -> list[Row]:
        wanted = local_frame(spark, [(i,) for i in sorted(ids)], EVENT_IDS)
        return frame.join(F.broadcast(wanted), "event_id", "left_semi").collect()

    found: list[Row] = []
    if click_ids:
        recent = clicks.filter(F.col("event_time") >= not_before - REFUNDED_CLICK_SEARCH)
        found = lookup(recent, click_ids)
    missing = click_ids - {row["event_id"] for row in found}
    if missing:
        found += lookup(clicks, missing)
    return local_frame(spark, found, clicks.schema)


def _credited_since(silver: DataFrame, since: datetime) -> DataFrame:
    """Credited refunds booked from `since` on (each click's first refund, see spend.py)."""
    refunds = of_type(silver, "click_refund")
    recent = refunds.filter(F.col("event_time") >= since).select("click_id").distinct()
    clicks = _find_clicks(silver, {row["click_id"] for row in recent.collect()}, since)
    first_click = clicks.agg(F.min("event_time")).first()
    if first_click is None or first_click[0] is None:
        return credited_refunds(refunds.limit(0), clicks)
    # All refunds of those clicks, earlier ones too, decide which refund is each click's first.
    their_refunds = refunds.filter(F.col("event_time") >= first_click[0]).join(
        F.broadcast(clicks.select(F.col("event_id").alias("click_id"))), "click_id", "left_semi"
    )
    return credited_refunds(their_refunds, clicks).filter(F.col("event_time") >= since)


def _touched_advertisers(
    changed: DataFrame, silver: DataFrame, types: ChangedTypes
) -> list[DataFrame]:
    """(advertiser, event_time) of the spend observations the changed events add or move."""
    touched = [
        of_type(changed, "ad_click", "budget_update").select(
            advertiser_column().alias("advertiser"), "event_time"
        )
    ]
    if types.has("click_refund"):
        batch_refunds = of_type(changed, "click_refund").select("click_id", "event_time")
        ids = {row["click_id"] for row in batch_refunds.select("click_id").collect()}
        clicks = _find_clicks(silver, ids, types.earliest["click_refund"])
        touched.append(
            batch_refunds.join(
                clicks.select(F.col("event_id").alias("click_id"), "advertiser"), "click_id"
            ).select("advertiser", "event_time")
        )
    if types.has("ad_click"):
        # A refund that came before its click is booked once the click arrives.
        changed_clicks = of_type(changed, "ad_click").select(
            F.col("event_id").alias("click_id"), advertiser_column().alias("advertiser")
        )
        touched.append(
            of_type(silver, "click_refund")
            .filter(F.col("event_time") >= types.earliest["ad_click"])
            .select("click_id", "event_time")
            .join(F.broadcast(changed_clicks), "click_id")
            .select("advertiser", "event_time")
        )
    return touched


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


def _spend_scope(
    changed: DataFrame,
    silver: DataFrame,
    types: ChangedTypes,
    config: PipelineConfig,
    stand_ins: list[Row],
) -> dict[str, datetime]:
    """Advertiser -> start of the earliest budget period whose hours the batch changes."""
    scope: dict[str, datetime] = {}
    if types.has(*SPEND_EVENT_TYPES):
        period_start = local_hour_columns(F.col("event_time"), config.budget)["period_start"]
        touched = reduce(DataFrame.unionByName, _touched_advertisers(changed, silver, types))
        for row in (
            touched.filter(F.col("advertiser").isNotNull())
            .groupBy("advertiser")
            .agg(F.min(period_start).alias("scope_start"))
            .collect()
        ):
            scope[row["advertiser"]] = row["scope_start"]
    # Hours kept under an id (or an id's former name) move to the name just learned for it:
    # both are recomputed from the earliest of those hours.
    for row in stand_ins:
        for advertiser in (row["advertiser"], row["advertiser_name"]):
            known = scope.get(advertiser)
            scope[advertiser] = min(known or row["scope_start"], row["scope_start"])
    return scope


def refresh_spend(
    silver: DataFrame,
    config: PipelineConfig,
    changed: DataFrame | None,
    types: ChangedTypes,
    renamed: dict[str, str],
) -> None:
    """Bring gold_advertiser_spend up to date with Silver: for the changed events' advertisers
    and periods, or entirely when `changed` is None. The hours of each advertiser in scope are
    replaced whole (rows the recomputation no longer has are deleted), and so are the rows kept
    under an advertiser id, or an id's former name, whose name was just learned (`renamed`:
    stand-in -> name)."""
    spark = silver.sparkSession
    table = config.table("gold_advertiser_spend")
    columns = ADVERTISER_SPEND_SCHEMA.fieldNames()
    if changed is None:
        overwrite_table(_all_spend_hours(silver, config), table, columns)
        return
    existing = spark.table(table)
    stand_ins = []
    if renamed:
        stand_in_names = local_frame(spark, sorted(renamed.items()), STAND_IN_NAMES)
        stand_ins = (
            existing.join(F.broadcast(stand_in_names), "advertiser")
            .groupBy("advertiser", "advertiser_name")
            .agg(F.min("period_start").alias("scope_start"))
            .collect()
        )
    scope_starts = _spend_scope(changed, silver, types, config, stand_ins)
    if not scope_starts:
        return
    scope = F.broadcast(local_frame(spark, sorted(scope_starts.items()), SCOPE_STARTS))
    since = min(scope_starts.values())
    recent = silver.filter(F.col("event_time") >= since)
    observations = spend_observations(
        of_type(recent, "ad_click"),
        _credited_since(silver, since),
        of_type(recent, "budget_update"),
    )
    in_scope = observations.join(scope, "advertiser").filter(
        F.col("event_time") >= F.col("scope_start")
    )
    carried = (
        existing.join(scope, "advertiser")
        .filter(F.col("window_start") < F.col("scope_start"))
        .groupBy("advertiser")
        .agg(F.max_by("budget_value", "window_start").alias("carried_budget_value"))
    )
    hours = in_scope.select(*OBSERVATION_COLUMNS).transform(
        advertiser_spend_hours(config.budget, carried)
    )
    replaced = (
        existing.join(scope, "advertiser")
        .filter(F.col("window_start") >= F.col("scope_start"))
        .select(*SPEND_KEYS)
    )
    replace_keys(hours.select(*columns), replaced, table, SPEND_KEYS)


# ---------------------------------------------------------------------------------------------
# Conversion and ad-performance facts
# ---------------------------------------------------------------------------------------------


FACT_EVENT_TYPES = ("conversion", "conversion_cancellation", "ad_click", "impression")


def _facts_of(
    silver: DataFrame, config: PipelineConfig, conversions_at: dict[str, datetime] | None
) -> DataFrame:
    """Conversion facts of the conversions with these ids and times (all when None)."""
    lookback = config.attribution.lookback_days
    zone = config.budget.timezone
    conversions = of_type(silver, "conversion").withColumn("conversion_id", F.col("event_id"))
    cancellations = of_type(silver, "conversion_cancellation")
    clicks = of_type(silver, "ad_click")
    if conversions_at is not None:
        spark = silver.sparkSession
        ids = F.broadcast(
            local_frame(spark, [(i,) for i in sorted(conversions_at)], CONVERSION_IDS)
        )
        since, until = min(conversions_at.values()), max(conversions_at.values())
        # A cancellation comes after its conversion; a credited click within the lookback before.
        conversions = conversions.filter(F.col("event_time").between(since, until))
        conversions = conversions.join(ids, "conversion_id", "left_semi")
        cancellations = cancellations.filter(F.col("event_time") >= since).join(
            ids, "conversion_id", "left_semi"
        )
        users = F.broadcast(conversions.select("user_id").distinct())
        clicks = clicks.filter(
            F.col("event_time").between(since - timedelta(days=lookback), until)
        ).join(users, "user_id", "left_semi")
    return conversion_facts(conversions, cancellations, clicks, lookback_days=lookback, zone=zone)


def _affected_conversions(
    changed: DataFrame, existing_facts: DataFrame, config: PipelineConfig
) -> dict[str, datetime]:
    """Conversion id -> time of the conversions whose facts the changed events may alter: new
    ones, known ones just cancelled, and known ones a late click may now be the last click of
    (a cancellation of a conversion not seen yet counts when the conversion arrives)."""
    lookback = F.expr(f"INTERVAL {config.attribution.lookback_days} DAYS")
    known = existing_facts.select("conversion_id", "user_id", "converted_at")
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
        F.col("event_id").alias("conversion_id"), F.col("event_time").alias("converted_at")
    )
    affected = (
        new.unionByName(cancelled.select("conversion_id", "converted_at"))
        .unionByName(reattributed.select("conversion_id", "converted_at"))
        .groupBy("conversion_id")
        .agg(F.min("converted_at").alias("converted_at"))
    )
    return {row["conversion_id"]: row["converted_at"] for row in affected.collect()}


def _performance_of(
    silver: DataFrame, facts: DataFrame, keys: list[Row] | None, config: PipelineConfig
) -> DataFrame:
    """Ad-performance rows of these keys (all when None)."""
    zone = config.budget.timezone
    clicks = of_type(silver, "ad_click")
    impressions = of_type(silver, "impression")
    if keys is not None:
        first_day = min(key["performance_date"] for key in keys)
        last_day = max(key["performance_date"] for key in keys)
        # A day in any time zone lies within a day either side of the same UTC date.
        since = datetime.combine(first_day, datetime.min.time()) - timedelta(days=1)
        until = datetime.combine(last_day, datetime.min.time()) + timedelta(days=2)
        in_days = F.col("event_time").between(since, until)
        clicks, impressions = clicks.filter(in_days), impressions.filter(in_days)
        facts = facts.filter(F.col("conversion_date").between(first_day, last_day))
    rows = ad_performance(clicks, impressions, facts, zone=zone)
    if keys is not None:
        wanted = local_frame(silver.sparkSession, keys, PERFORMANCE_KEYS_SCHEMA)
        rows = rows.join(F.broadcast(wanted), list(PERFORMANCE_KEYS), "left_semi")
    return rows.select(*AD_PERFORMANCE_SCHEMA.fieldNames())


PERFORMANCE_KEYS_SCHEMA = schema_of(
    performance_date=DateType(),
    source=StringType(),
    platform=StringType(),
    campaign_id=StringType(),
)


def refresh_facts(
    silver: DataFrame,
    config: PipelineConfig,
    changed: DataFrame | None,
    types: ChangedTypes,
    renamed: dict[str, str],
) -> None:
    """Bring gold_fact_conversions and gold_fact_ad_performance up to date with Silver."""
    spark = silver.sparkSession
    facts_table = config.table("gold_fact_conversions")
    performance_table = config.table("gold_fact_ad_performance")
    fact_columns = CONVERSION_FACTS_SCHEMA.fieldNames()
    if changed is None:
        overwrite_table(_facts_of(silver, config, None), facts_table, fact_columns)
        performance = _performance_of(silver, spark.table(facts_table), None, config)
        overwrite_table(performance, performance_table, AD_PERFORMANCE_SCHEMA.fieldNames())
        return
    if not types.has(*FACT_EVENT_TYPES) and not renamed:
        return
    existing_facts = spark.table(facts_table)
    keys: set[Row] = set()
    conversions_at = (
        _affected_conversions(changed, existing_facts, config)
        if types.has("conversion", "conversion_cancellation", "ad_click")
        else {}
    )
    if renamed:  # conversions kept under an advertiser id whose name was just learned
        for row in (
            existing_facts.filter(F.col("advertiser").isin(*renamed))
            .select("conversion_id", "converted_at")
            .collect()
        ):
            conversions_at.setdefault(row["conversion_id"], row["converted_at"])
    if conversions_at:
        ids = F.broadcast(
            local_frame(spark, [(i,) for i in sorted(conversions_at)], CONVERSION_IDS)
        )
        old = existing_facts.join(ids, "conversion_id", "left_semi")
        keys.update(conversion_keys(old).collect())
        new_facts = _facts_of(silver, config, conversions_at).select(*fact_columns).persist()
        try:
            keys.update(conversion_keys(new_facts).collect())
            upsert_by_keys(new_facts, facts_table, ["conversion_id"])
        finally:
            new_facts.unpersist()
    zone = config.budget.timezone
    keys.update(delivery_keys(of_type(changed, "ad_click", "impression"), zone).collect())
    if not keys:
        return
    key_rows = sorted(keys)
    performance = _performance_of(silver, spark.table(facts_table), key_rows, config)
    affected = local_frame(spark, key_rows, PERFORMANCE_KEYS_SCHEMA)
    replace_keys(performance, affected, performance_table, PERFORMANCE_KEYS)


# ---------------------------------------------------------------------------------------------
# The layer
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NameUpdate:
    """Advertiser names after a batch: all known now (a small frame), the ids whose name the
    batch teaches (saved by `save`), and the stand-ins to move (see `learn_names`)."""

    names: DataFrame
    learned: dict[str, str]
    stand_ins: dict[str, str]

    def save(self, table: str) -> None:
        """Write the learned names. Called after the writes that move the stand-ins: were the
        names saved first and the batch then re-run after a crash, it would learn nothing and
        leave the stand-ins where they are."""
        save_names(self.names.sparkSession, self.learned, table)


def save_names(spark: SparkSession, learned: Mapping[str, str], table: str) -> None:
    """Upsert advertiser id -> name pairs into a names table (advertiser_id, advertiser_name):
    Gold's gold_advertisers and the serving stream's gold_serving_advertisers."""
    if learned:
        updates = local_frame(spark, sorted(learned.items()), ADVERTISERS)
        upsert_by_keys(updates, table, ["advertiser_id"])


def names_after(events: DataFrame, table: str) -> NameUpdate:
    """What `events` teach about advertiser names, given those in `table` (advertiser_id,
    advertiser_name). The name of an id is the smallest one events gave it."""
    spark = events.sparkSession
    known = {row["advertiser_id"]: row["advertiser_name"] for row in spark.table(table).collect()}
    seen = advertiser_names(events).collect()
    learned, stand_ins = learn_names(known, [(row[0], row[1]) for row in seen])
    names = local_frame(spark, sorted({**known, **learned}.items()), ADVERTISERS)
    return NameUpdate(names, learned, stand_ins)


ADVERTISERS = schema_of(advertiser_id=StringType(), advertiser_name=StringType())


def refresh_gold(silver: DataFrame, config: PipelineConfig, changed: DataFrame | None) -> None:
    """Every Gold table up to date with Silver, for what `changed` touches (None: rebuild)."""
    names_table = config.table("gold_advertisers")
    if changed is None:
        overwrite_table(advertiser_names(silver), names_table, ["advertiser_id", "advertiser_name"])
        spark = silver.sparkSession
        names = local_frame(spark, spark.table(names_table).collect(), ADVERTISERS)
        named_silver = silver.transform(with_advertiser_names(names))
        types = ChangedTypes({})
        refresh_spend(named_silver, config, None, types, {})
        refresh_facts(named_silver, config, None, types, {})
        return
    update = names_after(changed, names_table)
    named = with_advertiser_names(update.names)
    named_silver = silver.transform(named)
    named_changed = changed.transform(named).localCheckpoint()
    types = ChangedTypes.of(named_changed)
    refresh_spend(named_silver, config, named_changed, types, update.stand_ins)
    refresh_facts(named_silver, config, named_changed, types, update.stand_ins)
    update.save(names_table)


def gold_foreach_batch(config: PipelineConfig) -> Callable[[DataFrame, int], None]:
    """The Silver -> Gold micro-batch writer (foreachBatch: MERGEs cannot stream)."""
    silver_table = config.table("silver_events")

    def write(batch: DataFrame, batch_id: int) -> None:
        # Persisted: the refresh reads the batch several times, and it is scanned once only
        # (which also keeps the batch's observed metrics, see ops.observe_batch, exact).
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
        ).persist()
        try:
            refresh_gold(batch.sparkSession.table(silver_table), config, changed)
        finally:
            changed.unpersist()

    return write
