"""The Silver -> Gold stream (one MERGE per table per micro-batch, touching only the keys the
batch affects) and the full rebuild from Silver (`--full-refresh`).

What a micro-batch of new Silver events recomputes:
- spend: for each advertiser it touches (clicks, budget updates, refunds of its clicks, or late
  clicks whose refunds came first), every hour from the start of the earliest budget period
  touched onwards; the budget in effect before that comes from Gold's row before it;
- conversion facts: new conversions, cancelled ones, and conversions whose last click may have
  changed (a late click of the same user within the lookback before them);
- ad performance: the day x source x platform x campaign keys of the batch's clicks and
  impressions and of the conversion facts before and after their update.
Each recomputation reads Silver filtered by event time (Delta skips files by their min/max
event_time), so its cost follows what changed more than the history's length.

Replays: every write is a MERGE that replaces a recomputed scope whole, from Silver, so a batch
re-run after a crash repeats it harmlessly. A step that reads a Gold table's state from before
the batch (the performance keys a conversion counted under) writes before that table is written
(performance before conversion facts), and the advertiser pairs are saved last: a batch killed
between any two writes and replayed leaves every table as an uninterrupted run does.

Advertisers are keyed by id (advertisers.py); when a batch gives a name its id, or an id a new
label, the advertiser's rows from its first hour on are recomputed under the key and label.
Events Gold cannot process (a data error) are set aside in ops_dead_letters and left out
(deadletters.py); the batch completes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import reduce

from pyspark.sql import DataFrame, Row
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, DecimalType, StringType, TimestampType

from ad_marketing_pipeline.config import PipelineConfig, TableKey
from ad_marketing_pipeline.deadletters import (
    dead_lettered_ids,
    excluding,
    process_isolating,
    set_aside,
)
from ad_marketing_pipeline.gold.advertisers import (
    advertiser_pairs,
    new_pairs,
    read_directory,
    save_pairs,
    with_advertiser_keys,
)
from ad_marketing_pipeline.gold.facts import (
    PERFORMANCE_KEYS,
    ad_performance,
    conversion_facts,
    conversion_keys,
    delivery_keys,
)
from ad_marketing_pipeline.gold.spend import (
    OBSERVATION_COLUMNS,
    advertiser_spend_hours,
    credited_refunds,
    local_hour_columns,
    spend_observations,
)
from ad_marketing_pipeline.gold.tables import (
    AD_PERFORMANCE_SCHEMA,
    ADVERTISER_SPEND_SCHEMA,
    CONVERSION_FACTS_SCHEMA,
    GOLD_TABLES,
)
from ad_marketing_pipeline.io import (
    MicroBatch,
    local_frame,
    read_table_stream,
    replace_keys,
    schema_of,
    upsert_by_keys,
)
from ad_marketing_pipeline.ops import observe_batch
from ad_marketing_pipeline.runtime import Runtime
from ad_marketing_pipeline.streams import Layer
from ad_marketing_pipeline.tables import OPS_DEAD_LETTERS, SILVER_EVENTS

CARRIED_BUDGETS = schema_of(advertiser_key=StringType(), carried_budget_value=DecimalType(18, 6))
CLICK_IDS = schema_of(click_id=StringType())
CONVERSION_IDS = schema_of(conversion_id=StringType())
ADVERTISER_KEYS = schema_of(advertiser_key=StringType())
SCOPE_STARTS = schema_of(advertiser_key=StringType(), scope_start=TimestampType())
SPEND_KEYS = ("advertiser_key", "window_start")


def of_type(events: DataFrame, *event_types: str) -> DataFrame:
    return events.filter(F.col("event_type").isin(*event_types))


def overwrite_table(frame: DataFrame, table_name: str, columns: list[str]) -> None:
    """Replace a table's rows (its definition and properties stay). Delta's overwrite forgets
    the table's liquid clustering columns, so they are set again after it. (A full rebuild, not
    a micro-batch: rerun it after a crash.)"""
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
_CLICK_COLUMNS = (
    "click_id",
    "event_time",
    "advertiser_key",
    "advertiser",
    "advertiser_id",
    "amount",
)


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
    """The clicks with these click ids (a small frame), looked for from `not_before` -
    REFUNDED_CLICK_SEARCH on first, and in all of Silver only for those not found there."""
    spark = silver.sparkSession
    clicks = of_type(silver, "ad_click").select(*_CLICK_COLUMNS)

    def lookup(frame: DataFrame, ids: set[str]) -> list[Row]:
        wanted = local_frame(spark, [(i,) for i in sorted(ids)], CLICK_IDS)
        return frame.join(F.broadcast(wanted), "click_id", "left_semi").collect()

    found: list[Row] = []
    if click_ids:
        recent = clicks.filter(F.col("event_time") >= not_before - REFUNDED_CLICK_SEARCH)
        found = lookup(recent, click_ids)
    missing = click_ids - {row["click_id"] for row in found}
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
        F.broadcast(clicks.select("click_id")), "click_id", "left_semi"
    )
    return credited_refunds(their_refunds, clicks).filter(F.col("event_time") >= since)


def _touched_advertisers(
    changed: DataFrame, silver: DataFrame, types: ChangedTypes
) -> list[DataFrame]:
    """(advertiser_key, event_time) of the spend observations the changed events add or
    move."""
    touched = [of_type(changed, "ad_click", "budget_update").select("advertiser_key", "event_time")]
    if types.has("click_refund"):
        batch_refunds = of_type(changed, "click_refund").select("click_id", "event_time")
        ids = {row["click_id"] for row in batch_refunds.select("click_id").collect()}
        clicks = _find_clicks(silver, ids, types.earliest["click_refund"])
        touched.append(
            batch_refunds.join(clicks.select("click_id", "advertiser_key"), "click_id").select(
                "advertiser_key", "event_time"
            )
        )
    if types.has("ad_click"):
        # A refund that came before its click is booked once the click arrives.
        changed_clicks = of_type(changed, "ad_click").select("click_id", "advertiser_key")
        touched.append(
            of_type(silver, "click_refund")
            .filter(F.col("event_time") >= types.earliest["ad_click"])
            .select("click_id", "event_time")
            .join(F.broadcast(changed_clicks), "click_id")
            .select("advertiser_key", "event_time")
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
    *,
    moved_from: Mapping[str, datetime],
    moves: Mapping[str, str],
) -> dict[str, datetime]:
    """Advertiser key -> start of the earliest budget period whose hours the batch changes."""
    scope: dict[str, datetime] = {}
    if types.has(*SPEND_EVENT_TYPES):
        period_start = local_hour_columns(F.col("event_time"), config.budget)["period_start"]
        touched = reduce(DataFrame.unionByName, _touched_advertisers(changed, silver, types))
        for row in (
            touched.filter(F.col("advertiser_key").isNotNull())
            .groupBy("advertiser_key")
            .agg(F.min(period_start).alias("scope_start"))
            .collect()
        ):
            scope[row["advertiser_key"]] = row["scope_start"]
    # Hours kept under a key whose events move (a name that got its id) or whose label changed:
    # the key and the one they move to are recomputed from the first of those hours.
    for old_key, new_key in moves.items():
        start = moved_from.get(old_key)
        if start is not None:
            for key in (old_key, new_key):
                scope[key] = min(scope.get(key, start), start)
    return scope


def refresh_spend(
    silver: DataFrame,
    config: PipelineConfig,
    changed: DataFrame | None,
    types: ChangedTypes,
    *,
    moves: Mapping[str, str],
    batch: MicroBatch,
) -> None:
    """Bring gold_advertiser_spend up to date with Silver (events with `advertiser_key`): for
    the changed events' advertisers and periods, or entirely when `changed` is None. The hours
    of each advertiser in scope are replaced whole (rows the recomputation no longer has are
    deleted), and so are the hours of the keys `moves` names (old key -> new key)."""
    spark = silver.sparkSession
    table = config.table(TableKey.GOLD_ADVERTISER_SPEND)
    columns = ADVERTISER_SPEND_SCHEMA.fieldNames()
    if changed is None:
        batch.before_write()
        overwrite_table(_all_spend_hours(silver, config), table, columns)
        return
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
    scope_starts = _spend_scope(changed, silver, types, config, moved_from=moved_from, moves=moves)
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
    batch.before_write()
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
    conversions = of_type(silver, "conversion")
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
        "conversion_id", F.col("event_time").alias("converted_at")
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
    *,
    moves: Mapping[str, str],
    batch: MicroBatch,
) -> None:
    """Bring gold_fact_conversions and gold_fact_ad_performance up to date with Silver.

    Ad performance is written first: the keys it recomputes include those the affected
    conversions counted under before the batch, read from the facts table, which is written
    after it. Were the facts written first and the batch killed in between, its replay would
    read the new facts as the old ones and leave the old keys' rows stale."""
    spark = silver.sparkSession
    facts_table = config.table(TableKey.GOLD_FACT_CONVERSIONS)
    performance_table = config.table(TableKey.GOLD_FACT_AD_PERFORMANCE)
    fact_columns = CONVERSION_FACTS_SCHEMA.fieldNames()
    if changed is None:
        batch.before_write()
        overwrite_table(_facts_of(silver, config, None), facts_table, fact_columns)
        performance = _performance_of(silver, spark.table(facts_table), None, config)
        batch.before_write()
        overwrite_table(performance, performance_table, AD_PERFORMANCE_SCHEMA.fieldNames())
        return
    if not types.has(*FACT_EVENT_TYPES) and not moves:
        return
    existing_facts = spark.table(facts_table)
    keys: set[Row] = set()
    conversions_at = (
        _affected_conversions(changed, existing_facts, config)
        if types.has("conversion", "conversion_cancellation", "ad_click")
        else {}
    )
    if moves:  # conversions kept under a key whose advertiser moved or was relabelled
        for row in (
            existing_facts.filter(F.col("advertiser_key").isin(*sorted(moves)))
            .select("conversion_id", "converted_at")
            .collect()
        ):
            conversions_at.setdefault(row["conversion_id"], row["converted_at"])
    facts = existing_facts
    new_facts: DataFrame | None = None
    if conversions_at:
        ids = F.broadcast(
            local_frame(spark, [(i,) for i in sorted(conversions_at)], CONVERSION_IDS)
        )
        old = existing_facts.join(ids, "conversion_id", "left_semi")
        keys.update(conversion_keys(old).collect())
        new_facts = _facts_of(silver, config, conversions_at).select(*fact_columns).persist()
        keys.update(conversion_keys(new_facts).collect())
        facts = existing_facts.join(ids, "conversion_id", "left_anti").unionByName(new_facts)
    try:
        zone = config.budget.timezone
        keys.update(delivery_keys(of_type(changed, "ad_click", "impression"), zone).collect())
        if keys:
            key_rows = sorted(keys)
            performance = _performance_of(silver, facts, key_rows, config)
            affected = local_frame(spark, key_rows, PERFORMANCE_KEYS_SCHEMA)
            batch.before_write()
            replace_keys(performance, affected, performance_table, PERFORMANCE_KEYS)
        if new_facts is not None:
            batch.before_write()
            upsert_by_keys(new_facts, facts_table, ["conversion_id"])
    finally:
        if new_facts is not None:
            new_facts.unpersist()


# ---------------------------------------------------------------------------------------------
# The layer
# ---------------------------------------------------------------------------------------------

CHANGED_COLUMNS = (
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
)


def refresh_gold(
    silver: DataFrame, config: PipelineConfig, changed: DataFrame | None, batch: MicroBatch
) -> None:
    """Every Gold table up to date with Silver, for what `changed` touches (None: rebuild)."""
    spark = silver.sparkSession
    names_table = config.table(TableKey.GOLD_ADVERTISERS)
    if changed is None:
        batch.before_write()
        overwrite_table(advertiser_pairs(silver), names_table, ["advertiser_id", "advertiser_name"])
        keyed_silver = silver.transform(with_advertiser_keys(read_directory(spark, names_table)))
        types = ChangedTypes({})
        refresh_spend(keyed_silver, config, None, types, moves={}, batch=batch)
        refresh_facts(keyed_silver, config, None, types, moves={}, batch=batch)
        return
    before = read_directory(spark, names_table)
    learned = new_pairs(changed, before)
    after = before.with_pairs(learned)
    keyed = with_advertiser_keys(after)
    keyed_changed = changed.transform(keyed).localCheckpoint()
    types = ChangedTypes.of(keyed_changed)
    moves = before.moves(after)
    refresh_spend(silver.transform(keyed), config, keyed_changed, types, moves=moves, batch=batch)
    refresh_facts(silver.transform(keyed), config, keyed_changed, types, moves=moves, batch=batch)
    # Last: a batch replayed after the pairs were saved learns nothing and moves nothing.
    save_pairs(spark, learned, names_table, batch)


@dataclass
class GoldWriter:
    """The Silver -> Gold micro-batch writer (foreachBatch: MERGEs cannot stream). Events Gold
    cannot process are set aside (ops_dead_letters) and left out of Silver from then on."""

    config: PipelineConfig
    dead_lettered: frozenset[str] | None = None  # read at the first batch

    def __call__(self, batch: DataFrame, micro: MicroBatch) -> None:
        spark = batch.sparkSession
        config = self.config
        dead_letters = config.table(TableKey.OPS_DEAD_LETTERS)
        if self.dead_lettered is None:
            self.dead_lettered = dead_lettered_ids(spark, dead_letters, "gold")
        silver = spark.table(config.table(TableKey.SILVER_EVENTS))
        # Persisted: the refresh reads the batch several times, and it is scanned once only
        # (which also keeps the batch's observed metrics, see ops.observe_batch, exact).
        changed = batch.select(*CHANGED_COLUMNS).persist()
        try:
            poison = process_isolating(
                changed,
                lambda rows, left_out: refresh_gold(
                    excluding(silver, left_out), config, excluding(rows, left_out), micro
                ),
                self.dead_lettered,
            )
            set_aside(micro, silver, poison, dead_letters)
            self.dead_lettered |= frozenset(poison)
            micro.finish()
        finally:
            changed.unpersist()


def read_gold_input(runtime: Runtime) -> DataFrame:
    """The rows appended to silver_ad_events."""
    config = runtime.config
    silver = read_table_stream(runtime.spark, config.table(TableKey.SILVER_EVENTS), config.trigger)
    return observe_batch(silver, F.col("event_time"))


def rebuild_gold(runtime: Runtime) -> None:
    """`--full-refresh`: recompute every Gold table from the whole of Silver (less the events
    Gold set aside). The stream keeps its checkpoint; what it processes next is recomputed from
    Silver too, so both agree."""
    spark, config = runtime.spark, runtime.config
    silver = spark.table(config.table(TableKey.SILVER_EVENTS))
    left_out = dead_lettered_ids(spark, config.table(TableKey.OPS_DEAD_LETTERS), "gold")
    refresh_gold(
        excluding(silver, left_out),
        config,
        None,
        MicroBatch("gold", "full-refresh", 0, config.faults),
    )


GOLD = Layer(
    name="gold",
    tables=(SILVER_EVENTS, *GOLD_TABLES, OPS_DEAD_LETTERS),
    read=read_gold_input,
    writer=GoldWriter,
    rebuild=rebuild_gold,
)
