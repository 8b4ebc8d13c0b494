"""The pipeline's tables: their schemas, keys and properties, and the DDL that creates them.

One `TableSpec` per table; `create_table_sql` turns it into `CREATE TABLE IF NOT EXISTS` for the
runtime at hand (Databricks gets its extra table properties; clustering and Change Data Feed are
used on both, since open-source Delta has them too).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import SparkSession
from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    DataType,
    DateType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from ad_marketing_pipeline.config import PipelineConfig

# Table properties only Databricks knows (open-source Delta rejects unknown delta.* keys).
DATABRICKS_ONLY_PROPERTIES = {
    "delta.autoOptimize.optimizeWrite": "true",
    "delta.autoOptimize.autoCompact": "true",
}


def _column(name: str, data_type: DataType, comment: str, *, nullable: bool = True) -> StructField:
    return StructField(name, data_type, nullable, metadata={"comment": comment})


KAFKA_HEADERS_TYPE = ArrayType(
    StructType([StructField("key", StringType()), StructField("value", BinaryType())])
)

BRONZE_SCHEMA = StructType(
    [
        _column("payload", StringType(), "the record's value exactly as received"),
        _column("key", StringType(), "Kafka / Event Hubs message key"),
        _column("headers", KAFKA_HEADERS_TYPE, "Kafka message headers"),
        _column("source_kind", StringType(), "files, kafka or eventhubs", nullable=False),
        _column("topic", StringType(), "Kafka topic or event hub"),
        _column("partition", IntegerType(), "Kafka / Event Hubs partition"),
        _column("offset", LongType(), "offset within the partition"),
        _column("source_timestamp", TimestampType(), "broker / enqueued time"),
        _column("file_path", StringType(), "landing file the line came from"),
        _column("file_modification_time", TimestampType(), "landing file mtime"),
        _column("ingested_at", TimestampType(), "when Bronze stored it", nullable=False),
        _column("ingest_date", DateType(), "date of ingested_at (UTC)", nullable=False),
    ]
)


@dataclass(frozen=True)
class TableSpec:
    """How one table is created."""

    key: str  # attribute of `TableNames`
    schema: StructType
    comment: str
    cluster_by: tuple[str, ...] = ()
    properties: dict[str, str] = field(default_factory=dict)


BRONZE_EVENTS = TableSpec(
    key="bronze_events",
    schema=BRONZE_SCHEMA,
    comment="Every record received from landing files, Kafka or Event Hubs, as received.",
    cluster_by=("ingest_date",),
    properties={
        "delta.enableChangeDataFeed": "true",
        "delta.appendOnly": "true",
        # Min/max statistics of the raw payload, key and headers never skip a file; collecting
        # them costs time on every write. Keep statistics for the columns queries filter on.
        "delta.dataSkippingStatsColumns": (
            "source_kind,topic,partition,offset,source_timestamp,file_path,ingested_at,ingest_date"
        ),
    },
)


def _sql_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _column_sql(column: StructField) -> str:
    not_null = "" if column.nullable else " NOT NULL"
    comment = column.metadata.get("comment")
    described = f" COMMENT {_sql_string(comment)}" if comment else ""
    return f"`{column.name}` {column.dataType.simpleString()}{not_null}{described}"


def create_table_sql(table_name: str, spec: TableSpec, *, on_databricks: bool) -> str:
    """`CREATE TABLE IF NOT EXISTS` for `spec` under `table_name`."""
    properties = dict(spec.properties)
    if on_databricks:
        properties.update(DATABRICKS_ONLY_PROPERTIES)
    columns = ",\n  ".join(_column_sql(column) for column in spec.schema.fields)
    clustering = f"\nCLUSTER BY ({', '.join(spec.cluster_by)})" if spec.cluster_by else ""
    listed = ", ".join(f"'{key}' = '{value}'" for key, value in sorted(properties.items()))
    table_properties = f"\nTBLPROPERTIES ({listed})" if listed else ""
    return (
        f"CREATE TABLE IF NOT EXISTS {table_name} (\n  {columns}\n) USING DELTA{clustering}"
        f"\nCOMMENT {_sql_string(spec.comment)}{table_properties}"
    )


def ensure_table(
    spark: SparkSession, config: PipelineConfig, spec: TableSpec, *, on_databricks: bool
) -> str:
    """Create the table if it does not exist; returns its fully qualified name."""
    table_name = config.table(spec.key)
    spark.sql(create_table_sql(table_name, spec, on_databricks=on_databricks))
    return table_name
