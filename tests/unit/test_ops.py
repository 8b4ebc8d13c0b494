"""The ops row built from a batch's progress, the progress log without a listener (as on Spark
Connect), the lag wording, and the paced sender."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from pyspark.sql import SparkSession

from ad_marketing_pipeline.cli import describe_seconds
from ad_marketing_pipeline.config import PipelineConfig
from ad_marketing_pipeline.devtools.producer import paced
from ad_marketing_pipeline.ops import (
    BATCH_METRIC,
    SPARK_JOBS,
    ProgressLog,
    ProgressRecorder,
    SparkJobTally,
    progress_row,
)
from ad_marketing_pipeline.tables import (
    OPS_STREAMING_PROGRESS,
    STREAMING_PROGRESS_SCHEMA,
    ensure_table,
)

RECORDED_AT = datetime(2024, 5, 1, 12, 0, 10, tzinfo=UTC)


def progress(**fields: object) -> dict[str, object]:
    return {
        "id": "query-1",
        "runId": "run-1",
        "name": "gold",
        "timestamp": "2024-05-01T12:00:00.500Z",
        "batchId": 4,
        "batchDuration": 2000,
        "numInputRows": 200,
        "inputRowsPerSecond": 50.0,
        "processedRowsPerSecond": 100.0,
        "durationMs": {"triggerExecution": 2000},
        "eventTime": {"watermark": "2024-05-01T11:00:00.000Z"},
        "observedMetrics": {BATCH_METRIC: {"newest_event_micros": 1714564800000000, "rows": 100}},
        **fields,
    }


def test_progress_row_follows_the_schema_and_uses_the_observed_metrics() -> None:
    row = dict(
        zip(STREAMING_PROGRESS_SCHEMA.names, progress_row(progress(), RECORDED_AT), strict=True)
    )
    assert row == {
        "query_name": "gold",
        "query_id": "query-1",
        "run_id": "run-1",
        "batch_id": 4,
        "batch_started_at": datetime(2024, 5, 1, 12, 0, 0, 500000, tzinfo=UTC),
        "recorded_at": RECORDED_AT,
        "input_rows": 100,  # the observed count, not Spark's count over two scans
        "input_rows_per_second": 25.0,
        "processed_rows_per_second": 50.0,
        "batch_duration_ms": 2000,
        "watermark": datetime(2024, 5, 1, 11, 0, tzinfo=UTC),
        "newest_event_time": datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        "lag_seconds": 10.0,
        "spark_jobs": None,  # none counted
    }


def test_a_batch_without_metrics_or_rows_has_nulls_not_errors() -> None:
    empty = progress(
        observedMetrics={},
        eventTime={},
        numInputRows=0,
        inputRowsPerSecond=float("nan"),
        processedRowsPerSecond=0.0,
    )
    row = dict(zip(STREAMING_PROGRESS_SCHEMA.names, progress_row(empty, RECORDED_AT), strict=True))
    assert row["input_rows"] == 0
    assert row["input_rows_per_second"] is None
    assert row["watermark"] is None
    assert row["newest_event_time"] is None
    assert row["lag_seconds"] is None


def test_the_recorder_keeps_each_batch_once() -> None:
    recorder = ProgressRecorder(clock=lambda: RECORDED_AT)
    recorder.add_progress(progress())
    recorder.add_progress(progress())  # the same run and batch again
    recorder.add_progress(progress(batchId=5))
    assert [row[3] for row in recorder.take_rows()] == [4, 5]
    assert recorder.take_rows() == []


def test_a_long_run_leaves_the_recorder_one_mark_per_query() -> None:
    recorder = ProgressRecorder(clock=lambda: RECORDED_AT)
    for batch in range(5_000):
        recorder.add_progress(progress(batchId=batch))
        recorder.add_progress(progress(batchId=batch, runId="run-2", name="silver"))
    assert len(recorder.take_rows()) == 10_000
    assert recorder.remembered == 2


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(4.25, "4.2 s"), (600, "10 min"), (3 * 3600, "3.0 h"), (41 * 86400, "41 days")],
)
def test_lag_is_worded_for_a_person(seconds: float, text: str) -> None:
    assert describe_seconds(seconds) == text


def test_paced_spreads_lines_over_time() -> None:
    started = time.monotonic()
    assert list(paced((str(n) for n in range(11)), per_second=100)) == [str(n) for n in range(11)]
    assert time.monotonic() - started >= 0.09


class ConnectQuery:
    """A Spark Connect query as ProgressLog sees it (Spark Connect cannot run here): its
    recentProgress, as objects with a `.json` text."""

    isActive = True  # noqa: N815 (StreamingQuery's name)

    def __init__(self, *progresses: dict[str, object]) -> None:
        self.recentProgress = [SimpleNamespace(json=json.dumps(p)) for p in progresses]


def test_without_a_listener_each_batch_is_recorded_once_across_flushes(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = PipelineConfig.model_validate(
        {"env": "test", "schema": "ops_connect", "paths": {"root": str(tmp_path)}}
    )
    spark.sql("CREATE SCHEMA IF NOT EXISTS ops_connect")
    table = ensure_table(spark, config, OPS_STREAMING_PROGRESS, on_databricks=False)
    log = ProgressLog(spark, table, ProgressRecorder(), listening=False)
    query = ConnectQuery(progress())
    log.flush([query])  # type: ignore[list-item]
    query.recentProgress.append(SimpleNamespace(json=json.dumps(progress(batchId=5))))
    log.flush([query])  # type: ignore[list-item]
    recorded = spark.table(table).orderBy("batch_id").collect()
    assert [(row.query_name, row.batch_id, row.input_rows) for row in recorded] == [
        ("gold", 4, 100),
        ("gold", 5, 100),
    ]


def test_the_spark_jobs_a_batch_runs_are_counted_for_its_progress_row(spark: SparkSession) -> None:
    tally = SparkJobTally(keep=2)
    with tally.counting(spark, "query-1", 4):
        spark.sparkContext.parallelize(range(10), 2).count()
        spark.sparkContext.parallelize(range(10), 2).sum()
    spark.sparkContext.parallelize(range(10), 2).count()  # not the batch's
    for batch in (5, 6):
        with tally.counting(spark, "query-2", batch):
            pass

    assert tally.take("query-1", 4) is None  # the oldest of three, past `keep`
    assert tally.take("query-2", 5) == 0
    with tally.counting(spark, "query-1", 4):
        spark.sparkContext.parallelize(range(10), 2).count()
        spark.sparkContext.parallelize(range(10), 2).sum()
    assert tally.take("query-1", 4) == 2
    assert tally.take("query-1", 4) is None  # taken once

    with SPARK_JOBS.counting(spark, "query-1", 4):
        spark.sparkContext.parallelize(range(10), 2).count()
    recorder = ProgressRecorder(clock=lambda: RECORDED_AT)
    recorder.add_progress(progress())  # query-1, batch 4
    (row,) = recorder.take_rows()
    assert dict(zip(STREAMING_PROGRESS_SCHEMA.names, row, strict=True))["spark_jobs"] == 1
