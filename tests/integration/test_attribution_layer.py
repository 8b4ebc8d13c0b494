"""The attribution stream on real Delta tables: two availableNow runs with late data in between
(a late touch, a later cancellation, a new conversion) give the same tables as a full refresh
on the same Silver, and a run with no new data changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ad_marketing_pipeline.attribution.models import MODELS
from ad_marketing_pipeline.attribution.stream import ATTRIBUTION, refresh_attribution
from ad_marketing_pipeline.attribution.tables import ATTRIBUTION_TABLES, model_view_name
from ad_marketing_pipeline.config import PipelineConfig, TableKey
from ad_marketing_pipeline.io import StreamTrigger
from ad_marketing_pipeline.provisioning import ensure_tables
from ad_marketing_pipeline.runtime import Runtime
from ad_marketing_pipeline.streams import start_stream
from ad_marketing_pipeline.tables import SILVER_EVENTS
from events import Event, append_to_silver, cancellation, click, conversion, page_view
from helpers import assert_frames_equal, pipeline_config

T0 = datetime(2024, 3, 15, 12, 0, tzinfo=UTC)  # aware: instants, whatever the local zone
DAY, HOUR, MINUTE = timedelta(days=1), timedelta(hours=1), timedelta(minutes=1)


FIRST_APPEND = [
    click("k1", user_id="u1", at=T0 - 2 * DAY, amount="0.40", source="google", medium="cpc"),
    page_view(event_id="v1", user_id="u1", at=T0 - DAY, source="newsletter", medium="email"),
    conversion("c1", user_id="u1", at=T0, revenue="120"),
    page_view(event_id="v2", user_id="u2", at=T0 - 3 * DAY, source="facebook", medium="social"),
    conversion("c2", user_id="u2", at=T0 - HOUR, revenue="80"),
    conversion("c3", user_id="u3", at=T0, revenue="15"),  # no touch
    click("k0", at=T0 - DAY, amount="1.00"),  # a legacy click: spend, but no user, no path
]
SECOND_APPEND = [
    click(
        "k2",
        user_id="u2",
        at=T0 - 30 * MINUTE,
        amount="0.75",
        source="facebook",
        medium="paid_social",
    ),
    conversion("c4", user_id="u2", at=T0 + HOUR, revenue="40"),
    # no conversion (yet)
    page_view(event_id="v4", user_id="u4", at=T0 - 5 * DAY, source="google", medium="organic"),
]
BETWEEN_RUNS = [
    # a late touch of c1's window
    page_view(
        event_id="v5", user_id="u1", at=T0 - 5 * DAY, source="partner-blog", medium="referral"
    ),
    page_view(event_id="v6", user_id="u1", at=T0 - 2 * DAY + 25 * MINUTE),  # joins k1's session
    cancellation("c2", event_id="x2", at=T0 + 3 * HOUR),  # a later cancellation
    conversion("c5", user_id="u4", at=T0 + 2 * HOUR, revenue="33.333333"),  # converts u4's touch
]


def config_for(root: Path) -> PipelineConfig:
    return pipeline_config(
        root,
        "attribution",
        trigger={"max_files_per_batch": 1},  # one micro-batch per Silver commit
    )


def append_silver(runtime: Runtime, events: list[Event], number: int) -> None:
    """One Silver commit of one file, its `number`-th: every row ingested in the same hour."""
    append_to_silver(
        runtime.spark,
        runtime.config.table(TableKey.SILVER_EVENTS),
        events,
        ingested_at=T0 + number * DAY,
        silver_batch_id=number,
    )


def run_stream(runtime: Runtime) -> None:
    ensure_tables(runtime, ATTRIBUTION.tables)
    query = start_stream(runtime, ATTRIBUTION, StreamTrigger())
    query.awaitTermination()
    assert query.exception() is None


def table_versions(runtime: Runtime) -> dict[str, int]:
    versions: dict[str, int] = {}
    for spec in ATTRIBUTION_TABLES:
        history = DeltaTable.forName(runtime.spark, runtime.config.table(spec.key)).history(1)
        row = history.select("version").first()
        assert row is not None
        versions[spec.key] = int(row["version"])
    return versions


def assert_same_tables(actual: Runtime, expected: Runtime) -> None:
    for spec in ATTRIBUTION_TABLES:
        assert_frames_equal(
            actual.spark.table(actual.config.table(spec.key)),
            expected.spark.table(expected.config.table(spec.key)),
        )


@pytest.fixture(scope="module")
def streamed(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Runtime:
    """Silver in two commits, a run (two micro-batches), late data, a second run."""
    root = tmp_path_factory.mktemp("attribution_stream")
    runtime = Runtime(spark, config_for(root), on_databricks=False)
    ensure_tables(runtime, [SILVER_EVENTS])
    append_silver(runtime, FIRST_APPEND, 1)
    append_silver(runtime, SECOND_APPEND, 2)
    run_stream(runtime)
    append_silver(runtime, BETWEEN_RUNS, 3)
    run_stream(runtime)
    return runtime


@pytest.mark.slow
def test_incremental_runs_equal_a_full_refresh_and_an_idle_run_changes_nothing(
    spark: SparkSession, tmp_path: Path, streamed: Runtime
) -> None:
    refreshed = Runtime(spark, config_for(tmp_path / "refresh"), on_databricks=False)
    ensure_tables(refreshed, ATTRIBUTION.tables)
    append_silver(refreshed, FIRST_APPEND + SECOND_APPEND + BETWEEN_RUNS, 1)
    refresh_attribution(refreshed, full=True)
    assert_same_tables(streamed, refreshed)

    before = table_versions(streamed)
    run_stream(streamed)
    assert table_versions(streamed) == before

    # Re-attributing the stored paths (full=False) gives the same tables again.
    refresh_attribution(refreshed, full=False)
    assert_same_tables(streamed, refreshed)


@pytest.mark.slow
def test_late_data_reached_the_marts(spark: SparkSession, streamed: Runtime) -> None:
    config = streamed.config
    attribution = spark.table(config.table(TableKey.GOLD_ATTRIBUTION))
    first_and_last = attribution.filter(F.col("model").isin("first_click", "last_click")).select(
        "conversion_id", "model", "channel", "attributed_revenue"
    )
    expected = spark.createDataFrame(
        [
            ("c1", "first_click", "Referral", Decimal(120)),  # the late touch comes first now
            ("c1", "last_click", "Email", Decimal(120)),
            ("c2", "first_click", "Organic Social", Decimal(0)),  # cancelled after the run
            ("c2", "last_click", "Organic Social", Decimal(0)),
            ("c3", "first_click", "(none)", Decimal(15)),
            ("c3", "last_click", "(none)", Decimal(15)),
            ("c4", "first_click", "Organic Social", Decimal(40)),
            ("c4", "last_click", "Paid Social", Decimal(40)),
            ("c5", "first_click", "Organic Search", Decimal("33.333333")),
            ("c5", "last_click", "Organic Search", Decimal("33.333333")),
        ],
        "conversion_id string, model string, channel string, attributed_revenue decimal(18,6)",
    )
    assert_frames_equal(first_and_last, expected)

    # Every model attributes exactly the non-cancelled revenue (120 + 15 + 40 + 33.333333).
    revenue = (
        spark.table(config.table(TableKey.GOLD_ATTRIBUTION_COMPARISON))
        .groupBy("model")
        .agg(F.sum("revenue").cast("decimal(18,6)").alias("revenue"))
    )
    assert_frames_equal(
        revenue,
        spark.createDataFrame(
            [(model, Decimal("208.333333")) for model in MODELS],
            "model string, revenue decimal(18,6)",
        ),
    )
    markov_view = spark.table(model_view_name(config, "markov"))
    assert_frames_equal(markov_view, attribution.filter(F.col("model") == "markov"), ordered=False)
    sums = attribution.groupBy("conversion_id", "model").agg(F.sum("credit").alias("credit"))
    assert sums.count() == 5 * len(MODELS)
    assert sums.filter(F.abs(F.col("credit") - 1) > 1e-9).isEmpty()

    # Spend per channel comes from every click, also one without a user.
    spend = (
        spark.table(config.table(TableKey.GOLD_CHANNEL_PERFORMANCE))
        .filter(F.col("model") == "linear")
        .select("channel", "spend", "clicks")
    )
    assert_frames_equal(
        spend,
        spark.createDataFrame(
            [
                ("(none)", Decimal(0), 0),
                ("Email", Decimal(0), 0),
                ("Organic Search", Decimal(0), 0),
                ("Organic Social", Decimal(0), 0),
                ("Paid Search", Decimal("0.40"), 1),
                ("Paid Social", Decimal("0.75"), 1),
                ("Referral", Decimal(0), 0),
                ("Unassigned", Decimal("1.00"), 1),
            ],
            "channel string, spend decimal(38,6), clicks bigint",
        ),
    )

    # The late page view joined u1's session of the click two days before.
    sessions = spark.table(config.table(TableKey.GOLD_SESSIONS)).filter(F.col("user_id") == "u1")
    assert_frames_equal(
        sessions.select("session_start", "session_end", "landing_channel", "event_count"),
        spark.createDataFrame(
            [
                (T0 - 5 * DAY, T0 - 5 * DAY, "Referral", 1),
                (T0 - 2 * DAY, T0 - 2 * DAY + 25 * MINUTE, "Paid Search", 2),
                (T0 - DAY, T0 - DAY, "Email", 1),
                (T0, T0, "Direct", 1),
            ],
            "session_start timestamp, session_end timestamp, landing_channel string, "
            "event_count int",
        ),
    )


@pytest.mark.slow
def test_daily_sums_left_empty_by_an_upgrade_are_filled_before_the_next_batch(
    spark: SparkSession, tmp_path: Path
) -> None:
    runtime = Runtime(spark, config_for(tmp_path / "upgraded"), on_databricks=False)
    ensure_tables(runtime, [SILVER_EVENTS])
    append_silver(runtime, FIRST_APPEND + SECOND_APPEND, 1)
    run_stream(runtime)
    for key in (TableKey.GOLD_ATTRIBUTION_DAILY, TableKey.GOLD_CHANNEL_SPEND_DAILY):
        spark.sql(f"DELETE FROM {runtime.config.table(key)}")  # as a version without them left
    append_silver(runtime, BETWEEN_RUNS, 2)

    run_stream(runtime)  # one batch, of BETWEEN_RUNS' days only: the rest is backfilled

    refreshed = Runtime(spark, config_for(tmp_path / "refreshed"), on_databricks=False)
    ensure_tables(refreshed, ATTRIBUTION.tables)
    append_silver(refreshed, FIRST_APPEND + SECOND_APPEND + BETWEEN_RUNS, 1)
    refresh_attribution(refreshed, full=True)
    assert_same_tables(runtime, refreshed)
