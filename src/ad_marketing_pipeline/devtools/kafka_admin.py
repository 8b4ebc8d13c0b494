"""Admin requests to the local Kafka broker through confluent-kafka's AdminClient: whether it
answers a metadata request with itself as a live broker, and creating a topic whose partitions
all have a leader."""

from __future__ import annotations

import time
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from ad_marketing_pipeline.errors import SetupError

__all__ = ["admin_client", "create_topic", "metadata_problem"]


def admin_client(bootstrap_servers: str) -> AdminClient:
    """Return an AdminClient for the broker at `bootstrap_servers`."""
    return AdminClient({"bootstrap.servers": bootstrap_servers, "socket.timeout.ms": 10_000})


def metadata_problem(admin: AdminClient) -> str | None:
    """None when the broker answers a metadata request listing a live broker, else why not."""
    try:
        metadata = admin.list_topics(timeout=2)
    except KafkaException as error:
        return str(error)
    return None if metadata.brokers else "the metadata response lists no broker"


def create_topic(
    admin: AdminClient, name: str, partitions: int, timeout: float, *, server_log: Path
) -> None:
    """Create a topic (replication factor 1) and wait until every partition has a leader;
    raises SetupError naming `server_log` when it does not come up within `timeout` seconds."""
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1)],
        operation_timeout=timeout,
    )
    try:
        futures[name].result(timeout=timeout)
    except KafkaException as error:
        raise SetupError(f"Kafka topic {name!r} could not be created: {error}") from error
    deadline = time.monotonic() + timeout
    while True:
        metadata = admin.list_topics(topic=name, timeout=5)
        topic = metadata.topics.get(name)
        if (
            topic is not None
            and topic.error is None
            and len(topic.partitions) == partitions
            and all(p.leader >= 0 and p.error is None for p in topic.partitions.values())
        ):
            return
        if time.monotonic() > deadline:
            raise SetupError(
                f"Kafka topic {name!r} was created but its {partitions} partitions have no "
                f"leader after {timeout:.0f} s; see {server_log}"
            )
        time.sleep(0.1)
