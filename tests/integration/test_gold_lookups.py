"""Gold's searches of history for what a batch's refunds and cancellations name, on real tables.
The lookup of refunded clicks (gold/click_lookup.py) searches all of Silver once for a click that
is not near its refund and remembers the answer across micro-batches until a batch brings a
click with that id; a cancelled conversion's fact is looked for near the cancellation first.
Streams whose refunds' clicks or cancellations' conversions are far away, late or missing
equal a full refresh."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ad_marketing_pipeline.config import PipelineConfig, TableKey
from ad_marketing_pipeline.gold import click_lookup
from ad_marketing_pipeline.gold.click_lookup import ClickLookup
from ad_marketing_pipeline.gold.stream import GOLD
from ad_marketing_pipeline.io import StreamTrigger
from ad_marketing_pipeline.pipeline import run_layers
from ad_marketing_pipeline.provisioning import ensure_tables
from ad_marketing_pipeline.runtime import Runtime, prepare_runtime
from events import (
    Event,
    append_to_silver,
    budget,
    cancellation,
    click,
    conversion,
    refund,
    silver_frame,
)
from helpers import assert_frames_equal, pipeline_config


def lookup_config(root: Path) -> PipelineConfig:
    return pipeline_config(root, "clicks", trigger={"max_files_per_batch": 1})


def keyed(silver: DataFrame) -> DataFrame:
    return silver.withColumn("advertiser_key", F.col("advertiser"))


def found_ids(lookup: ClickLookup, silver: DataFrame, **kwargs: object) -> list[str]:
    ids = {"c-new", "c-old", "c-never"}
    found = lookup.find(keyed(silver), ids, datetime(2024, 3, 1), **kwargs)  # type: ignore[arg-type]
    assert sorted(row["click_id"] for row in found.frame.collect()) == sorted(
        row["click_id"] for row in found.rows
    )
    return sorted(row["click_id"] for row in found.rows)


def test_a_search_of_all_silver_is_remembered_until_a_batch_brings_the_click(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = lookup_config(tmp_path)
    ensure_tables(prepare_runtime(spark, config, environ={}), GOLD.tables)
    table = config.table(TableKey.SILVER_EVENTS)
    append_to_silver(spark, table, [click("c-old", at="2024-01-01T10:00:00Z")])
    append_to_silver(spark, table, [click("c-new", at="2024-02-28T10:00:00Z")])
    searches: list[int] = []
    real_lookup = click_lookup._lookup

    def counted(clicks: DataFrame, ids: set[str]) -> list:  # type: ignore[type-arg]
        searches.append(len(ids))
        return real_lookup(clicks, ids)

    monkeypatch.setattr(click_lookup, "_lookup", counted)
    lookup = ClickLookup()
    silver = spark.table(table)

    # c-new near its refunds; c-old only in all of Silver; c-never nowhere.
    assert found_ids(lookup, silver) == ["c-new", "c-old"]
    assert searches == [3, 2]  # the recent days, then all of Silver for the two not there
    assert lookup.remembered() == 2
    assert found_ids(lookup, silver) == ["c-new", "c-old"]
    assert searches == [3, 2]  # the same batch: nothing searched again

    lookup.start_batch(silver_frame(spark, [click("c-other")]))  # a batch without them
    lookup.start_attempt()
    assert found_ids(lookup, silver) == ["c-new", "c-old"]
    assert searches == [3, 2, 1]  # only c-new, near its refunds again; the others remembered
    assert found_ids(lookup, silver, left_out=frozenset({"ad_click:c-old"})) == ["c-new"]

    late = click("c-never", at="2024-01-05T10:00:00Z")  # the click arrives, long after
    append_to_silver(spark, table, [late])
    lookup.start_batch(silver_frame(spark, [late]))
    lookup.start_attempt()
    assert found_ids(lookup, silver) == ["c-never", "c-new", "c-old"]
    assert searches == [3, 2, 1, 2, 1]
    assert lookup.remembered() == 2


def gold_stream_over(
    spark: SparkSession, root: Path, commits: list[list[Event]]
) -> tuple[PipelineConfig, Runtime]:
    """The commits appended to a fresh Silver, then one Gold stream over them (a micro-batch
    per commit)."""
    config = lookup_config(root)
    runtime = prepare_runtime(spark, config, environ={})
    ensure_tables(runtime, GOLD.tables)
    table = config.table(TableKey.SILVER_EVENTS)
    for number, commit in enumerate(commits):
        append_to_silver(spark, table, commit, ingested_at=datetime(2024, 3, 6, number, tzinfo=UTC))
    run_layers(runtime, ["gold"], StreamTrigger())
    return config, runtime


def refunds_whose_clicks_are_missing_or_late() -> list[list[Event]]:
    """Silver commits, one Gold micro-batch each: refunds whose click never arrives, whose
    click arrives late, and whose click is more than a month older than the refund."""
    day = "2024-03-0{}T{}:00:00Z"
    return [
        [
            budget(advertiser="acme", budget_value=100, at=day.format(1, "00")),
            click("c-long-ago", advertiser="acme", amount=5, at="2024-01-20T10:00:00Z"),
            refund("c-lost", at=day.format(1, "09")),
            refund("c-late", at=day.format(1, "10")),
        ],
        [
            click("c-1", advertiser="acme", amount=3, at=day.format(2, "09")),
            refund("c-long-ago", at=day.format(2, "11")),
        ],
        [click("c-2", advertiser="acme", amount=4, at=day.format(3, "09"))],
        [click("c-late", advertiser="acme", amount=2, at=day.format(1, "08"))],
        [
            click("c-3", advertiser="acme", amount=1, at=day.format(4, "09")),
            refund("c-1", at=day.format(4, "10")),
        ],
        [refund("c-lost-too", at=day.format(5, "09")), refund("c-3", at=day.format(5, "10"))],
    ]


@pytest.mark.slow
def test_a_stream_of_refunds_without_their_clicks_equals_a_full_refresh(
    spark: SparkSession, tmp_path: Path
) -> None:
    config, runtime = gold_stream_over(spark, tmp_path, refunds_whose_clicks_are_missing_or_late())
    spend = config.table(TableKey.GOLD_ADVERTISER_SPEND)
    incremental = spark.table(spend).localCheckpoint()
    net = incremental.agg(F.sum("net_spend").cast("string")).first()
    assert net == ("4.000000",)  # clicks 5 + 3 + 4 + 2 + 1, refunds 5 + 2 + 3 + 1

    run_layers(runtime, ["gold"], StreamTrigger(), full_refresh=True)

    assert_frames_equal(spark.table(spend), incremental)


def cancellations_far_from_or_without_their_conversions() -> list[list[Event]]:
    """Silver commits, one Gold micro-batch each: a cancellation more than a month after its
    conversion, one whose conversion never arrives, one whose conversion arrives late."""
    return [
        [
            conversion("v-old", user_id="u-1", revenue=40, at="2024-01-10T10:00:00Z"),
            click("c-1", advertiser="acme", user_id="u-2", at="2024-03-01T08:00:00Z"),
            conversion("v-1", user_id="u-2", revenue=10, at="2024-03-01T09:00:00Z"),
        ],
        [cancellation("v-old", at="2024-03-02T10:00:00Z")],
        [cancellation("v-never", at="2024-03-02T11:00:00Z")],
        [
            cancellation("v-late", at="2024-03-03T10:00:00Z"),
            cancellation("v-1", at="2024-03-03T11:00:00Z"),
        ],
        [conversion("v-late", user_id="u-2", revenue=7, at="2024-03-01T12:00:00Z")],
    ]


@pytest.mark.slow
def test_cancellations_far_from_their_conversions_equal_a_full_refresh(
    spark: SparkSession, tmp_path: Path
) -> None:
    commits = cancellations_far_from_or_without_their_conversions()
    config, runtime = gold_stream_over(spark, tmp_path, commits)
    facts = config.table(TableKey.GOLD_FACT_CONVERSIONS)
    incremental = spark.table(facts).localCheckpoint()
    cancelled = {row["conversion_id"]: row["is_cancelled"] for row in incremental.collect()}
    assert cancelled == {"v-old": True, "v-1": True, "v-late": True}

    run_layers(runtime, ["gold"], StreamTrigger(), full_refresh=True)

    assert_frames_equal(spark.table(facts), incremental)
    performance = config.table(TableKey.GOLD_FACT_AD_PERFORMANCE)
    assert spark.table(performance).agg(F.sum("conversions")).first() == (0,)
