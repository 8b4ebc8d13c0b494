"""The Databricks notebooks run locally, cell by cell, with the test's session as `spark` and a
minimal `dbutils` (widgets and secrets) and `display`: provisioning, ingestion, Silver, Gold,
attribution, then the analyst's notebook over the result."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession

from ad_marketing_pipeline.config import EventHubsConnectionString, EventHubsSource
from ad_marketing_pipeline.devtools.generator import GeneratorSettings, write_landing_files
from ad_marketing_pipeline.errors import ConfigError
from ad_marketing_pipeline.jobs import notebook_runtime

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO_ROOT / "notebooks"
CELL_SEPARATOR = "\n# COMMAND ----------\n"


class Widgets:
    """`dbutils.widgets`: a widget must be declared before it is read; the run's values (what
    a job passes as parameters) win over the declared defaults."""

    def __init__(self, values: dict[str, str]) -> None:
        self._values = values
        self._declared: dict[str, str] = {}

    def text(self, name: str, default_value: str, label: str | None = None) -> None:
        self._declared[name] = default_value

    def dropdown(
        self, name: str, default_value: str, choices: list[str], label: str | None = None
    ) -> None:
        assert default_value in choices
        self._declared[name] = default_value

    def get(self, name: str) -> str:
        if name not in self._declared:
            raise ValueError(f"InputWidgetNotDefined: {name}")
        return self._values.get(name, self._declared[name])


class Secrets:
    """`dbutils.secrets`: one secret per (scope, key); records what was read."""

    def __init__(self, secrets: dict[tuple[str, str], str]) -> None:
        self._secrets = secrets
        self.read: list[tuple[str, str]] = []

    def get(self, scope: str, key: str) -> str:
        self.read.append((scope, key))
        return self._secrets[(scope, key)]


class DBUtils:
    def __init__(self, widgets: dict[str, str], secrets: dict[tuple[str, str], str]) -> None:
        self.widgets = Widgets(widgets)
        self.secrets = Secrets(secrets)


def run_notebook(path: Path, spark: SparkSession, widgets: dict[str, str]) -> dict[str, Any]:
    """Execute a source-format notebook's cells in order (MAGIC lines are comments to Python);
    returns its globals, with what it displayed under `displayed`."""
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Databricks notebook source\n")
    displayed: list[DataFrame] = []
    namespace: dict[str, Any] = {
        "__name__": "__main__",
        "spark": spark,
        "dbutils": DBUtils(widgets, {}),
        "display": displayed.append,
        "displayed": displayed,
    }
    for number, cell in enumerate(text.split(CELL_SEPARATOR)):
        exec(compile(cell, f"{path.name} cell {number}", "exec"), namespace)
    return namespace


@pytest.mark.e2e
@pytest.mark.slow
def test_notebooks_run_the_pipeline_and_show_gold(spark: SparkSession, tmp_path: Path) -> None:
    generated = write_landing_files(
        GeneratorSettings(events=600, advertisers=3, days=2, seed=3, events_per_file=600),
        tmp_path / "landing",
    )
    schema = f"nb_{uuid.uuid4().hex[:8]}"
    widgets = {
        "env": "local",
        "conf_dir": str(REPO_ROOT / "conf"),
        "schema": schema,
        "root": str(tmp_path),
    }

    provisioned = run_notebook(NOTEBOOKS / "setup" / "provision_tables.py", spark, widgets)
    assert f"{schema}.gold_advertiser_spend" in provisioned["created"]

    streaming = NOTEBOOKS / "orchestration" / "setup_streaming.py"
    run_notebook(streaming, spark, {**widgets, "trigger": "once"})
    assert spark.table(f"{schema}.bronze_ad_events").count() == generated.total_lines

    for notebook, table in (
        ("run_bronze_to_silver.py", "silver_ad_events"),
        ("run_silver_to_gold.py", "gold_advertiser_spend"),
        ("run_attribution.py", "gold_attribution"),
    ):
        run_notebook(NOTEBOOKS / "orchestration" / notebook, spark, widgets)
        assert spark.table(f"{schema}.{table}").count() > 0, notebook

    analysis = run_notebook(
        NOTEBOOKS / "analysis" / "explore_gold.py", spark, {**widgets, "advertiser": "x"}
    )
    shown = analysis["displayed"]
    assert len(shown) == 7
    serving_status = shown[0]
    assert serving_status.count() == 3
    assert "can_serve" in serving_status.columns


def test_notebook_secrets_come_from_dbutils_secrets(spark: SparkSession, tmp_path: Path) -> None:
    dbutils = DBUtils({}, {("ad-marketing", "eventhubs-connection-string"): "Endpoint=sb://x/"})
    widgets = {"env": "dev", "conf_dir": str(REPO_ROOT / "conf"), "root": str(tmp_path)}
    runtime = notebook_runtime(spark, dbutils.secrets, widgets)
    source = runtime.config.source
    assert isinstance(source, EventHubsSource)
    assert isinstance(source.auth, EventHubsConnectionString)
    assert source.auth.connection_string is not None
    assert source.auth.connection_string.get_secret_value() == "Endpoint=sb://x/"
    assert "Endpoint" not in repr(runtime.config)
    assert dbutils.secrets.read == [("ad-marketing", "eventhubs-connection-string")]


def test_a_missing_secret_names_the_scope_and_key(spark: SparkSession, tmp_path: Path) -> None:
    dbutils = DBUtils({}, {})
    widgets = {"env": "dev", "conf_dir": str(REPO_ROOT / "conf"), "root": str(tmp_path)}
    with pytest.raises(ConfigError, match="'eventhubs-connection-string' from secret scope"):
        notebook_runtime(spark, dbutils.secrets, widgets)
