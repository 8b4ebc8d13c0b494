"""The attribution layer's tables and its per-model views.

Money is `contract.MONEY_TYPE` (decimal(18,6)), sums of it `MONEY_SUM_TYPE` (decimal(38,6));
credits and attributed conversion counts are doubles. `gold_attribution` holds every model, with
a `model` column; a view per model, `gold_attribution_<model>`, shows one.
"""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from ad_marketing_pipeline.config import PipelineConfig, TableKey
from ad_marketing_pipeline.contract import MONEY_SUM_TYPE, MONEY_TYPE
from ad_marketing_pipeline.tables import TableSpec, column

_CDF = {"delta.enableChangeDataFeed": "true"}

STEP_TYPE = StructType(
    [
        StructField("touched_at", TimestampType()),
        StructField("event_id", StringType()),
        StructField("channel", StringType()),
    ]
)

SESSIONS_SCHEMA = StructType(
    [
        column("session_id", StringType(), "SHA-256 of user and session start", nullable=False),
        column("user_id", StringType(), "the user", nullable=False),
        column("session_start", TimestampType(), "time of the session's first event"),
        column("session_end", TimestampType(), "time of the session's last event"),
        column("landing_channel", StringType(), "channel of its first touch, else Direct"),
        column("event_count", IntegerType(), "clicks, page views and conversions in it"),
        column("touch_count", IntegerType(), "touchpoints in it"),
    ]
)

TOUCHPOINTS_SCHEMA = StructType(
    [
        column("event_id", StringType(), "the Silver event", nullable=False),
        column("user_id", StringType(), "the user; null for a click without one"),
        column("touched_at", TimestampType(), "event time (UTC)"),
        column("event_type", StringType(), "ad_click or page_view"),
        column("channel", StringType(), "channel from source, medium and platform"),
        column("source", StringType(), "marketing source"),
        column("medium", StringType(), "marketing medium"),
        column("platform", StringType(), "ad platform (clicks)"),
        column("campaign", StringType(), "campaign name"),
        column("cost", MONEY_TYPE, "click cost; null for page views"),
    ]
)

CONVERSION_PATHS_SCHEMA = StructType(
    [
        column("conversion_id", StringType(), "the conversion", nullable=False),
        column("user_id", StringType(), "the converting user"),
        column("converted_at", TimestampType(), "conversion time (UTC)"),
        column("revenue", MONEY_TYPE, "revenue as reported"),
        column("is_cancelled", BooleanType(), "a cancellation of it exists"),
        column("net_revenue", MONEY_TYPE, "revenue, 0 when cancelled"),
        column("touch_count", IntegerType(), "touchpoints in the lookback window"),
        column("steps", ArrayType(STEP_TYPE), "the path after its transforms, oldest first"),
        column("path", StringType(), "the steps' channels, 'A > B'; '(none)' without touch"),
        column("path_length", IntegerType(), "number of steps"),
    ]
)

ATTRIBUTION_SCHEMA = StructType(
    [
        column("conversion_id", StringType(), "the conversion", nullable=False),
        column("model", StringType(), "attribution model", nullable=False),
        column("channel", StringType(), "credited channel; '(none)' without touch", nullable=False),
        column("user_id", StringType(), "the converting user"),
        column("converted_at", TimestampType(), "conversion time (UTC)"),
        column("is_cancelled", BooleanType(), "the conversion was cancelled"),
        column("credit", DoubleType(), "share of the conversion; sums to 1 per model"),
        column("attributed_revenue", MONEY_TYPE, "credit x net revenue, exact per conversion"),
    ]
)

ATTRIBUTION_DAILY_SCHEMA = StructType(
    [
        column("channel", StringType(), "credited channel", nullable=False),
        column("model", StringType(), "attribution model", nullable=False),
        column("conversion_date", DateType(), "UTC date of the conversions", nullable=False),
        column(
            "exact_conversions",
            DecimalType(38, 18),
            "credited non-cancelled conversions, as an exact sum of credits",
        ),
        column("revenue", MONEY_SUM_TYPE, "attributed net revenue"),
    ]
)

CHANNEL_SPEND_DAILY_SCHEMA = StructType(
    [
        column("channel", StringType(), "the clicks' channel"),
        column("touch_date", DateType(), "UTC date of the clicks", nullable=False),
        column("spend", MONEY_SUM_TYPE, "cost of the clicks (gross of refunds)"),
        column("clicks", LongType(), "the clicks"),
    ]
)

COMPARISON_SCHEMA = StructType(
    [
        column("channel", StringType(), "channel", nullable=False),
        column("model", StringType(), "attribution model", nullable=False),
        column("conversions", DoubleType(), "credited non-cancelled conversions"),
        column("revenue", MONEY_SUM_TYPE, "attributed net revenue"),
        column("conversion_share", DoubleType(), "share of the model's conversions"),
        column("revenue_share", DoubleType(), "share of the model's revenue; null if none"),
    ]
)

CHANNEL_PERFORMANCE_SCHEMA = StructType(
    [
        column("channel", StringType(), "channel", nullable=False),
        column("model", StringType(), "attribution model", nullable=False),
        column("spend", MONEY_SUM_TYPE, "cost of the channel's clicks (gross of refunds)"),
        column("clicks", LongType(), "the channel's clicks"),
        column("conversions", DoubleType(), "credited non-cancelled conversions"),
        column("revenue", MONEY_SUM_TYPE, "attributed net revenue"),
        column("cpa", MONEY_SUM_TYPE, "spend / conversions; null without conversions"),
        column("roas", DoubleType(), "revenue / spend; null without spend"),
    ]
)

GOLD_TOUCHPOINTS = TableSpec(
    key=TableKey.GOLD_TOUCHPOINTS,
    schema=TOUCHPOINTS_SCHEMA,
    comment="Ad clicks and page views with a marketing source, with their channel.",
    cluster_by=("user_id", "touched_at"),
    properties=_CDF,
)
GOLD_SESSIONS = TableSpec(
    key=TableKey.GOLD_SESSIONS,
    schema=SESSIONS_SCHEMA,
    comment="Users' sessions (split after the configured inactivity) with landing channel.",
    cluster_by=("user_id", "session_start"),
    properties=_CDF,
)
GOLD_CONVERSION_PATHS = TableSpec(
    key=TableKey.GOLD_CONVERSION_PATHS,
    schema=CONVERSION_PATHS_SCHEMA,
    comment="Each conversion's touchpoints in its lookback window, after the path transforms.",
    cluster_by=("converted_at",),
    properties=_CDF,
)
GOLD_ATTRIBUTION = TableSpec(
    key=TableKey.GOLD_ATTRIBUTION,
    schema=ATTRIBUTION_SCHEMA,
    comment="Credit and attributed revenue per conversion, model and channel.",
    cluster_by=("model", "converted_at"),
    properties=_CDF,
)
GOLD_ATTRIBUTION_DAILY = TableSpec(
    key=TableKey.GOLD_ATTRIBUTION_DAILY,
    schema=ATTRIBUTION_DAILY_SCHEMA,
    comment="Per channel, model and UTC conversion date: attributed conversions and revenue "
    "(the sums the marts add up; a batch recomputes the days it changed).",
    cluster_by=("conversion_date",),
)
GOLD_CHANNEL_SPEND_DAILY = TableSpec(
    key=TableKey.GOLD_CHANNEL_SPEND_DAILY,
    schema=CHANNEL_SPEND_DAILY_SCHEMA,
    comment="Per channel and UTC date: click spend and clicks (the sums the marts add up; a "
    "batch recomputes the days of its clicks).",
    cluster_by=("touch_date",),
)
GOLD_ATTRIBUTION_COMPARISON = TableSpec(
    key=TableKey.GOLD_ATTRIBUTION_COMPARISON,
    schema=COMPARISON_SCHEMA,
    comment="Per channel and model: attributed conversions, revenue and their shares.",
)
GOLD_CHANNEL_PERFORMANCE = TableSpec(
    key=TableKey.GOLD_CHANNEL_PERFORMANCE,
    schema=CHANNEL_PERFORMANCE_SCHEMA,
    comment="Per channel and model: click spend, attributed conversions and revenue, CPA, ROAS.",
)

ATTRIBUTION_TABLES: tuple[TableSpec, ...] = (
    GOLD_TOUCHPOINTS,
    GOLD_SESSIONS,
    GOLD_CONVERSION_PATHS,
    GOLD_ATTRIBUTION,
    GOLD_ATTRIBUTION_DAILY,
    GOLD_CHANNEL_SPEND_DAILY,
    GOLD_ATTRIBUTION_COMPARISON,
    GOLD_CHANNEL_PERFORMANCE,
)


def model_view_name(config: PipelineConfig, model: str) -> str:
    """`<namespace>.gold_attribution_<model>`."""
    return f"{config.table(TableKey.GOLD_ATTRIBUTION)}_{model}"
