"""Table I/O: the stream reader of Delta tables, and the writes of a micro-batch. Every write a
batch makes goes through its `MicroBatch`, which names the stream (its query id, which its
checkpoint keeps) and the batch: appends and whole-table replacements are keyed by both, so a
batch re-run after a crash adds nothing twice while a new checkpoint's batch 0 is not mistaken
for the old one's; MERGEs replace a recomputed scope whole, which a re-run repeats harmlessly.
Each write is also a point where a crash test may kill the run (`faults.kill_at_write`)."""

from __future__ import annotations

import json
import logging
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlparse

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming.readwriter import DataStreamWriter

from ad_marketing_pipeline.config import FaultsConfig, TriggerConfig
from ad_marketing_pipeline.spark import is_spark_connect

log = logging.getLogger(__name__)

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
    files and about `trigger.max_bytes_per_batch` bytes per micro-batch, whichever comes first
    (availableNow honours the bounds too, in several batches)."""
    return (
        spark.readStream.option("maxFilesPerTrigger", trigger.max_files_per_batch)
        .option("maxBytesPerTrigger", trigger.max_bytes_per_batch)
        .table(table_name)
    )


def streaming_query_id(spark: SparkSession, checkpoint: str) -> str:
    """Id of the streaming query running this micro-batch. Spark keeps it in the checkpoint
    (`metadata`), so it survives restarts from the same checkpoint and is new with a new one."""
    if not is_spark_connect(spark):
        query_id = spark.sparkContext.getLocalProperty("sql.streaming.queryId")
        if query_id:
            return str(query_id)
    path = f"{checkpoint.rstrip('/')}/metadata"
    location = urlparse(path)
    if location.scheme in ("", "file"):
        # A local checkpoint (tests, the demo) is read directly: Spark caches a path's listing
        # per session, so it could read a rewritten file with its old length.
        with open(location.path, encoding="utf-8") as handle:
            query_id = json.loads(handle.readline() or "{}").get("id")
    else:
        row = spark.read.json(path).first()
        query_id = row["id"] if row is not None else None
    if not query_id:
        raise RuntimeError(f"no streaming query id in the checkpoint {checkpoint}")
    return str(query_id)


@dataclass
class MicroBatch:
    """One micro-batch of a layer's stream and the writes it makes. Appends are keyed by the
    stream (query id) and the batch: Delta skips an append it has already committed, so a batch
    re-run after a crash adds nothing twice, and a new checkpoint (a new query id) never has its
    batches taken for the old one's. Every write goes through `before_write`, where a crash
    test may kill the process (`faults.kill_at_write`)."""

    layer: str
    query_id: str
    batch_id: int
    faults: FaultsConfig = field(default_factory=FaultsConfig)
    writes: int = 0

    @classmethod
    def of(
        cls, layer: str, batch: DataFrame, batch_id: int, checkpoint: str, faults: FaultsConfig
    ) -> MicroBatch:
        query_id = streaming_query_id(batch.sparkSession, checkpoint)
        return cls(layer, query_id, batch_id, faults)

    def writer_id(self, table_name: str, step: str = "") -> str:
        """The idempotency key of this stream's appends to `table_name` (per `step` when one
        batch appends to the table more than once)."""
        return "/".join(part for part in (table_name, self.layer, self.query_id, step) if part)

    def before_write(self) -> None:
        self.writes += 1
        self._fault_point(self.writes)

    def finish(self) -> None:
        """The batch's writes are done (its checkpoint commit comes next)."""
        self._fault_point(self.writes + 1)

    def append(self, frame: DataFrame, table_name: str, step: str = "") -> None:
        """Append `frame` once per (stream, batch, table, step)."""
        self.before_write()
        append_once(
            frame, table_name, writer_id=self.writer_id(table_name, step), batch_id=self.batch_id
        )

    def upsert_by_keys(
        self,
        frame: DataFrame,
        table_name: str,
        keys: Sequence[str],
        *,
        delete_missing_in: str | None = None,
    ) -> None:
        """`upsert_by_keys` as one of this batch's writes (a MERGE: a re-run repeats it)."""
        self.before_write()
        upsert_by_keys(frame, table_name, keys, delete_missing_in=delete_missing_in)

    def replace_keys(
        self, recomputed: DataFrame, affected_keys: DataFrame, table_name: str, keys: Sequence[str]
    ) -> None:
        """`replace_keys` as one of this batch's writes (a MERGE: a re-run repeats it)."""
        self.before_write()
        replace_keys(recomputed, affected_keys, table_name, keys)

    def overwrite_table(self, frame: DataFrame, table_name: str, columns: list[str]) -> None:
        """`overwrite_table` as one of this run's writes (a full rebuild, rerun after a crash)."""
        self.before_write()
        overwrite_table(frame, table_name, columns)

    def replace_all_once(self, frame: DataFrame, table_name: str) -> None:
        """Replace a table's rows with `frame` once per (stream, batch): Delta skips the
        overwrite of a batch it has already committed, as it does an append."""
        self.before_write()
        (
            frame.writeTo(table_name)
            .option("txnAppId", self.writer_id(table_name))
            .option("txnVersion", self.batch_id)
            .overwrite(F.lit(True))
        )

    def _fault_point(self, write: int) -> None:
        if self.faults.kill_at_write != f"{self.layer}:{write}":
            return
        if self.faults.action == "raise":
            raise InjectedFaultError(
                f"fault injection: {self.layer} batch stopped before write {write}"
            )
        log.warning("fault injection: killing the run at %s write %d", self.layer, write)
        os.killpg(os.getpgrp(), signal.SIGKILL)


class InjectedFaultError(RuntimeError):
    """A micro-batch stopped by `faults.kill_at_write` with `faults.action: raise`."""


# Appended files hold at most this many rows, so that a stream reading the table in batches of
# about trigger.max_bytes_per_batch can split a large append (a backlog Bronze read in one
# batch) into several batches rather than one file's worth.
MAX_ROWS_PER_FILE = 100_000


def append_once(frame: DataFrame, table_name: str, *, writer_id: str, batch_id: int) -> None:
    """Append a micro-batch's rows exactly once: Delta skips a (writer_id, batch_id) it has
    already committed, so re-running a batch after a crash adds nothing twice."""
    (
        frame.write.format("delta")
        .mode("append")
        .option("maxRecordsPerFile", MAX_ROWS_PER_FILE)
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
