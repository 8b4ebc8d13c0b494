"""Creating what the pipeline writes to: the schema, the tables and the views.

Everything here is idempotent, and nothing else creates tables or views: the pipeline runner
provisions the tables of the layers it starts (and their inputs) before starting them, the
`provision` command and job create every one, and the commands that query views (`sql`,
`status`, the demo's report) create the views first. Locally the catalog lasts one Spark
session, so views are created again by each session that reads them.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from pyspark.sql import SparkSession

from ad_marketing_pipeline.attribution.tables import ATTRIBUTION_TABLES
from ad_marketing_pipeline.config import PipelineConfig
from ad_marketing_pipeline.gold.tables import GOLD_TABLES
from ad_marketing_pipeline.runtime import Runtime
from ad_marketing_pipeline.tables import (
    BRONZE_EVENTS,
    OPS_DATA_QUALITY,
    OPS_DEAD_LETTERS,
    OPS_STREAMING_PROGRESS,
    SILVER_EVENTS,
    SILVER_QUARANTINE,
    TableSpec,
    ensure_table,
)
from ad_marketing_pipeline.views import ensure_views

PROVISIONING_THREADS = 4


def ensure_tables(runtime: Runtime, specs: Iterable[TableSpec]) -> list[str]:
    """Create the schema and these tables if missing (each once, a few at a time), then the views
    over the tables that exist; returns the tables' and views' names."""
    config = runtime.config
    runtime.spark.sql(f"CREATE SCHEMA IF NOT EXISTS {config.namespace}")
    unique = {spec.key: spec for spec in specs}.values()
    # Each table's DDL is a Delta commit that mostly waits on storage: a few at once.
    with ThreadPoolExecutor(max_workers=PROVISIONING_THREADS) as pool:
        names = list(
            pool.map(
                lambda spec: ensure_table(
                    runtime.spark, config, spec, on_databricks=runtime.on_databricks
                ),
                unique,
            )
        )
    return names + create_views(runtime.spark, config)


def create_views(spark: SparkSession, config: PipelineConfig) -> list[str]:
    """Create or replace the views whose tables exist; returns the views' names."""
    return ensure_views(spark, config)


# Every table, in the order of the data flow.
ALL_TABLES: tuple[TableSpec, ...] = (
    BRONZE_EVENTS,
    SILVER_EVENTS,
    SILVER_QUARANTINE,
    OPS_DATA_QUALITY,
    OPS_STREAMING_PROGRESS,
    *GOLD_TABLES,
    OPS_DEAD_LETTERS,
    *ATTRIBUTION_TABLES,
)


def provision(runtime: Runtime) -> list[str]:
    """Create the schema and every table and view; returns their names."""
    return ensure_tables(runtime, ALL_TABLES)
