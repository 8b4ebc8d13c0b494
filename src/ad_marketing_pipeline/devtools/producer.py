"""Send event lines to Kafka or Azure Event Hubs, keyed by advertiser so that an advertiser's
events stay in order (one key, one partition), in batches, with retries."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from azure.eventhub import EventData, EventHubProducerClient
from azure.identity import ClientSecretCredential, DefaultAzureCredential
from confluent_kafka import KafkaError, KafkaException, Producer

from ad_marketing_pipeline.config import (
    EventHubsConnectionString,
    EventHubsSource,
    KafkaSource,
)
from ad_marketing_pipeline.errors import ConfigError, PipelineError
from ad_marketing_pipeline.sources.eventhubs import (
    ENTRA_TOKEN_ENDPOINT,
    EVENTHUBS_KAFKA_PORT,
    namespace_host,
)
from ad_marketing_pipeline.sources.kafka import checked_bootstrap_servers

ProgressCallback = Callable[[int], None]
_PROGRESS_EVERY = 1_000
_EVENTHUBS_RETRIES = 5


def partition_key(line: str) -> str | None:
    """The advertiser of an event line (`advertiser_id`, else `advertiser`); None when the line
    is not a JSON object or names no advertiser (such records go to any partition)."""
    try:
        event = json.loads(line)
    except ValueError:
        return None
    if not isinstance(event, dict):
        return None
    key = event.get("advertiser_id") or event.get("advertiser")
    return str(key) if key not in (None, "") else None


# ---------------------------------------------------------------------------------------------
# Kafka
# ---------------------------------------------------------------------------------------------


def _producer_settings(bootstrap_servers: str) -> dict[str, Any]:
    """librdkafka settings: idempotent (retries cannot duplicate or reorder), batched."""
    return {
        "bootstrap.servers": checked_bootstrap_servers(bootstrap_servers),
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 20,
        "batch.num.messages": 10_000,
        "compression.type": "lz4",
        "message.max.bytes": 2_000_000,
        "message.send.max.retries": 10,
        "retry.backoff.ms": 200,
    }


def kafka_producer_config(source: KafkaSource) -> dict[str, Any]:
    """librdkafka settings for a Kafka source's cluster (see `_producer_settings`)."""
    settings = _producer_settings(source.bootstrap_servers)
    settings["security.protocol"] = source.security_protocol
    if source.security_protocol.startswith("SASL"):
        if source.sasl_password is None:
            raise ConfigError(
                f"source.sasl_password is missing: set the environment variable "
                f"{source.sasl_password_env}"
            )
        settings.update(
            {
                "sasl.mechanism": source.sasl_mechanism,
                "sasl.username": source.sasl_username,
                "sasl.password": source.sasl_password.get_secret_value(),
            }
        )
    return settings


def eventhubs_kafka_producer_config(source: EventHubsSource) -> dict[str, Any]:
    """librdkafka settings that send to an event hub through its Kafka endpoint with the
    source's own sign-in: SASL PLAIN with the connection string, or OAUTHBEARER with the
    service principal's client credentials (librdkafka's OIDC flow against the same token
    endpoint the pipeline's reader uses); `bootstrap_servers` and `ssl_ca_file` as configured.
    Holds the secret: pass it to the producer only."""
    host = namespace_host(source.namespace)
    settings = _producer_settings(source.bootstrap_servers or f"{host}:{EVENTHUBS_KAFKA_PORT}")
    settings["security.protocol"] = "SASL_SSL"
    if source.ssl_ca_file:
        settings["ssl.ca.location"] = source.ssl_ca_file
    auth = source.auth
    if isinstance(auth, EventHubsConnectionString):
        if auth.connection_string is None:
            raise ConfigError(f"the Event Hubs connection string is missing: set {auth.env_var}")
        settings.update(
            {
                "sasl.mechanism": "PLAIN",
                "sasl.username": "$ConnectionString",
                "sasl.password": auth.connection_string.get_secret_value(),
            }
        )
        return settings
    if auth.client_secret is None:
        raise ConfigError(f"the service principal's client secret is missing: set {auth.env_var}")
    settings.update(
        {
            "sasl.mechanism": "OAUTHBEARER",
            "sasl.oauthbearer.method": "oidc",
            "sasl.oauthbearer.client.id": auth.client_id,
            "sasl.oauthbearer.client.secret": auth.client_secret.get_secret_value(),
            "sasl.oauthbearer.token.endpoint.url": auth.token_endpoint
            or ENTRA_TOKEN_ENDPOINT.format(tenant_id=auth.tenant_id),
            "sasl.oauthbearer.scope": f"https://{host}/.default",
        }
    )
    return settings


def paced(lines: Iterable[str], per_second: float) -> Iterator[str]:
    """`lines` at most `per_second` per second, evenly spread (a steady stream)."""
    interval = 1.0 / per_second
    due = time.monotonic()
    for line in lines:
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        yield line
        due = max(due + interval, time.monotonic() - 1.0)  # no burst after a stall


def send_to_kafka(
    lines: Iterable[str],
    *,
    producer_config: dict[str, Any],
    topic: str,
    on_progress: ProgressCallback | None = None,
) -> int:
    """Produce each line (UTF-8) to `topic`, keyed by advertiser; waits until all are
    acknowledged and raises `PipelineError` if any could not be delivered."""
    producer = Producer(producer_config)
    failures: list[str] = []

    def delivered(error: KafkaError | None, _message: object) -> None:
        if error is not None:
            failures.append(str(error))

    sent = 0
    for line in lines:
        key = partition_key(line)
        while True:
            try:
                producer.produce(topic, value=line.encode("utf-8"), key=key, on_delivery=delivered)
                break
            except BufferError:  # the local queue is full: let deliveries drain
                producer.poll(0.5)
            except KafkaException as error:
                raise PipelineError(f"cannot send to Kafka topic {topic!r}: {error}") from None
        producer.poll(0)
        sent += 1
        if on_progress and sent % _PROGRESS_EVERY == 0:
            on_progress(_PROGRESS_EVERY)
    remaining = producer.flush(120)
    if on_progress and sent % _PROGRESS_EVERY:
        on_progress(sent % _PROGRESS_EVERY)
    if remaining or failures:
        raise PipelineError(
            f"{len(failures) + remaining} of {sent} records were not delivered to Kafka topic "
            f"{topic!r}: {failures[0] if failures else 'timed out'}"
        )
    return sent


# ---------------------------------------------------------------------------------------------
# Event Hubs
# ---------------------------------------------------------------------------------------------


class EventDataBatch(Protocol):
    def add(self, event_data: Any) -> None: ...

    def __len__(self) -> int: ...


class EventHubsProducerClient(Protocol):
    """The part of `azure.eventhub.EventHubProducerClient` the producer uses."""

    def create_batch(self, *, partition_key: str | None = None) -> Any: ...

    def send_batch(self, event_data_batch: Any) -> None: ...

    def close(self) -> None: ...


def eventhubs_client(source: EventHubsSource) -> EventHubsProducerClient:
    """An `EventHubProducerClient`: from the connection string, or for the namespace with an
    Entra ID credential (the service principal's secret, else `DefaultAzureCredential`)."""
    auth = source.auth
    if isinstance(auth, EventHubsConnectionString):
        if auth.connection_string is None:
            raise ConfigError(
                f"source.auth.connection_string is missing: set the environment variable "
                f"{auth.env_var}"
            )
        client: EventHubsProducerClient = EventHubProducerClient.from_connection_string(
            auth.connection_string.get_secret_value(),
            eventhub_name=source.event_hub,
            retry_total=_EVENTHUBS_RETRIES,
        )
        return client
    credential = (
        ClientSecretCredential(
            auth.tenant_id, auth.client_id, auth.client_secret.get_secret_value()
        )
        if auth.client_secret is not None
        else DefaultAzureCredential()
    )
    return EventHubProducerClient(
        fully_qualified_namespace=namespace_host(source.namespace),
        eventhub_name=source.event_hub,
        credential=credential,
        retry_total=_EVENTHUBS_RETRIES,
    )


def send_to_eventhubs(
    lines: Iterable[str],
    *,
    client: EventHubsProducerClient,
    on_progress: ProgressCallback | None = None,
) -> int:
    """Send the lines in batches, one open batch per advertiser (its partition key), so each
    advertiser's events reach one partition in their original order; a batch is sent when full
    and at the end. The SDK retries failed sends."""
    open_batches: dict[str | None, EventDataBatch] = {}
    sent = 0

    def send(batch: EventDataBatch) -> None:
        nonlocal sent
        client.send_batch(batch)
        sent += len(batch)
        if on_progress:
            on_progress(len(batch))

    try:
        for line in lines:
            key = partition_key(line)
            batch = open_batches.get(key) or client.create_batch(partition_key=key)
            event = EventData(line)
            try:
                batch.add(event)
            except ValueError:  # the batch is full: send it and start the next one
                send(batch)
                batch = client.create_batch(partition_key=key)
                batch.add(event)
            open_batches[key] = batch
        for batch in open_batches.values():
            if len(batch):
                send(batch)
    finally:
        client.close()
    return sent
