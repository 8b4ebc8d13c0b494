"""Continuous mode end to end against the local broker: `ad-pipeline run --trigger continuous`
reads what `ad-pipeline generate --to kafka --rate N` sends, stops cleanly on Ctrl-C (SIGINT to
its process group, as a terminal sends it), and a restart resumes where it stopped: every click
is counted once in Gold, and every event is once in Silver."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ad_marketing_pipeline.config import load_config
from ad_marketing_pipeline.devtools.generator import GeneratorSettings, generate_lines
from ad_marketing_pipeline.devtools.local_kafka import LocalKafkaBroker
from helpers import cli_log, start_cli, wait_until, write_conf

# e2e: two pipeline starts in a subprocess, about five minutes on 2 cores.
pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.e2e]

LAYERS = "bronze,silver,gold"


def clean_settings(seed: int, start: str) -> GeneratorSettings:
    return GeneratorSettings.model_validate(
        {
            "events": 400,
            "advertisers": 4,
            "days": 1,
            "start": start,
            "seed": seed,
            "malformed_share": 0,
            "duplicate_share": 0,
        }
    )


def send(root: Path, broker: LocalKafkaBroker, topic: str, settings: GeneratorSettings) -> None:
    """`ad-pipeline generate --to kafka --rate 400` with these settings, to the end."""
    sender = start_cli(
        root,
        "generate",
        "--to",
        "kafka",
        "--bootstrap-servers",
        broker.bootstrap_servers,
        "--topic",
        topic,
        "--rate",
        "400",
        *("--events", str(settings.events), "--advertisers", str(settings.advertisers)),
        *("--days", "1", "--start", settings.start.isoformat(), "--seed", str(settings.seed)),
        *("--malformed-share", "0", "--duplicate-share", "0"),
    )
    assert sender.wait(120) == 0, cli_log(root)


def clicks_of(settings: GeneratorSettings) -> tuple[int, Decimal]:
    payloads = [json.loads(line.text) for line in generate_lines(settings)]
    amounts = [Decimal(str(p["amount"])) for p in payloads if p["event_type"] == "ad_click"]
    return len(amounts), sum(amounts, Decimal(0))


def interrupt(process: subprocess.Popen[bytes], root: Path) -> None:
    """Ctrl-C: SIGINT to the whole process group (PySpark's JVM ignores it, as in a terminal)."""
    os.killpg(process.pid, signal.SIGINT)
    assert process.wait(120) == 130, cli_log(root)


def test_continuous_run_stops_on_ctrl_c_and_resumes_counting_every_event_once(
    spark: SparkSession, tmp_path: Path, kafka_broker: LocalKafkaBroker, kafka_topic: str
) -> None:
    conf_file = write_conf(
        tmp_path,
        {
            "schema": "continuous_mode",
            "source": {
                "kind": "kafka",
                "bootstrap_servers": kafka_broker.bootstrap_servers,
                "topics": [kafka_topic],
            },
            "trigger": {"mode": "processing_time", "processing_time": "2 seconds"},
        },
    )
    config = load_config(conf_file=conf_file)
    first, second = clean_settings(1, "2024-02-01T00:00:00Z"), clean_settings(2, "2024-02-02")
    first_clicks, first_spend = clicks_of(first)
    second_clicks, second_spend = clicks_of(second)

    tables = Path(config.path("warehouse")) / "continuous_mode.db"
    gold_spend = tables / config.tables.gold_advertiser_spend

    def gold_clicks() -> tuple[int, Decimal]:
        """Clicks and gross spend in the run's Gold (read by path: it is another session's)."""
        if not list((gold_spend / "_delta_log").glob("*.json")):
            return 0, Decimal(0)
        totals = (
            spark.read.format("delta")
            .load(str(gold_spend))
            .agg(F.sum("record_count"), F.sum("gross_spend"))
        )
        clicks, spend = totals.first()  # type: ignore[misc]
        return int(clicks or 0), Decimal(spend or 0)

    run_args = ("run", "--trigger", "continuous", "--layers", LAYERS, "--conf", str(conf_file))
    send(tmp_path, kafka_broker, kafka_topic, first)
    running = start_cli(tmp_path, *run_args)
    try:
        wait_until(lambda: gold_clicks()[0] >= first_clicks, 300, "the first clicks in Gold")
    finally:
        interrupt(running, tmp_path)
    assert "stopping once the running micro-batches finish" in cli_log(tmp_path)
    assert "stopped" in cli_log(tmp_path)
    assert gold_clicks() == (first_clicks, first_spend)

    send(tmp_path, kafka_broker, kafka_topic, second)  # while nothing runs
    restarted = start_cli(tmp_path, *run_args)
    try:
        total = first_clicks + second_clicks
        wait_until(lambda: gold_clicks()[0] >= total, 300, "every click in Gold")
    finally:
        interrupt(restarted, tmp_path)

    assert gold_clicks() == (total, first_spend + second_spend)
    silver = spark.read.format("delta").load(str(tables / config.tables.silver_events))
    assert silver.count() == first.events + second.events
    assert silver.select("event_id").distinct().count() == first.events + second.events
    bronze = spark.read.format("delta").load(str(tables / config.tables.bronze_events))
    assert bronze.count() == first.events + second.events
