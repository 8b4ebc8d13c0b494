"""Records a layer cannot process: found, set aside in ops_dead_letters with the error, and left
out, so the micro-batch completes and the layer keeps moving.

Silver quarantines what breaks the contract, so a record reaching Gold or attribution is valid;
still, a record the layer's computation fails on (a data error: SQLSTATE class 22, such as a
numeric overflow or a datetime out of range, or a value the driver cannot hold, such as a
timestamp before year 1 that an earlier version let into Silver) would fail its micro-batch at
every retry and stall the layer for good. `process_isolating` runs the batch; on a data error
it bisects the batch's events to find those whose processing fails, hands them back with the
error, and processes the rest without them; `set_aside` writes them to ops_dead_letters. The
layer leaves dead-lettered events out of every later read of Silver too (`dead_lettered_ids`),
so they never poison a recomputation again.

Any other error (a lost executor, a bug) fails the batch as before: retrying may cure it.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType

from ad_marketing_pipeline.frames import local_frame, schema_of
from ad_marketing_pipeline.io import MicroBatch

_DATA_ERROR_STATE = re.compile(r"SQLSTATE: 22[0-9A-Z]{3}")
_SPARK_TYPES = "pyspark/sql/types.py"  # where Spark values become Python ones
_REASON_LENGTH = 2_000
# (`dead_letter_reason`: Silver has a `reason` of its own, a cancellation's)
_REASONS = schema_of(event_id=StringType(), dead_letter_reason=StringType())

# Runs a layer's work on some of a batch's events, leaving the given event ids out of Silver.
Process = Callable[[DataFrame, frozenset[str]], None]
# A layer's work on a micro-batch's events, leaving the given event ids out of Silver.
BatchProcess = Callable[[DataFrame, frozenset[str], MicroBatch], None]


def is_data_error(error: BaseException) -> bool:
    """Whether Spark failed on the data (SQLSTATE class 22), or a value Spark holds could not
    become a Python value on the driver (a timestamp before year 1), not the machine or code."""
    if isinstance(error, ValueError | OverflowError) and any(
        frame.filename.endswith(_SPARK_TYPES) for frame in traceback.extract_tb(error.__traceback__)
    ):
        return True
    sql_state = getattr(error, "getSqlState", None)
    if callable(sql_state):
        try:
            state = sql_state()
        except Exception:  # a py4j error object may not answer
            state = None
        if isinstance(state, str) and state.startswith("22"):
            return True
    return _DATA_ERROR_STATE.search(str(error)) is not None


def error_reason(error: BaseException) -> str:
    """The first line of an error, as a dead letter's reason."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    first = next((line for line in lines if "SQLSTATE: 22" in line), lines[0] if lines else "")
    return f"{type(error).__name__}: {first}"[:_REASON_LENGTH]


def excluding(events: DataFrame, excluded: frozenset[str]) -> DataFrame:
    """`events` without the dead-lettered ones."""
    if not excluded:
        return events
    return events.filter(~F.col("event_id").isin(*sorted(excluded)))


def process_isolating(
    changed: DataFrame,
    process: Process,
    excluded: frozenset[str],
) -> dict[str, str]:
    """Run `process` on the batch's events (`changed`, with an `event_id` column); on a data
    error, bisect them and return the events whose processing fails (event id -> reason) after
    processing all the others. Empty when the batch went through."""
    try:
        process(changed, excluded)
        return {}
    except Exception as error:
        if not is_data_error(error):
            raise
    ids = sorted(row["event_id"] for row in changed.select("event_id").distinct().collect())
    poison: dict[str, str] = {}

    def settle(part: list[str]) -> None:
        left_out = excluded | frozenset(poison)
        try:
            process(changed.filter(F.col("event_id").isin(*part)), left_out)
        except Exception as error:
            if not is_data_error(error):
                raise
            if len(part) == 1:
                poison[part[0]] = error_reason(error)
                return
            middle = len(part) // 2
            settle(part[:middle])
            settle(part[middle:])

    settle(ids)
    return poison


def dead_lettered_ids(spark: SparkSession, table: str, layer: str) -> frozenset[str]:
    """The events `layer` has set aside."""
    rows = spark.table(table).filter(F.col("layer") == layer).select("event_id").collect()
    return frozenset(row["event_id"] for row in rows)


def set_aside(batch: MicroBatch, silver: DataFrame, poison: dict[str, str], table: str) -> None:
    """Append the poison events' Silver rows to the dead-letter table with their reasons (once
    per stream and batch)."""
    if not poison:
        return
    reasons = local_frame(silver.sparkSession, sorted(poison.items()), _REASONS)
    rows = silver.join(F.broadcast(reasons), "event_id").select(
        F.lit(batch.layer).alias("layer"),
        F.lit(batch.query_id).alias("query_id"),
        F.lit(batch.batch_id).cast("bigint").alias("batch_id"),
        "event_id",
        "event_type",
        F.col("dead_letter_reason").alias("reason"),
        F.to_json(F.struct(*(F.col(name) for name in silver.columns))).alias("record"),
        F.lit(datetime.now(UTC).replace(tzinfo=None)).alias("dead_lettered_at"),
    )
    batch.append(rows, table, step="dead_letters")


@dataclass
class DeadLetteringWriter:
    """The micro-batch writer of a layer that reads Silver's stream (Gold, attribution): it tells
    `start` (when given) of the whole batch, runs `process` on the batch's events (`columns` of
    them, all when empty), sets aside in
    `dead_letters` the events the processing fails on (`process_isolating`), leaves them out
    from then on, and finishes the batch."""

    layer: str
    process: BatchProcess
    silver_table: str
    dead_letters: str
    columns: Sequence[str] = ()
    start: Callable[[DataFrame], None] | None = None  # told of each whole batch first
    dead_lettered: frozenset[str] | None = None  # read at the first batch

    def __call__(self, batch: DataFrame, micro: MicroBatch) -> None:
        spark = batch.sparkSession
        if self.dead_lettered is None:
            self.dead_lettered = dead_lettered_ids(spark, self.dead_letters, self.layer)
        # Persisted: the layer reads the batch several times, and it is scanned once only
        # (which also keeps the batch's observed metrics, see ops.observe_batch, exact).
        events = (batch.select(*self.columns) if self.columns else batch).persist()
        try:
            if self.start is not None:
                self.start(events)
            poison = process_isolating(
                events,
                lambda rows, left_out: self.process(rows, left_out, micro),
                self.dead_lettered,
            )
            set_aside(micro, spark.table(self.silver_table), poison, self.dead_letters)
            self.dead_lettered |= frozenset(poison)
            micro.finish()
        finally:
            events.unpersist()
