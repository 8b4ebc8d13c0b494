"""What an attribution micro-batch must recompute, on small hand-made frames: the planning
functions of attribution/planning.py, apart from the reads and MERGEs that use them."""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame, SparkSession

from ad_marketing_pipeline.attribution.models import MARKOV
from ad_marketing_pipeline.attribution.planning import (
    affected_conversion_ids,
    markov_scope,
    replaced_attribution,
    touches_of_users,
)
from helpers import assert_frames_equal

EVENTS = "event_type string, conversion_id string"
TOUCHES = "user_id string, touched_at timestamp"
CONVERSIONS = "conversion_id string, user_id string, event_time timestamp"
PATHS = "conversion_id string, path string"
ATTRIBUTION = "conversion_id string, model string, channel string"


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2024, 1, day, hour)


def ids(spark: SparkSession, *conversion_ids: str) -> DataFrame:
    return spark.createDataFrame([(i,) for i in conversion_ids], "conversion_id string")


def test_the_affected_conversions_are_the_batch_s_own_and_those_a_late_touch_reaches(
    spark: SparkSession,
) -> None:
    new_events = spark.createDataFrame(
        [
            ("conversion", "n1"),
            ("conversion_cancellation", "k2"),
            ("conversion_cancellation", "n1"),  # listed once
            ("ad_click", None),
            ("page_view", None),
        ],
        EVENTS,
    )
    new_touches = spark.createDataFrame(
        [("u-1", at(9)), ("u-3", at(12, 13)), ("u-4", at(1)), (None, at(9))], TOUCHES
    )
    conversions = spark.createDataFrame(
        [
            ("k1", "u-1", at(10)),  # u-1's touch a day before: in its 7-day lookback
            ("k3", "u-3", at(12)),  # u-3's touch an hour after it: not in its path
            ("k4", "u-4", at(10)),  # u-4's touch nine days before: out of the lookback
        ],
        CONVERSIONS,
    )

    affected = affected_conversion_ids(
        new_events, touches_of_users(new_touches), conversions, lookback_days=7
    )

    assert_frames_equal(affected, ids(spark, "n1", "k2", "k1"))


def test_the_markov_scope_is_the_window_and_the_affected_conversions(
    spark: SparkSession,
) -> None:
    stored = spark.createDataFrame([("old", "A"), ("w1", "B"), ("w2", "A > B"), ("a1", "C")], PATHS)
    in_window = spark.createDataFrame([("w1", "B"), ("w2", "A > B")], PATHS)

    assert_frames_equal(
        markov_scope(in_window, stored, ids(spark, "a1", "w1")),
        spark.createDataFrame([("w1", "B"), ("w2", "A > B"), ("a1", "C")], PATHS),
    )
    assert_frames_equal(markov_scope(in_window, stored, None), stored)  # a full refresh


def test_the_replaced_rows_are_the_affected_rule_rows_and_the_refitted_markov_rows(
    spark: SparkSession,
) -> None:
    existing = spark.createDataFrame(
        [
            ("a1", "linear", "A"),
            ("a1", MARKOV, "A"),
            ("w1", "linear", "B"),
            ("w1", MARKOV, "B"),
            ("old", MARKOV, "C"),
        ],
        ATTRIBUTION,
    )
    markov_paths = spark.createDataFrame([("a1", "A"), ("w1", "B")], PATHS)

    assert_frames_equal(
        replaced_attribution(existing, ids(spark, "a1"), markov_paths),
        spark.createDataFrame(
            [("a1", "linear", "A"), ("a1", MARKOV, "A"), ("w1", MARKOV, "B")], ATTRIBUTION
        ),
    )
    # Not refitted (Silver empty): only the affected conversions' rule-based rows.
    assert_frames_equal(
        replaced_attribution(existing, ids(spark, "w1"), None),
        spark.createDataFrame([("w1", "linear", "B")], ATTRIBUTION),
    )
