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
    BooleanType,
    DataType,
    DateType,
    DecimalType,
    DoubleType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from ad_marketing_pipeline import contract
from ad_marketing_pipeline.config import PipelineConfig, TableKey

# Table properties only Databricks knows (open-source Delta rejects unknown delta.* keys).
DATABRICKS_ONLY_PROPERTIES = {
    "delta.autoOptimize.optimizeWrite": "true",
    "delta.autoOptimize.autoCompact": "true",
}


def column(name: str, data_type: DataType, comment: str, *, nullable: bool = True) -> StructField:
    return StructField(name, data_type, nullable, metadata={"comment": comment})


KAFKA_HEADERS_TYPE = ArrayType(
    StructType([StructField("key", StringType()), StructField("value", BinaryType())])
)

BRONZE_SCHEMA = StructType(
    [
        column("payload", StringType(), "the record's value exactly as received"),
        column("key", StringType(), "Kafka / Event Hubs message key"),
        column("headers", KAFKA_HEADERS_TYPE, "Kafka message headers"),
        column("source_kind", StringType(), "files, kafka or eventhubs", nullable=False),
        column("topic", StringType(), "Kafka topic or event hub"),
        column("partition", IntegerType(), "Kafka / Event Hubs partition"),
        column(
            "offset",
            LongType(),
            "offset within the partition; for a landing file, the line's number in it (from 0)",
        ),
        column("source_timestamp", TimestampType(), "broker / enqueued time"),
        column("file_path", StringType(), "landing file the line came from"),
        column("file_modification_time", TimestampType(), "landing file mtime"),
        column("ingested_at", TimestampType(), "when Bronze stored it", nullable=False),
        column("ingest_date", DateType(), "date of ingested_at (UTC)", nullable=False),
    ]
)


@dataclass(frozen=True)
class TableSpec:
    """How one table is created."""

    key: TableKey
    schema: StructType
    comment: str
    cluster_by: tuple[str, ...] = ()
    partitioned_by: tuple[str, ...] = ()
    properties: dict[str, str] = field(default_factory=dict)


BRONZE_EVENTS = TableSpec(
    key=TableKey.BRONZE_EVENTS,
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


def sql_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _column_sql(column: StructField) -> str:
    not_null = "" if column.nullable else " NOT NULL"
    comment = column.metadata.get("comment")
    described = f" COMMENT {sql_string(comment)}" if comment else ""
    return f"`{column.name}` {column.dataType.simpleString()}{not_null}{described}"


def create_table_sql(table_name: str, spec: TableSpec, *, on_databricks: bool) -> str:
    """`CREATE TABLE IF NOT EXISTS` for `spec` under `table_name`."""
    properties = dict(spec.properties)
    if on_databricks:
        properties.update(DATABRICKS_ONLY_PROPERTIES)
    columns = ",\n  ".join(_column_sql(column) for column in spec.schema.fields)
    clustering = f"\nCLUSTER BY ({', '.join(spec.cluster_by)})" if spec.cluster_by else ""
    if spec.partitioned_by:
        clustering = f"\nPARTITIONED BY ({', '.join(spec.partitioned_by)})"
    listed = ", ".join(f"'{key}' = '{value}'" for key, value in sorted(properties.items()))
    table_properties = f"\nTBLPROPERTIES ({listed})" if listed else ""
    return (
        f"CREATE TABLE IF NOT EXISTS {table_name} (\n  {columns}\n) USING DELTA{clustering}"
        f"\nCOMMENT {sql_string(spec.comment)}{table_properties}"
    )


def ensure_table(
    spark: SparkSession, config: PipelineConfig, spec: TableSpec, *, on_databricks: bool
) -> str:
    """Create the table if it does not exist, or bring one an earlier version created up to
    the spec (`evolve_table`); returns its fully qualified name."""
    table_name = config.table(spec.key)
    existed = spark.catalog.tableExists(table_name)
    spark.sql(create_table_sql(table_name, spec, on_databricks=on_databricks))
    if existed:
        # (A table this call created is the spec already; reading a new table's state back
        # costs more than creating it.)
        evolve_table(spark, table_name, spec.schema)
        sync_properties(spark, table_name, spec)
    return table_name


def sync_properties(spark: SparkSession, table_name: str, spec: TableSpec) -> None:
    """Set the spec's table properties a table created by an earlier version lacks, and lift
    `delta.appendOnly` where the spec no longer asks for it (a table that is now pruned)."""
    detail = spark.sql(f"DESCRIBE DETAIL {table_name}").first()
    current = dict(detail["properties"] or {}) if detail is not None else {}
    wanted = dict(spec.properties)
    if current.get("delta.appendOnly") == "true" and "delta.appendOnly" not in wanted:
        wanted["delta.appendOnly"] = "false"
    changed = {key: value for key, value in wanted.items() if current.get(key) != value}
    if changed:
        listed = ", ".join(f"'{key}' = '{value}'" for key, value in sorted(changed.items()))
        spark.sql(f"ALTER TABLE {table_name} SET TBLPROPERTIES ({listed})")


def _missing_columns(
    wanted: StructType, current: StructType, prefix: str = ""
) -> list[tuple[str, StructField]]:
    """(dotted parent path, field) of the fields of `wanted` that `current` lacks, nested struct
    fields included."""
    have = {known.name: known for known in current.fields}
    missing: list[tuple[str, StructField]] = []
    for wanted_field in wanted.fields:
        known = have.get(wanted_field.name)
        if known is None:
            missing.append((prefix, wanted_field))
        elif isinstance(wanted_field.dataType, StructType) and isinstance(
            known.dataType, StructType
        ):
            missing += _missing_columns(
                wanted_field.dataType, known.dataType, f"{prefix}`{wanted_field.name}`."
            )
    return missing


def _narrower_decimals(wanted: StructType, current: StructType) -> list[StructField]:
    have = {known.name: known.dataType for known in current.fields}
    widened = []
    for wanted_field in wanted.fields:
        known = have.get(wanted_field.name)
        if (
            isinstance(wanted_field.dataType, DecimalType)
            and isinstance(known, DecimalType)
            and wanted_field.dataType.precision > known.precision
        ):
            widened.append(wanted_field)
    return widened


def evolve_table(spark: SparkSession, table_name: str, schema: StructType) -> None:
    """Add the columns (nested struct fields too) `schema` has and the table lacks, and widen
    its decimal columns that `schema` makes wider (Delta's type widening): a table created by
    an earlier version of the package keeps its rows and takes the new writes."""
    current = spark.table(table_name).schema
    missing = _missing_columns(schema, current)
    if missing:
        # A column added to rows that exist cannot be NOT NULL: they have no value for it.
        added = ", ".join(
            f"{parent}{_column_sql(StructField(field.name, field.dataType, True, field.metadata))}"
            for parent, field in missing
        )
        spark.sql(f"ALTER TABLE {table_name} ADD COLUMNS ({added})")
    widened = _narrower_decimals(schema, current)
    if widened:
        spark.sql(
            f"ALTER TABLE {table_name} SET TBLPROPERTIES ('delta.enableTypeWidening' = 'true')"
        )
        for field in widened:
            spark.sql(
                f"ALTER TABLE {table_name} ALTER COLUMN `{field.name}` "
                f"TYPE {field.dataType.simpleString()}"
            )


def _silver_event_fields() -> list[StructField]:
    fields = [column("event_id", StringType(), "unique id of the event", nullable=False)]
    for contract_field in contract.event_schema().fields:
        if contract_field.name == "event_id":
            continue
        name = "event_time" if contract_field.name == "timestamp" else contract_field.name
        fields.append(StructField(name, contract_field.dataType, True))
    return fields


_SOURCE_FIELDS = [
    BRONZE_SCHEMA["source_kind"],
    BRONZE_SCHEMA["topic"],
    BRONZE_SCHEMA["partition"],
    BRONZE_SCHEMA["offset"],
    BRONZE_SCHEMA["file_path"],
    BRONZE_SCHEMA["ingested_at"],
]

RECEIVED_AT = column(
    "received_at",
    TimestampType(),
    "when the record was received: broker / enqueued time, else when Bronze ingested it; the "
    "time rules (future, too old) judge the event against it",
)

SILVER_EVENTS_SCHEMA = StructType(
    [
        *_silver_event_fields(),
        column("extra_fields", MapType(StringType(), StringType()), "fields outside the contract"),
        *_SOURCE_FIELDS,
        RECEIVED_AT,
        column("is_valid", BooleanType(), "always true: invalid records are in quarantine"),
        column("processed_at", TimestampType(), "when Silver stored the event"),
        column(
            "silver_query_id", StringType(), "the Bronze -> Silver stream (checkpoint) storing it"
        ),
        column("silver_batch_id", LongType(), "its micro-batch that stored it"),
        column("ingest_year", IntegerType(), "year of ingested_at (UTC)"),
        column("ingest_month", IntegerType(), "month of ingested_at"),
        column("ingest_day", IntegerType(), "day of month of ingested_at"),
        column("ingest_hour", IntegerType(), "hour of ingested_at"),
    ]
)

REASON_TYPE = StructType([StructField("code", StringType()), StructField("field", StringType())])

QUARANTINE_SCHEMA = StructType(
    [
        BRONZE_SCHEMA["payload"],
        column("reasons", ArrayType(REASON_TYPE), "every rule the record failed (code, field)"),
        column("reason_codes", ArrayType(StringType()), "the reasons' codes"),
        *_SOURCE_FIELDS,
        RECEIVED_AT,
        column("quarantined_at", TimestampType(), "when Silver quarantined it"),
        column("silver_query_id", StringType(), "the Bronze -> Silver stream that quarantined it"),
        column("silver_batch_id", LongType(), "its micro-batch that quarantined it"),
    ]
)

DATA_QUALITY_SCHEMA = StructType(
    [
        column("query_name", StringType(), "the streaming query"),
        column("batch_id", LongType(), "its micro-batch"),
        column("processed_at", TimestampType(), "when the batch was processed"),
        column("query_id", StringType(), "the query's id (its checkpoint's)"),
        column("input_rows", LongType(), "Bronze records in the batch"),
        column("valid_rows", LongType(), "records that passed every rule"),
        column("inserted_rows", LongType(), "new events written to Silver"),
        column(
            "duplicate_rows",
            LongType(),
            "valid records whose event_id Silver already had, or another record of the batch "
            "received before them has (the first received copy wins), and invalid records "
            "quarantine already holds (the same source position read again)",
        ),
        column("quarantined_rows", LongType(), "records added to quarantine"),
        column(
            "quarantined_by_reason",
            MapType(StringType(), LongType()),
            "quarantined records per reason code (a record may count under several)",
        ),
    ]
)

SILVER_EVENTS = TableSpec(
    key=TableKey.SILVER_EVENTS,
    schema=SILVER_EVENTS_SCHEMA,
    comment="Valid, unique events parsed against the event contract.",
    partitioned_by=("ingest_year", "ingest_month", "ingest_day", "ingest_hour"),
    properties={"delta.enableChangeDataFeed": "true"},
)
SILVER_QUARANTINE = TableSpec(
    key=TableKey.SILVER_QUARANTINE,
    schema=QUARANTINE_SCHEMA,
    comment="Records that failed validation, as received, with every reason.",
    properties={"delta.enableChangeDataFeed": "true", "delta.appendOnly": "true"},
)
OPS_DATA_QUALITY = TableSpec(
    key=TableKey.OPS_DATA_QUALITY,
    schema=DATA_QUALITY_SCHEMA,
    comment="Per streaming batch: input, valid, inserted, duplicate and quarantined counts.",
    properties={"delta.appendOnly": "true"},
)

STREAMING_PROGRESS_SCHEMA = StructType(
    [
        column(
            "query_name", StringType(), "the streaming query: bronze, silver, gold or attribution"
        ),
        column("query_id", StringType(), "the query's id (stable across restarts)"),
        column("run_id", StringType(), "this start of the query"),
        column("batch_id", LongType(), "its micro-batch"),
        column("batch_started_at", TimestampType(), "when the batch's trigger fired"),
        column("recorded_at", TimestampType(), "when the batch's progress was recorded"),
        column("input_rows", LongType(), "rows the batch read"),
        column("input_rows_per_second", DoubleType(), "rate at which rows arrived"),
        column("processed_rows_per_second", DoubleType(), "rate at which the batch processed"),
        column("batch_duration_ms", LongType(), "the batch's wall-clock duration"),
        column("watermark", TimestampType(), "the query's event-time watermark, if it has one"),
        column(
            "newest_event_time",
            TimestampType(),
            "newest event time the batch read (Bronze: the newest source timestamp)",
        ),
        column("lag_seconds", DoubleType(), "recorded_at minus newest_event_time"),
        column(
            "spark_jobs",
            LongType(),
            "Spark jobs the batch's writes ran (null on Spark Connect, which cannot count them)",
        ),
    ]
)

OPS_STREAMING_PROGRESS = TableSpec(
    key=TableKey.OPS_STREAMING_PROGRESS,
    schema=STREAMING_PROGRESS_SCHEMA,
    comment=(
        "Per streaming query and batch: rows, rates, duration, newest event time and lag "
        "(ops.retention_days of them)."
    ),
)


DEAD_LETTERS_SCHEMA = StructType(
    [
        column("layer", StringType(), "the layer that could not process the record"),
        column("query_id", StringType(), "its streaming query (checkpoint)"),
        column("batch_id", LongType(), "the micro-batch that met the record"),
        column("event_id", StringType(), "the Silver event"),
        column("event_type", StringType(), "its type"),
        column("reason", StringType(), "the error the layer met processing it"),
        column("record", StringType(), "the Silver row as JSON"),
        column("dead_lettered_at", TimestampType(), "when it was set aside"),
    ]
)

OPS_DEAD_LETTERS = TableSpec(
    key=TableKey.OPS_DEAD_LETTERS,
    schema=DEAD_LETTERS_SCHEMA,
    comment=(
        "Silver events a later layer (Gold, attribution) could not process, with the error: "
        "that layer leaves them out and its micro-batch completes."
    ),
    properties={"delta.appendOnly": "true"},
)
