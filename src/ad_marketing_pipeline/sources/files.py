"""JSON-lines landing files as a stream of received records: Auto Loader (`cloudFiles`) on
Databricks, Spark's file stream locally. Each line is one record; the file path is kept."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import IntegerType, LongType, StringType, TimestampType

from ad_marketing_pipeline.tables import KAFKA_HEADERS_TYPE


def read_landing_files(
    spark: SparkSession,
    path: str,
    *,
    file_pattern: str,
    max_files_per_trigger: int | None,
    use_auto_loader: bool,
) -> DataFrame:
    """A stream of the lines of the files matching `file_pattern` in `path` (and new ones)."""
    if use_auto_loader:
        reader = spark.readStream.format("cloudFiles").option("cloudFiles.format", "text")
        if max_files_per_trigger is not None:
            reader = reader.option("cloudFiles.maxFilesPerTrigger", str(max_files_per_trigger))
    else:
        reader = spark.readStream.format("text")
        if max_files_per_trigger is not None:
            reader = reader.option("maxFilesPerTrigger", str(max_files_per_trigger))
    lines = reader.option("pathGlobFilter", file_pattern).load(path)
    return lines.select(
        F.col("value").alias("payload"),
        F.lit(None).cast(StringType()).alias("key"),
        F.lit(None).cast(KAFKA_HEADERS_TYPE).alias("headers"),
        F.lit("files").alias("source_kind"),
        F.lit(None).cast(StringType()).alias("topic"),
        F.lit(None).cast(IntegerType()).alias("partition"),
        F.lit(None).cast(LongType()).alias("offset"),
        F.lit(None).cast(TimestampType()).alias("source_timestamp"),
        F.col("_metadata.file_path").alias("file_path"),
        F.col("_metadata.file_modification_time").alias("file_modification_time"),
    )
