"""Silver on the real stack: generated landing files through Bronze and Silver, reconciled."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from ad_marketing_pipeline.config import PipelineConfig, TableKey
from ad_marketing_pipeline.devtools.generator import (
    GeneratorSettings,
    generate_lines,
    write_landing_files,
)
from ad_marketing_pipeline.io import MicroBatch, StreamTrigger
from ad_marketing_pipeline.pipeline import run_layers
from ad_marketing_pipeline.provisioning import ensure_tables
from ad_marketing_pipeline.runtime import prepare_runtime
from ad_marketing_pipeline.silver.stream import SILVER, quarantined_near, stored_events_near
from ad_marketing_pipeline.streams import micro_batches
from ad_marketing_pipeline.tables import BRONZE_SCHEMA, QUARANTINE_SCHEMA
from events import append_to_silver, click, conversion
from helpers import assert_frames_equal, kill_run_after_batches, pipeline_config, write_conf

EXPECTED_CODE = {
    "not_json": "malformed_json",
    "truncated_json": "malformed_json",
    "empty_object": "unknown_event_type",
    "unknown_event_type": "unknown_event_type",
    "missing_required_field": "missing_required_field",
    "negative_amount": "negative_value",
    "unparsable_timestamp": "unparsable_timestamp",
    "bad_currency": "invalid_currency",
    "wrong_type": "wrong_type",
}
SETTINGS = GeneratorSettings(
    events=6_000,
    advertisers=8,
    days=3,
    malformed_share=0.05,
    duplicate_share=0.05,
    events_per_file=1_000,
)


def silver_config(root: Path) -> PipelineConfig:
    return pipeline_config(root, "silver", source={"kind": "files", "max_files_per_trigger": 2})


def run_once(spark: SparkSession, config: PipelineConfig) -> None:
    run_layers(prepare_runtime(spark, config, environ={}), ["bronze", "silver"], StreamTrigger())


@pytest.mark.slow
def test_every_bronze_record_is_in_silver_quarantine_or_counted_duplicate(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = silver_config(tmp_path)
    summary = write_landing_files(SETTINGS, Path(config.landing_path))

    run_once(spark, config)

    bronze = spark.table(config.table(TableKey.BRONZE_EVENTS))
    silver = spark.table(config.table(TableKey.SILVER_EVENTS))
    quarantine = spark.table(config.table(TableKey.SILVER_QUARANTINE))
    quality = spark.table(config.table(TableKey.OPS_DATA_QUALITY))
    totals = quality.agg(
        *(
            F.sum(name).alias(name)
            for name in ("input_rows", "inserted_rows", "duplicate_rows", "quarantined_rows")
        )
    ).first()
    assert totals is not None
    assert bronze.count() == totals["input_rows"] == SETTINGS.events
    assert silver.count() == totals["inserted_rows"] == summary.valid_lines
    assert quarantine.count() == totals["quarantined_rows"] == sum(summary.malformed.values())
    assert totals["duplicate_rows"] == summary.duplicates
    per_batch = quality.filter(
        F.col("input_rows")
        != F.col("inserted_rows") + F.col("duplicate_rows") + F.col("quarantined_rows")
    )
    assert per_batch.count() == 0
    assert silver.select("event_id").distinct().count() == silver.count()

    # Each injected kind of bad record is quarantined for the expected reason, and nothing else is.
    kinds = spark.createDataFrame(
        [(line.text, line.kind) for line in generate_lines(SETTINGS) if line.kind in EXPECTED_CODE],
        "payload string, kind string",
    ).distinct()
    assert quarantine.join(kinds, "payload", "left_anti").count() == 0
    labelled = quarantine.select("payload", "reason_codes").distinct().join(kinds, "payload")
    for row in labelled.collect():
        assert EXPECTED_CODE[row["kind"]] in row["reason_codes"], row


@pytest.mark.slow
def test_replaying_the_input_leaves_silver_unchanged(spark: SparkSession, tmp_path: Path) -> None:
    config = silver_config(tmp_path)
    landing = Path(config.landing_path)
    write_landing_files(SETTINGS.model_copy(update={"events": 2_000}), landing)
    run_once(spark, config)
    stable_columns = [
        c
        for c in spark.table(config.table(TableKey.SILVER_EVENTS)).columns
        if c
        not in (
            "processed_at",
            "ingested_at",
            "file_path",
            "ingest_year",
            "ingest_month",
            "ingest_day",
            "ingest_hour",
        )
    ]
    before = (
        spark.table(config.table(TableKey.SILVER_EVENTS)).select(*stable_columns).localCheckpoint()
    )

    for path in sorted(landing.glob("events-*.jsonl")):
        shutil.copy(path, landing / f"replay-{path.name}".replace("replay-events", "events-replay"))
    run_once(spark, config)

    assert spark.table(config.table(TableKey.BRONZE_EVENTS)).count() == 4_000
    after = spark.table(config.table(TableKey.SILVER_EVENTS)).select(*stable_columns)
    assert_frames_equal(after, before)


def bronze_batch(spark: SparkSession, lines: list[str]) -> DataFrame:
    """Bronze rows of landing-file lines (one micro-batch of Silver's input), ingested now."""
    return (
        spark.createDataFrame([(line,) for line in lines], "payload string")
        .select(
            "payload",
            *(
                F.lit(None).cast(field.dataType).alias(field.name)
                for field in BRONZE_SCHEMA.fields
                if field.name != "payload"
            ),
        )
        .withColumns({"source_kind": F.lit("files"), "ingested_at": F.current_timestamp()})
    )


def silver_batch_writer(
    spark: SparkSession, config: PipelineConfig
) -> Callable[[DataFrame, int], None]:
    """Silver's micro-batch writer on fresh tables, as its stream calls it."""
    ensure_tables(prepare_runtime(spark, config, environ={}), SILVER.tables)
    # The stream's checkpoint names it (Spark writes this file when a query first starts).
    checkpoint = Path(config.checkpoint("silver"))
    checkpoint.mkdir(parents=True)
    (checkpoint / "metadata").write_text('{"id":"4b6f4c3e-0000-4000-8000-000000000007"}\n')
    return micro_batches(SILVER, config)


def test_a_batch_written_twice_changes_nothing(spark: SparkSession, tmp_path: Path) -> None:
    config = silver_config(tmp_path)
    write = silver_batch_writer(spark, config)
    lines = [line.text for line in generate_lines(SETTINGS.model_copy(update={"events": 500}))]
    batch = bronze_batch(spark, lines)

    write(batch, 7)
    tables = (TableKey.SILVER_EVENTS, TableKey.SILVER_QUARANTINE, TableKey.OPS_DATA_QUALITY)
    first = {name: spark.table(config.table(name)).count() for name in tables}
    write(batch, 7)  # the same batch again, as after a crash before the checkpoint commit

    assert {name: spark.table(config.table(name)).count() for name in tables} == first
    quality = spark.table(config.table(TableKey.OPS_DATA_QUALITY)).first()
    assert quality is not None
    assert quality["input_rows"] == 500
    assert quality["inserted_rows"] == first[TableKey.SILVER_EVENTS]
    assert quality["quarantined_rows"] == first[TableKey.SILVER_QUARANTINE]


def test_copies_are_duplicates_within_the_window_and_events_of_their_own_beyond_it(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = silver_config(tmp_path)  # quality.duplicate_window_days: 1 (the default)
    assert config.quality.duplicate_window_days == 1
    write = silver_batch_writer(spark, config)
    day = datetime(2026, 3, 10, 10, tzinfo=UTC)
    stored = [
        click("c-same", at=day),
        click("c-next-day", at=day),
        click("c-far", at=day),
        conversion("v-old", at=day - timedelta(days=40)),
    ]
    copies = [
        click("c-same", at=day),  # a replay: the same record
        click("c-next-day", at=day + timedelta(days=1, hours=13)),  # the next day: in the window
        click("c-far", at=day + timedelta(days=3)),  # three days later: beyond it
        conversion("v-old", at=day - timedelta(days=40)),  # a replay of a 40-day-old event
    ]

    write(bronze_batch(spark, [event.line() for event in stored]), 0)
    write(bronze_batch(spark, [event.line() for event in copies]), 1)

    quality = spark.table(config.table(TableKey.OPS_DATA_QUALITY))
    second = quality.filter("batch_id = 1").first()
    assert second is not None
    assert (second["input_rows"], second["inserted_rows"], second["duplicate_rows"]) == (4, 1, 3)
    silver = spark.table(config.table(TableKey.SILVER_EVENTS))
    copies_of = silver.groupBy("event_id").count().filter("count > 1").collect()
    assert [(row["event_id"], row["count"]) for row in copies_of] == [(copies[2].event_id, 2)]


def test_the_duplicate_check_reads_only_the_days_its_batch_touches(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = silver_config(tmp_path)
    ensure_tables(prepare_runtime(spark, config, environ={}), SILVER.tables)
    table = config.table(TableKey.SILVER_EVENTS)
    first_day = datetime(2026, 2, 1, 9, tzinfo=UTC)
    history = {
        offset: [click(f"c-{offset}-{n}", at=first_day + timedelta(days=offset)) for n in range(3)]
        for offset in range(12)
    }
    for events in history.values():  # one file per day, as a day's micro-batches write them
        append_to_silver(spark, table, events)
    batch_day = (first_day + timedelta(days=6) - datetime(1970, 1, 1, tzinfo=UTC)).days
    micro = MicroBatch("silver", "another-stream", 0)

    known = stored_events_near(spark.table(table), [batch_day], 1, micro)
    execution = known._jdf.queryExecution()
    rows = known.collect()

    expected = [event.event_id for offset in (5, 6, 7) for event in history[offset]]
    assert sorted(row["event_id"] for row in rows) == sorted(expected)
    assert files_read(execution) == 3  # of 12


def test_the_quarantine_check_reads_only_the_positions_its_batch_holds(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = silver_config(tmp_path)
    ensure_tables(prepare_runtime(spark, config, environ={}), SILVER.tables)
    table = config.table(TableKey.SILVER_QUARANTINE)

    def record(topic: str | None, partition: int | None, offset: int | None) -> Row:
        given = {
            "payload": "{",
            "source_kind": "kafka" if topic else "files",
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "file_path": None if topic else "/landing/a.jsonl",
            "ingested_at": datetime(2026, 2, 1, tzinfo=UTC),
            "silver_query_id": "q",
            "silver_batch_id": 1,
        }
        return Row(*(given.get(name) for name in QUARANTINE_SCHEMA.fieldNames()))

    for file in range(12):  # one file per earlier batch: 10 offsets of partition 0, 10 of 1
        rows = [record("t", p, file * 10 + n) for p in (0, 1) for n in range(10)]
        spark.createDataFrame(rows, QUARANTINE_SCHEMA).write.format("delta").mode(
            "append"
        ).saveAsTable(table)
    spark.createDataFrame([record(None, None, 55)], QUARANTINE_SCHEMA).write.format("delta").mode(
        "append"
    ).saveAsTable(table)
    invalid = spark.createDataFrame(
        [record("t", 0, 51), record("t", 0, 58), record(None, None, 55), record(None, None, None)],
        QUARANTINE_SCHEMA,
    )
    micro = MicroBatch("silver", "another-stream", 0)

    known = quarantined_near(spark.table(table), invalid, micro)
    execution = known._jdf.queryExecution()
    positions = {(row["topic"], row["partition"], row["offset"]) for row in known.collect()}
    assert positions == {("t", 0, offset) for offset in range(51, 59)} | {(None, None, 55)}
    assert files_read(execution) == 2  # of 13


def files_read(execution: Any) -> int:
    """Files the scans of an executed query read (Spark's `numFiles` metric)."""
    leaves = execution.executedPlan().collectLeaves().iterator()
    read = 0
    while leaves.hasNext():
        metrics = leaves.next().metrics()
        if metrics.contains("numFiles"):
            read += int(metrics.get("numFiles").get().value())
    return read


def silver_columns_that_do_not_depend_on_when(frame: DataFrame) -> DataFrame:
    """Silver's events without the columns that say when, from which folder or in which batch
    a run stored them."""
    varying = {
        "processed_at",
        "ingested_at",
        "received_at",
        "silver_query_id",
        "silver_batch_id",
        "file_path",
    } | {c for c in frame.columns if c.startswith("ingest_")}
    return frame.select(*(c for c in frame.columns if c not in varying))


@pytest.mark.slow
def test_sigkill_during_silver_then_restart_equals_an_uninterrupted_run(
    spark: SparkSession, tmp_path: Path
) -> None:
    settings = SETTINGS.model_copy(update={"events": 2_000, "events_per_file": 400})
    conf = {
        "schema": "ad_marketing",
        "source": {"kind": "files", "max_files_per_trigger": 1},
        "trigger": {"max_files_per_batch": 1},
    }
    killed_root, reference_root = tmp_path / "killed", tmp_path / "reference"
    write_landing_files(settings, killed_root / "landing")
    write_conf(killed_root, conf)
    reference_schema = f"reference_{uuid.uuid4().hex[:10]}"
    reference = PipelineConfig.model_validate(
        {**conf, "env": "test", "schema": reference_schema, "paths": {"root": str(reference_root)}}
    )
    write_landing_files(settings, Path(reference.landing_path))
    # Files arrive in name order in both roots (equal modification times would leave the order
    # to the directory listing, and with it which copy of a duplicated event is received first).
    for landing in (killed_root / "landing", Path(reference.landing_path)):
        for number, path in enumerate(sorted(landing.glob("*.jsonl"))):
            os.utime(path, (1_700_000_000 + number, 1_700_000_000 + number))

    # `run --layers bronze,silver` killed during Silver, then `run --layers silver` to the end.
    kill_run_after_batches(killed_root, "bronze,silver", "silver", restart_layers="silver")
    run_layers(prepare_runtime(spark, reference, environ={}), ["bronze", "silver"], StreamTrigger())

    def killed(name: str) -> DataFrame:
        folder = killed_root / "warehouse" / "ad_marketing.db" / name
        return spark.read.format("delta").load(str(folder))

    def uninterrupted(key: str) -> DataFrame:
        return spark.table(reference.table(TableKey(key)))

    assert_frames_equal(
        silver_columns_that_do_not_depend_on_when(killed("silver_ad_events")),
        silver_columns_that_do_not_depend_on_when(uninterrupted("silver_events")),
    )
    assert_frames_equal(
        killed("silver_quarantine").select("payload", "reason_codes"),
        uninterrupted("silver_quarantine").select("payload", "reason_codes"),
    )
    totals = ("input_rows", "inserted_rows", "duplicate_rows", "quarantined_rows")
    assert_frames_equal(
        killed("ops_data_quality").agg(*(F.sum(c).alias(c) for c in totals)),
        uninterrupted("ops_data_quality").agg(*(F.sum(c).alias(c) for c in totals)),
    )
