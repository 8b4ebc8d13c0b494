"""The write primitives every micro-batch uses (io.MicroBatch), on real Delta tables: an append
or a whole-table replacement is done once per (stream, batch), a new stream's batch 0 is not
taken for an old stream's, and the MERGEs replace the rows of a scope whole, however often they
are repeated."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession

from ad_marketing_pipeline.config import FaultsConfig
from ad_marketing_pipeline.io import InjectedFaultError, MicroBatch
from helpers import assert_frames_equal

SCHEMA = "key string, value int"


@pytest.fixture
def table(spark: SparkSession, tmp_path: Path) -> str:
    name = f"writes_{tmp_path.name.replace('-', '_')}"
    spark.sql(f"CREATE TABLE {name} (key STRING, value INT) USING DELTA LOCATION '{tmp_path}/t'")
    return name


def rows(spark: SparkSession, *values: tuple[str, int]) -> DataFrame:
    return spark.createDataFrame(list(values), SCHEMA)


def test_an_append_is_done_once_per_stream_and_batch(spark: SparkSession, table: str) -> None:
    first = MicroBatch("silver", "stream-1", 0)
    first.append(rows(spark, ("a", 1)), table)
    MicroBatch("silver", "stream-1", 0).append(rows(spark, ("a", 1)), table)  # a replay
    MicroBatch("silver", "stream-1", 1).append(rows(spark, ("b", 2)), table)
    # A new checkpoint is a new stream: its batch 0 is new too.
    MicroBatch("silver", "stream-2", 0).append(rows(spark, ("c", 3)), table)

    assert_frames_equal(spark.table(table), rows(spark, ("a", 1), ("b", 2), ("c", 3)))


def test_appends_of_one_batch_to_one_table_are_told_apart_by_step(
    spark: SparkSession, table: str
) -> None:
    batch = MicroBatch("gold", "stream-1", 4)
    batch.append(rows(spark, ("a", 1)), table, step="first")
    batch.append(rows(spark, ("b", 2)), table, step="second")
    batch.append(rows(spark, ("b", 2)), table, step="second")  # repeated within the batch

    assert_frames_equal(spark.table(table), rows(spark, ("a", 1), ("b", 2)))


def test_a_whole_table_replacement_is_done_once_per_stream_and_batch(
    spark: SparkSession, table: str
) -> None:
    MicroBatch("serving", "stream-1", 0).replace_all_once(rows(spark, ("a", 1)), table)
    MicroBatch("serving", "stream-1", 1).replace_all_once(rows(spark, ("a", 2)), table)
    # Batch 1 replayed after a crash, with what a later state would write: skipped.
    MicroBatch("serving", "stream-1", 1).replace_all_once(rows(spark, ("z", 9)), table)

    assert_frames_equal(spark.table(table), rows(spark, ("a", 2)))


def test_an_upsert_replaces_matched_rows_and_repeats_harmlessly(
    spark: SparkSession, table: str
) -> None:
    batch = MicroBatch("attribution", "stream-1", 0)
    batch.upsert_by_keys(rows(spark, ("a", 1), ("b", 2)), table, ["key"])
    for _ in range(2):  # the batch's MERGE, and its replay
        MicroBatch("attribution", "stream-1", 1).upsert_by_keys(
            rows(spark, ("b", 20), ("c", 3)), table, ["key"]
        )

    assert_frames_equal(spark.table(table), rows(spark, ("a", 1), ("b", 20), ("c", 3)))


def test_an_upsert_can_delete_the_rows_of_its_scope_it_no_longer_has(
    spark: SparkSession, table: str
) -> None:
    batch = MicroBatch("attribution", "stream-1", 0)
    batch.upsert_by_keys(rows(spark, ("a", 1), ("b", 2), ("c", 3)), table, ["key"])
    batch.upsert_by_keys(rows(spark, ("a", 10)), table, ["key"], delete_missing_in="t.key < 'c'")

    assert_frames_equal(spark.table(table), rows(spark, ("a", 10), ("c", 3)))


def test_replacing_keys_replaces_the_scope_whole(spark: SparkSession, table: str) -> None:
    MicroBatch("gold", "stream-1", 0).upsert_by_keys(
        rows(spark, ("a", 1), ("b", 2), ("c", 3)), table, ["key"]
    )
    recomputed = rows(spark, ("a", 10), ("d", 4))  # b is gone from the recomputed scope
    scope = spark.createDataFrame([("a",), ("b",), ("d",)], "key string")
    for _ in range(2):  # the batch and its replay
        MicroBatch("gold", "stream-1", 1).replace_keys(recomputed, scope, table, ["key"])

    assert_frames_equal(spark.table(table), rows(spark, ("a", 10), ("c", 3), ("d", 4)))


def test_every_write_is_a_fault_point_counted_from_one(spark: SparkSession, table: str) -> None:
    faults = FaultsConfig(kill_at_write="gold:2", action="raise")
    batch = MicroBatch("gold", "stream-1", 0, faults)
    batch.append(rows(spark, ("a", 1)), table, step="one")

    with pytest.raises(InjectedFaultError, match="gold batch stopped before write 2"):
        batch.upsert_by_keys(rows(spark, ("b", 2)), table, ["key"])

    assert_frames_equal(spark.table(table), rows(spark, ("a", 1)))
