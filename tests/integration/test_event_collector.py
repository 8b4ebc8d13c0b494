"""The app's event collector with the local Kafka broker behind it: valid, invalid and retried
batches posted over HTTP, then Bronze and Silver run: every valid event is in Bronze once (and in
Silver), every invalid one got its reason, nothing of a retry is doubled, and each advertiser's
events arrive in the order posted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ad_marketing_pipeline.app.collector import source_forward
from ad_marketing_pipeline.app.readers import DeltaGoldReader
from ad_marketing_pipeline.app.server import create_app
from ad_marketing_pipeline.config import PipelineConfig, TableKey
from ad_marketing_pipeline.devtools.local_kafka import LocalKafkaBroker
from ad_marketing_pipeline.io import StreamTrigger
from ad_marketing_pipeline.pipeline import run_layers
from ad_marketing_pipeline.runtime import prepare_runtime
from app_server import call, running_app
from events import budget, click, conversion
from helpers import pipeline_config

pytestmark = [pytest.mark.slow, pytest.mark.kafka]


@pytest.fixture
def config(kafka_broker: LocalKafkaBroker, kafka_topic: str, tmp_path: Path) -> PipelineConfig:
    return pipeline_config(
        tmp_path,
        "collector",
        source={
            "kind": "kafka",
            "bootstrap_servers": kafka_broker.bootstrap_servers,
            "topics": [kafka_topic],
        },
    )


@pytest.fixture
def base_url(config: PipelineConfig) -> Iterator[str]:
    with running_app(create_app(config, DeltaGoldReader(config), source_forward(config))) as url:
        yield url


def post(base_url: str, events: list[Any]) -> Any:
    return call(f"{base_url}/v1/events", method="POST", payload=events)


def test_valid_events_reach_bronze_once_invalid_ones_get_reasons_retries_add_nothing(
    spark: SparkSession, config: PipelineConfig, base_url: str
) -> None:
    valid = [
        click("k-1", advertiser="acme", at="2024-03-01T10:00:00Z"),
        budget(budget_value="50.00", advertiser="acme", at="2024-03-01T10:05:00Z"),
        click("k-2", advertiser="acme", at="2024-03-01T10:06:00Z"),
        conversion("v-1", at="2024-03-01T10:30:00Z"),
        click("k-3", advertiser="globex", at="2024-03-01T11:00:00Z"),
    ]
    invalid: list[Any] = [
        click("k-bad", amount="-1").payload(),  # a negative cost
        {"event_type": "ad_click", "click_id": "k-none"},  # fields missing
        {"event_type": "teleport", "timestamp": "2024-03-01T10:00:00Z"},  # unknown type
        "not an object",
    ]
    first = [valid[0].payload(), invalid[0], valid[1].payload(), invalid[1], valid[2].payload()]
    reply = post(base_url, [*first, invalid[2], invalid[3]])
    assert reply.status == 422
    assert (reply.body["accepted"], reply.body["duplicate"], reply.body["rejected"]) == (3, 0, 4)
    rejected = [result for result in reply.body["results"] if result["status"] == "rejected"]
    assert [result["index"] for result in rejected] == [1, 3, 5, 6]
    assert all(result["reason"] for result in rejected)
    assert "amount" in rejected[0]["reason"]

    retry = post(base_url, first)  # the client did not see the answer and sends it again
    assert retry.status == 422
    assert (retry.body["accepted"], retry.body["duplicate"]) == (0, 3)

    rest = post(base_url, [valid[2].payload(), valid[3].payload(), valid[4].payload()])
    assert rest.status == 202
    assert (rest.body["accepted"], rest.body["duplicate"], rest.body["rejected"]) == (2, 1, 0)
    again = post(base_url, [event.payload() for event in valid])
    assert (again.status, again.body["accepted"], again.body["duplicate"]) == (202, 0, 5)

    runtime = prepare_runtime(spark, config, environ={})
    run_layers(runtime, ["bronze", "silver"], StreamTrigger())

    bronze = spark.table(config.table(TableKey.BRONZE_EVENTS))
    assert bronze.count() == len(valid)
    silver = spark.table(config.table(TableKey.SILVER_EVENTS))
    accepted_ids = [
        result["event_id"]
        for answer in (reply, rest)
        for result in answer.body["results"]
        if result["status"] == "accepted"
    ]
    # Ids as the pipeline gives them: the event's own (`ad_click:k-1`), else a hash of the line
    # the collector forwarded; a retry of the same event gets the same one.
    assert [result["event_id"] for result in again.body["results"]] == [
        accepted_ids[0],
        accepted_ids[1],
        accepted_ids[2],
        accepted_ids[3],
        accepted_ids[4],
    ]
    assert sorted(row.event_id for row in silver.select("event_id").collect()) == sorted(
        accepted_ids
    )
    assert spark.table(config.table(TableKey.SILVER_QUARANTINE)).count() == 0
    acme_in_order = [
        row.event_id
        for row in silver.filter(F.col("advertiser") == "acme")
        .orderBy("partition", "offset")
        .select("event_id")
        .collect()
    ]
    assert acme_in_order == accepted_ids[:3]


def test_a_malformed_body_or_too_many_events_is_refused(
    config: PipelineConfig, base_url: str
) -> None:
    assert post(base_url, {"not": "a list"}).status == 400  # type: ignore[arg-type]
    small = config.model_copy(
        update={"app": config.app.model_copy(update={"max_events_per_request": 2})}
    )
    with running_app(create_app(small, DeltaGoldReader(small), source_forward(small))) as url:
        reply = post(url, [click(f"k-{n}").payload() for n in range(3)])
    assert reply.status == 413
    assert "max_events_per_request" in reply.body["detail"]
