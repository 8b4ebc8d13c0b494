"""Bronze: every received record exactly as it arrived, plus when it was ingested.

Nothing is parsed, filtered or dropped here: an empty, binary or non-JSON payload lands too.
Exactly-once comes from the streaming checkpoint and Delta's idempotent streaming sink.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ad_marketing_pipeline.tables import BRONZE_SCHEMA


def to_bronze(records: DataFrame) -> DataFrame:
    """Received records (a source's common shape) as Bronze rows: adds `ingested_at` and
    `ingest_date` and orders the columns as the table has them. Works on streams and batches."""
    ingested = records.withColumn("ingested_at", F.current_timestamp()).withColumn(
        "ingest_date", F.to_date(F.col("ingested_at"))
    )
    return ingested.select(*BRONZE_SCHEMA.fieldNames())
