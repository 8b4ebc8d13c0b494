"""The silver_ad_events -> attribution tables stream, and the batch refresh.

Each micro-batch of new Silver rows (foreachBatch, since every step joins against history and
ends in a MERGE):

1. inserts the batch's touchpoints into gold_touchpoints;
2. rebuilds the sessions the batch's activity can change (`sessions.sessions_to_rebuild`: per
   user, from the first session within a timeout of the earliest new event) and replaces them,
   reading only the sessions that end within a timeout of the batch's first event;
3. finds the affected conversions: the batch's new conversions, the conversions whose
   cancellation arrived, and the conversions whose lookback window contains a touch of the batch
   (a late touch); rebuilds their paths from Silver and gold_touchpoints and upserts them into
   gold_conversion_paths;
4. refits the Markov model on the conversions and touchpoints of the last `markov_window_days`
   up to the newest Silver event time (its removal effects are solved on the driver; the
   transition counts are one aggregate over the window's paths and touchpoints);
5. replaces, in one MERGE into gold_attribution, the rule-based models' rows of the affected
   conversions and the Markov rows of the window's conversions and of the affected ones (rows a
   conversion no longer produces are deleted). The Markov part costs one pass over the window
   per batch, whatever the batch's size: bounded by the window, not by history. Conversions
   that have left the window keep the credit of the last fit that saw them;
6. recomputes the daily sums of the days it changed (gold_channel_spend_daily: the days of its
   clicks, right after step 1; gold_attribution_daily: the conversion days of the rows step 5
   wrote or replaced), reading only those days of gold_touchpoints and gold_attribution, and
   rebuilds the small channel x model marts from the daily sums: the marts cost what the batch
   changed, not the history.

Every write is a MERGE whose result depends only on Silver's content, so a batch re-run after a
crash, or a batch that sees Silver rows of a later batch, leaves the same tables; and the
incremental tables equal `refresh_attribution(full=True)` on the same Silver (the Markov rows of
conversions older than the window aside: a full refresh re-credits them with the current fit).

Events the layer cannot process (a data error) are set aside in ops_dead_letters and left out of
every read of Silver (deadletters.py); the batch completes. Every write goes through the batch's
`MicroBatch` (where a crash test may kill the run between two writes).

`refresh_attribution(full=True)` rebuilds every table from all of Silver (after a change of
channel rules, lookback, session timeout or path options); `full=False` re-attributes the
stored paths and rebuilds the marts (after a change of a model's parameters).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from ad_marketing_pipeline.attribution.markov import removal_effects, transition_counts
from ad_marketing_pipeline.attribution.mart_refresh import (
    MartTables,
    backfill_daily_sums,
    conform,
    rebuild_marts,
    refresh_daily_sums,
    utc_days_of,
)
from ad_marketing_pipeline.attribution.models import MARKOV, attribute
from ad_marketing_pipeline.attribution.paths import (
    build_conversion_paths,
    build_non_converting_paths,
    lookback_start,
    to_conversions,
    to_touchpoints,
)
from ad_marketing_pipeline.attribution.planning import (
    CONVERSION_EVENTS,
    affected_conversion_ids,
    markov_scope,
    replaced_attribution,
    touches_of_users,
)
from ad_marketing_pipeline.attribution.sessions import (
    sessionize,
    sessions_to_rebuild,
    since_rebuild_point,
    to_activity,
)
from ad_marketing_pipeline.attribution.tables import (
    ATTRIBUTION_SCHEMA,
    ATTRIBUTION_TABLES,
    CONVERSION_PATHS_SCHEMA,
    SESSIONS_SCHEMA,
    TOUCHPOINTS_SCHEMA,
)
from ad_marketing_pipeline.config import PipelineConfig, TableKey
from ad_marketing_pipeline.deadletters import DeadLetteringWriter, dead_lettered_ids, excluding
from ad_marketing_pipeline.io import (
    MicroBatch,
)
from ad_marketing_pipeline.runtime import Runtime
from ad_marketing_pipeline.silver.stream import read_silver_events
from ad_marketing_pipeline.streams import Layer
from ad_marketing_pipeline.tables import OPS_DEAD_LETTERS, SILVER_EVENTS

QUERY_NAME = "attribution"
ATTRIBUTION_KEYS = ("conversion_id", "model", "channel")
_MICROS_PER_DAY = 86_400_000_000
_MICROS_PER_MINUTE = 60_000_000


class _Tables:
    """Names and readers of the tables a run uses."""

    def __init__(self, spark: SparkSession, config: PipelineConfig) -> None:
        self.spark = spark
        self.silver = config.table(TableKey.SILVER_EVENTS)
        self.touchpoints = config.table(TableKey.GOLD_TOUCHPOINTS)
        self.sessions = config.table(TableKey.GOLD_SESSIONS)
        self.paths = config.table(TableKey.GOLD_CONVERSION_PATHS)
        self.attribution = config.table(TableKey.GOLD_ATTRIBUTION)
        self.marts = MartTables.of(config)

    def read(self, name: str) -> DataFrame:
        return self.spark.table(name)


def _micros(frame: DataFrame, aggregate: Column) -> int | None:
    """One timestamp aggregate of `frame`, as microseconds since the epoch (None if empty).
    Instants travel to the driver and back as numbers: Python datetimes would pass through the
    machine's local time zone."""
    row = frame.agg(F.unix_micros(aggregate)).first()
    return None if row is None or row[0] is None else int(row[0])


def _instant(micros: int) -> Column:
    return F.timestamp_micros(F.lit(micros))


class _Run:
    """One incremental batch or one refresh; keeps what it persisted to release it. Its reads
    of Silver leave out the `excluded` (dead-lettered) events; its writes go through `batch`."""

    def __init__(
        self,
        spark: SparkSession,
        config: PipelineConfig,
        batch: MicroBatch,
        excluded: frozenset[str] = frozenset(),
    ) -> None:
        self.tables = _Tables(spark, config)
        self.config = config.attribution
        self.batch = batch
        self.excluded = excluded
        self.persisted: list[DataFrame] = []

    def silver(self) -> DataFrame:
        return excluding(self.tables.read(self.tables.silver), self.excluded)

    def keep(self, frame: DataFrame) -> DataFrame:
        self.persisted.append(frame.persist())
        return frame

    def release(self) -> None:
        for frame in self.persisted:
            frame.unpersist()

    # -- touchpoints and sessions ---------------------------------------------------------

    def write_touchpoints(self, events: DataFrame, *, whole: bool) -> DataFrame:
        touches = self.keep(
            conform(events.transform(to_touchpoints(self.config.channel_rules)), TOUCHPOINTS_SCHEMA)
        )
        self.batch.upsert_by_keys(
            touches,
            self.tables.touchpoints,
            ["event_id"],
            delete_missing_in="true" if whole else None,
        )
        clicks = touches.filter(F.col("event_type") == "ad_click")
        refresh_daily_sums(
            self.tables.spark,
            self.tables.marts.channel_spend,
            None if whole else utc_days_of(clicks, "touched_at"),
            self.batch,
        )
        return touches

    def rebuild_sessions(self, new_events: DataFrame | None) -> None:
        """The sessions `new_events` can change (all sessions when None)."""
        rules, timeout = self.config.channel_rules, self.config.session_timeout_minutes
        silver, existing = (
            self.silver(),
            self.tables.read(self.tables.sessions),
        )
        if new_events is None:
            rebuilt = silver.transform(to_activity(rules)).transform(sessionize(timeout))
            self.batch.replace_keys(
                conform(rebuilt, SESSIONS_SCHEMA), existing, self.tables.sessions, ["session_id"]
            )
            return
        new_activity = new_events.transform(to_activity(rules))
        first_new = _micros(new_activity, F.min("event_time"))
        if first_new is None:
            return
        # Only a session that ends within the timeout before the batch's first event can take
        # in its events: older ones are not read (Delta skips their files by session_end).
        reachable = existing.filter(
            F.col("session_end") >= _instant(first_new - timeout * _MICROS_PER_MINUTE)
        )
        scope = self.keep(new_activity.transform(sessions_to_rebuild(reachable, timeout)))
        earliest = _micros(scope, F.min("rebuild_from"))
        if earliest is None:
            return
        activity = (
            silver.filter(F.col("event_time") >= _instant(earliest))
            .transform(to_activity(rules))
            .transform(since_rebuild_point(scope, "event_time"))
        )
        rebuilt = activity.transform(sessionize(timeout))
        replaced = existing.filter(F.col("session_start") >= _instant(earliest)).transform(
            since_rebuild_point(scope, "session_start")
        )
        self.batch.replace_keys(
            conform(rebuilt, SESSIONS_SCHEMA), replaced, self.tables.sessions, ["session_id"]
        )

    # -- conversions and their paths -------------------------------------------------------

    def affected_conversions(self, new_events: DataFrame, new_touches: DataFrame) -> DataFrame:
        """Ids of the conversions a batch changes: new ones, newly cancelled ones, and those
        whose lookback window holds a touch of the batch."""
        touched = touches_of_users(new_touches)
        conversions = self.silver().limit(0)
        earliest = _micros(touched, F.min("touched_at"))
        if earliest is not None:
            conversions = self.silver().filter(
                (F.col("event_type") == "conversion") & (F.col("event_time") >= _instant(earliest))
            )
        return self.keep(
            affected_conversion_ids(new_events, touched, conversions, self.config.lookback_days)
        )

    def rebuild_paths(self, affected: DataFrame | None) -> DataFrame:
        """Rebuild and upsert the paths of the affected conversions (all when None)."""
        silver = self.silver().filter(F.col("event_type").isin(*CONVERSION_EVENTS))
        if affected is not None:
            silver = silver.join(F.broadcast(affected), "conversion_id", "left_semi")
        conversions = self.keep(to_conversions(silver))
        touches = self.tables.read(self.tables.touchpoints)
        earliest = _micros(conversions, F.min("converted_at"))
        if earliest is not None:
            since = lookback_start(_instant(earliest), self.config.lookback_days)
            touches = touches.filter(F.col("touched_at") >= since)
        paths = self.keep(
            conform(
                conversions.transform(build_conversion_paths(touches, self.config)),
                CONVERSION_PATHS_SCHEMA,
            )
        )
        self.batch.upsert_by_keys(
            paths,
            self.tables.paths,
            ["conversion_id"],
            delete_missing_in="true" if affected is None else None,
        )
        return paths

    # -- models -----------------------------------------------------------------------------

    def fit_markov(
        self, newest_at_least: int | None
    ) -> tuple[dict[str, float], DataFrame, list[int]] | None:
        """Fit the Markov model on the paths and touchpoints of the window that ends at the
        newest Silver event; returns the removal effects, the window's conversion paths and
        its UTC days (None while Silver is empty). `newest_at_least` (micros), the batch's
        newest event, lets the search for the newest event skip older files."""
        silver = self.silver()
        if newest_at_least is not None:
            silver = silver.filter(F.col("event_time") >= _instant(newest_at_least))
        newest = _micros(silver, F.max("event_time"))
        if newest is None:
            return None
        first = newest - self.config.markov_window_days * _MICROS_PER_DAY
        window_start, window_end = _instant(first), _instant(newest)
        window_days = list(range(first // _MICROS_PER_DAY, newest // _MICROS_PER_DAY + 1))
        in_window = self.tables.read(self.tables.paths).filter(
            F.col("converted_at").between(window_start, window_end)
        )
        non_converting = self.tables.read(self.tables.touchpoints).transform(
            build_non_converting_paths(in_window, self.config, window_start, window_end)
        )
        counts = transition_counts(in_window, non_converting).collect()
        effects = removal_effects((r["from_state"], r["to_state"], r["count"]) for r in counts)
        return effects, in_window, window_days

    def write_attribution(
        self, paths: DataFrame, affected: DataFrame | None, newest_at_least: int | None = None
    ) -> None:
        """One MERGE into gold_attribution: the rule-based models' rows of `paths` (the
        affected conversions', every conversion's when `affected` is None) and, after a refit,
        the Markov rows of the window's conversions and of the affected ones (every
        conversion's when None). Rows those conversions no longer produce are deleted."""
        existing = self.tables.read(self.tables.attribution)
        rows = paths.transform(attribute(self.config))
        scope: DataFrame | None = None
        window_days: list[int] = []
        fitted = self.fit_markov(newest_at_least)
        if fitted is not None:
            effects, in_window, window_days = fitted
            scope = markov_scope(in_window, self.tables.read(self.tables.paths), affected)
            markov = attribute(self.config, models=[MARKOV], removal_effects=effects)
            rows = rows.unionByName(scope.transform(markov))
        replaced = replaced_attribution(existing, affected, scope)
        # The days whose sums change (all of them when every conversion is re-attributed):
        # those of the affected conversions, new rows and replaced ones (read before the
        # MERGE), and the refit window's, whose Markov rows are all rewritten.
        days = None
        if affected is not None:
            rule_based = replaced_attribution(existing, affected, None)
            affected_days = utc_days_of(
                paths.select("converted_at").unionByName(rule_based.select("converted_at")),
                "converted_at",
            )
            days = sorted(set(affected_days) | set(window_days))
        self.batch.replace_keys(
            conform(rows, ATTRIBUTION_SCHEMA), replaced, self.tables.attribution, ATTRIBUTION_KEYS
        )
        refresh_daily_sums(self.tables.spark, self.tables.marts.attribution, days, self.batch)

    # -- marts ------------------------------------------------------------------------------

    def rebuild_marts(self) -> None:
        rebuild_marts(self.tables.spark, self.tables.marts, self.batch)


def update_attribution(
    spark: SparkSession,
    config: PipelineConfig,
    new_events: DataFrame,
    batch: MicroBatch,
    excluded: frozenset[str] = frozenset(),
) -> None:
    """Bring every attribution table up to date with `new_events`, Silver rows that are
    already in silver_ad_events (one micro-batch), leaving the `excluded` events out."""
    run = _Run(spark, config, batch, excluded)
    try:
        touches = run.write_touchpoints(new_events, whole=False)
        run.rebuild_sessions(new_events)
        affected = run.affected_conversions(new_events, touches)
        paths = run.rebuild_paths(affected)
        run.write_attribution(paths, affected, _micros(new_events, F.max("event_time")))
        run.rebuild_marts()
    finally:
        run.release()


def attribution_writer(config: PipelineConfig) -> DeadLetteringWriter:
    """The attribution micro-batch writer (foreachBatch: every step merges against history).
    Events it cannot process are set aside (ops_dead_letters) and left out from then on. The
    first batch of each start fills the tables of daily sums if they are still empty
    (`backfill_daily_sums`)."""
    backfilled = False

    def process(new_events: DataFrame, left_out: frozenset[str], micro: MicroBatch) -> None:
        nonlocal backfilled
        spark = new_events.sparkSession
        if not backfilled:
            backfill_daily_sums(spark, MartTables.of(config), micro)
            backfilled = True
        update_attribution(spark, config, excluding(new_events, left_out), micro, left_out)

    return DeadLetteringWriter(
        layer=QUERY_NAME,
        process=process,
        silver_table=config.table(TableKey.SILVER_EVENTS),
        dead_letters=config.table(TableKey.OPS_DEAD_LETTERS),
    )


def refresh_attribution(runtime: Runtime, *, full: bool) -> None:
    """Recompute in batch: with `full`, every attribution table from all of Silver; without,
    every conversion's model rows from the stored paths, and the marts. (The tables must
    exist: provisioning.ensure_tables with `ATTRIBUTION.tables`.)"""
    spark, config = runtime.spark, runtime.config
    left_out = dead_lettered_ids(spark, config.table(TableKey.OPS_DEAD_LETTERS), QUERY_NAME)
    run = _Run(spark, config, MicroBatch(QUERY_NAME, "refresh", 0, config.faults), left_out)
    try:
        if full:
            run.write_touchpoints(run.silver(), whole=True)
            run.rebuild_sessions(None)
            paths = run.rebuild_paths(None)
        else:
            paths = run.tables.read(run.tables.paths)
        run.write_attribution(paths, None)
        run.rebuild_marts()
    finally:
        run.release()


ATTRIBUTION = Layer(
    name=QUERY_NAME,
    tables=(SILVER_EVENTS, OPS_DEAD_LETTERS, *ATTRIBUTION_TABLES),
    read=read_silver_events,
    writer=attribution_writer,
    rebuild=lambda runtime: refresh_attribution(runtime, full=True),
)
