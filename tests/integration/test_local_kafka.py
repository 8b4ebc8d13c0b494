"""The local KRaft broker really stores and serves messages; a missing setup fails clearly."""

from __future__ import annotations

import socket
import time
import uuid
from collections import defaultdict
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Message, Producer
from confluent_kafka.admin import AdminClient

from ad_marketing_pipeline.devtools import local_kafka
from ad_marketing_pipeline.devtools.local_kafka import LocalKafkaBroker, find_free_port
from ad_marketing_pipeline.errors import SetupError

pytestmark = pytest.mark.kafka

MESSAGES = 1_000
KEYS = [f"campaign-{i:02d}".encode() for i in range(20)]


def _payload(key: bytes, seq: int) -> bytes:
    """A payload with the key, the sequence number and non-UTF-8 bytes, to check exact bytes."""
    return key + b"|" + seq.to_bytes(4, "big") + bytes([0, 255, seq % 256])


def _seq(payload: bytes) -> int:
    """The sequence number inside a :func:`_payload`."""
    start = payload.index(b"|") + 1
    return int.from_bytes(payload[start : start + 4], "big")


def _fields(message: Message) -> tuple[bytes, bytes, int, int]:
    """Key, value, partition and offset of a consumed or delivered message."""
    key, value = message.key(), message.value()
    partition, offset = message.partition(), message.offset()
    assert key is not None and value is not None
    assert partition is not None and offset is not None
    return key, value, partition, offset


def test_produce_and_consume_1000_keyed_messages(
    kafka_broker: LocalKafkaBroker, kafka_topic: str
) -> None:
    """1,000 keyed messages come back byte for byte, over 3 partitions, in order per key."""
    sent = [(KEYS[seq % len(KEYS)], seq) for seq in range(MESSAGES)]
    expected = {(key, _payload(key, seq)) for key, seq in sent}

    delivered: list[tuple[bytes, int]] = []
    failures: list[str] = []

    def on_delivery(error: KafkaError | None, message: Message) -> None:
        if error is not None:
            failures.append(str(error))
        else:
            key, _, partition, _ = _fields(message)
            delivered.append((key, partition))

    producer = Producer(
        {
            "bootstrap.servers": kafka_broker.bootstrap_servers,
            "enable.idempotence": True,
            "linger.ms": 5,
        }
    )
    for key, seq in sent:
        producer.produce(kafka_topic, key=key, value=_payload(key, seq), on_delivery=on_delivery)
        producer.poll(0)
    assert producer.flush(30) == 0
    assert failures == []
    assert len(delivered) == MESSAGES

    consumer = Consumer(
        {
            "bootstrap.servers": kafka_broker.bootstrap_servers,
            "group.id": f"test-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    received: list[tuple[bytes, bytes, int, int]] = []
    try:
        consumer.subscribe([kafka_topic])
        deadline = time.monotonic() + 60
        while len(received) < MESSAGES and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None:
                continue
            assert message.error() is None, message.error()
            received.append(_fields(message))
        # Nothing beyond the 1,000 messages (no duplicates) shows up afterwards.
        extra_deadline = time.monotonic() + 1.0
        while time.monotonic() < extra_deadline:
            message = consumer.poll(0.2)
            assert message is None or message.error() is not None, "unexpected extra message"
    finally:
        consumer.close()

    assert len(received) == MESSAGES
    assert {(key, value) for key, value, _, _ in received} == expected
    assert {partition for _, _, partition, _ in received} == {0, 1, 2}

    partitions_of_key: dict[bytes, set[int]] = defaultdict(set)
    seqs_of_key: dict[bytes, list[int]] = defaultdict(list)
    for key, value, partition, _ in received:
        partitions_of_key[key].add(partition)
        seqs_of_key[key].append(_seq(value))
    assert all(len(parts) == 1 for parts in partitions_of_key.values())
    assert set(seqs_of_key) == set(KEYS)
    for key, seqs in seqs_of_key.items():
        assert seqs == sorted(seqs), f"messages of key {key!r} came back out of order"
        assert len(seqs) == MESSAGES // len(KEYS)

    # The consumer saw exactly what the producer's delivery reports said, partition-wise.
    assert sorted((key, part) for key, _, part, _ in received) == sorted(delivered)
    # Offsets in each partition are 0..n-1: the broker stored every message once.
    offsets: dict[int, list[int]] = defaultdict(list)
    for _, _, partition, offset in received:
        offsets[partition].append(offset)
    for partition_offsets in offsets.values():
        assert sorted(partition_offsets) == list(range(len(partition_offsets)))


def test_created_topic_has_three_partitions_and_auto_create_is_off(
    kafka_broker: LocalKafkaBroker, kafka_topic: str
) -> None:
    """The fixture's topic has 3 led partitions; unknown topics are not auto-created."""
    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap_servers})
    metadata = admin.list_topics(topic=kafka_topic, timeout=10)
    partitions = metadata.topics[kafka_topic].partitions
    assert sorted(partitions) == [0, 1, 2]
    assert all(p.leader == 1 for p in partitions.values())

    unknown = f"never-created-{uuid.uuid4().hex[:8]}"
    metadata = admin.list_topics(topic=unknown, timeout=10)
    assert metadata.topics[unknown].error is not None
    assert unknown not in admin.list_topics(timeout=10).topics


def test_broker_listens_on_loopback_port(kafka_broker: LocalKafkaBroker) -> None:
    """bootstrap_servers is 127.0.0.1:<port> and the broker JVM is alive."""
    assert kafka_broker.bootstrap_servers == f"127.0.0.1:{kafka_broker.port}"
    assert kafka_broker.port != kafka_broker.controller_port
    assert kafka_broker.is_running
    assert kafka_broker.server_log.is_file()
    assert "Kafka Server started" in kafka_broker.server_log.read_text(encoding="utf-8")


def test_missing_jars_folder_names_the_folder_and_make_jars(tmp_path: Path) -> None:
    """Without the jars folder start() raises SetupError naming it and `make jars`."""
    jars_dir = tmp_path / "no-such-jars"
    broker = LocalKafkaBroker(jars_dir, tmp_path / "work")
    with pytest.raises(SetupError) as raised:
        broker.start()
    assert str(jars_dir) in str(raised.value)
    assert "make jars" in str(raised.value)
    assert not broker.is_running


def test_incomplete_jars_folder_names_the_missing_jars(tmp_path: Path) -> None:
    """A jars folder without the broker jar is reported jar by jar."""
    jars_dir = tmp_path / "jars"
    jars_dir.mkdir()
    (jars_dir / "kafka-clients-4.1.1.jar").write_bytes(b"")
    with pytest.raises(SetupError) as raised:
        LocalKafkaBroker(jars_dir, tmp_path / "work").start()
    message = str(raised.value)
    assert "kafka_2.13-*.jar" in message
    assert "kafka-clients-" not in message
    assert "make jars" in message


def test_own_broker_on_given_port_starts_and_stop_removes_data(tmp_path: Path) -> None:
    """A second broker on an explicit port answers, and stop() ends it and removes its data."""
    jars_dir = Path(__file__).resolve().parents[2] / ".jars" / "kafka"
    port = find_free_port()
    with LocalKafkaBroker(jars_dir, tmp_path / "work", port) as broker:
        assert broker.bootstrap_servers == f"127.0.0.1:{port}"
        assert broker.startup_seconds is not None
        broker.create_topic("events", partitions=2)
        admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
        assert sorted(admin.list_topics(timeout=10).topics["events"].partitions) == [0, 1]
        assert (broker.data_dir / "meta.properties").is_file()
        pid = broker.pid
    assert pid is not None
    assert not broker.is_running
    assert not broker.data_dir.exists()
    assert broker.server_log.is_file()


def test_a_cluster_id_starting_with_a_dash_formats_and_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kafka's base64url cluster ids can start with '-' (about 1 in 64); the storage tool must
    not read such an id as an option (a flaky start seen in CI)."""
    monkeypatch.setattr(local_kafka, "_new_cluster_id", lambda: "-oDLMsucSRioJFdWkgWkwg")
    jars_dir = Path(__file__).resolve().parents[2] / ".jars" / "kafka"
    with LocalKafkaBroker(jars_dir, tmp_path / "work") as broker:
        assert broker.cluster_id.startswith("-")
        assert (
            "cluster.id=-oDLMsucSRioJFdWkgWkwg" in (broker.data_dir / "meta.properties").read_text()
        )


def test_port_in_use_is_reported_before_starting(tmp_path: Path) -> None:
    """A broker port that something else listens on gives a SetupError naming the port."""
    jars_dir = Path(__file__).resolve().parents[2] / ".jars" / "kafka"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        broker = LocalKafkaBroker(jars_dir, tmp_path / "work", port)
        with pytest.raises(SetupError, match=f"127.0.0.1:{port} is already in use"):
            broker.start()
    assert not broker.is_running
