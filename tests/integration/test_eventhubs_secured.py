"""Event Hubs through its real protocol: the pipeline's own Event Hubs source configuration
(`source.kind: eventhubs`, both sign-in modes) reads from a local Apache Kafka broker set up as
Event Hubs' Kafka endpoint is (SASL_SSL with a CA made for the test; SASL PLAIN with user
`$ConnectionString` and an Event Hubs connection string; OAUTHBEARER with RS256 tokens from a
local client-credentials token endpoint, checked against its JWKS), with only the endpoint, the
token URL and the trusted CA overridden. Records go into Bronze exactly once and on to Gold;
the failures a user meets give a message that says what failed, within a stated time; tokens
that expire during a run are refreshed without losing or repeating a record."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ad_marketing_pipeline.config import EventHubsSource, PipelineConfig, TableKey
from ad_marketing_pipeline.devtools.generator import GeneratorSettings, generate_lines
from ad_marketing_pipeline.devtools.producer import eventhubs_kafka_producer_config, send_to_kafka
from ad_marketing_pipeline.devtools.secured_kafka import SecuredKafkaBroker
from ad_marketing_pipeline.devtools.tls_files import make_tls_files
from ad_marketing_pipeline.errors import SourceError
from ad_marketing_pipeline.io import StreamTrigger
from ad_marketing_pipeline.pipeline import run_layers, start_layer, stop_between_batches
from ad_marketing_pipeline.runtime import prepare_runtime
from helpers import pipeline_config

KAFKA_JARS_DIR = Path(__file__).resolve().parents[2] / ".jars" / "kafka"
# Every failure must be reported within this many seconds of the run's start (the check
# itself waits at most 30 s for an answer; a refusal comes back at once).
FAILURE_SECONDS = 45
pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def started(broker: SecuredKafkaBroker) -> SecuredKafkaBroker:
    try:
        broker.start()
    except Exception as error:  # a broker that cannot start fails the tests, never skips them
        pytest.fail(f"the secured broker did not start: {error}", pytrace=False)
    return broker


@pytest.fixture(scope="module")
def secured_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredKafkaBroker]:
    broker = started(SecuredKafkaBroker(KAFKA_JARS_DIR, tmp_path_factory.mktemp("secured")))
    try:
        yield broker
    finally:
        broker.stop()


def new_topic(broker: SecuredKafkaBroker) -> str:
    name = f"hub-{uuid.uuid4().hex[:10]}"
    broker.create_topic(name, partitions=2)
    return name


def send(config: PipelineConfig, lines: list[str]) -> None:
    """Send as `generate --to kafka` does with this configuration: the same sign-in."""
    assert isinstance(config.source, EventHubsSource)
    producer_config = eventhubs_kafka_producer_config(config.source)
    topic = config.source.event_hub
    assert send_to_kafka(lines, producer_config=producer_config, topic=topic) == len(lines)


def generated(events: int, seed: int) -> list[str]:
    settings = GeneratorSettings(events=events, advertisers=3, days=2, seed=seed)
    return [line.text for line in generate_lines(settings)]


def bronze_offsets(spark: SparkSession, config: PipelineConfig) -> tuple[int, int]:
    """(rows, distinct (partition, offset)) of Bronze."""
    bronze = spark.table(config.table(TableKey.BRONZE_EVENTS))
    row = bronze.agg(
        F.count(F.lit(1)).alias("rows"),
        F.count_distinct("partition", "offset").alias("distinct"),
    ).first()
    assert row is not None
    return int(row["rows"]), int(row["distinct"])


@pytest.mark.parametrize("auth", ["connection_string", "service_principal"])
def test_each_sign_in_reads_every_record_into_bronze_once_and_on_to_gold(
    spark: SparkSession, secured_broker: SecuredKafkaBroker, tmp_path: Path, auth: str
) -> None:
    topic = new_topic(secured_broker)
    lines = generated(600, seed=len(auth))
    config = pipeline_config(
        tmp_path,
        "eventhubs",
        source=secured_broker.eventhubs_source(topic, auth),  # type: ignore[arg-type]
    )
    send(config, lines)
    runtime = prepare_runtime(spark, config, environ={})

    run_layers(runtime, ["bronze", "silver", "gold"], StreamTrigger())
    run_layers(runtime, ["bronze"], StreamTrigger())  # a second run reads nothing again

    assert bronze_offsets(spark, config) == (len(lines), len(lines))
    bronze = spark.table(config.table(TableKey.BRONZE_EVENTS))
    assert bronze.filter(F.col("source_kind") != "eventhubs").count() == 0
    assert bronze.filter(F.col("topic") != topic).count() == 0
    stored = {row["payload"] for row in bronze.select("payload").collect()}
    assert stored == set(lines)
    spend = spark.table(config.table(TableKey.GOLD_ADVERTISER_SPEND))
    assert spend.agg(F.sum("record_count")).first()[0] > 0  # type: ignore[index]


def failure_of(spark: SparkSession, root: Path, source: dict[str, Any]) -> tuple[str, float]:
    """The message of the run's error, and the seconds it took to come."""
    runtime = prepare_runtime(spark, pipeline_config(root, "eventhubs", source=source), environ={})
    began = time.monotonic()
    with pytest.raises(SourceError) as raised:
        run_layers(runtime, ["bronze"], StreamTrigger())
    return str(raised.value), time.monotonic() - began


def test_a_wrong_connection_string_is_refused_clearly_and_fast(
    spark: SparkSession, secured_broker: SecuredKafkaBroker, tmp_path: Path
) -> None:
    topic = new_topic(secured_broker)
    source = secured_broker.eventhubs_source(topic, "connection_string")
    wrong_key = "SharedAccessKey=" + "A" * 43 + "="
    wrong = secured_broker.connection_string.rsplit("SharedAccessKey=", 1)[0] + wrong_key
    source["auth"]["connection_string"] = wrong

    message, seconds = failure_of(spark, tmp_path, source)

    assert "refused the sign-in" in message
    assert "connection string" in message
    assert "A" * 43 not in message and secured_broker.connection_string not in message
    assert seconds < FAILURE_SECONDS


def test_a_wrong_client_secret_is_refused_clearly_and_fast(
    spark: SparkSession, secured_broker: SecuredKafkaBroker, tmp_path: Path
) -> None:
    topic = new_topic(secured_broker)
    source = secured_broker.eventhubs_source(topic, "service_principal")
    source["auth"]["client_secret"] = "not-the-secret-" + uuid.uuid4().hex

    message, seconds = failure_of(spark, tmp_path, source)

    assert "token endpoint refused" in message
    assert source["auth"]["client_secret"] not in message
    assert secured_broker.tokens.client_secret not in message
    assert seconds < FAILURE_SECONDS


def test_an_untrusted_certificate_is_named(
    spark: SparkSession, secured_broker: SecuredKafkaBroker, tmp_path: Path
) -> None:
    topic = new_topic(secured_broker)
    other_ca = make_tls_files(tmp_path / "other-ca").ca_file  # a CA that did not sign it
    source = secured_broker.eventhubs_source(topic, "connection_string")
    source["ssl_ca_file"] = str(other_ca)

    message, seconds = failure_of(spark, tmp_path, source)

    assert "TLS handshake" in message and "not trusted" in message
    assert seconds < FAILURE_SECONDS


def test_an_unknown_event_hub_is_named(
    spark: SparkSession, secured_broker: SecuredKafkaBroker, tmp_path: Path
) -> None:
    source = secured_broker.eventhubs_source("no-such-hub", "service_principal")

    message, seconds = failure_of(spark, tmp_path, source)

    assert "'no-such-hub' does not exist" in message
    assert seconds < FAILURE_SECONDS


TOKEN_LIFETIME = 20  # seconds


@pytest.fixture(scope="module")
def short_token_broker(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[SecuredKafkaBroker]:
    """Tokens that live 20 s, and a broker that makes every connection sign in again after
    5 s (with the token the client holds then): a stale token is refused."""
    broker = SecuredKafkaBroker(
        KAFKA_JARS_DIR,
        tmp_path_factory.mktemp("short-tokens"),
        token_lifetime_seconds=TOKEN_LIFETIME,
        reauthenticate_ms=5_000,
    )
    started(broker)
    try:
        yield broker
    finally:
        broker.stop()


def test_a_stream_across_token_expiries_reads_every_record_once(
    spark: SparkSession, short_token_broker: SecuredKafkaBroker, tmp_path: Path
) -> None:
    broker = short_token_broker
    topic = new_topic(broker)
    config = pipeline_config(
        tmp_path,
        "eventhubs",
        source=broker.eventhubs_source(topic, "service_principal"),
        trigger={"mode": "processing_time", "processing_time": "2 seconds"},
    )
    runtime = prepare_runtime(spark, config, environ={})
    lines = generated(1_500, seed=9)
    expiries = 2.5  # the run spans this many token lifetimes
    issued_before = broker.tokens.tokens_issued

    query = start_layer(runtime, "bronze", StreamTrigger(processing_time="2 seconds"))
    try:
        sender = threading.Thread(target=_send_steadily, args=(config, lines, expiries))
        sender.start()
        sender.join()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and bronze_offsets(spark, config)[0] < len(lines):
            assert query.exception() is None
            time.sleep(2)
    finally:
        stop_between_batches(query)
    assert query.exception() is None

    assert bronze_offsets(spark, config) == (len(lines), len(lines))
    # The first token, and at least one fresh one per lifetime the run spanned.
    assert broker.tokens.tokens_issued - issued_before >= 3


def _send_steadily(config: PipelineConfig, lines: list[str], lifetimes: float) -> None:
    """`lines` in even slices over `lifetimes` token lifetimes."""
    slices = 20
    size = -(-len(lines) // slices)
    pause = lifetimes * TOKEN_LIFETIME / slices
    for start in range(0, len(lines), size):
        send(config, lines[start : start + size])
        time.sleep(pause)
