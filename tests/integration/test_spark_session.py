"""The session factory on the real stack: Delta tables, the Kafka source, a persistent catalog."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka import Producer
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ad_marketing_pipeline.config import PipelineConfig, load_config
from ad_marketing_pipeline.devtools.local_kafka import LocalKafkaBroker
from ad_marketing_pipeline.spark import register_warehouse_tables
from helpers import assert_frames_equal

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_delta_table_written_and_read_back(spark: SparkSession, warehouse_dir: Path) -> None:
    spark.sql("CREATE SCHEMA IF NOT EXISTS session_delta")
    rows = spark.createDataFrame(
        [("adv-1", 10), ("adv-2", 20)], "advertiser_id string, clicks bigint"
    )
    rows.write.format("delta").mode("overwrite").saveAsTable("session_delta.clicks")

    assert (warehouse_dir / "session_delta.db" / "clicks" / "_delta_log").is_dir()
    history = spark.sql("DESCRIBE HISTORY session_delta.clicks").select("operation")
    assert [row.operation for row in history.collect()] == ["CREATE OR REPLACE TABLE AS SELECT"]
    assert_frames_equal(spark.table("session_delta.clicks"), rows)


def test_warehouse_tables_are_registered_by_name(
    spark: SparkSession, warehouse_dir: Path, tmp_path: Path
) -> None:
    spark.createDataFrame([(1,)], "x int").write.format("delta").save(
        str(warehouse_dir / "session_registry.db" / "found_later")
    )
    registered = register_warehouse_tables(spark, str(warehouse_dir), "session_registry")
    assert registered == ["found_later"]
    assert spark.table("session_registry.found_later").count() == 1
    # registering again is a no-op
    assert register_warehouse_tables(spark, str(warehouse_dir), "session_registry") == [
        "found_later"
    ]


@pytest.mark.kafka
@pytest.mark.slow
def test_streaming_query_reads_kafka_into_delta(
    spark: SparkSession, kafka_broker: LocalKafkaBroker, kafka_topic: str, tmp_path: Path
) -> None:
    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap_servers})
    sent = [json.dumps({"event_type": "page_view", "n": n}) for n in range(30)]
    for n, payload in enumerate(sent):
        producer.produce(kafka_topic, key=f"user-{n % 4}", value=payload)
    assert producer.flush(30) == 0

    source = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", kafka_broker.bootstrap_servers)
        .option("subscribe", kafka_topic)
        .option("startingOffsets", "earliest")
        .load()
        .select(F.col("value").cast("string").alias("raw"), "partition", "offset")
    )
    target = str(tmp_path / "kafka_rows")
    query = (
        source.writeStream.format("delta")
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .trigger(availableNow=True)
        .start(target)
    )
    query.awaitTermination(120)
    assert query.exception() is None

    landed = spark.read.format("delta").load(target)
    expected = spark.createDataFrame([(payload,) for payload in sent], "raw string")
    assert_frames_equal(landed.select("raw"), expected)
    assert landed.select("partition").distinct().count() == 3


def run_cli(*args: str, root: Path) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "AD_PIPELINE_CONF_DIR": str(REPO_ROOT / "conf")}
    return subprocess.run(
        [sys.executable, "-m", "ad_marketing_pipeline.cli", *args, "--root", str(root)],
        cwd=REPO_ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_second_process_queries_a_table_the_first_created(tmp_path: Path) -> None:
    created = run_cli(
        "sql",
        "CREATE TABLE budgets USING DELTA AS SELECT 'adv-1' AS advertiser_id, 5 AS n",
        root=tmp_path,
    )
    assert created.returncode == 0, created.stderr

    queried = run_cli("sql", "SELECT * FROM budgets", "--format", "json", root=tmp_path)

    assert queried.returncode == 0, queried.stderr
    assert [json.loads(line) for line in queried.stdout.splitlines()] == [
        {"advertiser_id": "adv-1", "n": 5}
    ]


def test_local_config_builds_paths_the_session_uses(tmp_path: Path) -> None:
    config: PipelineConfig = load_config(
        "local", environ={"AD_PIPELINE_CONF_DIR": str(REPO_ROOT / "conf")}, cwd=tmp_path
    )
    assert config.path("warehouse").startswith(str(tmp_path))
    assert config.spark.jars_dir == ".jars/spark"
    assert any((REPO_ROOT / ".jars" / "spark").glob("delta-spark_*.jar")), "run `make jars`"
