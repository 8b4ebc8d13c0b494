"""Operations data: what each streaming batch did, recorded next to the data-quality counts.

A `StreamingQueryListener` turns every micro-batch's progress into one `ops_streaming_progress`
row: rows in, rates, duration, watermark, the newest event time the batch read and how far that
lags behind the moment it was recorded. The listener only collects rows (it runs on Spark's
listener thread); `run_layers` appends them to the table after each layer, and every poll in
continuous mode, so recording never races the pipeline's own writes.

The newest event time and the row count come from observed metrics (`observe_batch`) on each
query's input: Bronze and Silver read raw records, so theirs is the newest source time (broker /
enqueued time, or the landing file's modification time); Gold and attribution read Silver's
`event_time`.

The progress table keeps `ops.retention_days` of rows: each run prunes older ones when it
starts and then at most hourly (the maintenance job too), and `ad-pipeline status` reads that
window only. The recorder itself keeps, per query run, the last batch id it recorded, so a
long-running driver holds a few numbers rather than every batch it has seen.

`status` turns the ops tables into the per-layer summary `ad-pipeline status` prints.
"""

from __future__ import annotations

import json
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.streaming.listener import StreamingQueryListener
from pyspark.sql.streaming.query import StreamingQuery

from ad_marketing_pipeline.config import PipelineConfig, TableKey
from ad_marketing_pipeline.frames import local_frame
from ad_marketing_pipeline.io import append_once
from ad_marketing_pipeline.spark import is_spark_connect
from ad_marketing_pipeline.tables import STREAMING_PROGRESS_SCHEMA

BATCH_METRIC = "ops_batch"
NEWEST_EVENT_MICROS = "newest_event_micros"
BATCH_ROWS = "rows"

ProgressRow = tuple[Any, ...]


def observe_batch(frame: DataFrame, event_time: Column) -> DataFrame:
    """`frame` with observed metrics, which each batch's progress (and so the ops table)
    reports: its newest `event_time`, and its row count. Spark's own `numInputRows` counts a
    foreachBatch input once per action on it; the observed count is the batch's true size."""
    return frame.observe(
        BATCH_METRIC,
        F.max(F.unix_micros(event_time)).alias(NEWEST_EVENT_MICROS),
        F.count(F.lit(1)).alias(BATCH_ROWS),
    )


def _instant(text: str | None) -> datetime | None:
    """A progress timestamp ('2026-11-22T04:36:10.474Z') as an aware UTC datetime."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _observed(progress: Mapping[str, Any], name: str) -> Any:
    observed = (progress.get("observedMetrics") or {}).get(BATCH_METRIC)
    return observed.get(name) if isinstance(observed, Mapping) else None


def _newest_event_time(progress: Mapping[str, Any]) -> datetime | None:
    micros = _observed(progress, NEWEST_EVENT_MICROS)
    if micros is None:
        return None
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(micros))


def _optional_float(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number  # NaN (no rows) -> null


def progress_row(
    progress: Mapping[str, Any], recorded_at: datetime, spark_jobs: int | None = None
) -> ProgressRow:
    """One `ops_streaming_progress` row (in STREAMING_PROGRESS_SCHEMA's order) from a batch's
    progress as Spark reports it (the JSON form of `StreamingQueryProgress`) and the Spark jobs
    its writes ran (`SparkJobTally`)."""
    newest = _newest_event_time(progress)
    durations = progress.get("durationMs") or {}
    duration = progress.get("batchDuration", durations.get("triggerExecution"))
    reported_rows = progress.get("numInputRows")
    rows = _observed(progress, BATCH_ROWS)
    input_rate = _optional_float(progress.get("inputRowsPerSecond"))
    processed_rate = _optional_float(progress.get("processedRowsPerSecond"))
    if rows is not None and reported_rows and rows != reported_rows:
        # Spark's rates are over its inflated count (see observe_batch): scale them down.
        scale = rows / reported_rows
        input_rate = None if input_rate is None else input_rate * scale
        processed_rate = None if processed_rate is None else processed_rate * scale
    return (
        progress.get("name"),
        progress.get("id"),
        progress.get("runId"),
        progress.get("batchId"),
        _instant(progress.get("timestamp")),
        recorded_at,
        reported_rows if rows is None else int(rows),
        input_rate,
        processed_rate,
        None if duration is None else int(duration),
        _instant((progress.get("eventTime") or {}).get("watermark")),
        newest,
        None if newest is None else (recorded_at - newest).total_seconds(),
        spark_jobs,
    )


def _progress_json(progress: Any) -> dict[str, Any]:
    """A StreamingQueryProgress (object with `.json`, or the older dict form) as a dict."""
    text = getattr(progress, "json", None)
    if isinstance(text, str):
        parsed: dict[str, Any] = json.loads(text)
        return parsed
    return dict(progress)


class SparkJobTally:
    """How many Spark jobs each micro-batch's writes ran, per (query id, batch id), until the
    progress recorder takes the count for the batch's row. `counting` tags the jobs a batch
    starts (a job tag, which leaves the stream's own job group alone); Spark's status tracker
    then lists them. Holds the counts of at most `keep` batches no recorder took."""

    def __init__(self, keep: int = 1_000) -> None:
        self._keep = keep
        self._lock = threading.Lock()
        self._jobs: dict[tuple[str, int], int] = {}

    @contextmanager
    def counting(self, spark: SparkSession, query_id: str, batch_id: int) -> Iterator[None]:
        if is_spark_connect(spark):
            yield
            return
        context = spark.sparkContext
        tag = f"ad-pipeline-batch-{uuid.uuid4()}"
        context.addJobTag(tag)
        try:
            yield
        finally:
            context.removeJobTag(tag)
            jobs = len(context._jsc.sc().statusTracker().getJobIdsForTag(tag))
            with self._lock:
                self._jobs[(query_id, batch_id)] = jobs
                while len(self._jobs) > self._keep:
                    del self._jobs[next(iter(self._jobs))]

    def take(self, query_id: str, batch_id: int) -> int | None:
        with self._lock:
            return self._jobs.pop((query_id, batch_id), None)


#: The driver's tally: every layer's micro-batches count into it (streams.micro_batches).
SPARK_JOBS = SparkJobTally()


class ProgressRecorder(StreamingQueryListener):
    """Collects one row per finished micro-batch of every query in the session; `take_rows`
    hands them over. Thread-safe: Spark calls the listener from its own thread."""

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._rows: list[ProgressRow] = []
        # Per run of a query, the last batch recorded: a run's batch ids only grow, so this is
        # all it takes to keep each batch once (a set of every batch would grow without end).
        self._last_batch: dict[str, int] = {}
        self._terminated: set[str] = set()

    def add_progress(self, progress: Mapping[str, Any]) -> None:
        run_id, batch_id = str(progress.get("runId")), int(progress.get("batchId", -1))
        with self._lock:
            if batch_id > self._last_batch.get(run_id, -1):
                self._last_batch[run_id] = batch_id
                jobs = SPARK_JOBS.take(str(progress.get("id")), batch_id)
                self._rows.append(progress_row(progress, self._clock(), jobs))

    @property
    def remembered(self) -> int:
        """How many (run, batch) marks the recorder holds: one per running query."""
        with self._lock:
            return len(self._last_batch)

    def take_rows(self) -> list[ProgressRow]:
        with self._lock:
            rows, self._rows = self._rows, []
        return rows

    def wait_for_termination(self, run_id: str, timeout_seconds: float = 10.0) -> bool:
        """Wait until the listener has seen the run end (its last progress comes before)."""
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            with self._lock:
                if run_id in self._terminated:
                    return True
            time.sleep(0.05)
        return False

    def onQueryStarted(self, event: Any) -> None:  # noqa: N802 (Spark's listener API)
        pass

    def onQueryProgress(self, event: Any) -> None:  # noqa: N802
        self.add_progress(_progress_json(event.progress))

    def onQueryIdle(self, event: Any) -> None:  # noqa: N802
        pass

    def onQueryTerminated(self, event: Any) -> None:  # noqa: N802
        with self._lock:
            self._terminated.add(str(event.runId))
            self._last_batch.pop(str(event.runId), None)


def append_progress_rows(
    spark: SparkSession, rows: Sequence[ProgressRow], table: str, *, writer_id: str, flush: int
) -> None:
    """Append progress rows once per (writer, flush) (see io.append_once)."""
    if rows:
        append_once(
            local_frame(spark, rows, STREAMING_PROGRESS_SCHEMA),
            table,
            writer_id=writer_id,
            batch_id=flush,
        )


def prune_progress(spark: SparkSession, table: str, retention_days: int) -> None:
    """Delete progress rows recorded more than `retention_days` ago."""
    spark.sql(
        f"DELETE FROM {table} WHERE recorded_at < current_timestamp() - "
        f"INTERVAL {int(retention_days)} DAYS"
    )


PRUNE_EVERY = timedelta(hours=1)


@dataclass
class ProgressLog:
    """Records the progress of the queries a run starts into the ops table. On a classic
    session the recorder listens to every query; on Spark Connect (Databricks serverless),
    where a listener would run on the server, it reads each query's `recentProgress` at every
    flush instead (the recorder keeps each batch once)."""

    spark: SparkSession
    table: str
    recorder: ProgressRecorder
    listening: bool
    retention_days: int = 30
    writer_id: str = field(default_factory=lambda: f"progress/{uuid.uuid4()}")
    flushes: int = 0
    pruned_at: float | None = None

    def flush(self, queries: Sequence[StreamingQuery] = ()) -> None:
        """Append what finished since the last flush, and prune rows past the retention (when
        the run starts, then at most hourly). Pass the run's queries: the ones that ended have
        their last batches waited for (a listener hears of them asynchronously)."""
        for query in queries:
            if not self.listening:
                for progress in query.recentProgress:
                    self.recorder.add_progress(_progress_json(progress))
            elif not query.isActive:
                self.recorder.wait_for_termination(str(query.runId))
        rows = self.recorder.take_rows()
        if rows:
            self.flushes += 1
            append_progress_rows(
                self.spark, rows, self.table, writer_id=self.writer_id, flush=self.flushes
            )
        self.prune_when_due()

    def prune_when_due(self) -> None:
        now = time.monotonic()
        if self.pruned_at is None or now - self.pruned_at >= PRUNE_EVERY.total_seconds():
            self.pruned_at = now
            prune_progress(self.spark, self.table, self.retention_days)


@contextmanager
def recording_progress(spark: SparkSession, config: PipelineConfig) -> Iterator[ProgressLog]:
    """A `ProgressLog` for the duration of a run; the listener is removed afterwards."""
    recorder = ProgressRecorder()
    listening = not is_spark_connect(spark)
    if listening:
        spark.streams.addListener(recorder)
    try:
        log = ProgressLog(
            spark,
            config.table(TableKey.OPS_STREAMING_PROGRESS),
            recorder,
            listening,
            retention_days=config.ops.retention_days,
        )
        log.prune_when_due()
        yield log
    finally:
        if listening:
            spark.streams.removeListener(recorder)


# ---------------------------------------------------------------------------------------------
# `ad-pipeline status`
# ---------------------------------------------------------------------------------------------


def layer_status(
    progress: DataFrame,
    quality: DataFrame,
    window_batches: int = 20,
    retention_days: int | None = None,
) -> DataFrame:
    """Per streaming query: its last batch (when, rows, newest event time, lag), throughput
    over its last `window_batches` batches (rows read / seconds spent), and, for the queries
    that validate (Silver), the reject rate over the batches recorded. With `retention_days`,
    only the batches of that many last days are read (the progress table keeps no more)."""
    if retention_days is not None:
        since = F.current_timestamp() - F.make_dt_interval(days=F.lit(retention_days))
        progress = progress.filter(F.col("recorded_at") >= since)
        quality = quality.filter(F.col("processed_at") >= since)
    recent = Window.partitionBy("query_name").orderBy(
        F.col("recorded_at").desc(), F.col("batch_id").desc()
    )
    ranked = progress.withColumn("_recency", F.row_number().over(recent))
    latest = ranked.filter("_recency = 1").select(
        "query_name",
        F.col("recorded_at").alias("last_batch_at"),
        F.col("batch_id").alias("last_batch_id"),
        F.col("input_rows").alias("last_batch_rows"),
        "newest_event_time",
        "lag_seconds",
    )
    throughput = (
        ranked.filter(F.col("_recency") <= window_batches)
        .groupBy("query_name")
        .agg(
            F.count(F.lit(1)).alias("batches"),
            F.sum("input_rows").alias("rows"),
            F.sum("batch_duration_ms").alias("duration_ms"),
        )
        .select(
            "query_name",
            "batches",
            F.round(F.try_divide(F.col("rows") * 1000, F.col("duration_ms")), 1).alias(
                "rows_per_second"
            ),
        )
    )
    rejects = quality.groupBy("query_name").agg(
        F.sum("input_rows").alias("validated_rows"),
        F.sum("quarantined_rows").alias("quarantined_rows"),
    )
    reject_rate = rejects.select(
        "query_name",
        "validated_rows",
        "quarantined_rows",
        F.round(F.try_divide(F.col("quarantined_rows"), F.col("validated_rows")), 4).alias(
            "reject_rate"
        ),
    )
    return (
        latest.join(throughput, "query_name", "left")
        .join(reject_rate, "query_name", "full")
        .orderBy("query_name")
    )
