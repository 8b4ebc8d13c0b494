"""What every run starts from: the session, the configuration with its secrets resolved, and
the tables (with their views) a layer needs before it starts."""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pyspark.sql import SparkSession

from ad_marketing_pipeline.config import PipelineConfig
from ad_marketing_pipeline.secrets import SecretReader, with_source_secrets
from ad_marketing_pipeline.spark import running_on_databricks
from ad_marketing_pipeline.tables import TableSpec, ensure_table
from ad_marketing_pipeline.views import ensure_views

# Options Spark shows in plans and UIs are redacted when their names match this.
REDACTED_OPTIONS = "(?i)url|jaas|password|secret|token|connection"


@dataclass(frozen=True)
class Runtime:
    """Where a run happens: the session, the configuration with its secrets resolved, and
    whether this is Databricks."""

    spark: SparkSession
    config: PipelineConfig
    on_databricks: bool


def prepare_runtime(
    spark: SparkSession,
    config: PipelineConfig,
    *,
    environ: Mapping[str, str],
    secret_reader: SecretReader | None = None,
) -> Runtime:
    """Resolve the source's secrets and make Spark redact secret-bearing options."""
    on_databricks = running_on_databricks(environ)
    spark.conf.set("spark.sql.redaction.options.regex", REDACTED_OPTIONS)
    resolved = with_source_secrets(config, environ=environ, secret_reader=secret_reader)
    return Runtime(spark=spark, config=resolved, on_databricks=on_databricks)


def databricks_secret_reader(spark: SparkSession) -> SecretReader:
    """`dbutils.secrets` of the Databricks runtime."""
    dbutils_module = importlib.import_module("pyspark.dbutils")  # exists on Databricks only
    reader: SecretReader = dbutils_module.DBUtils(spark).secrets
    return reader


def ensure_tables(runtime: Runtime, specs: Sequence[TableSpec]) -> list[str]:
    """Create the schema and these tables if missing (idempotent), then the views over the
    tables that exist; returns the tables' and views' names."""
    config = runtime.config
    runtime.spark.sql(f"CREATE SCHEMA IF NOT EXISTS {config.namespace}")
    names = [
        ensure_table(runtime.spark, config, spec, on_databricks=runtime.on_databricks)
        for spec in specs
    ]
    return names + ensure_views(runtime.spark, config)
