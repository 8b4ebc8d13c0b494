"""What every run starts from: the session and the configuration with its secrets resolved."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass

from pyspark.sql import SparkSession

from ad_marketing_pipeline.config import PipelineConfig
from ad_marketing_pipeline.secrets import SecretReader, with_source_secrets
from ad_marketing_pipeline.spark import REDACTION_CONF, running_on_databricks

# Options Spark shows in plans and UIs are redacted when their names or values match this: the
# config's secret words (config.SECRET_KEY_PATTERN) and `url`; see spark.REDACTION_CONF.
REDACTED_OPTIONS = REDACTION_CONF["spark.sql.redaction.options.regex"]


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
    # Secret `key=value`s in plan text (a Kafka source's plan lists its options in full).
    text_regex = "spark.sql.redaction.string.regex"
    spark.conf.set(text_regex, REDACTION_CONF[text_regex])
    resolved = with_source_secrets(config, environ=environ, secret_reader=secret_reader)
    return Runtime(spark=spark, config=resolved, on_databricks=on_databricks)


def databricks_secret_reader(spark: SparkSession) -> SecretReader:
    """`dbutils.secrets` of the Databricks runtime."""
    dbutils_module = importlib.import_module("pyspark.dbutils")  # exists on Databricks only
    reader: SecretReader = dbutils_module.DBUtils(spark).secrets
    return reader
