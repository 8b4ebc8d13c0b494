"""Tables an earlier version of the package created are brought up to date in place: the rows
stay, new columns are added, money sums widen and a table that is now pruned accepts deletes."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql.types import DecimalType

from ad_marketing_pipeline.config import TableKey
from ad_marketing_pipeline.gold.tables import GOLD_ADVERTISER_SPEND
from ad_marketing_pipeline.tables import OPS_STREAMING_PROGRESS, ensure_table
from helpers import pipeline_config


@pytest.mark.slow
def test_a_table_of_an_earlier_version_is_evolved_and_keeps_its_rows(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = pipeline_config(tmp_path, "tables")
    spark.sql(f"CREATE SCHEMA {config.namespace}")
    spend, progress = (
        config.table(TableKey.GOLD_ADVERTISER_SPEND),
        config.table(TableKey.OPS_STREAMING_PROGRESS),
    )
    # As the previous version made them: no advertiser_key, DECIMAL(18, 6) sums, append-only.
    spark.sql(
        f"CREATE TABLE {spend} (advertiser STRING, window_start TIMESTAMP, "
        "gross_spend DECIMAL(18,6), spend_to_date DECIMAL(18,6)) USING DELTA"
    )
    spark.sql(f"INSERT INTO {spend} VALUES ('acme', TIMESTAMP'2024-01-01 09:00:00', 2.5, 2.5)")
    spark.sql(
        f"CREATE TABLE {progress} (query_name STRING, batch_id BIGINT) USING DELTA "
        "TBLPROPERTIES ('delta.appendOnly' = 'true')"
    )

    ensure_table(spark, config, GOLD_ADVERTISER_SPEND, on_databricks=False)
    ensure_table(spark, config, OPS_STREAMING_PROGRESS, on_databricks=False)

    schema = spark.table(spend).schema
    assert set(GOLD_ADVERTISER_SPEND.schema.fieldNames()) <= set(schema.fieldNames())
    assert schema["gross_spend"].dataType == DecimalType(38, 6)
    assert schema["spend_to_date"].dataType == DecimalType(38, 6)
    row = spark.table(spend).first()
    assert row is not None and (row["advertiser"], row["gross_spend"]) == ("acme", Decimal("2.5"))
    spark.sql(f"DELETE FROM {progress} WHERE batch_id < 0")  # refused while append-only
    assert set(OPS_STREAMING_PROGRESS.schema.fieldNames()) <= set(
        spark.table(progress).schema.fieldNames()
    )
