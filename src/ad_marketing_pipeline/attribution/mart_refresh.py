"""The attribution marts kept up to date: the tables of daily sums (gold_attribution_daily,
gold_channel_spend_daily), of which a micro-batch recomputes the UTC days it changed from those
days of gold_attribution and gold_touchpoints, and the channel x model marts, rebuilt whole from
the daily sums (small: channels x models x days). See marts.py for the sums themselves.

Every write replaces a recomputed scope whole, from the tables' current content, so a batch
re-run after a crash leaves the same tables."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from ad_marketing_pipeline.attribution.marts import (
    attribution_by_day,
    attribution_comparison,
    channel_performance,
    click_spend_by_day,
)
from ad_marketing_pipeline.attribution.models import MODELS
from ad_marketing_pipeline.attribution.tables import (
    ATTRIBUTION_DAILY_SCHEMA,
    CHANNEL_PERFORMANCE_SCHEMA,
    CHANNEL_SPEND_DAILY_SCHEMA,
    COMPARISON_SCHEMA,
)
from ad_marketing_pipeline.config import PipelineConfig, TableKey
from ad_marketing_pipeline.frames import date_of_day, utc_day, within_days
from ad_marketing_pipeline.io import MicroBatch


def conform(frame: DataFrame, schema: StructType) -> DataFrame:
    """The frame's columns in the table's order and types."""
    return frame.select(*(F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields))


def utc_days_of(frame: DataFrame, timestamp: str) -> list[int]:
    """The UTC days (`frames.utc_day` numbers) of a timestamp column of `frame`, sorted."""
    return sorted(row[0] for row in frame.select(utc_day(F.col(timestamp))).distinct().collect())


@dataclass(frozen=True)
class DailySums:
    """A table of daily sums of another (`by_day` of `source`), keyed by `keys`, the last of
    which is the UTC date of the source's `timestamp`."""

    table: str
    schema: StructType
    keys: tuple[str, ...]
    source: str
    timestamp: str
    by_day: Callable[[DataFrame], DataFrame]


@dataclass(frozen=True)
class MartTables:
    """The daily sums and the marts of one configuration."""

    attribution: DailySums
    channel_spend: DailySums
    comparison: str
    performance: str

    @classmethod
    def of(cls, config: PipelineConfig) -> MartTables:
        return cls(
            attribution=DailySums(
                table=config.table(TableKey.GOLD_ATTRIBUTION_DAILY),
                schema=ATTRIBUTION_DAILY_SCHEMA,
                keys=("channel", "model", "conversion_date"),
                source=config.table(TableKey.GOLD_ATTRIBUTION),
                timestamp="converted_at",
                by_day=attribution_by_day,
            ),
            channel_spend=DailySums(
                table=config.table(TableKey.GOLD_CHANNEL_SPEND_DAILY),
                schema=CHANNEL_SPEND_DAILY_SCHEMA,
                keys=("channel", "touch_date"),
                source=config.table(TableKey.GOLD_TOUCHPOINTS),
                timestamp="touched_at",
                by_day=click_spend_by_day,
            ),
            comparison=config.table(TableKey.GOLD_ATTRIBUTION_COMPARISON),
            performance=config.table(TableKey.GOLD_CHANNEL_PERFORMANCE),
        )


def refresh_daily_sums(
    spark: SparkSession, sums: DailySums, days: list[int] | None, batch: MicroBatch
) -> None:
    """Recompute a table of daily sums for these UTC days (all when None), reading only its
    source's rows of those days (Delta skips the other files by the timestamp's statistics),
    and replace those days whole."""
    source = spark.table(sums.source)
    if days is None:
        batch.upsert_by_keys(
            conform(sums.by_day(source), sums.schema),
            sums.table,
            sums.keys,
            delete_missing_in="true",
        )
        return
    if not days:
        return
    recomputed = sums.by_day(source.filter(within_days(F.col(sums.timestamp), days)))
    dates = [date_of_day(day) for day in days]
    replaced = spark.table(sums.table).filter(F.col(sums.keys[-1]).isin(dates))
    batch.replace_keys(conform(recomputed, sums.schema), replaced, sums.table, sums.keys)


def backfill_daily_sums(spark: SparkSession, tables: MartTables, batch: MicroBatch) -> None:
    """Fill the tables of daily sums whole if they are empty while their sources are not: the
    first start after an upgrade that added them (a micro-batch recomputes only the days it
    changes, so it must not start from nothing)."""
    for sums in (tables.attribution, tables.channel_spend):
        if spark.table(sums.table).isEmpty() and not spark.table(sums.source).isEmpty():
            refresh_daily_sums(spark, sums, None, batch)


def rebuild_marts(spark: SparkSession, tables: MartTables, batch: MicroBatch) -> None:
    """The channel x model marts, whole, from the daily sums."""
    attribution = spark.table(tables.attribution.table)
    spend = spark.table(tables.channel_spend.table)
    batch.upsert_by_keys(
        conform(attribution_comparison(attribution), COMPARISON_SCHEMA),
        tables.comparison,
        ["channel", "model"],
        delete_missing_in="true",
    )
    batch.upsert_by_keys(
        conform(channel_performance(attribution, spend, MODELS), CHANNEL_PERFORMANCE_SCHEMA),
        tables.performance,
        ["channel", "model"],
        delete_missing_in="true",
    )
