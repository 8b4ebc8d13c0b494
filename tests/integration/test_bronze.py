"""Bronze on the real stack: a real Kafka broker, real landing files, real Delta tables, the
Spark streaming engine, and a SIGKILL in the middle of a run."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ad_marketing_pipeline.config import PipelineConfig, TableKey
from ad_marketing_pipeline.devtools.generator import GeneratorSettings, generate_lines
from ad_marketing_pipeline.devtools.local_kafka import LocalKafkaBroker
from ad_marketing_pipeline.devtools.producer import send_to_kafka
from ad_marketing_pipeline.io import StreamTrigger
from ad_marketing_pipeline.pipeline import run_layers, start_layer
from ad_marketing_pipeline.provisioning import provision
from ad_marketing_pipeline.runtime import prepare_runtime
from ad_marketing_pipeline.tables import BRONZE_SCHEMA
from helpers import (
    assert_frames_equal,
    kill_run_after_batches,
    pipeline_config,
    wait_until,
    write_conf,
)

MALFORMED_PAYLOADS = [
    b"not json at all",
    b"",
    b'{"event_type": "ad_click", "click_id": ',
    b"\xff\xfe\xfdinvalid utf-8 \xc3\x28",
    b"[1, 2, 3]",
    b"x" * 1_000_000,
]


def generated_lines(events: int, seed: int) -> list[str]:
    settings = GeneratorSettings(events=events, seed=seed, advertisers=10, days=3)
    return [line.text for line in generate_lines(settings)]


def kafka_source(broker: LocalKafkaBroker, topic: str, **options: Any) -> dict[str, Any]:
    return {
        "kind": "kafka",
        "bootstrap_servers": broker.bootstrap_servers,
        "topics": [topic],
        **options,
    }


def produce(broker: LocalKafkaBroker, topic: str, lines: Sequence[str]) -> None:
    config = {"bootstrap.servers": broker.bootstrap_servers, "enable.idempotence": True}
    assert send_to_kafka(lines, producer_config=config, topic=topic) == len(lines)


def run_bronze_once(spark: SparkSession, config: PipelineConfig) -> None:
    run_layers(prepare_runtime(spark, config, environ={}), ["bronze"], StreamTrigger())


def bronze(spark: SparkSession, config: PipelineConfig) -> DataFrame:
    return spark.table(config.table(TableKey.BRONZE_EVENTS))


def payload_bytes(rows: DataFrame) -> DataFrame:
    """The payloads of Bronze rows as the bytes that were received."""
    return rows.select(F.col("payload").cast("binary").alias("payload"))


def payload_frame(spark: SparkSession, payloads: Sequence[bytes]) -> DataFrame:
    return spark.createDataFrame([(payload,) for payload in payloads], "payload binary")


def test_provision_creates_bronze_with_the_expected_table_properties(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = pipeline_config(tmp_path, "bronze", source=files_source())
    runtime = prepare_runtime(spark, config, environ={})

    created = provision(runtime)
    assert config.table(TableKey.BRONZE_EVENTS) in created
    assert provision(runtime) == created  # idempotent

    detail = spark.sql(f"DESCRIBE DETAIL {config.table(TableKey.BRONZE_EVENTS)}").first()
    assert detail is not None
    assert detail["clusteringColumns"] == ["ingest_date"]
    assert detail["properties"]["delta.enableChangeDataFeed"] == "true"
    assert detail["properties"]["delta.appendOnly"] == "true"
    assert bronze(spark, config).schema.fieldNames() == BRONZE_SCHEMA.fieldNames()


# ---------------------------------------------------------------------------------------------
# Kafka
# ---------------------------------------------------------------------------------------------


@pytest.mark.kafka
@pytest.mark.slow
def test_kafka_to_bronze_exactly_once_across_runs(
    spark: SparkSession, kafka_broker: LocalKafkaBroker, kafka_topic: str, tmp_path: Path
) -> None:
    first = generated_lines(20_000, seed=1)
    produce(kafka_broker, kafka_topic, first)
    config = pipeline_config(tmp_path, "bronze", source=kafka_source(kafka_broker, kafka_topic))

    run_bronze_once(spark, config)

    rows = bronze(spark, config)
    assert rows.count() == 20_000
    assert rows.select("topic", "partition", "offset").distinct().count() == 20_000
    assert rows.select("partition").distinct().count() == 3
    assert rows.filter(F.col("source_kind") != "kafka").count() == 0
    expected = payload_frame(spark, [line.encode("utf-8") for line in first])
    assert_frames_equal(payload_bytes(rows), expected)

    run_bronze_once(spark, config)
    assert bronze(spark, config).count() == 20_000

    produce(kafka_broker, kafka_topic, generated_lines(5_000, seed=2))
    run_bronze_once(spark, config)
    rows = bronze(spark, config)
    assert rows.count() == 25_000
    assert rows.select("topic", "partition", "offset").distinct().count() == 25_000


@pytest.mark.kafka
def test_malformed_kafka_payloads_land_untouched_with_keys_and_headers(
    spark: SparkSession, kafka_broker: LocalKafkaBroker, kafka_topic: str, tmp_path: Path
) -> None:
    producer = Producer(
        {"bootstrap.servers": kafka_broker.bootstrap_servers, "message.max.bytes": 2_000_000}
    )
    for payload in MALFORMED_PAYLOADS:
        producer.produce(kafka_topic, value=payload, key=b"adv-1", headers=[("trace", b"t-1")])
    assert producer.flush(30) == 0
    config = pipeline_config(tmp_path, "bronze", source=kafka_source(kafka_broker, kafka_topic))

    run_bronze_once(spark, config)

    rows = bronze(spark, config)
    landed = payload_bytes(rows)
    assert_frames_equal(landed, payload_frame(spark, MALFORMED_PAYLOADS))
    assert {row.key for row in rows.select("key").collect()} == {"adv-1"}
    headers = rows.select(F.col("headers")[0]["key"].alias("k"), F.col("headers")[0]["value"])
    assert {(row[0], bytes(row[1])) for row in headers.collect()} == {("trace", b"t-1")}


# ---------------------------------------------------------------------------------------------
# Landing files
# ---------------------------------------------------------------------------------------------


def write_file(folder: Path, name: str, lines: Sequence[bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder.parent / f".{name}.tmp"
    staging.write_bytes(b"".join(line + b"\n" for line in lines))
    staging.rename(folder / name)  # appear whole, as a producer should deliver files


def numbered_lines(start: int, count: int) -> list[bytes]:
    return [
        f'{{"event_type":"page_view","user_id":"u-{n}"}}'.encode()
        for n in range(start, start + count)
    ]


def files_source() -> dict[str, Any]:
    return {"kind": "files"}


@pytest.mark.slow
def test_landing_files_to_bronze_exactly_once_across_runs(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = pipeline_config(tmp_path, "bronze", source=files_source())
    landing = Path(config.landing_path)
    for number in range(3):
        write_file(landing, f"events-{number:05d}.jsonl", numbered_lines(number * 1000, 1000))
    write_file(landing, "notes.txt", [b"not an event file"])

    run_bronze_once(spark, config)

    rows = bronze(spark, config)
    assert rows.count() == 3_000
    files = {Path(row.file_path).name for row in rows.select("file_path").distinct().collect()}
    assert files == {"events-00000.jsonl", "events-00001.jsonl", "events-00002.jsonl"}

    run_bronze_once(spark, config)
    assert bronze(spark, config).count() == 3_000

    write_file(landing, "events-00003.jsonl", numbered_lines(3000, 500))
    run_bronze_once(spark, config)
    rows = bronze(spark, config)
    expected = payload_frame(spark, numbered_lines(0, 3_500))
    assert_frames_equal(payload_bytes(rows), expected)


def test_malformed_lines_in_files_land_untouched(spark: SparkSession, tmp_path: Path) -> None:
    config = pipeline_config(tmp_path, "bronze", source=files_source())
    one_line_payloads = [payload for payload in MALFORMED_PAYLOADS if b"\n" not in payload]
    write_file(Path(config.landing_path), "events-00000.jsonl", one_line_payloads)

    run_bronze_once(spark, config)

    landed = payload_bytes(bronze(spark, config))
    assert_frames_equal(landed, payload_frame(spark, one_line_payloads))


@pytest.mark.slow
def test_file_added_while_the_stream_runs_lands_once(spark: SparkSession, tmp_path: Path) -> None:
    config = pipeline_config(tmp_path, "bronze", source=files_source())
    landing = Path(config.landing_path)
    write_file(landing, "events-00000.jsonl", numbered_lines(0, 200))
    runtime = prepare_runtime(spark, config, environ={})
    query = start_layer(runtime, "bronze", StreamTrigger(processing_time="1 second"))
    try:
        wait_until(lambda: bronze(spark, config).count() == 200, 90, "the first file")
        write_file(landing, "events-00001.jsonl", numbered_lines(200, 300))
        wait_until(lambda: bronze(spark, config).count() >= 500, 90, "the added file")
        time.sleep(3)  # a few more triggers: nothing may land twice
    finally:
        query.stop()
    assert query.exception() is None
    rows = payload_bytes(bronze(spark, config))
    assert_frames_equal(rows, payload_frame(spark, numbered_lines(0, 500)))


# ---------------------------------------------------------------------------------------------
# SIGKILL in the middle of a run
# ---------------------------------------------------------------------------------------------


def kill_after_batches(root: Path, source: dict[str, Any], query_name: str) -> None:
    """Start a Bronze run, SIGKILL it once two batches are committed, then run it to the end."""
    write_conf(root, {"schema": "ad_marketing", "source": source})
    kill_run_after_batches(root, "bronze", query_name)


def bronze_table(spark: SparkSession, root: Path) -> DataFrame:
    return spark.read.format("delta").load(
        str(root / "warehouse" / "ad_marketing.db" / "bronze_ad_events")
    )


@pytest.mark.kafka
@pytest.mark.slow
def test_sigkill_during_kafka_bronze_loses_and_duplicates_nothing(
    spark: SparkSession, kafka_broker: LocalKafkaBroker, kafka_topic: str, tmp_path: Path
) -> None:
    lines = generated_lines(20_000, seed=3)
    produce(kafka_broker, kafka_topic, lines)
    source = kafka_source(kafka_broker, kafka_topic, max_offsets_per_trigger=600)

    kill_after_batches(tmp_path, source, "bronze_kafka")

    rows = bronze_table(spark, tmp_path)
    assert rows.count() == 20_000
    assert rows.select("partition", "offset").distinct().count() == 20_000
    expected = payload_frame(spark, [line.encode("utf-8") for line in lines])
    assert_frames_equal(payload_bytes(rows), expected)


@pytest.mark.slow
def test_sigkill_during_files_bronze_loses_and_duplicates_nothing(
    spark: SparkSession, tmp_path: Path
) -> None:
    landing = tmp_path / "landing"
    for number in range(12):
        write_file(landing, f"events-{number:05d}.jsonl", numbered_lines(number * 250, 250))
    source = {"kind": "files", "max_files_per_trigger": 1}

    kill_after_batches(tmp_path, source, "bronze_files")

    rows = payload_bytes(bronze_table(spark, tmp_path))
    assert_frames_equal(rows, payload_frame(spark, numbered_lines(0, 3_000)))
