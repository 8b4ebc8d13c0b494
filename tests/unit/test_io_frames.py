"""io.local_frame: driver-side rows as a DataFrame, sent as Arrow, equal to what Spark's own
createDataFrame makes of them."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pyspark.sql import Row, SparkSession
from pyspark.sql.types import (
    ArrayType,
    DateType,
    DecimalType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    TimestampType,
)

from ad_marketing_pipeline.frames import local_frame, schema_of
from helpers import assert_frames_equal

ORDER = schema_of(event_time=TimestampType(), rank=IntegerType())
SCHEMA = schema_of(
    id=StringType(),
    at=TimestampType(),
    day=DateType(),
    amount=DecimalType(18, 6),
    count=LongType(),
    by_reason=MapType(StringType(), LongType()),
    codes=ArrayType(StringType()),
    order=ORDER,
)
AT = datetime(2026, 11, 22, 10, 30, 1, 5)
TUPLE = ("a", AT, date(2026, 11, 22), Decimal("1.000001"), 7, {"x": 1}, ["c"], (AT, 2))


def test_tuples_rows_and_dicts_give_the_frame_spark_itself_makes(spark: SparkSession) -> None:
    as_row = Row(
        id="b", at=None, day=None, amount=None, count=None, by_reason=None, codes=None, order=None
    )
    values = ("c", *TUPLE[1:7], {"event_time": AT, "rank": 1})
    as_dict = dict(zip(SCHEMA.fieldNames(), values, strict=True))
    frame = local_frame(spark, [TUPLE, as_row, as_dict], SCHEMA)
    expected = spark.createDataFrame([TUPLE, tuple(as_row), ("c", *TUPLE[1:7], (AT, 1))], SCHEMA)
    assert frame.schema == SCHEMA
    assert_frames_equal(frame, expected)


def test_no_rows_give_an_empty_frame_of_the_schema(spark: SparkSession) -> None:
    frame = local_frame(spark, [], schema_of(event_id=StringType()))
    assert frame.schema == schema_of(event_id=StringType())
    assert frame.count() == 0
