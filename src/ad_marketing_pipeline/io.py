"""Table I/O: the stream reader of Delta tables, one writer for streams and batches (taking
target, checkpoint and trigger), and idempotent micro-batch appends and merges."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import pyarrow as pa
from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.streaming.query import StreamingQuery
from pyspark.sql.streaming.readwriter import DataStreamWriter
from pyspark.sql.types import (
    ArrayType,
    DataType,
    MapType,
    StructField,
    StructType,
    TimestampType,
)

from ad_marketing_pipeline.config import TriggerConfig

TriggerMode = Literal["once", "continuous"]


@dataclass(frozen=True)
class StreamTrigger:
    """availableNow (process what is there, then stop) or a processing-time interval."""

    processing_time: str | None = None

    @property
    def continuous(self) -> bool:
        return self.processing_time is not None

    def apply(self, writer: DataStreamWriter) -> DataStreamWriter:
        if self.processing_time is not None:
            return writer.trigger(processingTime=self.processing_time)
        return writer.trigger(availableNow=True)


def stream_trigger(trigger: TriggerConfig, mode: TriggerMode | None = None) -> StreamTrigger:
    """The trigger of a run: `once` is availableNow, `continuous` the configured interval;
    without `mode` the configured trigger mode decides."""
    continuous = mode == "continuous" or (mode is None and trigger.mode == "processing_time")
    return StreamTrigger(trigger.processing_time if continuous else None)


def read_table_stream(spark: SparkSession, table_name: str, trigger: TriggerConfig) -> DataFrame:
    """A stream of the rows appended to a Delta table, at most `trigger.max_files_per_batch`
    files per micro-batch (availableNow honours the bound too, in several batches)."""
    return spark.readStream.option("maxFilesPerTrigger", trigger.max_files_per_batch).table(
        table_name
    )


def append_to_table(
    frame: DataFrame,
    table_name: str,
    *,
    checkpoint: str | None = None,
    trigger: StreamTrigger = StreamTrigger(),
    query_name: str | None = None,
) -> StreamingQuery | None:
    """Append `frame` to a Delta table: a stream with its checkpoint and trigger (returns the
    started query), or a batch (returns None)."""
    if not frame.isStreaming:
        frame.write.format("delta").mode("append").saveAsTable(table_name)
        return None
    if checkpoint is None:
        raise ValueError(f"a stream into {table_name} needs a checkpoint location")
    writer = (
        frame.writeStream.format("delta")
        .outputMode("append")
        .option("checkpointLocation", checkpoint)
    )
    writer = trigger.apply(writer)
    if query_name:
        writer = writer.queryName(query_name)
    return writer.toTable(table_name)


def append_once(frame: DataFrame, table_name: str, *, writer_id: str, batch_id: int) -> None:
    """Append a micro-batch's rows exactly once: Delta skips a (writer_id, batch_id) it has
    already committed, so re-running a batch after a crash adds nothing twice."""
    (
        frame.write.format("delta")
        .mode("append")
        .option("txnAppId", writer_id)
        .option("txnVersion", batch_id)
        .saveAsTable(table_name)
    )


def upsert_by_keys(
    frame: DataFrame, table_name: str, keys: Sequence[str], *, delete_missing_in: str | None = None
) -> None:
    """MERGE `frame` into a Delta table on `keys`: matched rows are replaced, new rows inserted.

    A MERGE whose every matched row gets the same new values is idempotent, so a micro-batch
    re-run after a crash leaves the table as the first run did. With `delete_missing_in`, a SQL
    condition on the target's columns (e.g. `t.advertiser IN ('a', 'b')`), rows of that scope
    that `frame` no longer has are deleted: the way to replace a recomputed slice whole.
    """
    target = DeltaTable.forName(frame.sparkSession, table_name)
    matches = " AND ".join(f"t.`{key}` <=> s.`{key}`" for key in keys)
    merge = (
        target.alias("t")
        .merge(frame.alias("s"), matches)
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
    )
    if delete_missing_in is not None:
        merge = merge.whenNotMatchedBySourceDelete(condition=delete_missing_in)
    merge.execute()


def replace_keys(
    recomputed: DataFrame, affected_keys: DataFrame, table_name: str, keys: Sequence[str]
) -> None:
    """One MERGE that upserts `recomputed` on `keys` and deletes the rows of `affected_keys`
    (a scope of keys that was recomputed) that `recomputed` no longer has: the scope is replaced
    whole, atomically, and a re-run micro-batch changes nothing more."""
    present = "_recomputed"
    source = (
        affected_keys.select(*keys)
        .distinct()
        .join(recomputed.withColumn(present, F.lit(True)), list(keys), "full")
    )
    columns: dict[str, str | Column] = {name: f"s.`{name}`" for name in recomputed.columns}
    matches = " AND ".join(f"t.`{key}` <=> s.`{key}`" for key in keys)
    # MERGE reads its source more than once; when the source reads the target (a scope of its
    # current rows), computing it once keeps both reads the same.
    source.persist()
    try:
        (
            DeltaTable.forName(recomputed.sparkSession, table_name)
            .alias("t")
            .merge(source.alias("s"), matches)
            .whenMatchedDelete(condition=f"s.{present} IS NULL")
            .whenMatchedUpdate(set=columns)
            .whenNotMatchedInsert(condition=f"s.{present} IS NOT NULL", values=columns)
            .execute()
        )
    finally:
        source.unpersist()


# ---------------------------------------------------------------------------------------------
# Small frames of driver-side rows
# ---------------------------------------------------------------------------------------------


def _arrow_value(value: Any, data_type: DataType) -> Any:
    """A Python value as pyarrow takes it for `data_type`: structs as dicts (from a Row, a
    tuple or a mapping), maps as (key, value) pairs, naive timestamps as the local time they
    stand for (as Spark's own conversion reads them)."""
    if value is None:
        return None
    converted = value
    if isinstance(data_type, StructType):
        fields = data_type.fields
        items = [value.get(f.name) for f in fields] if isinstance(value, Mapping) else list(value)
        converted = {
            f.name: _arrow_value(item, f.dataType) for f, item in zip(fields, items, strict=True)
        }
    elif isinstance(data_type, ArrayType):
        converted = [_arrow_value(item, data_type.elementType) for item in value]
    elif isinstance(data_type, MapType):
        converted = [
            (_arrow_value(key, data_type.keyType), _arrow_value(item, data_type.valueType))
            for key, item in dict(value).items()
        ]
    elif isinstance(data_type, TimestampType) and isinstance(value, datetime):
        converted = value.astimezone(UTC)
    return converted


def schema_of(**columns: DataType) -> StructType:
    """A schema of nullable columns, in the order given: `schema_of(event_id=StringType())`."""
    return StructType([StructField(name, data_type) for name, data_type in columns.items()])


def local_frame(
    spark: SparkSession, rows: Iterable[Sequence[Any] | Mapping[str, Any]], schema: StructType
) -> DataFrame:
    """A small DataFrame of rows held by the driver (tuples, Rows or dicts), sent to Spark as
    one Arrow table. Spark's createDataFrame of a Python list becomes a Python RDD instead:
    every job that reads it then waits for a Python worker, about half a second each on a small
    machine: a second of each serving micro-batch, and many seconds of Gold's."""
    records = [_arrow_value(row, schema) for row in rows]
    table = pa.Table.from_pylist(records, schema=to_arrow_schema(schema))
    return spark.createDataFrame(table, schema=schema)
