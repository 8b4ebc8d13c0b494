"""Bronze's transforms: every received record exactly as it arrived, plus when it was ingested.

Nothing is parsed, filtered or dropped here: an empty, binary or non-JSON payload lands too.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ad_marketing_pipeline.tables import BRONZE_SCHEMA


def to_bronze(records: DataFrame) -> DataFrame:
    """Received records (a source's common shape) as Bronze rows: adds `ingested_at` and
    `ingest_date` and orders the columns as the table has them. Works on streams and batches."""
    ingested = records.withColumn("ingested_at", F.current_timestamp()).withColumn(
        "ingest_date", F.to_date(F.col("ingested_at"))
    )
    return ingested.select(*BRONZE_SCHEMA.fieldNames())


def source_time() -> Column:
    """When a raw record reached us: broker / enqueued time, or the landing file's mtime."""
    return F.coalesce(F.col("source_timestamp"), F.col("file_modification_time"))
