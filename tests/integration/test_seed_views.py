"""The original pipeline's Gold views (HourlySpend, DailySpend, ...) queried under their own
names and column names after a real run over generated events, each compared with what our own
tables hold (gold_advertiser_spend, gold_serving_status), aggregated here independently."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from ad_marketing_pipeline.config import PipelineConfig, TableKey
from ad_marketing_pipeline.devtools.generator import GeneratorSettings, write_landing_files
from ad_marketing_pipeline.io import StreamTrigger
from ad_marketing_pipeline.pipeline import run_layers
from ad_marketing_pipeline.runtime import prepare_runtime
from helpers import assert_frames_equal, pipeline_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def config(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> PipelineConfig:
    """Bronze, serving, Silver and Gold over 1,500 generated events (with invalid and
    repeated lines and budget changes) of 5 advertisers over 40 days (two months)."""
    root = tmp_path_factory.mktemp("seed_views")
    config = pipeline_config(root, "seed")
    settings = GeneratorSettings(events=1_500, advertisers=5, days=40, seed=19)
    write_landing_files(settings, Path(config.landing_path))
    runtime = prepare_runtime(spark, config, environ={})
    run_layers(runtime, ["bronze", "serving", "silver", "gold"], StreamTrigger())
    return config


def query(spark: SparkSession, config: PipelineConfig, key: TableKey, columns: str) -> DataFrame:
    """The view queried as the original pipeline's users query it: by name and column names."""
    return spark.sql(f"SELECT {columns} FROM {config.table(key)}")


def spend(spark: SparkSession, config: PipelineConfig) -> DataFrame:
    return spark.table(config.table(TableKey.GOLD_ADVERTISER_SPEND))


def newest(column: str) -> Column:
    return F.max_by(column, "window_start")


def test_the_views_keep_the_original_names(spark: SparkSession, config: PipelineConfig) -> None:
    views = {view.name.lower() for view in spark.catalog.listTables(config.namespace)}
    assert {
        "hourlyspend",
        "dailyspend",
        "monthlyspend",
        "latestservingstatus",
        "latestchangedbudgets",
        "hourlyaveragebudget",
        "combinedspendbudget",
        "aggregatedadvertiserspend",
    } <= views
    assert spend(spark, config).filter("budget_changed").count() > 5  # the data has changes


def test_hourly_spend(spark: SparkSession, config: PipelineConfig) -> None:
    actual = query(
        spark,
        config,
        TableKey.SEED_HOURLY_SPEND,
        "advertiser, spend_hour_start, spend_hour_end, hourly_gross_spend, hourly_net_spend, "
        "total_clicks, budget_value, can_serve_status",
    )
    expected = spend(spark, config).select(
        "advertiser",
        F.col("window_start").alias("spend_hour_start"),
        F.col("window_end").alias("spend_hour_end"),
        F.col("gross_spend").alias("hourly_gross_spend"),
        F.col("net_spend").alias("hourly_net_spend"),
        F.col("record_count").alias("total_clicks"),
        "budget_value",
        F.col("can_serve").alias("can_serve_status"),
    )
    assert_frames_equal(actual, expected)


@pytest.mark.parametrize(
    "period",
    [
        (TableKey.SEED_DAILY_SPEND, "spend_day", "daily", True),
        (TableKey.SEED_MONTHLY_SPEND, "spend_month", "monthly", False),
    ],
    ids=["daily", "monthly"],
)
def test_daily_and_monthly_spend(
    spark: SparkSession,
    config: PipelineConfig,
    period: tuple[TableKey, str, str, bool],
) -> None:
    key, period_column, prefix, flag = period
    columns = [
        "advertiser_key",
        period_column,
        f"{prefix}_gross_spend",
        f"{prefix}_net_spend",
        "total_clicks",
        "budget_value",
        *(["can_serve_status"] if flag else []),
    ]
    actual = query(spark, config, key, ", ".join(columns))
    expected = (
        spend(spark, config)
        .groupBy("advertiser_key", period_column)
        .agg(
            F.sum("gross_spend").alias(f"{prefix}_gross_spend"),
            F.sum("net_spend").alias(f"{prefix}_net_spend"),
            F.sum("record_count").alias("total_clicks"),
            newest("budget_value").alias("budget_value"),
            *([newest("can_serve").alias("can_serve_status")] if flag else []),
        )
    )
    assert_frames_equal(actual, expected)


def test_latest_serving_status(spark: SparkSession, config: PipelineConfig) -> None:
    actual = query(
        spark,
        config,
        TableKey.SEED_LATEST_SERVING_STATUS,
        "advertiser, latest_hour, can_serve_status, budget_value, spend_to_date",
    )
    expected = spark.table(config.table(TableKey.GOLD_SERVING_STATUS)).select(
        "advertiser",
        "latest_hour",
        F.col("can_serve").alias("can_serve_status"),
        "budget_value",
        "spend_to_date",
    )
    assert actual.count() == 5
    assert_frames_equal(actual, expected)


def test_latest_changed_budgets_is_the_latest_change_of_each_advertiser(
    spark: SparkSession, config: PipelineConfig
) -> None:
    actual = query(
        spark,
        config,
        TableKey.SEED_LATEST_CHANGED_BUDGETS,
        "advertiser_key, spend_hour_start, budget_value",
    )
    expected = (
        spend(spark, config)
        .filter("budget_changed")
        .groupBy("advertiser_key")
        .agg(
            F.max("window_start").alias("spend_hour_start"),
            newest("budget_value").alias("budget_value"),
        )
    )
    assert actual.count() == actual.select("advertiser_key").distinct().count()
    assert_frames_equal(actual, expected)


def test_hourly_average_budget(spark: SparkSession, config: PipelineConfig) -> None:
    actual = query(
        spark,
        config,
        TableKey.SEED_HOURLY_AVERAGE_BUDGET,
        "advertiser, spend_hour_start, avg_budget",
    )
    expected = spend(spark, config).select(
        "advertiser",
        F.col("window_start").alias("spend_hour_start"),
        F.coalesce("avg_budget", "budget_value").alias("avg_budget"),
    )
    assert_frames_equal(actual, expected)


def test_combined_spend_budget(spark: SparkSession, config: PipelineConfig) -> None:
    actual = query(
        spark,
        config,
        TableKey.SEED_COMBINED_SPEND_BUDGET,
        "advertiser_key, spend_day, category, amount",
    )
    days = spend(spark, config).groupBy("advertiser_key", "spend_day")
    expected = days.agg(
        F.lit("spend").alias("category"), F.sum("gross_spend").alias("amount")
    ).unionByName(
        days.agg(
            F.lit("budget").alias("category"),
            newest("budget_value").cast("decimal(38,6)").alias("amount"),
        )
    )
    assert_frames_equal(actual, expected)


def test_aggregated_advertiser_spend(spark: SparkSession, config: PipelineConfig) -> None:
    actual = query(
        spark,
        config,
        TableKey.SEED_AGGREGATED_ADVERTISER_SPEND,
        "advertiser_key, total_gross_spend, total_net_spend, total_clicks, latest_budget_value, "
        "latest_activity_time, current_serving_status",
    )
    status = spark.table(config.table(TableKey.GOLD_SERVING_STATUS)).select(
        "advertiser_key", F.col("can_serve").alias("current_serving_status")
    )
    expected = (
        spend(spark, config)
        .groupBy("advertiser_key")
        .agg(
            F.sum("gross_spend").alias("total_gross_spend"),
            F.sum("net_spend").alias("total_net_spend"),
            F.sum("record_count").alias("total_clicks"),
            newest("budget_value").alias("latest_budget_value"),
            F.max("latest_event_time").alias("latest_activity_time"),
        )
        .join(status, "advertiser_key", "left")
    )
    assert_frames_equal(actual, expected)
