"""Fixtures for the integration tests: a real local Kafka broker (KRaft) and fresh topics."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ad_marketing_pipeline.devtools.local_kafka import LocalKafkaBroker
from ad_marketing_pipeline.errors import SetupError

REPO_ROOT = Path(__file__).resolve().parents[2]
KAFKA_JARS_DIR = REPO_ROOT / ".jars" / "kafka"


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafkaBroker]:
    """One broker for the whole session; fails (never skips) when it cannot start."""
    broker = LocalKafkaBroker(KAFKA_JARS_DIR, tmp_path_factory.mktemp("kafka"))
    failure = None
    try:
        broker.start()
    except SetupError as error:
        failure = str(error)
    if failure is not None:
        pytest.fail(failure, pytrace=False)
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def kafka_topic(kafka_broker: LocalKafkaBroker) -> Iterator[str]:
    """A fresh, uniquely named topic with 3 partitions on the session's broker."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    kafka_broker.create_topic(name, partitions=3)
    yield name
