"""Sessions: the inactivity boundary, midnight, landing channel, and the incremental rebuild."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from ad_marketing_pipeline.attribution.sessions import (
    sessionize,
    sessions_to_rebuild,
    since_rebuild_point,
    to_activity,
)
from ad_marketing_pipeline.tables import SILVER_EVENTS_SCHEMA
from helpers import assert_frames_equal

T0 = datetime(2024, 3, 15, 10, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
SESSION_SCHEMA = (
    "user_id string, session_start timestamp, session_end timestamp, landing_channel string, "
    "event_count int, touch_count int"
)


def event(event_type: str, event_id: str, at: datetime, **fields: Any) -> tuple[Any, ...]:
    values = {
        "event_type": event_type,
        "event_id": event_id,
        "event_time": at,
        "user_id": "u1",
        "source_kind": "files",
        "ingested_at": at,
        **fields,
    }
    return tuple(values.get(field.name) for field in SILVER_EVENTS_SCHEMA.fields)


def page_view(event_id: str, at: datetime, **fields: Any) -> tuple[Any, ...]:
    return event("page_view", event_id, at, **fields)


def click(event_id: str, at: datetime, **fields: Any) -> tuple[Any, ...]:
    defaults = {"source": "google", "medium": "cpc", "amount": Decimal("0.5"), "click_id": event_id}
    return event("ad_click", event_id, at, **{**defaults, **fields})


def silver(spark: SparkSession, rows: list[tuple[Any, ...]]) -> DataFrame:
    return spark.createDataFrame(rows, SILVER_EVENTS_SCHEMA)


def sessions_of(spark: SparkSession, rows: list[tuple[Any, ...]], timeout: int = 30) -> DataFrame:
    return (
        silver(spark, rows)
        .transform(to_activity())
        .transform(sessionize(timeout))
        .drop("session_id")
    )


def sessions_of_with_id(spark: SparkSession, rows: list[tuple[Any, ...]]) -> DataFrame:
    return silver(spark, rows).transform(to_activity()).transform(sessionize(30))


def expected(spark: SparkSession, rows: list[tuple[Any, ...]]) -> DataFrame:
    return spark.createDataFrame(rows, SESSION_SCHEMA)


def test_a_gap_of_exactly_the_timeout_continues_the_session(spark: SparkSession) -> None:
    actual = sessions_of(
        spark,
        [
            page_view("p1", T0),
            page_view("p2", T0 + 30 * MINUTE),  # exactly 30 minutes: same session
            page_view("p3", T0 + 60 * MINUTE + timedelta(seconds=1)),  # 30 min 1 s: a new one
        ],
    )
    assert_frames_equal(
        actual,
        expected(
            spark,
            [
                ("u1", T0, T0 + 30 * MINUTE, "Direct", 2, 0),
                (
                    "u1",
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
    rows = [page_view("p1", T0), page_view("p2", T0 + 10 * MINUTE)]
    assert sessions_of(spark, rows, timeout=5).count() == 2
    assert sessions_of(spark, rows, timeout=10).count() == 1


def test_a_session_runs_across_midnight(spark: SparkSession) -> None:
    late = datetime(2024, 3, 15, 23, 50, tzinfo=UTC)
    actual = sessions_of(
        spark,
        [
            page_view("p1", late),
            click("k1", late + 20 * MINUTE),
            page_view("p2", late + 40 * MINUTE),
        ],
    )
    assert_frames_equal(
        actual,
        expected(spark, [("u1", late, late + 40 * MINUTE, "Paid Search", 3, 1)]),
    )


def test_landing_channel_is_the_first_touch_and_impressions_are_no_activity(
    spark: SparkSession,
) -> None:
    actual = sessions_of(
        spark,
        [
            page_view("p0", T0),  # no source: activity, not a touch
            page_view("p1", T0 + MINUTE, source="newsletter", medium="email"),
            click("k1", T0 + 2 * MINUTE),
            event("conversion", "c1", T0 + 3 * MINUTE, conversion_id="c1", revenue=Decimal(9)),
            event("impression", "i1", T0 + 20 * MINUTE, ad_id="a"),
            page_view("p2", T0 + 45 * MINUTE, user_id="u2", source="facebook", medium="social"),
        ],
    )
    assert_frames_equal(
        actual,
        expected(
            spark,
            [
                ("u1", T0, T0 + 3 * MINUTE, "Email", 4, 2),
                ("u2", T0 + 45 * MINUTE, T0 + 45 * MINUTE, "Organic Social", 1, 1),
            ],
        ),
    )


def test_a_session_id_depends_on_user_and_start_only(spark: SparkSession) -> None:
    first = silver(spark, [page_view("p1", T0)]).transform(to_activity()).transform(sessionize(30))
    longer = (
        silver(spark, [page_view("p1", T0), page_view("p2", T0 + MINUTE)])
        .transform(to_activity())
        .transform(sessionize(30))
    )
    assert_frames_equal(first.select("session_id"), longer.select("session_id"))


def test_rebuilding_from_the_rebuild_point_equals_sessionizing_everything(
    spark: SparkSession,
) -> None:
    old = [
        page_view("p1", T0),
        page_view("p2", T0 + 20 * MINUTE),  # session A: 10:00 - 10:20
        page_view("p3", T0 + 120 * MINUTE),  # session B: 12:00
        page_view("p4", T0 + 300 * MINUTE),  # session C: 15:00
        page_view("q1", T0, user_id="u2"),  # another user, untouched
    ]
    new = [
        page_view("p5", T0 + 140 * MINUTE, source="google", medium="organic"),  # joins B
        page_view("p6", T0 + 45 * MINUTE),  # joins A (25 min after its end)
    ]
    existing = sessions_of_with_id(spark, old)
    new_activity = silver(spark, new).transform(to_activity())
    scope = new_activity.transform(sessions_to_rebuild(existing, 30))
    assert_frames_equal(
        scope,
        spark.createDataFrame([("u1", T0)], "user_id string, rebuild_from timestamp"),
    )

    everything = silver(spark, old + new).transform(to_activity())
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
    existing = sessions_of_with_id(spark, [page_view("p1", T0)])
    new_activity = silver(spark, [page_view("p2", T0 + 31 * MINUTE)]).transform(to_activity())
    assert_frames_equal(
        new_activity.transform(sessions_to_rebuild(existing, 30)),
        spark.createDataFrame([("u1", T0 + 31 * MINUTE)], "user_id string, rebuild_from timestamp"),
    )
