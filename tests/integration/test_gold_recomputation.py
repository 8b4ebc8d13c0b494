"""Gold spend against an independent recomputation: a generated dataset of 100,000 events over 30
days and 50 advertisers goes through the real pipeline (Bronze -> Silver -> Gold, Gold in several
incremental micro-batches, and the serving stream beside them, also in several batches), and
gold_advertiser_spend and every Gold view over it (gold_latest_serving_status over
gold_serving_status) must equal what plain Python computes from the generated lines, to the cent.

The recomputation is `reference_model`: it reads the landing files itself (each line as Bronze
keeps it, received when Bronze ingested its file), decides Silver's verdict on each line and
keeps the first received copy of each event id, then applies the rules of
`gold/advertisers.py`, `gold/spend.py` and `gold/serving.py` with Decimal, Fraction, datetime
and zoneinfo only; none of the package's Spark code is used. The views are recomputed here from
the expected rows, as views.py defines them: per advertiser key, its label and id the largest
its rows carry, the budget of the newest hour.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

import reference_model as reference
from ad_marketing_pipeline.config import PipelineConfig, TableKey
from ad_marketing_pipeline.devtools.generator import GeneratorSettings, write_landing_files
from ad_marketing_pipeline.io import StreamTrigger
from ad_marketing_pipeline.pipeline import run_layers
from ad_marketing_pipeline.runtime import prepare_runtime
from helpers import assert_frames_equal, committed_batches, pipeline_config
from reference_model import SpendRow, grouped

SETTINGS = GeneratorSettings(
    events=100_000,
    advertisers=50,
    days=30,
    malformed_share=0.01,
    duplicate_share=0.01,
    events_per_file=20_000,
)


def gold_config(root: Path) -> PipelineConfig:
    """One landing file per Bronze batch (read whole: one Delta file), at most two Delta files
    per Silver and Gold micro-batch: Silver meets the five files in three batches and writes
    about two Delta files each, so Gold applies the events in about three batches in arrival
    order (its incremental path), the later ones bringing late clicks and refunds of clicks it
    has already counted."""
    return pipeline_config(
        root,
        "gold",
        source={"kind": "files", "max_files_per_trigger": 1},
        trigger={"max_files_per_batch": 2},
    )


def received_records(spark: SparkSession, config: PipelineConfig) -> list[reference.Record]:
    """The landing files' lines as Bronze received them (its ingest time per file)."""
    files = (
        spark.table(config.table(TableKey.BRONZE_EVENTS))
        .groupBy("file_path")
        .agg(F.min("ingested_at").alias("ingested_at"))
        .collect()
    )
    records: list[reference.Record] = []
    for row in sorted(files, key=lambda row: row["file_path"]):
        content = Path(config.landing_path, row["file_path"].rsplit("/", 1)[-1]).read_bytes()
        records += reference.file_records(
            content, row["file_path"], row["ingested_at"].astimezone(UTC)
        )
    return records


# ---------------------------------------------------------------------------------------------
# The Gold views, recomputed from the expected rows
# ---------------------------------------------------------------------------------------------


def newest(rows: Sequence[SpendRow]) -> SpendRow:
    return max(rows, key=lambda row: row.hour.window_start)


def label(rows: Sequence[SpendRow]) -> str:
    return max(row.advertiser.label for row in rows)


def max_id(rows: Sequence[SpendRow]) -> str | None:
    ids = [row.advertiser.advertiser_id for row in rows if row.advertiser.advertiser_id]
    return max(ids, default=None)


def total(values: Iterable[Decimal]) -> Decimal:
    return sum(values, Decimal(0))


def hourly_spend(rows: Sequence[SpendRow]) -> list[tuple[Any, ...]]:
    return [
        (
            row.advertiser.label,
            row.advertiser.advertiser_id,
            row.key,
            row.hour.window_start,
            row.hour.window_start,
            row.hour.window_end,
            row.hour.spend_day,
            row.gross_spend,
            row.net_spend,
            row.record_count,
            row.budget_value,
            row.can_serve,
        )
        for row in rows
    ]


def daily_spend(rows: Sequence[SpendRow]) -> list[tuple[Any, ...]]:
    by_day = grouped(rows, lambda row: (row.key, row.hour.spend_day))
    return [
        (
            label(day_rows),
            max_id(day_rows),
            key,
            day,
            total(row.gross_spend for row in day_rows),
            total(row.net_spend for row in day_rows),
            sum(row.record_count for row in day_rows),
            newest(day_rows).budget_value,
            newest(day_rows).can_serve,
        )
        for (key, day), day_rows in by_day.items()
    ]


def monthly_spend(rows: Sequence[SpendRow]) -> list[tuple[Any, ...]]:
    by_month = grouped(rows, lambda row: (row.key, row.hour.spend_month))
    return [
        (
            label(month_rows),
            max_id(month_rows),
            key,
            month,
            total(row.gross_spend for row in month_rows),
            total(row.net_spend for row in month_rows),
            sum(row.record_count for row in month_rows),
            newest(month_rows).budget_value,
        )
        for (key, month), month_rows in by_month.items()
    ]


def latest_changed_budgets(rows: Sequence[SpendRow]) -> list[tuple[Any, ...]]:
    """The latest budget change of each advertiser (one row per advertiser)."""
    changed = grouped([row for row in rows if row.budget_changed], lambda row: row.key)
    return [
        (
            label(key_rows),
            max_id(key_rows),
            key,
            newest(key_rows).hour.window_start,
            newest(key_rows).hour.window_start,
            newest(key_rows).budget_value,
        )
        for key, key_rows in changed.items()
    ]


def hourly_average_budget(rows: Sequence[SpendRow]) -> list[tuple[Any, ...]]:
    return [
        (
            row.advertiser.label,
            row.advertiser.advertiser_id,
            row.key,
            row.hour.window_start,
            row.hour.window_start,
            row.avg_budget if row.avg_budget is not None else row.budget_value,
        )
        for row in rows
    ]


def combined_spend_budget(rows: Sequence[SpendRow]) -> list[tuple[Any, ...]]:
    combined: list[tuple[Any, ...]] = []
    for (key, day), day_rows in grouped(rows, lambda row: (row.key, row.hour.spend_day)).items():
        combined.append(
            (label(day_rows), key, day, "spend", total(row.gross_spend for row in day_rows))
        )
        combined.append((label(day_rows), key, day, "budget", newest(day_rows).budget_value))
    return combined


def aggregated_advertiser_spend(
    rows: Sequence[SpendRow], serving_status: Sequence[tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    serving = {status[2]: status[4] for status in serving_status}
    return [
        (
            label(key_rows),
            max_id(key_rows),
            key,
            total(row.gross_spend for row in key_rows),
            total(row.net_spend for row in key_rows),
            sum(row.record_count for row in key_rows),
            newest(key_rows).budget_value,
            max(row.latest_event_time for row in key_rows),
            serving.get(key),
        )
        for key, key_rows in grouped(rows, lambda row: row.key).items()
    ]


# ---------------------------------------------------------------------------------------------
# Expected schemas (money is DECIMAL(18, 6); sums of it DECIMAL(38, 6))
# ---------------------------------------------------------------------------------------------

VIEW_DDL = {
    "gold_hourly_spend": (
        "advertiser string, advertiser_id string, advertiser_key string, spend_hour timestamp, "
        "window_start timestamp, window_end timestamp, spend_day date, "
        "gross_spend decimal(38,6), net_spend decimal(38,6), clicks bigint, "
        "budget_value decimal(18,6), can_serve boolean"
    ),
    "gold_daily_spend": (
        "advertiser string, advertiser_id string, advertiser_key string, spend_day date, "
        "gross_spend decimal(38,6), net_spend decimal(38,6), clicks bigint, "
        "budget_value decimal(18,6), can_serve boolean"
    ),
    "gold_monthly_spend": (
        "advertiser string, advertiser_id string, advertiser_key string, spend_month date, "
        "gross_spend decimal(38,6), net_spend decimal(38,6), clicks bigint, "
        "budget_value decimal(18,6)"
    ),
    "gold_latest_serving_status": reference.LATEST_SERVING_STATUS_DDL,
    "gold_latest_changed_budgets": (
        "advertiser string, advertiser_id string, advertiser_key string, spend_hour timestamp, "
        "window_start timestamp, budget_value decimal(18,6)"
    ),
    "gold_hourly_average_budget": (
        "advertiser string, advertiser_id string, advertiser_key string, spend_hour timestamp, "
        "window_start timestamp, avg_budget decimal(18,6)"
    ),
    "gold_combined_spend_budget": (
        "advertiser string, advertiser_key string, spend_day date, category string, "
        "amount decimal(38,6)"
    ),
    "gold_aggregated_advertiser_spend": (
        "advertiser string, advertiser_id string, advertiser_key string, "
        "total_gross_spend decimal(38,6), total_net_spend decimal(38,6), total_clicks bigint, "
        "latest_budget_value decimal(18,6), latest_activity_time timestamp, "
        "current_serving_status boolean"
    ),
}


def expected_views(
    rows: Sequence[SpendRow], serving_status: Sequence[tuple[Any, ...]]
) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
    yield "gold_hourly_spend", hourly_spend(rows)
    yield "gold_daily_spend", daily_spend(rows)
    yield "gold_monthly_spend", monthly_spend(rows)
    yield "gold_latest_serving_status", list(serving_status)
    yield "gold_latest_changed_budgets", latest_changed_budgets(rows)
    yield "gold_hourly_average_budget", hourly_average_budget(rows)
    yield "gold_combined_spend_budget", combined_spend_budget(rows)
    yield "gold_aggregated_advertiser_spend", aggregated_advertiser_spend(rows, serving_status)


# ---------------------------------------------------------------------------------------------
# The test
# ---------------------------------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.slow
def test_gold_spend_equals_an_independent_recomputation_of_generated_events(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = gold_config(tmp_path)
    write_landing_files(SETTINGS, Path(config.landing_path))

    run_layers(
        prepare_runtime(spark, config, environ={}),
        ["bronze", "serving", "silver", "gold"],
        StreamTrigger(),
    )
    received_by = datetime.now(UTC)  # the serving stream read every file before this

    assert committed_batches(tmp_path, "gold") >= 3, "Gold should run in several micro-batches"
    events = reference.silver(received_records(spark, config), config.quality).events
    rows = reference.advertiser_spend(events, config.budget)
    serving_status = reference.latest_serving_status(events, config.budget, received_by)
    # The dataset is as large as promised and exercises the rules that are easy to get wrong.
    days = {row.hour.spend_day for row in rows}
    assert len({row.key for row in rows}) >= SETTINGS.advertisers
    assert (max(days) - min(days)).days + 1 >= SETTINGS.days
    assert any(not row.can_serve for row in rows), "no advertiser exhausts its budget"
    assert any(row.credited_spend > 0 for row in rows), "no refund is credited"
    assert sum(row.budget_changed for row in rows) > SETTINGS.advertisers, "no budget changes"
    assert any(row.record_count == 0 for row in rows), "every hour row has clicks"

    expected = spark.createDataFrame(
        [row.as_tuple() for row in rows], reference.ADVERTISER_SPEND_DDL
    )
    assert_frames_equal(
        spark.table(config.table(TableKey.GOLD_ADVERTISER_SPEND)).select(*expected.columns),
        expected,
    )
    for view, view_rows in expected_views(rows, serving_status):
        assert_frames_equal(
            spark.table(config.table(TableKey(view))),
            spark.createDataFrame(view_rows, VIEW_DDL[view]),
        )
