"""Sessions: the inactivity boundary, midnight, landing channel, and the incremental rebuild."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from ad_marketing_pipeline.attribution.sessions import (
    sessionize,
    sessions_to_rebuild,
    since_rebuild_point,
    to_activity,
)
from events import Event, click, conversion, impression, page_view, silver_frame
from helpers import assert_frames_equal

T0 = datetime(2024, 3, 15, 10, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
SESSION_SCHEMA = (
    "user_id string, session_start timestamp, session_end timestamp, landing_channel string, "
    "event_count int, touch_count int"
)


def sessions_of(spark: SparkSession, rows: list[Event], timeout: int = 30) -> DataFrame:
    return (
        silver_frame(spark, rows)
        .transform(to_activity())
        .transform(sessionize(timeout))
        .drop("session_id")
    )


def sessions_of_with_id(spark: SparkSession, rows: list[Event]) -> DataFrame:
    return silver_frame(spark, rows).transform(to_activity()).transform(sessionize(30))


def expected(spark: SparkSession, rows: list[tuple[Any, ...]]) -> DataFrame:
    return spark.createDataFrame(rows, SESSION_SCHEMA)


def test_a_gap_of_exactly_the_timeout_continues_the_session(spark: SparkSession) -> None:
    actual = sessions_of(
        spark,
        [
            page_view(event_id="p1", at=T0),
            page_view(event_id="p2", at=T0 + 30 * MINUTE),  # exactly 30 minutes: same session
            # 30 minutes and 1 second: a new one
            page_view(event_id="p3", at=T0 + 60 * MINUTE + timedelta(seconds=1)),
        ],
    )
    assert_frames_equal(
        actual,
        expected(
            spark,
            [
                ("u-1", T0, T0 + 30 * MINUTE, "Direct", 2, 0),
                (
                    "u-1",
                    T0 + 60 * MINUTE + timedelta(seconds=1),
                    T0 + 60 * MINUTE + timedelta(seconds=1),
                    "Direct",
                    1,
                    0,
                ),
            ],
        ),
    )


def test_the_timeout_is_configurable(spark: SparkSession) -> None:
    rows = [page_view(event_id="p1", at=T0), page_view(event_id="p2", at=T0 + 10 * MINUTE)]
    assert sessions_of(spark, rows, timeout=5).count() == 2
    assert sessions_of(spark, rows, timeout=10).count() == 1


def test_a_session_runs_across_midnight(spark: SparkSession) -> None:
    late = datetime(2024, 3, 15, 23, 50, tzinfo=UTC)
    actual = sessions_of(
        spark,
        [
            page_view(event_id="p1", at=late),
            click("k1", at=late + 20 * MINUTE, user_id="u-1", source="google", medium="cpc"),
            page_view(event_id="p2", at=late + 40 * MINUTE),
        ],
    )
    assert_frames_equal(
        actual,
        expected(spark, [("u-1", late, late + 40 * MINUTE, "Paid Search", 3, 1)]),
    )


def test_landing_channel_is_the_first_touch_and_impressions_are_no_activity(
    spark: SparkSession,
) -> None:
    actual = sessions_of(
        spark,
        [
            page_view(event_id="p0", at=T0),  # no source: activity, not a touch
            page_view(event_id="p1", at=T0 + MINUTE, source="newsletter", medium="email"),
            click("k1", at=T0 + 2 * MINUTE, user_id="u-1", source="google", medium="cpc"),
            conversion("c1", user_id="u-1", at=T0 + 3 * MINUTE, revenue=9),
            impression(event_id="i1", at=T0 + 20 * MINUTE, ad_id="a", user_id="u-1"),
            page_view(
                event_id="p2",
                at=T0 + 45 * MINUTE,
                user_id="u-2",
                source="facebook",
                medium="social",
            ),
        ],
    )
    assert_frames_equal(
        actual,
        expected(
            spark,
            [
                ("u-1", T0, T0 + 3 * MINUTE, "Email", 4, 2),
                ("u-2", T0 + 45 * MINUTE, T0 + 45 * MINUTE, "Organic Social", 1, 1),
            ],
        ),
    )


def test_a_session_id_depends_on_user_and_start_only(spark: SparkSession) -> None:
    first = (
        silver_frame(spark, [page_view(event_id="p1", at=T0)])
        .transform(to_activity())
        .transform(sessionize(30))
    )
    longer = (
        silver_frame(
            spark, [page_view(event_id="p1", at=T0), page_view(event_id="p2", at=T0 + MINUTE)]
        )
        .transform(to_activity())
        .transform(sessionize(30))
    )
    assert_frames_equal(first.select("session_id"), longer.select("session_id"))


def test_rebuilding_from_the_rebuild_point_equals_sessionizing_everything(
    spark: SparkSession,
) -> None:
    old = [
        page_view(event_id="p1", at=T0),
        page_view(event_id="p2", at=T0 + 20 * MINUTE),  # session A: 10:00 - 10:20
        page_view(event_id="p3", at=T0 + 120 * MINUTE),  # session B: 12:00
        page_view(event_id="p4", at=T0 + 300 * MINUTE),  # session C: 15:00
        page_view(event_id="q1", at=T0, user_id="u-2"),  # another user, untouched
    ]
    new = [
        # joins B
        page_view(event_id="p5", at=T0 + 140 * MINUTE, source="google", medium="organic"),
        page_view(event_id="p6", at=T0 + 45 * MINUTE),  # joins A (25 min after its end)
    ]
    existing = sessions_of_with_id(spark, old)
    new_activity = silver_frame(spark, new).transform(to_activity())
    scope = new_activity.transform(sessions_to_rebuild(existing, 30))
    assert_frames_equal(
        scope,
        spark.createDataFrame([("u-1", T0)], "user_id string, rebuild_from timestamp"),
    )

    everything = silver_frame(spark, old + new).transform(to_activity())
    rebuilt = everything.transform(since_rebuild_point(scope, "event_time")).transform(
        sessionize(30)
    )
    kept = existing.join(
        existing.transform(since_rebuild_point(scope, "session_start")).select("session_id"),
        "session_id",
        "left_anti",
    )
    assert_frames_equal(kept.unionByName(rebuilt), everything.transform(sessionize(30)))


def test_a_new_event_far_from_existing_sessions_rebuilds_from_itself(spark: SparkSession) -> None:
    existing = sessions_of_with_id(spark, [page_view(event_id="p1", at=T0)])
    new_activity = silver_frame(spark, [page_view(event_id="p2", at=T0 + 31 * MINUTE)]).transform(
        to_activity()
    )
    assert_frames_equal(
        new_activity.transform(sessions_to_rebuild(existing, 30)),
        spark.createDataFrame(
            [("u-1", T0 + 31 * MINUTE)], "user_id string, rebuild_from timestamp"
        ),
    )
