"""The ops table on a real run: three landing files read one per batch, through Silver and
Gold; every batch of every query is one ops_streaming_progress row whose counts and newest
event time match what was sent, and `layer_status` summarizes them."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ad_marketing_pipeline.config import TableKey
from ad_marketing_pipeline.io import StreamTrigger
from ad_marketing_pipeline.ops import layer_status
from ad_marketing_pipeline.pipeline import run_layers
from ad_marketing_pipeline.provisioning import ensure_tables
from ad_marketing_pipeline.runtime import prepare_runtime
from ad_marketing_pipeline.tables import (
    OPS_DATA_QUALITY,
    OPS_STREAMING_PROGRESS,
    STREAMING_PROGRESS_SCHEMA,
)
from events import click
from helpers import pipeline_config

pytestmark = pytest.mark.slow

FILE_MTIMES = [datetime(2024, 5, 1, 10, minute, tzinfo=UTC) for minute in (0, 10, 20)]


def test_every_batch_is_one_row_matching_what_was_sent(spark: SparkSession, tmp_path: Path) -> None:
    config = pipeline_config(tmp_path, "ops", source={"kind": "files", "max_files_per_trigger": 1})
    landing = Path(config.landing_path)
    landing.mkdir(parents=True)
    lines_per_file = [3, 2, 4]
    minute = 0
    for index, (count, mtime) in enumerate(zip(lines_per_file, FILE_MTIMES, strict=True)):
        lines = []
        for _ in range(count):
            at = datetime(2024, 5, 1, 9, minute, tzinfo=UTC)
            lines.append(click(f"e{minute}", at=at, event_id=f"e{minute}", currency="USD").line())
            minute += 1
        lines.append("not json")  # quarantined: in Silver's input, not in Gold's
        path = landing / f"events-{index}.jsonl"
        path.write_text("\n".join(lines) + "\n")
        os.utime(path, (mtime.timestamp(), mtime.timestamp()))
    started = datetime.now(UTC)

    run_layers(
        prepare_runtime(spark, config, environ={}), ["bronze", "silver", "gold"], StreamTrigger()
    )

    progress = spark.table(config.table(TableKey.OPS_STREAMING_PROGRESS))
    bronze = progress.filter("query_name = 'bronze_files'").orderBy("batch_id").collect()
    assert [row.input_rows for row in bronze] == [count + 1 for count in lines_per_file]
    assert [row.newest_event_time.replace(tzinfo=UTC) for row in bronze] == FILE_MTIMES
    for row in bronze:
        assert row.batch_duration_ms > 0
        assert row.spark_jobs > 0  # its append, at least
        assert row.recorded_at.replace(tzinfo=UTC) >= started
        expected_lag = row.recorded_at - row.newest_event_time
        assert row.lag_seconds == pytest.approx(expected_lag.total_seconds())

    totals = {
        row.query_name: row
        for row in progress.groupBy("query_name")
        .agg(
            F.sum("input_rows").alias("rows"),
            F.max("newest_event_time").alias("newest"),
            F.count(F.lit(1)).alias("batches"),
        )
        .collect()
    }
    assert set(totals) == {"bronze_files", "silver", "gold"}
    assert progress.filter("spark_jobs IS NULL OR spark_jobs = 0").count() == 0
    assert totals["silver"].rows == sum(lines_per_file) + 3  # raw records, malformed included
    assert totals["silver"].newest.replace(tzinfo=UTC) == FILE_MTIMES[-1]
    assert totals["gold"].rows == sum(lines_per_file)  # Silver's valid events
    assert totals["gold"].newest.replace(tzinfo=UTC) == datetime(2024, 5, 1, 9, 8, tzinfo=UTC)

    status = {
        row.query_name: row
        for row in layer_status(
            progress, spark.table(config.table(TableKey.OPS_DATA_QUALITY))
        ).collect()
    }
    assert status["bronze_files"].last_batch_rows == lines_per_file[-1] + 1
    assert status["bronze_files"].batches == 3
    assert status["silver"].validated_rows == sum(lines_per_file) + 3
    assert status["silver"].quarantined_rows == 3
    assert status["silver"].reject_rate == pytest.approx(3 / 12, abs=1e-4)
    assert status["gold"].rows_per_second > 0


def test_progress_rows_past_the_retention_are_pruned_when_a_run_starts(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = pipeline_config(tmp_path, "ops", ops={"retention_days": 7})
    runtime = prepare_runtime(spark, config, environ={})
    ensure_tables(runtime, [OPS_STREAMING_PROGRESS, OPS_DATA_QUALITY])
    table = config.table(TableKey.OPS_STREAMING_PROGRESS)
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = [
        ("silver", "q", "r", batch, now - age, now - age, 1, None, None, 1, None, None, None, 3)
        for batch, age in enumerate((timedelta(days=30), timedelta(days=8), timedelta(days=6)))
    ]
    spark.createDataFrame(rows, STREAMING_PROGRESS_SCHEMA).write.format("delta").mode(
        "append"
    ).saveAsTable(table)

    run_layers(runtime, ["bronze"], StreamTrigger())  # nothing to read; the run prunes

    kept = spark.table(table).filter(F.col("query_name") == "silver").collect()
    assert [row["batch_id"] for row in kept] == [2]
    status = layer_status(
        spark.table(table),
        spark.table(config.table(TableKey.OPS_DATA_QUALITY)),
        retention_days=config.ops.retention_days,
    ).collect()
    assert {row["query_name"] for row in status} <= {"silver", "bronze_files"}
