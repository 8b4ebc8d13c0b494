"""The Spark types and schemas of the contract, derived from its models, never written by hand."""

from __future__ import annotations

import types
import typing
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Union

from pyspark.sql.types import (
    DataType,
    DecimalType,
    DoubleType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from ad_marketing_pipeline.contract.grammar import MONEY_PRECISION, MONEY_SCALE
from ad_marketing_pipeline.contract.models import EVENT_MODELS

# Money is exact (see MONEY_PRECISION).
MONEY_TYPE = DecimalType(MONEY_PRECISION, MONEY_SCALE)
# Sums of money (spend of an hour, of a period, revenue of a day): room for any number of events
# of the largest single value.
MONEY_SUM_TYPE = DecimalType(38, MONEY_SCALE)


def _spark_type(annotation: Any) -> DataType:
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _spark_type(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(members) != 1:
            raise TypeError(f"cannot derive a Spark type for union {annotation!r}")
        return _spark_type(members[0])
    if origin is Literal:
        return StringType()
    if origin is dict or annotation is dict:
        # Nested objects are kept as JSON text per key; Spark's JSON reader does that for strings.
        return MapType(StringType(), StringType())
    simple: dict[Any, DataType] = {
        str: StringType(),
        Decimal: MONEY_TYPE,
        int: LongType(),
        float: DoubleType(),
        datetime: TimestampType(),
    }
    if annotation in simple:
        return simple[annotation]
    raise TypeError(f"cannot derive a Spark type for {annotation!r}")


def _derive_schema() -> StructType:
    fields: dict[str, DataType] = {}
    for model in EVENT_MODELS.values():
        for name, field in model.model_fields.items():
            data_type = _spark_type(field.annotation)
            known = fields.setdefault(name, data_type)
            if known != data_type:
                raise TypeError(
                    f"field {name!r} has type {data_type} in {model.__name__} "
                    f"but {known} in another event type"
                )
    return StructType([StructField(name, data_type, True) for name, data_type in fields.items()])


def payload_schema() -> StructType:
    """Schema to parse a raw JSON payload with: every contract field as text. Spark keeps any
    JSON value of a string field as its text, so a value of the wrong type never fails the
    record; `typed_field_column` converts each field and gives null where it does not fit."""
    return StructType([StructField(field.name, StringType()) for field in event_schema().fields])


def event_schema() -> StructType:
    """Schema of a parsed event: every contract field, typed, all nullable."""
    return _derive_schema()
