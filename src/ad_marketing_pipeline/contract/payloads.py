"""Raw JSON payloads parsed in Spark into contract fields, once per payload.

A payload becomes a struct of JSON VARIANT values (`payload_json_column`), from which come each
field's text (`payload_texts_of`), the kind of JSON value it holds (`payload_kinds_of`) and its
contract type (`parse_payloads`'s `event`).
"""

from __future__ import annotations

from functools import cache

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import MapType, StringType, StructField, StructType, VariantType

from ad_marketing_pipeline.contract.columns import typed_field_column
from ad_marketing_pipeline.contract.grammar import ASCII_WHITESPACE
from ad_marketing_pipeline.contract.spark_schema import event_schema, payload_schema

CORRUPT_RECORD_FIELD = "_corrupt_record"
JSON_STRING = "STRING"  # schema_of_variant's name of a JSON string
JSON_OBJECT = "OBJECT"  # ... and the start of an object's


def json_text_column(raw: Column) -> Column:
    """A payload's JSON text without a leading UTF-8 byte-order mark (some tools write one at
    the start of every file), which a JSON parser would reject."""
    return F.regexp_replace(raw, "^\ufeff", "")


def payload_json_column(raw_payload: Column) -> Column:
    """A raw JSON payload as a struct of every contract field's JSON value (a VARIANT, null
    when absent); null unless the payload is exactly one JSON object: single quotes, a second
    value or text after the object make it malformed, as for any JSON parser."""
    raw = json_text_column(raw_payload)
    parse_schema = StructType(
        [
            *(StructField(field.name, VariantType()) for field in payload_schema().fields),
            StructField(CORRUPT_RECORD_FIELD, StringType()),
        ]
    )
    parsed = F.from_json(
        raw,
        parse_schema,
        {
            "mode": "PERMISSIVE",
            "columnNameOfCorruptRecord": CORRUPT_RECORD_FIELD,
            "allowSingleQuotes": "false",
        },
    )
    is_object = F.regexp_replace(raw, f"^[{ASCII_WHITESPACE}]+", "").startswith("{")
    # One value and nothing after it: the payload as the only item of a JSON array. (NaN and
    # Infinity, which the field parser takes as numbers, stand in as 0 for this check.)
    single = F.json_array_length(
        F.concat(F.lit("["), F.regexp_replace(raw, "-?Infinity|NaN", "0"), F.lit("]"))
    )
    valid = parsed.isNotNull() & parsed[CORRUPT_RECORD_FIELD].isNull() & is_object & (single == 1)
    fields = [parsed[field.name].alias(field.name) for field in payload_schema().fields]
    return F.when(F.coalesce(valid, F.lit(False)), F.struct(*fields))


def _present(value: Column) -> Column:
    return value.isNotNull() & ~F.is_variant_null(value)


def json_value_text(value: Column) -> Column:
    """A JSON value's text: a string's own text, any other value as JSON; null when absent or
    JSON null."""
    is_string = F.schema_of_variant(value) == JSON_STRING
    return F.when(
        _present(value),
        F.when(is_string, F.variant_get(value, "$", "string")).otherwise(F.to_json(value)),
    )


def payload_texts_of(json_values: Column) -> Column:
    """The struct of field texts of `payload_json_column`'s struct of JSON values."""
    texts = [
        json_value_text(json_values[field.name]).alias(field.name)
        for field in payload_schema().fields
    ]
    return F.when(json_values.isNotNull(), F.struct(*texts))


def payload_kinds_of(json_values: Column) -> Column:
    """Per contract field of a text or map type, the kind of JSON value it holds (STRING,
    OBJECT<...>, BIGINT, BOOLEAN, ...; null when absent or JSON null)."""
    kinds = [
        F.when(
            _present(json_values[field.name]), F.schema_of_variant(json_values[field.name])
        ).alias(field.name)
        for field in event_schema().fields
        if isinstance(field.dataType, StringType | MapType)
    ]
    return F.when(json_values.isNotNull(), F.struct(*kinds))


def parse_payloads(records: DataFrame, raw_payload: str = "payload") -> DataFrame:
    """Adds `texts` (every contract field's JSON text, null if the raw payload is not one JSON
    object), `kinds` (the kind of JSON value of each text or map field: a text field must hold
    a JSON string, metadata an object) and `event` (the fields as their contract types; null
    where a value does not fit, metadata null unless an object).

    Each step is its own column so that Spark parses the payload once: as one nested
    expression, every field would repeat the whole parse. Unknown extra fields are not in
    `event`; callers that keep them read them from the raw text.
    """
    json_values, texts, kinds, event = _parse_columns(raw_payload)
    return (
        records.withColumn("_json", json_values)
        .withColumn("texts", texts)
        .withColumn("kinds", kinds)
        .drop("_json")
        .withColumn("event", event)
    )


@cache
def _parse_columns(raw_payload: str) -> tuple[Column, Column, Column, Column]:
    """`parse_payloads`' four columns, built once per process: each is an expression of
    thousands of nodes, and building one from Python costs a call into the JVM per node
    (seconds per micro-batch if built for every batch)."""
    typed = []
    for field in event_schema().fields:
        value = typed_field_column(F.col("texts")[field.name], field.dataType)
        if isinstance(field.dataType, MapType):
            value = F.when(F.col(f"kinds.{field.name}").startswith(JSON_OBJECT), value)
        typed.append(value.alias(field.name))
    return (
        payload_json_column(F.col(raw_payload)),
        payload_texts_of(F.col("_json")),
        payload_kinds_of(F.col("_json")),
        F.when(F.col("texts").isNotNull(), F.struct(*typed)),
    )
