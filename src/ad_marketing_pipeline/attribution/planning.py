"""What an attribution micro-batch must recompute, decided from small frames: the batch's Silver
rows, its touchpoints and the few stored rows the stream looked up for it. Nothing here reads
or writes a table; `stream.py` reads, recomputes what these plans name and MERGEs.

- sessions: per user, from the first session within a timeout of the earliest new event
  (`sessions.sessions_to_rebuild`);
- conversions: the batch's new conversions, those whose cancellation arrived, and those whose
  lookback window holds a touch of the batch (`affected_conversion_ids`);
- attribution rows: the rule-based models' rows of the affected conversions, and the Markov
  rows of the window's conversions and of the affected ones (`markov_scope`,
  `replaced_attribution`).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ad_marketing_pipeline.attribution.models import MARKOV
from ad_marketing_pipeline.attribution.paths import lookback_start

CONVERSION_EVENTS = ("conversion", "conversion_cancellation")


def touches_of_users(new_touches: DataFrame) -> DataFrame:
    """The batch's touches that name a user (t_user_id, touched_at): only those can fall in a
    conversion's lookback window."""
    return new_touches.filter(F.col("user_id").isNotNull()).select(
        F.col("user_id").alias("t_user_id"), "touched_at"
    )


def affected_conversion_ids(
    new_events: DataFrame, user_touches: DataFrame, conversions: DataFrame, lookback_days: int
) -> DataFrame:
    """Ids of the conversions a batch changes (distinct, never null): its conversions and
    cancellations, and the `conversions` (Silver conversion rows: conversion_id, user_id,
    event_time) whose lookback window holds one of the batch's `user_touches`
    (`touches_of_users`)."""
    ids = new_events.filter(F.col("event_type").isin(*CONVERSION_EVENTS)).select("conversion_id")
    late = conversions.join(
        user_touches,
        (F.col("t_user_id") == F.col("user_id"))
        & (F.col("touched_at") <= F.col("event_time"))
        & (F.col("touched_at") >= lookback_start(F.col("event_time"), lookback_days)),
    ).select("conversion_id")
    return ids.unionByName(late).filter(F.col("conversion_id").isNotNull()).distinct()


def markov_scope(
    in_window: DataFrame, stored_paths: DataFrame, affected: DataFrame | None
) -> DataFrame:
    """The conversion paths whose Markov rows a refit replaces: the window's, and the affected
    conversions' (every stored path when `affected` is None, a full refresh)."""
    if affected is None:
        return stored_paths
    chosen = stored_paths.join(F.broadcast(affected), "conversion_id", "left_semi")
    return in_window.unionByName(chosen).dropDuplicates(["conversion_id"])


def replaced_attribution(
    existing: DataFrame, affected: DataFrame | None, markov_paths: DataFrame | None
) -> DataFrame:
    """The stored attribution rows a batch replaces: the rule-based models' rows of the
    affected conversions (all when None), and the Markov rows of `markov_paths` (none when the
    model was not refitted)."""
    replaced = existing.filter(F.col("model") != MARKOV)
    if affected is not None:
        replaced = replaced.join(F.broadcast(affected), "conversion_id", "left_semi")
    if markov_paths is not None:
        replaced_markov = existing.filter(F.col("model") == MARKOV).join(
            markov_paths.select("conversion_id"), "conversion_id", "left_semi"
        )
        replaced = replaced.unionByName(replaced_markov)
    return replaced
