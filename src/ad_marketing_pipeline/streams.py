"""The shape every layer has, and the one way its stream starts.

A `Layer` says what a layer reads (a stream of the source or of the table before it), which
tables it needs, and how it writes one micro-batch (a `BatchWriter`, called through
`foreachBatch` with the batch's `MicroBatch`, whose appends are keyed by the stream and the
batch). `start_stream` starts any layer the same way: checkpoint, trigger, query name and
scheduler pool from the layer and the configuration.

    source -> bronze -> silver -> gold -> attribution      (and source -> serving)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql.streaming.query import StreamingQuery

from ad_marketing_pipeline.config import PipelineConfig
from ad_marketing_pipeline.io import MicroBatch, StreamTrigger
from ad_marketing_pipeline.ops import SPARK_JOBS
from ad_marketing_pipeline.runtime import Runtime
from ad_marketing_pipeline.spark import is_spark_connect
from ad_marketing_pipeline.tables import TableSpec

BatchWriter = Callable[[DataFrame, MicroBatch], None]
SCHEDULER_POOL = "spark.scheduler.pool"
SHUFFLE_PARTITIONS = "spark.sql.shuffle.partitions"


def _same_trigger(trigger: StreamTrigger, _config: PipelineConfig) -> StreamTrigger:
    return trigger


def _named(name: str) -> Callable[[PipelineConfig], str]:
    return lambda _config: name


@dataclass(frozen=True)
class Layer:
    """One streaming layer.

    - `name`: the layer (`run --layers`), its scheduler pool, the prefix of its writes' keys
      and of its fault-injection points (`faults.kill_at_write: silver:2`);
    - `tables`: the tables created (if missing) before it starts: those it reads and writes,
      and those the views over its tables need;
    - `read`: the stream it consumes (with its observed metrics, see ops.observe_batch);
    - `writer`: a new micro-batch writer for one start of the stream (it may keep state
      between the batches of that start, never across starts);
    - `query_name`: the query's name and checkpoint folder (the layer's name by default);
    - `trigger`: its trigger in a run with the given one (the run's by default);
    - `state_partitions`: the shuffle partitions of a stateful stream (fixed by its first
      start, kept in its checkpoint); None for a stateless one;
    - `rebuild`: recomputes the layer's tables from the layer before (`--full-refresh`), if it
      can.
    """

    name: str
    tables: tuple[TableSpec, ...]
    read: Callable[[Runtime], DataFrame]
    writer: Callable[[PipelineConfig], BatchWriter]
    query_name: Callable[[PipelineConfig], str] | None = None
    trigger: Callable[[StreamTrigger, PipelineConfig], StreamTrigger] = _same_trigger
    state_partitions: Callable[[PipelineConfig], int] | None = None
    rebuild: Callable[[Runtime], None] | None = None

    def query_name_in(self, config: PipelineConfig) -> str:
        return (self.query_name or _named(self.name))(config)


def micro_batches(layer: Layer, config: PipelineConfig) -> Callable[[DataFrame, int], None]:
    """The foreachBatch function of one start of `layer`: each batch is written by the layer's
    writer with its `MicroBatch` (the stream's id, read from the checkpoint, and the batch id);
    the Spark jobs it runs are counted for its `ops_streaming_progress` row (`ops.SPARK_JOBS`)."""
    write = layer.writer(config)
    checkpoint = config.checkpoint(layer.query_name_in(config))

    def write_batch(batch: DataFrame, batch_id: int) -> None:
        micro = MicroBatch.of(layer.name, batch, batch_id, checkpoint, config.faults)
        with SPARK_JOBS.counting(batch.sparkSession, micro.query_id, batch_id):
            write(batch, micro)

    return write_batch


def start_stream(runtime: Runtime, layer: Layer, trigger: StreamTrigger) -> StreamingQuery:
    """Start `layer`'s stream (its tables must exist: provisioning.ensure_tables).

    It runs in a scheduler pool of its own: with the FAIR scheduler (Databricks' default, and
    the local session's), streams running side by side share the cores instead of queueing
    behind each other's jobs, so a short serving batch is not held up by a long Gold one.
    (Spark Connect sessions have no pools.) A stateful layer's query starts with its
    `state_partitions` as the session's shuffle partitions: the query keeps the settings of
    when it starts, and its state's partitioning from its first start on."""
    spark, config = runtime.spark, runtime.config
    query_name = layer.query_name_in(config)
    writer = (
        layer.read(runtime)
        .writeStream.foreachBatch(micro_batches(layer, config))
        .option("checkpointLocation", config.checkpoint(query_name))
        .queryName(query_name)
    )
    writer = layer.trigger(trigger, config).apply(writer)
    settings: dict[str, str] = {}
    if layer.state_partitions is not None:
        settings[SHUFFLE_PARTITIONS] = str(layer.state_partitions(config))
    previous: dict[str, str | None] = {name: spark.conf.get(name, None) for name in settings}
    pooled = not is_spark_connect(spark)
    context = spark.sparkContext if pooled else None
    previous_pool = context.getLocalProperty(SCHEDULER_POOL) if context else None
    try:
        for name, value in settings.items():
            spark.conf.set(name, value)
        if context is not None:
            context.setLocalProperty(SCHEDULER_POOL, layer.name)  # the query's thread inherits
        return writer.start()
    finally:
        for name, before in previous.items():
            if before is None:
                spark.conf.unset(name)
            else:
                spark.conf.set(name, before)
        if context is not None:
            context.setLocalProperty(SCHEDULER_POOL, previous_pool)  # type: ignore[arg-type]
