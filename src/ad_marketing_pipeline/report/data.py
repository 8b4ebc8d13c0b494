"""What the demo's report shows, read from the pipeline's tables.

Every query aggregates in Spark (the transforms are in `report.aggregations`) and collects a
small result (a few thousand rows at most) into the typed, frozen rows of `report.records`. A
table that does not exist yet (a layer that has not run, the streaming-progress table before its
listener writes) gives an empty section, never an error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from ad_marketing_pipeline.config import PipelineConfig, TableKey
from ad_marketing_pipeline.report.aggregations import (
    campaign_totals,
    newest_batches,
    reason_counts,
    top_spenders,
)
from ad_marketing_pipeline.report.records import (
    PACING_DAYS,
    BatchQuality,
    CampaignPerformance,
    ChannelCredit,
    DailySpend,
    HourlyPacing,
    RejectReason,
    ReportData,
    ServingStatus,
    StreamingBatch,
    TableRows,
)

# The spend chart shows the biggest spenders only (a dropdown picks one), with hourly pacing
# over the last days of data (`PACING_DAYS`): 10 advertisers x 7 days x 24 hours stays under
# 2,000 rows.
TOP_ADVERTISERS = 10
# The newest batches per streaming query (and per data-quality query) the report plots.
MAX_BATCHES = 500
# Campaigns in the performance table, biggest spend first.
MAX_CAMPAIGNS = 500

# (layer, key in `TableNames`) of the summary's row counts, in data-flow order.
SUMMARY_TABLES: tuple[tuple[str, TableKey], ...] = (
    ("Bronze", TableKey.BRONZE_EVENTS),
    ("Silver", TableKey.SILVER_EVENTS),
    ("Silver", TableKey.SILVER_QUARANTINE),
    ("Gold", TableKey.GOLD_ADVERTISER_SPEND),
    ("Gold", TableKey.GOLD_FACT_CONVERSIONS),
    ("Gold", TableKey.GOLD_FACT_AD_PERFORMANCE),
    ("Attribution", TableKey.GOLD_ATTRIBUTION),
)


T = TypeVar("T")


def _table(spark: SparkSession, config: PipelineConfig, key: TableKey) -> DataFrame | None:
    """The table (or view) `key` of `TableNames`, or None when it does not exist yet."""
    name = config.table(key)
    return spark.table(name) if spark.catalog.tableExists(name) else None


def _collect(frame: DataFrame | None, build: Callable[[Row], T]) -> tuple[T, ...]:
    return () if frame is None else tuple(build(row) for row in frame.collect())


def _money(value: Any) -> Decimal:
    return Decimal(0) if value is None else Decimal(value)


def _optional_money(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _utc(value: datetime) -> datetime:
    """An aware UTC datetime. PySpark gives timestamps as naive datetimes in the Python
    process's local time zone (whatever Spark's session time zone is)."""
    return value.astimezone(UTC)


def _instant(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)


def _table_rows(spark: SparkSession, config: PipelineConfig) -> tuple[TableRows, ...]:
    counted = []
    for layer, key in SUMMARY_TABLES:
        frame = _table(spark, config, key)
        if frame is not None:
            counted.append(TableRows(layer, getattr(config.tables, key), frame.count()))
    return tuple(counted)


def _spend_and_pacing(
    spark: SparkSession, config: PipelineConfig, advertisers: int, pacing_days: int
) -> tuple[tuple[DailySpend, ...], tuple[HourlyPacing, ...]]:
    daily = _table(spark, config, TableKey.GOLD_DAILY_SPEND)
    hourly = _table(spark, config, TableKey.GOLD_ADVERTISER_SPEND)
    if daily is None or hourly is None:
        return (), ()
    top = [row.advertiser for row in top_spenders(daily, advertisers).collect()]
    daily_spend = _collect(
        daily.where(F.col("advertiser").isin(top)).orderBy("advertiser", "spend_day"),
        lambda row: DailySpend(
            advertiser=row.advertiser,
            spend_day=row.spend_day,
            gross_spend=_money(row.gross_spend),
            net_spend=_money(row.net_spend),
            budget_value=_optional_money(row.budget_value),
        ),
    )
    newest_hour = hourly.agg(F.max("window_start")).first()
    if newest_hour is None or newest_hour[0] is None:
        return daily_spend, ()
    since = newest_hour[0] - timedelta(days=pacing_days)
    pacing = _collect(
        hourly.where(F.col("advertiser").isin(top) & (F.col("window_start") > F.lit(since)))
        .select(
            "advertiser",
            "window_start",
            "spend_to_date",
            "expected_spend_to_date",
            "pacing_ratio",
        )
        .orderBy("advertiser", "window_start"),
        lambda row: HourlyPacing(
            advertiser=row.advertiser,
            window_start=_utc(row.window_start),
            spend_to_date=_money(row.spend_to_date),
            expected_spend_to_date=_optional_money(row.expected_spend_to_date),
            pacing_ratio=_optional_float(row.pacing_ratio),
        ),
    )
    return daily_spend, pacing


def _serving(
    spark: SparkSession, config: PipelineConfig
) -> tuple[tuple[ServingStatus, ...], datetime | None]:
    status = _table(spark, config, TableKey.GOLD_LATEST_SERVING_STATUS)
    if status is None:
        return (), None
    rows = status.orderBy("advertiser").collect()
    serving = tuple(
        ServingStatus(
            advertiser=row.advertiser,
            can_serve=bool(row.latest_can_serve),
            budget_value=_optional_money(row.budget_value),
            spend_to_date=_optional_money(row.spend_to_date),
            latest_hour=_instant(row.latest_hour),
        )
        for row in rows
    )
    as_of = max((row.as_of for row in rows if row.as_of is not None), default=None)
    return serving, _instant(as_of)


def _campaigns(
    spark: SparkSession, config: PipelineConfig, limit: int
) -> tuple[CampaignPerformance, ...]:
    performance = _table(spark, config, TableKey.GOLD_FACT_AD_PERFORMANCE)
    return _collect(
        None if performance is None else campaign_totals(performance).limit(limit),
        lambda row: CampaignPerformance(
            campaign_id=row.campaign_id,
            campaign_name=row.campaign_name,
            impressions=int(row.impressions or 0),
            clicks=int(row.clicks or 0),
            ad_spend=_money(row.ad_spend),
            conversions=int(row.conversions or 0),
            revenue=_money(row.revenue),
            ctr=_optional_float(row.ctr),
            cpc=_optional_money(row.cpc),
            cpa=_optional_money(row.cpa),
            roas=_optional_float(row.roas),
        ),
    )


def _channel_credit(spark: SparkSession, config: PipelineConfig) -> tuple[ChannelCredit, ...]:
    comparison = _table(spark, config, TableKey.GOLD_ATTRIBUTION_COMPARISON)
    return _collect(
        None if comparison is None else comparison.orderBy("model", "channel"),
        lambda row: ChannelCredit(
            channel=row.channel,
            model=row.model,
            conversions=float(row.conversions or 0.0),
            revenue=_money(row.revenue),
        ),
    )


def _rejects_by_reason(spark: SparkSession, config: PipelineConfig) -> tuple[RejectReason, ...]:
    quarantine = _table(spark, config, TableKey.SILVER_QUARANTINE)
    return _collect(
        None if quarantine is None else reason_counts(quarantine),
        lambda row: RejectReason(reason_code=row.reason_code, records=int(row.records)),
    )


def _batch_quality(
    spark: SparkSession, config: PipelineConfig, batches: int
) -> tuple[BatchQuality, ...]:
    quality = _table(spark, config, TableKey.OPS_DATA_QUALITY)
    return _collect(
        None
        if quality is None
        else newest_batches(
            quality.select(
                "query_name", "batch_id", "processed_at", "input_rows", "quarantined_rows"
            ),
            batches,
        ),
        lambda row: BatchQuality(
            query_name=row.query_name or "silver",
            batch_id=int(row.batch_id),
            processed_at=_instant(row.processed_at),
            input_rows=int(row.input_rows or 0),
            quarantined_rows=int(row.quarantined_rows or 0),
        ),
    )


def _streaming(
    spark: SparkSession, config: PipelineConfig, batches: int
) -> tuple[StreamingBatch, ...]:
    progress = _table(spark, config, TableKey.OPS_STREAMING_PROGRESS)
    columns: Sequence[str] = (
        "query_name",
        "batch_id",
        "recorded_at",
        "input_rows",
        "processed_rows_per_second",
        "lag_seconds",
    )
    return _collect(
        None if progress is None else newest_batches(progress.select(*columns), batches),
        lambda row: StreamingBatch(
            query_name=row.query_name or "(unnamed)",
            batch_id=int(row.batch_id),
            recorded_at=_instant(row.recorded_at),
            input_rows=int(row.input_rows or 0),
            processed_rows_per_second=_optional_float(row.processed_rows_per_second),
            lag_seconds=_optional_float(row.lag_seconds),
        ),
    )


def report_data(
    spark: SparkSession,
    config: PipelineConfig,
    *,
    top_advertisers: int = TOP_ADVERTISERS,
    pacing_days: int = PACING_DAYS,
    max_batches: int = MAX_BATCHES,
    max_campaigns: int = MAX_CAMPAIGNS,
) -> ReportData:
    """Read the report's aggregates from the configured schema's tables (missing ones give
    empty sections)."""
    daily_spend, pacing = _spend_and_pacing(spark, config, top_advertisers, pacing_days)
    serving, as_of = _serving(spark, config)
    return ReportData(
        namespace=config.namespace,
        generated_at=datetime.now(UTC),
        as_of=as_of,
        pacing_days=pacing_days,
        table_rows=_table_rows(spark, config),
        daily_spend=daily_spend,
        pacing=pacing,
        serving=serving,
        campaigns=_campaigns(spark, config, max_campaigns),
        channel_credit=_channel_credit(spark, config),
        rejects_by_reason=_rejects_by_reason(spark, config),
        batch_quality=_batch_quality(spark, config, max_batches),
        streaming=_streaming(spark, config, max_batches),
    )
