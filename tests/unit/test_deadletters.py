"""Finding the events a layer cannot process: a real Spark data error (ANSI division by zero,
SQLSTATE 22012) raised by some events of a batch is traced to them by bisection, and every other
event is processed."""

from __future__ import annotations

import pytest
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ad_marketing_pipeline.deadletters import excluding, is_data_error, process_isolating

EVENTS = [("e-1", 1), ("e-2", 0), ("e-3", 2), ("e-4", 0), ("e-5", 5), ("e-6", 3)]


def batch(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame(EVENTS, "event_id string, divisor int")


class Layer:
    """Divides by each event's divisor (a zero fails the whole Spark job) and remembers the
    events it processed with success."""

    def __init__(self) -> None:
        self.processed: set[str] = set()

    def __call__(self, rows: DataFrame, excluded: frozenset[str]) -> None:
        kept = excluding(rows, excluded)
        result = kept.select("event_id", (F.lit(60) / F.col("divisor")).alias("share")).collect()
        self.processed |= {row["event_id"] for row in result}


def test_a_batch_without_poison_is_processed_once(spark: SparkSession) -> None:
    layer = Layer()
    clean = batch(spark).filter(F.col("divisor") != 0)
    assert process_isolating(clean, layer, frozenset()) == {}
    assert layer.processed == {"e-1", "e-3", "e-5", "e-6"}


def test_the_events_whose_processing_fails_are_found_and_the_rest_processed(
    spark: SparkSession,
) -> None:
    layer = Layer()
    poison = process_isolating(batch(spark), layer, frozenset())
    assert sorted(poison) == ["e-2", "e-4"]
    assert all("DIVIDE_BY_ZERO" in reason for reason in poison.values())
    assert layer.processed == {"e-1", "e-3", "e-5", "e-6"}


def test_events_set_aside_before_are_left_out_from_the_start(spark: SparkSession) -> None:
    layer = Layer()
    assert process_isolating(batch(spark), layer, frozenset({"e-2", "e-4"})) == {}
    assert layer.processed == {"e-1", "e-3", "e-5", "e-6"}


def test_an_error_that_is_not_about_the_data_fails_the_batch(spark: SparkSession) -> None:
    def broken(rows: DataFrame, excluded: frozenset[str]) -> None:
        rows.select("no_such_column").collect()

    with pytest.raises(AnalysisException) as raised:
        process_isolating(batch(spark), broken, frozenset())
    assert not is_data_error(raised.value)
