"""The producer's Event Hubs path, tested at the SDK client boundary (Azure is not reachable)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from azure.eventhub import EventData, EventHubProducerClient
from azure.identity import ClientSecretCredential
from pydantic import SecretStr

from ad_marketing_pipeline.config import (
    EventHubsConnectionString,
    EventHubsServicePrincipal,
    EventHubsSource,
)
from ad_marketing_pipeline.devtools import producer
from ad_marketing_pipeline.devtools.producer import (
    eventhubs_client,
    eventhubs_kafka_producer_config,
    partition_key,
    send_to_eventhubs,
)


class FakeBatch:
    """Holds at most `capacity` events, like an `EventDataBatch` of a given size."""

    def __init__(self, partition_key: str | None, capacity: int) -> None:
        self.partition_key = partition_key
        self.capacity = capacity
        self.events: list[EventData] = []

    def add(self, event_data: EventData) -> None:
        if len(self.events) >= self.capacity:
            raise ValueError("EventDataBatch has reached its size limit")
        self.events.append(event_data)

    def __len__(self) -> int:
        return len(self.events)


class FakeProducerClient:
    def __init__(self, capacity: int = 3) -> None:
        self.capacity = capacity
        self.sent: list[FakeBatch] = []
        self.closed = False

    def create_batch(self, *, partition_key: str | None = None) -> FakeBatch:
        return FakeBatch(partition_key, self.capacity)

    def send_batch(self, event_data_batch: Any) -> None:
        self.sent.append(event_data_batch)

    def close(self) -> None:
        self.closed = True


def line(advertiser: str | None, n: int) -> str:
    event: dict[str, Any] = {"event_type": "impression", "ad_id": f"ad-{n}"}
    if advertiser:
        event["advertiser_id"] = advertiser
    return json.dumps(event)


def test_events_are_batched_per_advertiser_in_order() -> None:
    lines = [
        line("adv-1", 1),
        line("adv-2", 2),
        line("adv-1", 3),
        line("adv-1", 4),
        line("adv-1", 5),
        "not json",
        line("adv-2", 6),
    ]
    client = FakeProducerClient(capacity=3)
    progress: list[int] = []

    sent = send_to_eventhubs(lines, client=client, on_progress=progress.append)

    assert sent == len(lines) == sum(progress)
    assert client.closed
    by_key: dict[str | None, list[str]] = {}
    for batch in client.sent:
        assert 0 < len(batch) <= 3
        by_key.setdefault(batch.partition_key, []).extend(
            event.body_as_str() for event in batch.events
        )
    assert by_key == {
        "adv-1": [lines[0], lines[2], lines[3], lines[4]],
        "adv-2": [lines[1], lines[6]],
        None: ["not json"],
    }


def test_client_is_closed_when_sending_fails() -> None:
    class FailingClient(FakeProducerClient):
        def send_batch(self, event_data_batch: Any) -> None:
            raise ConnectionError("link detached")

    client = FailingClient()
    with pytest.raises(ConnectionError):
        send_to_eventhubs([line("adv-1", 1)], client=client)
    assert client.closed


def test_partition_key_prefers_advertiser_id() -> None:
    assert partition_key('{"advertiser": "advertiser-1", "advertiser_id": "adv-1"}') == "adv-1"
    assert partition_key('{"advertiser": "advertiser-123"}') == "advertiser-123"
    assert partition_key("[1, 2]") is None
    assert partition_key("{broken") is None


def test_connection_string_client(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []

    def from_connection_string(conn_str: str, **kwargs: Any) -> FakeProducerClient:
        calls.append((conn_str, kwargs))
        return FakeProducerClient()

    monkeypatch.setattr(EventHubProducerClient, "from_connection_string", from_connection_string)
    source = EventHubsSource(
        kind="eventhubs",
        namespace="ads-ns",
        event_hub="ad-events",
        auth=EventHubsConnectionString(
            mode="connection_string", connection_string=SecretStr("Endpoint=sb://x/;K=v")
        ),
    )
    eventhubs_client(source)
    assert calls == [("Endpoint=sb://x/;K=v", {"eventhub_name": "ad-events", "retry_total": 5})]


def test_service_principal_client_uses_the_namespace_and_a_credential(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    created: list[dict[str, Any]] = []

    class RecordingClient(FakeProducerClient):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__()
            created.append(kwargs)

    monkeypatch.setattr(producer, "EventHubProducerClient", RecordingClient)
    source = EventHubsSource(
        kind="eventhubs",
        namespace="ads-ns",
        event_hub="ad-events",
        auth=EventHubsServicePrincipal(
            mode="service_principal", tenant_id="t", client_id="c", client_secret=SecretStr("s")
        ),
    )
    eventhubs_client(source)
    [arguments] = created
    assert isinstance(arguments.pop("credential"), ClientSecretCredential)
    assert arguments == {
        "fully_qualified_namespace": "ads-ns.servicebus.windows.net",
        "eventhub_name": "ad-events",
        "retry_total": 5,
    }


def test_kafka_endpoint_producer_signs_in_as_the_source_does() -> None:
    """`generate --to kafka` with an Event Hubs source: librdkafka over SASL_SSL to the
    event hub's Kafka endpoint, with the connection string or the client credentials."""
    by_string = EventHubsSource(
        kind="eventhubs",
        namespace="ads-ns",
        event_hub="ad-events",
        auth=EventHubsConnectionString(
            mode="connection_string", connection_string=SecretStr("Endpoint=sb://x/;K=v")
        ),
    )
    by_principal = EventHubsSource(
        kind="eventhubs",
        namespace="ads-ns",
        event_hub="ad-events",
        bootstrap_servers="localhost:19093",
        ssl_ca_file="/tmp/ca.pem",
        auth=EventHubsServicePrincipal(
            mode="service_principal", tenant_id="t", client_id="c", client_secret=SecretStr("s")
        ),
    )

    plain = eventhubs_kafka_producer_config(by_string)
    oauth = eventhubs_kafka_producer_config(by_principal)

    assert plain["bootstrap.servers"] == "ads-ns.servicebus.windows.net:9093"
    assert (plain["security.protocol"], plain["sasl.mechanism"]) == ("SASL_SSL", "PLAIN")
    assert (plain["sasl.username"], plain["sasl.password"]) == (
        "$ConnectionString",
        "Endpoint=sb://x/;K=v",
    )
    assert plain["enable.idempotence"] is True
    assert oauth["bootstrap.servers"] == "localhost:19093"
    assert oauth["ssl.ca.location"] == "/tmp/ca.pem"
    assert {key: oauth[key] for key in oauth if key.startswith("sasl.")} == {
        "sasl.mechanism": "OAUTHBEARER",
        "sasl.oauthbearer.method": "oidc",
        "sasl.oauthbearer.client.id": "c",
        "sasl.oauthbearer.client.secret": "s",
        "sasl.oauthbearer.token.endpoint.url": (
            "https://login.microsoftonline.com/t/oauth2/v2.0/token"
        ),
        "sasl.oauthbearer.scope": "https://ads-ns.servicebus.windows.net/.default",
    }
