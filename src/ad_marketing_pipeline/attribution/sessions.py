"""Sessions: a user's activity (clicks, page views, conversions; impressions are not activity)
split after `session_timeout_minutes` of inactivity.

Spark's `session_window` does the split, so a gap of exactly the timeout still continues the
session and a longer gap starts a new one. Sessions do not break at midnight (GA4's rule, unlike
Universal Analytics'). A session's `landing_channel` is the channel of its first touchpoint
(time, then event_id), or Direct when it has none. `session_id` is a hash of the user and the
session's start, so a session keeps its id when it is rebuilt.

Incremental rebuild: a new event at time m of user u can only change u's sessions that end at or
after m - timeout (anything earlier is more than a timeout away). `sessions_to_rebuild` finds,
per user, the instant to rebuild from (the start of the first such session, or m), so that the
events from that instant on sessionize exactly as the user's whole history would.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ad_marketing_pipeline.attribution.channels import DIRECT, channel_of
from ad_marketing_pipeline.attribution.paths import ACTIVITY_EVENT_TYPES, is_touch
from ad_marketing_pipeline.config import ChannelRule

Transform = Callable[[DataFrame], DataFrame]


def to_activity(rules: Sequence[ChannelRule] = ()) -> Transform:
    """Silver events -> users' activity: user_id, event_time, event_id, and the channel when the
    event is a touchpoint (null otherwise)."""

    def transform(events: DataFrame) -> DataFrame:
        channel = channel_of(F.col("source"), F.col("medium"), F.col("platform"), rules)
        return events.filter(
            F.col("event_type").isin(*ACTIVITY_EVENT_TYPES) & F.col("user_id").isNotNull()
        ).select("user_id", "event_time", "event_id", F.when(is_touch(), channel).alias("channel"))

    return transform


def sessionize(timeout_minutes: int) -> Transform:
    """Activity -> one row per session: session_id, user_id, session_start, session_end (the
    last event's time), landing_channel, event_count, touch_count."""

    def transform(activity: DataFrame) -> DataFrame:
        window = F.session_window("event_time", f"{timeout_minutes} minutes")
        # Touches sort first (false < true), then by time and id: the session's first touch.
        first_touch = F.struct(F.col("channel").isNull(), "event_time", "event_id")
        sessions = activity.groupBy("user_id", window.alias("window")).agg(
            F.min("event_time").alias("session_start"),
            F.max("event_time").alias("session_end"),
            F.min_by("channel", first_touch).alias("first_touch_channel"),
            F.count(F.lit(1)).alias("event_count"),
            F.count("channel").alias("touch_count"),
        )
        session_key = F.concat_ws(
            "\u001f", F.col("user_id"), F.unix_micros("session_start").cast("string")
        )
        return sessions.select(
            F.sha2(session_key, 256).alias("session_id"),
            "user_id",
            "session_start",
            "session_end",
            F.coalesce("first_touch_channel", F.lit(DIRECT)).alias("landing_channel"),
            F.col("event_count").cast("int").alias("event_count"),
            F.col("touch_count").cast("int").alias("touch_count"),
        )

    return transform


def sessions_to_rebuild(existing_sessions: DataFrame, timeout_minutes: int) -> Transform:
    """New activity -> per user, `rebuild_from`: the instant from which the user's sessions
    must be rebuilt (the earliest new event, or the start of an existing session that ends
    within the timeout before it, whichever is earlier)."""

    def transform(new_activity: DataFrame) -> DataFrame:
        earliest = new_activity.groupBy("user_id").agg(F.min("event_time").alias("earliest"))
        reach = F.col("earliest") - F.expr(f"INTERVAL {timeout_minutes} MINUTES")
        touched = (
            existing_sessions.select("user_id", "session_start", "session_end")
            .join(earliest, "user_id")
            .filter(F.col("session_end") >= reach)
            .groupBy("user_id")
            .agg(F.min("session_start").alias("first_session_start"))
        )
        return earliest.join(touched, "user_id", "left").select(
            "user_id",
            F.least("earliest", "first_session_start").alias("rebuild_from"),
        )

    return transform


def since_rebuild_point(scope: DataFrame, time_column: str) -> Transform:
    """Rows (activity or sessions) of the scope's users at or after their `rebuild_from`."""

    def transform(frame: DataFrame) -> DataFrame:
        return (
            frame.join(F.broadcast(scope), "user_id")
            .filter(F.col(time_column) >= F.col("rebuild_from"))
            .drop("rebuild_from")
        )

    return transform
