"""Helpers shared by the tests (importable as `helpers`, see pythonpath in pyproject.toml)."""

from __future__ import annotations

from chispa import assert_df_equality
from pyspark.sql import DataFrame
from pyspark.sql.types import MapType


def _sorted_rows(frame: DataFrame) -> DataFrame:
    # Map columns cannot be sorted on in Spark; every other column gives the order.
    keys = [f.name for f in frame.schema.fields if not isinstance(f.dataType, MapType)]
    return frame.orderBy(*keys)


def assert_frames_equal(actual: DataFrame, expected: DataFrame, *, ordered: bool = False) -> None:
    """The one DataFrame comparison of the suite (chispa): same schema, same rows."""
    if not ordered:
        actual, expected = _sorted_rows(actual), _sorted_rows(expected)
    assert_df_equality(actual, expected, ignore_nullable=True)
