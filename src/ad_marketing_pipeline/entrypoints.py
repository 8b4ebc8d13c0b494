"""What the CLI, the bundle's jobs and the notebooks call: provisioning and running layers.

Each layer has a starter that creates its tables if needed and starts its streaming query. A run
with the `once` trigger runs the chosen layers one after the other, each to completion
(availableNow); a `continuous` run starts them all and reports progress until stopped.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import reduce
from pathlib import Path
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.streaming.query import StreamingQuery

from ad_marketing_pipeline.attribution.layer import refresh_attribution, start_attribution
from ad_marketing_pipeline.attribution.tables import ATTRIBUTION_TABLES
from ad_marketing_pipeline.bronze import to_bronze
from ad_marketing_pipeline.config import FilesSource, ServingConfig
from ad_marketing_pipeline.errors import PipelineError
from ad_marketing_pipeline.gold.layer import gold_foreach_batch, rebuild
from ad_marketing_pipeline.gold.serving import serving_events, with_new_ids
from ad_marketing_pipeline.gold.serving_layer import ServingWriter
from ad_marketing_pipeline.gold.tables import GOLD_TABLES
from ad_marketing_pipeline.io import (
    MicroBatch,
    StreamTrigger,
    append_to_table,
    is_spark_connect,
    local_frame,
    read_table_stream,
)
from ad_marketing_pipeline.ops import observe_batch, recording_progress
from ad_marketing_pipeline.runtime import (
    REDACTED_OPTIONS,
    Runtime,
    databricks_secret_reader,
    ensure_tables,
    prepare_runtime,
)
from ad_marketing_pipeline.silver import (
    parse_payloads,
    received_order,
    split_invalid,
    to_quarantine,
    to_silver_events,
    validate,
)
from ad_marketing_pipeline.sources import read_source, source_query_name
from ad_marketing_pipeline.tables import (
    BRONZE_EVENTS,
    DATA_QUALITY_SCHEMA,
    OPS_DATA_QUALITY,
    OPS_DEAD_LETTERS,
    OPS_STREAMING_PROGRESS,
    SILVER_EVENTS,
    SILVER_QUARANTINE,
    TableSpec,
)

__all__ = [
    "REDACTED_OPTIONS",
    "Runtime",
    "databricks_secret_reader",
    "ensure_tables",
    "prepare_runtime",
]

LAYER_TABLES: dict[str, tuple[TableSpec, ...]] = {
    "bronze": (BRONZE_EVENTS,),
    "silver": (SILVER_EVENTS, SILVER_QUARANTINE, OPS_DATA_QUALITY, OPS_STREAMING_PROGRESS),
    "gold": (*GOLD_TABLES, OPS_DEAD_LETTERS),
    "attribution": ATTRIBUTION_TABLES,
}


def provision(runtime: Runtime) -> list[str]:
    """Create the schema and every table of every layer; returns the tables' names."""
    return ensure_tables(runtime, [spec for specs in LAYER_TABLES.values() for spec in specs])


def source_time() -> Column:
    """When a raw record reached us: broker / enqueued time, or the landing file's mtime."""
    return F.coalesce(F.col("source_timestamp"), F.col("file_modification_time"))


def source_records(runtime: Runtime) -> DataFrame:
    """The configured source as a stream (Bronze and the serving stream each read it); a local
    landing folder is created first, as a file stream needs it to exist."""
    config = runtime.config
    if isinstance(config.source, FilesSource) and not runtime.on_databricks:
        Path(config.landing_path).mkdir(parents=True, exist_ok=True)
    return read_source(runtime.spark, config, on_databricks=runtime.on_databricks)


def start_bronze(runtime: Runtime, trigger: StreamTrigger) -> StreamingQuery:
    """Start the source -> bronze_ad_events stream."""
    config = runtime.config
    ensure_tables(runtime, [BRONZE_EVENTS])
    table = config.table("bronze_events")
    records = source_records(runtime)
    query_name = source_query_name(config)
    query = append_to_table(
        observe_batch(records.transform(to_bronze), source_time()),
        table,
        checkpoint=config.checkpoint(query_name),
        trigger=trigger,
        query_name=query_name,
    )
    assert query is not None
    return query


def first_received_per_event(events: DataFrame) -> DataFrame:
    """One row per event_id within a batch: the copy received first (`received_order`); the
    others are counted as duplicates."""
    order = Window.partitionBy("event_id").orderBy(received_order())
    return events.withColumn("_rank", F.row_number().over(order)).filter("_rank = 1").drop("_rank")


_POSITION_COLUMNS = ("source_kind", "topic", "partition", "offset", "file_path")


def _not_from(batch: MicroBatch) -> Column:
    """Rows of a table not written by this micro-batch (of this stream)."""
    return ~(
        F.col("silver_query_id").eqNullSafe(batch.query_id)
        & F.col("silver_batch_id").eqNullSafe(batch.batch_id)
    )


def silver_foreach_batch(runtime: Runtime) -> Callable[[DataFrame, int], None]:
    """The Silver micro-batch writer (foreachBatch, because de-duplicating against the whole
    table cannot stream): parse and validate the batch, insert events whose event_id Silver does
    not have yet, quarantine the rest with their reasons (a record whose source position
    quarantine already holds is not added twice), and record the batch's counts. Every append is
    keyed by the stream and the batch (`MicroBatch`), so a batch re-run after a crash changes
    nothing; and the batch is checked against rows other batches wrote only, so a re-run counts
    the same inserted and duplicate rows as the first run did, and a new checkpoint re-reading
    Bronze counts what Silver holds as duplicates."""
    config = runtime.config
    silver_table = config.table("silver_events")
    quarantine_table = config.table("silver_quarantine")
    quality_table = config.table("ops_data_quality")
    checkpoint = config.checkpoint("silver")

    def write(batch: DataFrame, batch_id: int) -> None:
        spark = batch.sparkSession
        micro = MicroBatch.of("silver", batch, batch_id, checkpoint, config.faults)
        written_by = {
            "silver_query_id": F.lit(micro.query_id),
            "silver_batch_id": F.lit(batch_id).cast("bigint"),
        }
        validated = batch.transform(parse_payloads).transform(validate(config.quality)).persist()
        try:
            counts = validated.agg(
                F.count(F.lit(1)).alias("input_rows"),
                F.count_if(F.size("reasons") == 0).alias("valid_rows"),
            ).first()
            assert counts is not None
            input_rows, valid_rows = int(counts["input_rows"]), int(counts["valid_rows"])
            valid, invalid = split_invalid(validated)
            events = first_received_per_event(valid.transform(to_silver_events)).withColumns(
                written_by
            )
            known_ids = spark.table(silver_table).filter(_not_from(micro)).select("event_id")
            new_events = events.join(known_ids, "event_id", "left_anti").persist()
            try:
                inserted = new_events.count()
                micro.append(new_events, silver_table)
            finally:
                new_events.unpersist()
            by_reason: dict[str, int] = {}
            quarantined_rows = 0
            if input_rows > valid_rows:
                quarantined = invalid.transform(to_quarantine).withColumns(written_by)
                known = spark.table(quarantine_table).filter(_not_from(micro))
                # Only a record with a known position (a Kafka offset, a file's line) can be
                # recognised as one quarantine already holds (a source read again); it then
                # counts as a duplicate, like a valid record Silver already has.
                seen_before = reduce(
                    Column.__and__,
                    (
                        F.col(f"q.{name}").eqNullSafe(F.col(f"k.{name}"))
                        for name in _POSITION_COLUMNS
                    ),
                    F.col("q.offset").isNotNull(),
                )
                new_quarantined = (
                    quarantined.alias("q")
                    .join(known.select(*_POSITION_COLUMNS).alias("k"), seen_before, "left_anti")
                    .persist()
                )
                try:
                    micro.append(new_quarantined, quarantine_table)
                    for row in (
                        new_quarantined.select(
                            F.explode(F.array_distinct("reason_codes")).alias("code")
                        )
                        .groupBy("code")
                        .agg(F.count(F.lit(1)).alias("rows"))
                        .collect()
                    ):
                        by_reason[row["code"]] = row["rows"]
                    quarantined_rows = new_quarantined.count()
                finally:
                    new_quarantined.unpersist()
            quality_row = local_frame(
                spark,
                [
                    (
                        "silver",
                        batch_id,
                        datetime.now(UTC).replace(tzinfo=None),
                        micro.query_id,
                        input_rows,
                        valid_rows,
                        inserted,
                        input_rows - inserted - quarantined_rows,
                        quarantined_rows,
                        by_reason,
                    )
                ],
                DATA_QUALITY_SCHEMA,
            )
            micro.append(quality_row, quality_table)
            micro.finish()
        finally:
            validated.unpersist()

    return write


def start_silver(runtime: Runtime, trigger: StreamTrigger) -> StreamingQuery:
    """Start the bronze_ad_events -> silver_ad_events / silver_quarantine stream."""
    config = runtime.config
    ensure_tables(runtime, [BRONZE_EVENTS, *LAYER_TABLES["silver"]])
    bronze = read_table_stream(runtime.spark, config.table("bronze_events"), config.trigger)
    writer = (
        observe_batch(bronze, source_time())
        .writeStream.foreachBatch(silver_foreach_batch(runtime))
        .option("checkpointLocation", config.checkpoint("silver"))
        .queryName("silver")
    )
    return trigger.apply(writer).start()


def start_gold(runtime: Runtime, trigger: StreamTrigger) -> StreamingQuery:
    """Start the silver_ad_events -> Gold stream (incremental MERGEs per micro-batch)."""
    config = runtime.config
    ensure_tables(runtime, [*LAYER_TABLES["silver"], *LAYER_TABLES["gold"]])
    silver = read_table_stream(runtime.spark, config.table("silver_events"), config.trigger)
    writer = (
        observe_batch(silver, F.col("event_time"))
        .writeStream.foreachBatch(gold_foreach_batch(config))
        .option("checkpointLocation", config.checkpoint("gold"))
        .queryName("gold")
    )
    return trigger.apply(writer).start()


def serving_trigger(trigger: StreamTrigger, serving: ServingConfig) -> StreamTrigger:
    """The serving stream's trigger in a run with `trigger`: its own interval when the run is
    continuous (can_serve is as fresh as its batches), availableNow when the run is once."""
    return StreamTrigger(serving.processing_time) if trigger.continuous else trigger


def start_serving(runtime: Runtime, trigger: StreamTrigger) -> StreamingQuery:
    """Start the source -> gold_serving_status stream: valid clicks and budget observations,
    read from the source itself, folded into each advertiser's serving status (see
    gold/serving_layer.py). In a continuous run it keeps its own interval
    (`serving.processing_time`), however often the other layers run."""
    config = runtime.config
    trigger = serving_trigger(trigger, config.serving)
    ensure_tables(runtime, [*LAYER_TABLES["gold"]])
    records = source_records(runtime)
    validated = (
        observe_batch(records.transform(to_bronze), source_time())
        .transform(parse_payloads)
        .transform(validate(config.quality))
    )
    valid, _invalid = split_invalid(validated)  # Silver quarantines them; here they just end
    events = (
        valid.transform(to_silver_events)
        .transform(serving_events)
        .transform(with_new_ids(config.budget, config.quality))
    )
    writer = (
        events.writeStream.foreachBatch(ServingWriter(config))
        .option("checkpointLocation", config.checkpoint("serving"))
        .queryName("serving")
    )
    # The query keeps the session's settings of when it starts (the shuffle partitions of its
    # state, from the first start on, in its checkpoint).
    shuffle = "spark.sql.shuffle.partitions"
    previous = runtime.spark.conf.get(shuffle, "200")
    runtime.spark.conf.set(shuffle, str(config.serving.state_partitions))
    try:
        return trigger.apply(writer).start()
    finally:
        runtime.spark.conf.set(shuffle, previous or "200")


def rebuild_gold(runtime: Runtime) -> None:
    """`--full-refresh`: recompute every Gold table from the whole of Silver. The stream keeps
    its checkpoint; what it processes next is recomputed from Silver too, so both agree."""
    config = runtime.config
    ensure_tables(runtime, [*LAYER_TABLES["silver"], *LAYER_TABLES["gold"]])
    rebuild(runtime.spark.table(config.table("silver_events")), config)


LayerStarter = Callable[[Runtime, StreamTrigger], StreamingQuery]
LAYERS: dict[str, LayerStarter] = {
    "bronze": start_bronze,
    "serving": start_serving,
    "silver": start_silver,
    "gold": start_gold,
    "attribution": start_attribution,
}
# Layers that can be rebuilt from the layer before them (`run --full-refresh`).
REBUILDERS: dict[str, Callable[[Runtime], None]] = {
    "gold": rebuild_gold,
    "attribution": lambda runtime: refresh_attribution(runtime, full=True),
}


def start_layer(runtime: Runtime, layer: str, trigger: StreamTrigger) -> StreamingQuery:
    """Start one layer's stream in a scheduler pool of its own: with the FAIR scheduler
    (Databricks' default, and the local session's), streams running side by side share the
    cores instead of queueing behind each other's jobs, so a short serving batch is not held up
    by a long Gold one. (Spark Connect sessions have no pools; the layer just starts.)"""
    spark = runtime.spark
    if is_spark_connect(spark):
        return LAYERS[layer](runtime, trigger)
    context = spark.sparkContext
    previous = context.getLocalProperty(SCHEDULER_POOL)
    context.setLocalProperty(SCHEDULER_POOL, layer)  # the query's thread inherits it
    try:
        return LAYERS[layer](runtime, trigger)
    finally:
        context.setLocalProperty(SCHEDULER_POOL, previous)  # type: ignore[arg-type]


SCHEDULER_POOL = "spark.scheduler.pool"


def choose_layers(names: Sequence[str]) -> list[str]:
    """The named layers in pipeline order; unknown names are an error."""
    unknown = [name for name in names if name not in LAYERS]
    if unknown:
        raise PipelineError(
            f"unknown layer(s) {', '.join(unknown)}: choose among {', '.join(LAYERS)}"
        )
    return [name for name in LAYERS if name in names]


ProgressReporter = Callable[[str, Mapping[str, Any]], None]


def run_layers(
    runtime: Runtime,
    layers: Sequence[str],
    trigger: StreamTrigger,
    *,
    on_layer_done: Callable[[str, float], None] | None = None,
    on_progress: ProgressReporter | None = None,
    on_stopping: Callable[[], None] | None = None,
    poll_seconds: float = 5.0,
    full_refresh: bool = False,
) -> None:
    """Run `layers` in order. availableNow: one after the other, each to the end. Continuous:
    all at once until Ctrl-C or SIGTERM (then `on_stopping` is called, the queries stop between
    batches and KeyboardInterrupt is raised), reporting each new batch's progress. With
    `full_refresh`, layers that can be rebuilt (REBUILDERS) are recomputed from the layer before
    them instead of running their stream; the others run as usual. Every batch's progress is
    recorded in ops_streaming_progress."""
    chosen = choose_layers(layers)
    if full_refresh and trigger.continuous:
        raise PipelineError("--full-refresh runs once; it cannot be combined with continuous")
    ensure_tables(runtime, [OPS_STREAMING_PROGRESS])
    with recording_progress(runtime.spark, runtime.config) as progress_log:
        if not trigger.continuous:
            for layer in chosen:
                started = time.monotonic()
                if full_refresh and layer in REBUILDERS:
                    REBUILDERS[layer](runtime)
                else:
                    query = start_layer(runtime, layer, trigger)
                    query.awaitTermination()
                    progress_log.flush([query])
                if on_layer_done:
                    on_layer_done(layer, time.monotonic() - started)
            return
        stop = threading.Event()
        queries: dict[str, StreamingQuery] = {}
        with stop_on_signals(stop):
            try:
                for layer in chosen:
                    if not stop.is_set():
                        queries[layer] = start_layer(runtime, layer, trigger)
                watch_queries(
                    queries,
                    on_progress=on_progress,
                    poll_seconds=poll_seconds,
                    on_poll=lambda: progress_log.flush(list(queries.values())),
                    stop=stop,
                )
            finally:
                if stop.is_set() and on_stopping:
                    on_stopping()
                for query in queries.values():
                    stop_between_batches(query)
                progress_log.flush(list(queries.values()))
        if stop.is_set():
            raise KeyboardInterrupt  # stopped by Ctrl-C or SIGTERM, cleanly


def stop_between_batches(query: StreamingQuery, wait_seconds: float = 120.0) -> None:
    """Stop `query` once its current micro-batch (if any) has finished, so that no batch is cut
    in half (an interrupted batch is redone after a restart, but its cancelled jobs fill the
    log); after `wait_seconds` it is stopped regardless."""
    deadline = time.monotonic() + wait_seconds
    while query.isActive and query.status.get("isTriggerActive") and time.monotonic() < deadline:
        time.sleep(0.1)
    if query.isActive:
        query.stop()


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """While a continuous run lasts, Ctrl-C (SIGINT) and SIGTERM only set `stop`: the run then
    stops its queries between two polls. (Raising at once, as PySpark's own SIGINT handler
    does, can cut a call to the JVM in half and leave the queries unstoppable.) Outside the
    main thread, signals cannot be handled and nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handled = (signal.SIGINT, signal.SIGTERM)
    previous = {number: signal.getsignal(number) for number in handled}
    for number in handled:
        signal.signal(number, lambda _number, _frame: stop.set())
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def watch_queries(
    queries: Mapping[str, StreamingQuery],
    *,
    on_progress: ProgressReporter | None,
    poll_seconds: float,
    on_poll: Callable[[], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Report each query's new batches until one fails (raised), all stop, or `stop` is set."""
    last_batch: dict[str, int] = {}
    stop = stop or threading.Event()
    while not stop.is_set() and any(query.isActive for query in queries.values()):
        for layer, query in queries.items():
            error = query.exception()
            if error is not None:
                raise PipelineError(f"the {layer} stream failed: {error}")
            progress = query.lastProgress
            if progress and on_progress and progress.get("batchId") != last_batch.get(layer):
                last_batch[layer] = int(progress["batchId"])
                on_progress(layer, progress)
        if on_poll:
            on_poll()
        stop.wait(poll_seconds)


def progress_summary(progress: Mapping[str, Any]) -> dict[str, Any]:
    """The figures a person watches in a batch's progress: rows, rows/s, duration, lag."""
    durations = progress.get("durationMs") or {}
    lag = None
    for source in progress.get("sources") or []:
        metrics = source.get("metrics") or {}
        if "maxOffsetsBehindLatest" in metrics:
            lag = f"{metrics['maxOffsetsBehindLatest']} offsets"
    return {
        "batch": progress.get("batchId"),
        "rows": progress.get("numInputRows"),
        "rows_per_second": round(float(progress.get("processedRowsPerSecond") or 0.0), 1),
        "batch_ms": durations.get("triggerExecution"),
        "lag": lag,
    }
