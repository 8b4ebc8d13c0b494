"""Touchpoints, conversions and conversion paths, from Silver events.

- A **touchpoint** is an ad click, or a page view that carries a marketing source or medium
  (a page view with neither is navigation inside the site, not a touch). Its channel comes from
  `channels.channel_of`. Every click is kept, also one without a user: its cost is the spend of
  its channel, though a touch without a user can join no path.
- A **conversion** is a `conversion` event; it is cancelled when a `conversion_cancellation`
  with its conversion_id exists (whenever that arrives). A cancelled conversion keeps its path
  and its credits, but its `net_revenue`, hence every attributed revenue of it, is 0.
- A **conversion path** holds the user's touchpoints in the lookback window before the
  conversion: `converted_at - lookback_days <= touched_at <= converted_at`, both ends
  inclusive (a touch exactly `lookback_days` before counts, one a microsecond earlier does
  not). Steps are ordered by time, then event_id. Two conversions of one user each look back on
  their own, so a touch may be in both paths. Then, in this order: Direct touches are dropped
  unless the path has nothing else (`drop_direct_unless_only`); consecutive touches of one
  channel collapse into one step (`collapse_repeated_channels`, the "exposure path"), kept at
  the run's most recent touch; and the path is trimmed to its last `max_path_length` steps.
- A conversion with no touchpoint in its window has an empty path: every model credits it 100%
  to the channel `(none)`, so that its revenue is attributed (totals reconcile) without being
  passed off as Direct traffic, which is a visit we did see.
- **Non-converting paths** (for the Markov model): per user, the touchpoints in the model's
  window that are in no conversion's lookback window, as one path ending in the null state.

Path building joins and groups by conversion, so it runs on batches (inside foreachBatch).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ad_marketing_pipeline import contract
from ad_marketing_pipeline.attribution.channels import DIRECT, NO_TOUCH, channel_of
from ad_marketing_pipeline.config import AttributionConfig, ChannelRule

Transform = Callable[[DataFrame], DataFrame]

# Events that show a user is active on the site: they make sessions (impressions do not).
ACTIVITY_EVENT_TYPES = ("ad_click", "page_view", "conversion")
PATH_SEPARATOR = " > "

_STEP_FIELDS = ("touched_at", "event_id", "channel")


def _present(column: Column) -> Column:
    return F.coalesce(F.trim(column) != "", F.lit(False))


def is_touch() -> Column:
    """Whether a Silver event is a touchpoint: a click, or a page view with a source/medium."""
    event_type = F.col("event_type")
    return (event_type == "ad_click") | (
        (event_type == "page_view") & (_present(F.col("source")) | _present(F.col("medium")))
    )


def to_touchpoints(rules: Sequence[ChannelRule] = ()) -> Transform:
    """Silver events -> one row per touchpoint (event_id, user_id, touched_at, event_type,
    channel, source, medium, platform, campaign, cost)."""

    def transform(events: DataFrame) -> DataFrame:
        return events.filter(is_touch()).select(
            "event_id",
            "user_id",
            F.col("event_time").alias("touched_at"),
            "event_type",
            channel_of(F.col("source"), F.col("medium"), F.col("platform"), rules).alias("channel"),
            "source",
            "medium",
            "platform",
            F.coalesce("campaign_name", "campaign").alias("campaign"),
            F.when(F.col("event_type") == "ad_click", F.col("amount"))
            .cast(contract.MONEY_TYPE)
            .alias("cost"),
        )

    return transform


def to_conversions(events: DataFrame) -> DataFrame:
    """Silver events (conversions and their cancellations among them) -> one row per
    conversion: conversion_id, user_id, converted_at, revenue, is_cancelled, net_revenue."""
    cancelled = (
        events.filter(F.col("event_type") == "conversion_cancellation")
        .select("conversion_id", F.lit(True).alias("is_cancelled"))
        .distinct()
    )
    zero = F.lit(0).cast(contract.MONEY_TYPE)
    return (
        events.filter(F.col("event_type") == "conversion")
        .select(
            "conversion_id",
            "user_id",
            F.col("event_time").alias("converted_at"),
            F.coalesce("revenue", zero).cast(contract.MONEY_TYPE).alias("revenue"),
        )
        .join(cancelled, "conversion_id", "left")
        .withColumn("is_cancelled", F.coalesce("is_cancelled", F.lit(False)))
        .withColumn(
            "net_revenue",
            F.when(F.col("is_cancelled"), zero).otherwise(F.col("revenue")),
        )
    )


def lookback_start(converted_at: Column, lookback_days: int) -> Column:
    """The first instant of a conversion's lookback window (inclusive)."""
    return converted_at - F.expr(f"INTERVAL {lookback_days} DAYS")


def _step(touches_prefix: str = "") -> Column:
    return F.struct(*(F.col(f"{touches_prefix}{name}").alias(name) for name in _STEP_FIELDS))


def transform_path(steps: Column, config: AttributionConfig) -> Column:
    """A path's steps after the configured transforms: drop Direct unless only Direct,
    collapse consecutive repeats of a channel (keeping the run's last touch), keep the last N."""
    if config.drop_direct_unless_only:
        not_direct = F.filter(steps, lambda step: step["channel"] != DIRECT)
        steps = F.when(F.size(not_direct) > 0, not_direct).otherwise(steps)
    if config.collapse_repeated_channels:
        path = steps
        steps = F.filter(
            path,
            lambda step, i: (
                (i == F.size(path) - 1) | (F.get(path, i + 1)["channel"] != step["channel"])
            ),
        )
    if config.max_path_length is not None:
        limit = config.max_path_length
        path = steps
        steps = F.when(
            F.size(path) > limit, F.slice(path, F.size(path) - limit + 1, F.lit(limit))
        ).otherwise(path)
    return steps


def path_text(steps: Column) -> Column:
    """The channels of a path as text, `Paid Search > Email`; `(none)` for an empty path."""
    channels = F.array_join(F.transform(steps, lambda step: step["channel"]), PATH_SEPARATOR)
    return F.when(F.size(steps) == 0, F.lit(NO_TOUCH)).otherwise(channels)


def build_conversion_paths(touchpoints: DataFrame, config: AttributionConfig) -> Transform:
    """Conversions (`to_conversions`) -> one row per conversion with its path: touch_count (in
    the window, before transforms), steps (touched_at, event_id, channel), path, path_length."""

    def transform(conversions: DataFrame) -> DataFrame:
        touches = touchpoints.filter(F.col("user_id").isNotNull()).select(
            F.col("user_id").alias("t_user_id"), *(F.col(n).alias(f"t_{n}") for n in _STEP_FIELDS)
        )
        in_window = (
            (F.col("t_user_id") == F.col("user_id"))
            & (F.col("t_touched_at") >= lookback_start(F.col("converted_at"), config.lookback_days))
            & (F.col("t_touched_at") <= F.col("converted_at"))
        )
        touched = F.when(F.col("t_event_id").isNotNull(), _step("t_"))
        grouped = (
            conversions.join(touches, in_window, "left")
            .groupBy(*conversions.columns)
            .agg(
                F.count("t_event_id").cast("int").alias("touch_count"),
                F.array_sort(F.collect_list(touched)).alias("all_steps"),
            )
        )
        steps = transform_path(F.col("all_steps"), config)
        return (
            grouped.withColumn("steps", steps)
            .drop("all_steps")
            .withColumn("path", path_text(F.col("steps")))
            .withColumn("path_length", F.size("steps"))
        )

    return transform


def build_non_converting_paths(
    conversions: DataFrame, config: AttributionConfig, window_start: Column, window_end: Column
) -> Transform:
    """Touchpoints -> one path per user of the touches in [window_start, window_end] that lie
    in no conversion's lookback window (user_id, steps)."""

    def transform(touchpoints: DataFrame) -> DataFrame:
        touches = touchpoints.filter(
            F.col("user_id").isNotNull() & F.col("touched_at").between(window_start, window_end)
        )
        converting = conversions.select(
            F.col("user_id").alias("c_user_id"), F.col("converted_at").alias("c_converted_at")
        )
        in_some_path = (
            (F.col("c_user_id") == F.col("user_id"))
            & (F.col("touched_at") <= F.col("c_converted_at"))
            & (F.col("touched_at") >= lookback_start(F.col("c_converted_at"), config.lookback_days))
        )
        unconverted = touches.join(converting, in_some_path, "left_anti")
        return (
            unconverted.groupBy("user_id")
            .agg(F.array_sort(F.collect_list(_step())).alias("all_steps"))
            .select("user_id", transform_path(F.col("all_steps"), config).alias("steps"))
        )

    return transform
