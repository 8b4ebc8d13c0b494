"""The bronze_ad_events -> silver_ad_events / silver_quarantine stream (foreachBatch, because
de-duplicating against the whole table cannot stream).

Each micro-batch is parsed and validated (`transforms`), its events whose event_id Silver does not
have yet are inserted, the rest of its records quarantined with their reasons (a record whose
source position quarantine already holds is not added twice), and its counts recorded in
ops_data_quality. Quarantine is checked at the batch's own source positions (offset ranges per
partition), not read whole. Event ids are checked against the stored events stamped on the batch's
event days, give or take `quality.duplicate_window_days` (`duplicate_scope`): the days a batch
touches, found by file statistics, not all of history. Every append is keyed by the stream and the
batch (`MicroBatch`), so a batch re-run after a crash changes nothing; and the batch is checked
against rows other batches wrote only, so a re-run counts the same inserted and duplicate rows as
the first run did, and a new checkpoint re-reading Bronze counts what Silver holds as duplicates.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ad_marketing_pipeline.bronze.transforms import source_time
from ad_marketing_pipeline.config import PipelineConfig, TableKey
from ad_marketing_pipeline.frames import local_frame, utc_day
from ad_marketing_pipeline.io import MicroBatch, read_table_stream
from ad_marketing_pipeline.ops import observe_batch
from ad_marketing_pipeline.runtime import Runtime
from ad_marketing_pipeline.silver.transforms import (
    OffsetRange,
    duplicate_scope,
    first_received_per_event,
    not_stored_before,
    parse_payloads,
    position_scope,
    split_invalid,
    to_quarantine,
    to_silver_events,
    validate,
)
from ad_marketing_pipeline.streams import BatchWriter, Layer
from ad_marketing_pipeline.tables import (
    BRONZE_EVENTS,
    DATA_QUALITY_SCHEMA,
    OPS_DATA_QUALITY,
    SILVER_EVENTS,
    SILVER_QUARANTINE,
)

_POSITION_COLUMNS = ("source_kind", "topic", "partition", "offset", "file_path")


def _not_from(batch: MicroBatch) -> Column:
    """Rows of a table not written by this micro-batch (of this stream)."""
    return ~(
        F.col("silver_query_id").eqNullSafe(batch.query_id)
        & F.col("silver_batch_id").eqNullSafe(batch.batch_id)
    )


def read_silver_input(runtime: Runtime) -> DataFrame:
    """The rows appended to bronze_ad_events."""
    config = runtime.config
    bronze = read_table_stream(runtime.spark, config.table(TableKey.BRONZE_EVENTS), config.trigger)
    return observe_batch(bronze, source_time())


def read_silver_events(runtime: Runtime) -> DataFrame:
    """The rows appended to silver_ad_events, as a stream (what Gold and attribution read)."""
    config = runtime.config
    silver = read_table_stream(runtime.spark, config.table(TableKey.SILVER_EVENTS), config.trigger)
    return observe_batch(silver, F.col("event_time"))


def new_quarantined_records(invalid: DataFrame, known: DataFrame) -> DataFrame:
    """The invalid records as quarantine rows, less those quarantine already holds (`known`).
    Only a record with a known position (a Kafka offset, a file's line) can be recognised as
    one quarantine already holds (a source read again); it then counts as a duplicate, like a
    valid record Silver already has."""
    seen_before = reduce(
        Column.__and__,
        (F.col(f"q.{name}").eqNullSafe(F.col(f"k.{name}")) for name in _POSITION_COLUMNS),
        F.col("q.offset").isNotNull(),
    )
    return (
        invalid.transform(to_quarantine)
        .alias("q")
        .join(known.select(*_POSITION_COLUMNS).alias("k"), seen_before, "left_anti")
    )


def stored_events_near(
    silver: DataFrame, event_days: Sequence[int], window_days: int, micro: MicroBatch
) -> DataFrame:
    """The stored events (event_id, event_time) a batch whose events fall on `event_days` can
    hold copies of: those stamped within `window_days` of them (`duplicate_scope`, which Delta
    answers from file statistics), less the rows this very batch wrote (so a re-run counts
    what the first run counted)."""
    return (
        silver.filter(duplicate_scope(event_days, window_days))
        .filter(_not_from(micro))
        .select("event_id", "event_time")
    )


def offset_ranges(records: DataFrame) -> list[OffsetRange]:
    """The offset range of `records` (Bronze's shape) in each source partition, sorted; records
    without an offset have no position and are left out."""
    rows = (
        records.filter(F.col("offset").isNotNull())
        .groupBy("topic", "partition")
        .agg(F.min("offset").alias("first"), F.max("offset").alias("last"))
        .collect()
    )
    ranges = [OffsetRange(r["topic"], r["partition"], r["first"], r["last"]) for r in rows]
    return sorted(ranges, key=lambda r: (r.topic or "", -1 if r.partition is None else r.partition))


def quarantined_near(quarantine: DataFrame, invalid: DataFrame, micro: MicroBatch) -> DataFrame:
    """The quarantined records (their positions) a batch's `invalid` records can be copies of:
    those at the batch's offsets in the same source partitions (`position_scope`, which Delta
    answers from file statistics), less the rows this very batch wrote."""
    return (
        quarantine.filter(position_scope(offset_ranges(invalid)))
        .filter(_not_from(micro))
        .select(*_POSITION_COLUMNS)
    )


def silver_writer(config: PipelineConfig) -> BatchWriter:
    """The Silver micro-batch writer (see the module's docstring)."""
    silver_table = config.table(TableKey.SILVER_EVENTS)
    quarantine_table = config.table(TableKey.SILVER_QUARANTINE)
    quality_table = config.table(TableKey.OPS_DATA_QUALITY)

    def write(batch: DataFrame, micro: MicroBatch) -> None:
        spark = batch.sparkSession
        written_by = {
            "silver_query_id": F.lit(micro.query_id),
            "silver_batch_id": F.lit(micro.batch_id).cast("bigint"),
        }
        validated = batch.transform(parse_payloads).transform(validate(config.quality)).persist()
        try:
            is_valid = F.size("reasons") == 0
            counts = validated.agg(
                F.count(F.lit(1)).alias("input_rows"),
                F.count_if(is_valid).alias("valid_rows"),
                F.collect_set(F.when(is_valid, utc_day(F.col("event.timestamp")))).alias(
                    "event_days"
                ),
            ).first()
            assert counts is not None
            input_rows, valid_rows = int(counts["input_rows"]), int(counts["valid_rows"])
            event_days = [int(day) for day in counts["event_days"]]
            valid, invalid = split_invalid(validated)
            events = first_received_per_event(valid.transform(to_silver_events)).withColumns(
                written_by
            )
            window_days = config.quality.duplicate_window_days
            stored = stored_events_near(spark.table(silver_table), event_days, window_days, micro)
            new_events = not_stored_before(events, stored, window_days).persist()
            try:
                inserted = new_events.count()
                micro.append(new_events, silver_table)
            finally:
                new_events.unpersist()
            by_reason: dict[str, int] = {}
            quarantined_rows = 0
            if input_rows > valid_rows:
                known = quarantined_near(spark.table(quarantine_table), invalid, micro)
                new_quarantined = (
                    new_quarantined_records(invalid, known).withColumns(written_by).persist()
                )
                try:
                    micro.append(new_quarantined, quarantine_table)
                    # One pass: the rows per set of reasons, added up per reason and in all.
                    for row in (
                        new_quarantined.groupBy(F.array_distinct("reason_codes").alias("codes"))
                        .agg(F.count(F.lit(1)).alias("rows"))
                        .collect()
                    ):
                        quarantined_rows += row["rows"]
                        for code in row["codes"] or ():
                            by_reason[code] = by_reason.get(code, 0) + row["rows"]
                finally:
                    new_quarantined.unpersist()
            quality_row = local_frame(
                spark,
                [
                    (
                        "silver",
                        micro.batch_id,
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


SILVER = Layer(
    name="silver",
    tables=(BRONZE_EVENTS, SILVER_EVENTS, SILVER_QUARANTINE, OPS_DATA_QUALITY),
    read=read_silver_input,
    writer=silver_writer,
)
