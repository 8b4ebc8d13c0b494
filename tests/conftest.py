"""The one Spark session of the test run, and helpers every test may use."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from ad_marketing_pipeline.config import SparkSettings
from ad_marketing_pipeline.spark import build_local_session

REPO_ROOT = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses the Spark session (directly or through its fixtures) `spark`,
    so that `make test-fast` can leave them out without a list to keep up to date."""
    for item in items:
        if "spark" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.spark)


@pytest.fixture(scope="session")
def warehouse_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's Spark warehouse; tests isolate themselves with their own schema or path."""
    return tmp_path_factory.mktemp("warehouse")


@pytest.fixture(scope="session")
def spark(warehouse_dir: Path) -> Iterator[SparkSession]:
    """local[2], 2 shuffle partitions, UI off, Delta and the Kafka source enabled."""
    settings = SparkSettings(master="local[2]", shuffle_partitions=2, driver_memory="2g")
    session = build_local_session(settings, str(warehouse_dir), cwd=REPO_ROOT)
    yield session
    session.stop()
