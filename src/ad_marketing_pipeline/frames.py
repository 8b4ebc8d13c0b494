"""Small frames of driver-side rows: a schema of nullable columns (`schema_of`) and a DataFrame
of a few rows the driver holds (`local_frame`), sent to Spark as one Arrow table; and UTC days
(`utc_day`, `within_days`): the days a batch touches, brought to the driver, become literal
bounds on a timestamp, by which Delta skips files. No table is read or written here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import reduce
from typing import Any

import pyarrow as pa
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import (
    ArrayType,
    DataType,
    MapType,
    StructField,
    StructType,
    TimestampType,
)


def _arrow_value(value: Any, data_type: DataType) -> Any:
    """A Python value as pyarrow takes it for `data_type`: structs as dicts (from a Row, a
    tuple or a mapping), maps as (key, value) pairs, naive timestamps as the local time they
    stand for (as Spark's own conversion reads them)."""
    if value is None:
        return None
    converted = value
    if isinstance(data_type, StructType):
        fields = data_type.fields
        items = [value.get(f.name) for f in fields] if isinstance(value, Mapping) else list(value)
        converted = {
            f.name: _arrow_value(item, f.dataType) for f, item in zip(fields, items, strict=True)
        }
    elif isinstance(data_type, ArrayType):
        converted = [_arrow_value(item, data_type.elementType) for item in value]
    elif isinstance(data_type, MapType):
        converted = [
            (_arrow_value(key, data_type.keyType), _arrow_value(item, data_type.valueType))
            for key, item in dict(value).items()
        ]
    elif isinstance(data_type, TimestampType) and isinstance(value, datetime):
        converted = value.astimezone(UTC)
    return converted


def schema_of(**columns: DataType) -> StructType:
    """A schema of nullable columns, in the order given: `schema_of(event_id=StringType())`."""
    return StructType([StructField(name, data_type) for name, data_type in columns.items()])


def local_frame(
    spark: SparkSession, rows: Iterable[Sequence[Any] | Mapping[str, Any]], schema: StructType
) -> DataFrame:
    """A small DataFrame of rows held by the driver (tuples, Rows or dicts), sent to Spark as
    one Arrow table. Spark's createDataFrame of a Python list becomes a Python RDD instead:
    every job that reads it then waits for a Python worker, about half a second each on a small
    machine: a second of each serving micro-batch, and many seconds of Gold's."""
    records = [_arrow_value(row, schema) for row in rows]
    table = pa.Table.from_pylist(records, schema=to_arrow_schema(schema))
    return spark.createDataFrame(table, schema=schema)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECONDS_PER_DAY = 86_400


def utc_day(timestamp: Column) -> Column:
    """The UTC day of a timestamp, as whole days since 1970-01-01 (whatever the session's
    time zone)."""
    return F.floor(F.unix_seconds(timestamp) / _SECONDS_PER_DAY).cast("int")


def utc_date(timestamp: Column) -> Column:
    """The UTC date of a timestamp (whatever the session's time zone)."""
    return F.date_from_unix_date(utc_day(timestamp))


def date_of_day(day: int) -> date:
    """The date of a `utc_day` number."""
    return (EPOCH + timedelta(days=day)).date()


#: More spans than this become one, from the first to the last: a filter of thousands of ranges
#: (a batch with events on every day of years) would cost more to plan than it saves.
MAX_DAY_SPANS = 64


def day_spans(days: Iterable[int], margin_days: int = 0) -> list[tuple[int, int]]:
    """The days within `margin_days` of one of `days` (`utc_day` numbers), as few
    [first, end) spans (at most MAX_DAY_SPANS: beyond, one span covering them all)."""
    spans: list[tuple[int, int]] = []
    for day in sorted(set(days)):
        start, end = day - margin_days, day + margin_days + 1
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            spans.append((start, end))
    if len(spans) > MAX_DAY_SPANS:
        return [(spans[0][0], spans[-1][1])]
    return spans


def within_days(timestamp: Column, days: Iterable[int], margin_days: int = 0) -> Column:
    """`timestamp` falls on one of `days` (`utc_day` numbers), give or take `margin_days`.
    The bounds are literals, so Delta skips every file whose statistics lie outside them.
    No days, nothing."""
    return reduce(
        Column.__or__,
        (
            (timestamp >= F.lit(EPOCH + timedelta(days=start)))
            & (timestamp < F.lit(EPOCH + timedelta(days=end)))
            for start, end in day_spans(days, margin_days)
        ),
        F.lit(False),
    )
