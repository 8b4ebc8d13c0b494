"""Gold on the real stack: Gold's incremental MERGEs, late data, re-run batches, and incremental
runs against a full refresh. The generated datasets land as files and go through Bronze and
Silver (the chain, with the generator's invalid and repeated lines); the hand-computed cases
append their events to Silver directly (tests/events.py) and run Gold alone."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ad_marketing_pipeline.config import PipelineConfig, TableKey
from ad_marketing_pipeline.devtools.generator import GeneratorSettings, generate_lines
from ad_marketing_pipeline.gold.stream import GOLD
from ad_marketing_pipeline.io import StreamTrigger
from ad_marketing_pipeline.pipeline import run_layers
from ad_marketing_pipeline.provisioning import ensure_tables
from ad_marketing_pipeline.runtime import prepare_runtime
from ad_marketing_pipeline.streams import micro_batches
from events import Event, append_to_silver, budget, click, jsonl, refund
from helpers import assert_frames_equal, pipeline_config

GOLD_TABLES_AND_VIEWS = (
    "gold_advertisers",
    "gold_advertiser_spend",
    "gold_fact_conversions",
    "gold_fact_ad_performance",
    "gold_hourly_spend",
    "gold_daily_spend",
    "gold_monthly_spend",
    "gold_latest_serving_status",
    "gold_latest_changed_budgets",
    "gold_hourly_average_budget",
    "gold_combined_spend_budget",
    "gold_aggregated_advertiser_spend",
)


def gold_config(root: Path) -> PipelineConfig:
    return pipeline_config(root, "gold", source={"kind": "files", "max_files_per_trigger": 1})


def land(config: PipelineConfig, name: str, lines: Sequence[Event | str]) -> None:
    landing = Path(config.landing_path)
    landing.mkdir(parents=True, exist_ok=True)
    (landing / f"{name}.jsonl").write_text(jsonl(lines))


def append_silver(
    spark: SparkSession, config: PipelineConfig, events: Sequence[Event], ingested_at: datetime
) -> None:
    """The events' Silver rows as one Silver commit, stored when ingested (Gold's tables are
    provisioned first, Silver's among them, as a run provisions them)."""
    ensure_tables(prepare_runtime(spark, config, environ={}), GOLD.tables)
    append_to_silver(spark, config.table(TableKey.SILVER_EVENTS), events, ingested_at=ingested_at)


def run_gold(
    spark: SparkSession,
    config: PipelineConfig,
    *,
    full_refresh: bool = False,
    serving: bool = False,
) -> None:
    """Gold (and the serving stream, which reads the landing files) over what Silver holds."""
    runtime = prepare_runtime(spark, config, environ={})
    layers = ["gold", *(["serving"] if serving else [])]
    run_layers(runtime, layers, StreamTrigger(), full_refresh=full_refresh)


def run_pipeline(
    spark: SparkSession, config: PipelineConfig, *, full_refresh: bool = False
) -> None:
    runtime = prepare_runtime(spark, config, environ={})
    run_layers(runtime, ["bronze", "silver", "gold"], StreamTrigger(), full_refresh=full_refresh)


def snapshot(spark: SparkSession, config: PipelineConfig) -> dict[str, DataFrame]:
    return {
        key: spark.table(config.table(TableKey(key))).localCheckpoint()
        for key in GOLD_TABLES_AND_VIEWS
    }


def assert_gold_equals(
    spark: SparkSession, config: PipelineConfig, before: dict[str, DataFrame]
) -> None:
    for key, rows in before.items():
        assert_frames_equal(spark.table(config.table(TableKey(key))), rows)


@pytest.mark.slow
def test_incremental_runs_with_late_data_equal_a_full_refresh(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = gold_config(tmp_path)
    settings = GeneratorSettings(events=2_000, advertisers=5, days=4, seed=5)
    lines = [line.text for line in generate_lines(settings)]
    rng = random.Random(3)
    held_back = set(rng.sample(range(len(lines)), 200))  # these arrive late, in later runs
    on_time = [line for number, line in enumerate(lines) if number not in held_back]
    late = [lines[number] for number in sorted(held_back)]
    stages = [
        on_time[:800],
        on_time[800:1_350] + late[:100],
        on_time[1_350:] + late[100:],
    ]
    for number, stage in enumerate(stages):
        land(config, f"stage-{number}", stage)
        run_pipeline(spark, config)
    incremental = snapshot(spark, config)
    assert incremental["gold_advertiser_spend"].count() > 100
    assert incremental["gold_fact_conversions"].filter("is_cancelled").count() > 0

    run_pipeline(spark, config, full_refresh=True)

    assert_gold_equals(spark, config, incremental)
    detail = spark.sql(f"DESCRIBE DETAIL {config.table(TableKey.GOLD_ADVERTISER_SPEND)}").first()
    assert detail is not None
    assert list(detail["clusteringColumns"]) == ["advertiser_key", "window_start"]  # kept


@pytest.mark.slow
def test_a_gold_batch_run_twice_changes_nothing(spark: SparkSession, tmp_path: Path) -> None:
    config = gold_config(tmp_path)
    lines = [line.text for line in generate_lines(GeneratorSettings(events=400, seed=9))]
    land(config, "events", lines)
    run_pipeline(spark, config)
    before = snapshot(spark, config)
    silver = spark.table(config.table(TableKey.SILVER_EVENTS))
    write = micro_batches(GOLD, config)
    # Outside its stream, the writer finds the stream's id in the checkpoint's metadata file.
    (Path(config.checkpoint("gold")) / "metadata").write_text('{"id":"gold-stream"}\n')

    write(silver.sample(0.3, seed=1), 1)  # as when a crashed batch is processed again
    write(silver.sample(0.3, seed=1), 1)

    assert_gold_equals(spark, config, before)


# ---------------------------------------------------------------------------------------------
# Late events for hours already served, through the incremental path, hand-computed
# ---------------------------------------------------------------------------------------------


def jan2(time: str) -> str:
    """'09:10' on 2 January 2024, UTC."""
    return f"2024-01-02T{time}:00Z"


def ingested(hour: int) -> datetime:
    return datetime(2024, 1, 2, hour, tzinfo=UTC)


SPEND_SCHEMA = (
    "window_start timestamp, gross_spend decimal(38,6), net_spend decimal(38,6), "
    "spend_to_date decimal(38,6), can_serve boolean"
)


def spend_rows(spark: SparkSession, rows: list[tuple[str, float, float, float, bool]]) -> DataFrame:
    return spark.createDataFrame(
        [
            (
                datetime.strptime(f"2024-01-02 {hour}", "%Y-%m-%d %H:%M"),
                Decimal(str(gross)),
                Decimal(str(net)),
                Decimal(str(to_date)),
                serve,
            )
            for hour, gross, net, to_date, serve in rows
        ],
        SPEND_SCHEMA,
    )


@pytest.mark.slow
def test_late_clicks_and_early_refunds_correct_the_right_hours(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = gold_config(tmp_path)
    spend = config.table(TableKey.GOLD_ADVERTISER_SPEND)
    columns = [field.split()[0] for field in SPEND_SCHEMA.split(", ")]
    on_time = [
        budget(at=jan2("00:00"), advertiser="acme", budget_value=10),
        click("c-1", at=jan2("09:10"), amount=6, advertiser="acme"),
        click("c-2", at=jan2("09:50"), amount=4, advertiser="acme"),  # spent: hour 09 stops
        refund("c-late", at=jan2("11:00")),  # before its click arrives
    ]
    # Gold reads them from Silver; the serving stream from the landing files.
    append_silver(spark, config, on_time, ingested(12))
    land(config, "1-on-time", on_time)
    run_gold(spark, config, serving=True)
    assert_frames_equal(
        spark.table(spend).select(*columns),
        spend_rows(spark, [("00:00", 0, 0, 0, True), ("09:00", 10, 10, 10, False)]),
    )

    late = [
        # late, for an earlier hour; its refund came first
        click("c-late", at=jan2("08:30"), amount=3, advertiser="acme"),
        # late, for the hour that already stopped serving
        click("c-3", at=jan2("09:20"), amount=1, advertiser="acme"),
    ]
    append_silver(spark, config, late, ingested(13))
    land(config, "2-late", late)
    run_gold(spark, config, serving=True)

    assert_frames_equal(
        spark.table(spend).select(*columns),
        spend_rows(
            spark,
            [
                ("00:00", 0, 0, 0, True),
                ("08:00", 3, 3, 3, True),
                ("09:00", 11, 11, 14, False),
                ("11:00", 0, -3, 14, False),
            ],
        ),
    )
    status = spark.table(config.table(TableKey.GOLD_LATEST_SERVING_STATUS)).select(
        "advertiser", "latest_can_serve", F.col("spend_to_date").cast("string")
    )
    assert status.collect() == [("acme", False, "14.000000")]


@pytest.mark.slow
def test_a_name_learned_later_and_an_earlier_refund_replace_the_rows_they_change(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = gold_config(tmp_path)
    spend = config.table(TableKey.GOLD_ADVERTISER_SPEND)
    first = [
        # Acme's click names only its id; its name comes in the next batch.
        click("c-1", at=jan2("10:15"), amount=2.5, advertiser=None, advertiser_id="adv-1"),
        click("c-9", at=jan2("10:15"), amount=2, advertiser="bravo", budget_value=100),
        refund("c-9", at=jan2("13:30"), amount=1),
    ]
    append_silver(spark, config, first, ingested(14))
    run_gold(spark, config)
    second = [
        budget(at=jan2("11:05"), advertiser="acme", advertiser_id="adv-1", budget_value=20),
        # An earlier refund of c-9: now the click's first; the later one no longer counts.
        refund("c-9", at=jan2("12:10"), amount=0.5),
    ]
    append_silver(spark, config, second, ingested(15))
    run_gold(spark, config)

    actual = spark.table(spend).select("advertiser", "window_start", "gross_spend", "net_spend")
    expected = spark.createDataFrame(
        [
            ("acme", datetime(2024, 1, 2, 10), Decimal("2.5"), Decimal("2.5")),
            ("acme", datetime(2024, 1, 2, 11), Decimal(0), Decimal(0)),
            ("bravo", datetime(2024, 1, 2, 10), Decimal(2), Decimal(2)),
            ("bravo", datetime(2024, 1, 2, 12), Decimal(0), Decimal("-0.5")),
        ],
        "advertiser string, window_start timestamp, gross_spend decimal(38,6), "
        "net_spend decimal(38,6)",
    )
    assert_frames_equal(actual, expected)
    incremental = snapshot(spark, config)
    run_gold(spark, config, full_refresh=True)
    assert_gold_equals(spark, config, incremental)
