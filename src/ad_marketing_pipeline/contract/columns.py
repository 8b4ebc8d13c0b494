"""Spark column expressions that read the contract's text forms as `models` does in Python.

Blank text (`blank_column`), timestamps (`event_timestamp_column`), a field's JSON text as its
contract type (`typed_field_column`) and the event id (`event_id_column`).
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.types import DataType, DecimalType, MapType, StringType, TimestampType

from ad_marketing_pipeline.contract.event_ids import ID_SEPARATOR, OWN_ID_FIELD, PAYLOAD_PADDING
from ad_marketing_pipeline.contract.grammar import (
    ASCII_WHITESPACE,
    BLANK_PATTERN,
    MONEY_TEXT_PATTERN,
    TIMESTAMP_PATTERN,
)


def _trimmed(text: Column) -> Column:
    """`text` without the ASCII whitespace around it (Spark's `trim` takes spaces only)."""
    return F.regexp_replace(text, f"^[{ASCII_WHITESPACE}]+|[{ASCII_WHITESPACE}]+$", "")


def blank_column(text: Column) -> Column:
    """Whether a text column counts as absent (never null): null, or blank (the Spark form of
    `is_blank`)."""
    return text.isNull() | text.rlike(BLANK_PATTERN)


def event_timestamp_column(text: Column) -> Column:
    """ISO-8601 text (TIMESTAMP_PATTERN) as a TIMESTAMP, as `parse_event_timestamp` reads it:
    text without a zone is UTC, a date alone its midnight; anything else is null."""
    trimmed = _trimmed(text)
    matches = trimmed.rlike(TIMESTAMP_PATTERN)

    def part(group: int, default: str) -> Column:
        found = F.regexp_extract(trimmed, TIMESTAMP_PATTERN, group)
        return F.when(found != "", found).otherwise(F.lit(default))

    # Spark's parser wants seconds and a zone: fill in the ones the text leaves out.
    normalized = F.concat(part(1, ""), F.lit("T"), part(2, "00:00"), part(3, ":00"), part(4, "Z"))
    parsed = F.try_to_timestamp(normalized)
    # An instant outside years 1 to 9999 in UTC (9999-12-31T23:00:00-05:00) is not one Python
    # holds either: unparsable in both.
    in_range = F.year(parsed).between(1, 9999)
    return F.when(matches & in_range, parsed)


def typed_field_column(text: Column, data_type: DataType) -> Column:
    """A field's JSON text as its contract type; null when absent or when it does not fit
    (e.g. "abc" or 1e30 for an amount). Whether a value is a JSON string or object (as a text
    field or metadata must be) is `payload_kinds_of`'s to say."""
    if isinstance(data_type, StringType):
        return text
    if isinstance(data_type, TimestampType):
        return event_timestamp_column(text)
    if isinstance(data_type, MapType):
        return F.when(F.trim(text).startswith("{"), F.from_json(text, data_type.simpleString()))
    if isinstance(data_type, DecimalType):
        # Only plain decimal text (MONEY_TEXT_PATTERN): Java would also read other scripts'
        # digits, as Python would underscores.
        return F.when(text.rlike(MONEY_TEXT_PATTERN), _trimmed(text).try_cast(data_type))
    return text.try_cast(data_type)


def event_id_column(payload: Column) -> Column:
    """The event's id from flat contract columns in scope (`event_type`, `click_id`,
    `conversion_id`, `event_id`) and its raw JSON `payload`."""
    own_id = F.coalesce(
        *(
            F.when(F.col("event_type") == event_type, F.nullif(F.col(field), F.lit("")))
            for event_type, field in OWN_ID_FIELD.items()
        )
    )
    payload_hash = F.sha2(F.regexp_replace(payload, PAYLOAD_PADDING, ""), 256)
    given = F.coalesce(own_id, F.nullif(F.col("event_id"), F.lit("")), payload_hash)
    return F.concat(F.col("event_type"), F.lit(ID_SEPARATOR), given)
