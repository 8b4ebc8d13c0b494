"""The Spark session: Databricks' own there, a local Delta-enabled one here.

Locally the warehouse folder is the catalog: every Delta table under `<warehouse>/<schema>.db/`
is registered by name when a session starts, so a table one `ad-pipeline` process creates is
queryable by name from the next, and several processes can use the same warehouse at once (an
embedded Hive metastore would lock them out of each other).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from importlib import metadata, resources
from pathlib import Path

from pyspark.sql import SparkSession

from ad_marketing_pipeline.config import (
    SECRET_KEY_PATTERN,
    SECRET_TEXT_PATTERN,
    PipelineConfig,
    SparkSettings,
)
from ad_marketing_pipeline.errors import SetupError

log = logging.getLogger(__name__)

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
KAFKA_SOURCE_CLASS = "org.apache.spark.sql.kafka010.KafkaSourceProvider"

# What Spark masks in plans, the UI and event logs, with the config's one list of secret
# words: a data source option whose key or value matches (`url` is Spark's own default: JDBC
# URLs hold passwords), a Spark setting whose key or value matches (spark.conf secrets such
# as an ADLS account key), and secret `key=value`s in plan text (a Kafka source's plan prints
# its options in full, JAAS line included).
REDACTION_CONF = {
    "spark.sql.redaction.options.regex": f"{SECRET_KEY_PATTERN}|url",
    "spark.redaction.regex": SECRET_KEY_PATTERN,
    "spark.sql.redaction.string.regex": SECRET_TEXT_PATTERN,
}


def running_on_databricks(environ: Mapping[str, str]) -> bool:
    """True inside a Databricks runtime (job, notebook or serverless)."""
    return "DATABRICKS_RUNTIME_VERSION" in environ


def maven_coordinates() -> list[str]:
    """The Delta and Kafka-connector artifacts matching the installed pyspark and delta-spark."""
    spark_version = metadata.version("pyspark")
    spark_line = ".".join(spark_version.split(".")[:2])
    delta_version = metadata.version("delta-spark")
    return [
        f"io.delta:delta-spark_{spark_line}_2.13:{delta_version}",
        f"org.apache.spark:spark-sql-kafka-0-10_2.13:{spark_version}",
    ]


# The checkout this package is installed from in editable mode (src/ad_marketing_pipeline/..).
_CHECKOUT = Path(__file__).resolve().parents[2]


def local_jars(jars_dir: str, *, cwd: Path) -> list[Path]:
    """The jars `make jars` placed in `jars_dir`: relative to the working directory, else to
    the checkout of an editable install; empty when neither has them."""
    for folder in (cwd / jars_dir, _CHECKOUT / jars_dir):
        jars = sorted(folder.glob("*.jar")) if folder.is_dir() else []
        if jars:
            return jars
    return []


def _log4j_config() -> str:
    return str(resources.files("ad_marketing_pipeline").joinpath("resources/log4j2.properties"))


def _scheduler_pools() -> str:
    return str(resources.files("ad_marketing_pipeline").joinpath("resources/fairscheduler.xml"))


def build_local_session(settings: SparkSettings, warehouse: str, *, cwd: Path) -> SparkSession:
    """A local session with Delta Lake, the Kafka source and the given warehouse folder."""
    jars = local_jars(settings.jars_dir, cwd=cwd) if settings.jars_dir else []
    quiet_logs = f"-Dlog4j2.configurationFile={_log4j_config()}"
    builder = (
        SparkSession.builder.master(settings.master)
        .appName(settings.app_name)
        .config("spark.sql.extensions", DELTA_EXTENSION)
        .config("spark.sql.catalog.spark_catalog", DELTA_CATALOG)
        .config("spark.sql.warehouse.dir", warehouse)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(settings.shuffle_partitions))
        .config("spark.default.parallelism", str(settings.shuffle_partitions))
        .config("spark.driver.memory", settings.driver_memory)
        .config("spark.driver.extraJavaOptions", quiet_logs)
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.databricks.delta.schema.autoMerge.enabled", "false")
        # Delta rebuilds a table's state (e.g. for a streaming sink's idempotency check) with
        # this many partitions; its default of 50 costs seconds per micro-batch on few cores.
        .config("spark.databricks.delta.snapshotPartitions", str(settings.shuffle_partitions))
        .config("spark.sql.streaming.stopGracefullyOnShutdown", "true")
        # Streams running side by side share the cores (each starts in a pool of its own, see
        # streams.start_stream), as on Databricks, rather than first come, first served.
        .config("spark.scheduler.mode", "FAIR")
        .config("spark.scheduler.allocation.file", _scheduler_pools())
    )
    if jars:
        builder = builder.config("spark.jars", ",".join(str(jar) for jar in jars))
    else:
        # No local jar cache: let Spark resolve the same artifacts from Maven itself.
        builder = builder.config("spark.jars.packages", ",".join(maven_coordinates()))
    for key, value in {**REDACTION_CONF, **settings.conf}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(settings.log_level)
    return spark


def _database_location(warehouse: str, schema: str) -> str:
    return f"{warehouse.rstrip('/')}/{schema}.db"


def register_warehouse_tables(spark: SparkSession, warehouse: str, schema: str) -> list[str]:
    """Create `schema` and register by name every Delta table found in its warehouse folder."""
    spark.sql(f"CREATE SCHEMA IF NOT EXISTS `{schema}`")
    database_dir = Path(_database_location(warehouse, schema))
    registered = []
    if database_dir.is_dir():
        for table_dir in sorted(database_dir.iterdir()):
            if (table_dir / "_delta_log").is_dir():
                name = f"`{schema}`.`{table_dir.name}`"
                spark.sql(f"CREATE TABLE IF NOT EXISTS {name} USING DELTA LOCATION '{table_dir}'")
                registered.append(table_dir.name)
    return registered


def get_spark(
    config: PipelineConfig, *, environ: Mapping[str, str], cwd: Path | None = None
) -> SparkSession:
    """The session for a run: the active one on Databricks, otherwise a local one whose
    warehouse is `config.path('warehouse')` with the configured schema's tables registered."""
    if running_on_databricks(environ):
        active = SparkSession.getActiveSession()
        return active if active is not None else SparkSession.builder.getOrCreate()
    warehouse = config.path("warehouse")
    if "://" in warehouse or warehouse.startswith("dbfs:"):
        raise SetupError(
            f"paths.warehouse {warehouse!r} is a remote URI; a local run needs a local folder"
        )
    spark = build_local_session(config.spark, warehouse, cwd=cwd or Path.cwd())
    register_warehouse_tables(spark, warehouse, config.schema_name)
    return spark


def is_spark_connect(spark: SparkSession) -> bool:
    """True for a Spark Connect session (serverless, Databricks Connect): no SparkContext."""
    return type(spark).__module__.startswith("pyspark.sql.connect")
