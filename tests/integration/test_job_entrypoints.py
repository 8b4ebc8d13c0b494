"""The bundle's task entry points (`ad-pipeline-*` console scripts), run locally end to end with
the local configuration on a small generated dataset, in the order the jobs run them."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from ad_marketing_pipeline import jobs
from ad_marketing_pipeline.devtools.generator import GeneratorSettings, write_landing_files
from helpers import assert_frames_equal

REPO_ROOT = Path(__file__).resolve().parents[2]


def _job_arguments(root: Path, schema: str) -> list[str]:
    """What a job task passes, with local values: conf/local.yml, a folder, a schema."""
    return [
        "--env",
        "local",
        "--conf",
        str(REPO_ROOT / "conf" / "local.yml"),
        "--root",
        str(root),
        "--schema",
        schema,
        "--set",
        "spark.master=local[2]",
        "--set",
        "spark.shuffle_partitions=2",
    ]


def _count(spark: SparkSession, schema: str, table: str) -> int:
    return spark.table(f"{schema}.{table}").count()


@pytest.mark.e2e
@pytest.mark.slow
def test_entry_points_run_the_pipeline_end_to_end(spark: SparkSession, tmp_path: Path) -> None:
    schema = f"jobs_{uuid.uuid4().hex[:8]}"
    generated = write_landing_files(
        GeneratorSettings(events=600, advertisers=4, days=2, seed=11, events_per_file=300),
        tmp_path / "landing",
    )
    argv = _job_arguments(tmp_path, schema)

    jobs.provision_main(argv)
    for table in ("bronze_ad_events", "silver_ad_events", "gold_advertiser_spend"):
        assert _count(spark, schema, table) == 0

    # The ingestion job runs continuously; `--trigger once` is its catch-up mode.
    jobs.ingest_main([*argv, "--trigger", "once"])
    assert _count(spark, schema, "bronze_ad_events") == generated.total_lines
    assert _count(spark, schema, "gold_serving_status") == 4  # one row per advertiser

    jobs.silver_main(argv)
    silver_rows = _count(spark, schema, "silver_ad_events")
    assert 0 < silver_rows <= generated.valid_lines
    assert _count(spark, schema, "silver_quarantine") > 0

    jobs.gold_main(argv)
    spend = spark.table(f"{schema}.gold_advertiser_spend")
    assert spend.select("advertiser").distinct().count() == 4

    jobs.attribution_main(argv)
    assert _count(spark, schema, "gold_attribution") > 0
    assert _count(spark, schema, "gold_channel_performance") > 0

    # The recovery path of the Gold task rebuilds the same rows from the whole of Silver.
    before = spark.createDataFrame(spend.collect(), spend.schema)
    jobs.gold_main([*argv, "--full-refresh"])
    assert_frames_equal(spark.table(f"{schema}.gold_advertiser_spend"), before)

    jobs.maintenance_main(argv)
    history = spark.sql(f"DESCRIBE HISTORY {schema}.bronze_ad_events").select("operation")
    operations = {row.operation for row in history.collect()}
    assert {"OPTIMIZE", "VACUUM START", "VACUUM END"} <= operations
    assert _count(spark, schema, "bronze_ad_events") == generated.total_lines


def test_a_failing_task_exits_non_zero(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exited:
        jobs.silver_main(["--env", "local", "--root", str(tmp_path), "--set", "budget.period=week"])
    assert exited.value.code == 2


def test_maintenance_refuses_a_retention_below_a_week(spark: SparkSession, tmp_path: Path) -> None:
    argv = _job_arguments(tmp_path, f"jobs_{uuid.uuid4().hex[:8]}")
    with pytest.raises(SystemExit) as exited:
        jobs.maintenance_main([*argv, "--retain-hours", "24"])
    assert exited.value.code == 2


def test_volume_of_a_unity_catalog_path() -> None:
    assert jobs.volume_of("/Volumes/ad_prod/ad_marketing/pipeline/checkpoints") == (
        "ad_prod",
        "ad_marketing",
        "pipeline",
    )
    assert jobs.volume_of("/tmp/pipeline") is None
