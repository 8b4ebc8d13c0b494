"""Gold's tables: explicit schemas, liquid clustering on their lookup keys, Change Data Feed."""

from __future__ import annotations

from pyspark.sql.types import (
    BooleanType,
    DataType,
    DateType,
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from ad_marketing_pipeline.contract import MONEY_TYPE
from ad_marketing_pipeline.tables import TableSpec


def _column(name: str, data_type: DataType, comment: str) -> StructField:
    return StructField(name, data_type, True, metadata={"comment": comment})


ADVERTISERS_SCHEMA = StructType(
    [
        _column("advertiser_id", StringType(), "advertiser id"),
        _column("advertiser_name", StringType(), "the name events carrying both fields give it"),
    ]
)

ADVERTISER_SPEND_SCHEMA = StructType(
    [
        _column("advertiser", StringType(), "advertiser name (its id when events name only that)"),
        _column("advertiser_id", StringType(), "advertiser id, when events carry it"),
        _column("spend_hour", TimestampType(), "start of the hour (UTC instant), as window_start"),
        _column("window_start", TimestampType(), "start of the hour in the budget time zone"),
        _column("window_end", TimestampType(), "end of the hour (exclusive)"),
        _column("spend_day", DateType(), "day of the hour in the budget time zone"),
        _column("spend_month", DateType(), "first day of the hour's month in the budget zone"),
        _column("period_start", TimestampType(), "start of the budget period the hour is in"),
        _column("gross_spend", MONEY_TYPE, "sum of the hour's click amounts"),
        _column("credited_spend", MONEY_TYPE, "clicks credited back by refunds in this hour"),
        _column("net_spend", MONEY_TYPE, "gross_spend - credited_spend"),
        _column("record_count", LongType(), "clicks in the hour"),
        _column("budget_value", MONEY_TYPE, "budget in effect at the hour's end (null: unknown)"),
        _column("avg_budget", MONEY_TYPE, "average budget value seen during the hour"),
        _column("budget_changed", BooleanType(), "the budget differs from the previous hour's"),
        _column("spend_to_date", MONEY_TYPE, "gross spend of the period up to the hour's end"),
        _column("can_serve", BooleanType(), "false once spend_to_date >= budget_value"),
        _column(
            "expected_spend_to_date", MONEY_TYPE, "budget x elapsed share of the period (pacing)"
        ),
        _column("pacing_ratio", DoubleType(), "spend_to_date / expected_spend_to_date"),
        _column("latest_event_time", TimestampType(), "newest event of the hour"),
    ]
)

CONVERSION_FACTS_SCHEMA = StructType(
    [
        _column("conversion_id", StringType(), "the conversion"),
        _column("advertiser", StringType(), "advertiser, when the conversion names it"),
        _column("advertiser_id", StringType(), "advertiser id, when given"),
        _column("campaign_id", StringType(), "the conversion's campaign, else its last click's"),
        _column("user_id", StringType(), "who converted"),
        _column("device_id", StringType(), "device, when given"),
        _column("conversion_type", StringType(), "purchase, lead, signup, ..."),
        _column("converted_at", TimestampType(), "when (UTC)"),
        _column("conversion_date", DateType(), "day of converted_at in the budget time zone"),
        _column("revenue", MONEY_TYPE, "revenue as reported"),
        _column("currency", StringType(), "ISO 4217 code of revenue"),
        _column("is_cancelled", BooleanType(), "a conversion_cancellation names it"),
        _column("cancelled_at", TimestampType(), "time of its first cancellation"),
        _column("net_revenue", MONEY_TYPE, "revenue, 0 when cancelled"),
        _column("last_click_id", StringType(), "the user's last click within the lookback"),
        _column("source", StringType(), "that click's source, '(none)' without a click"),
        _column("platform", StringType(), "that click's platform, '(none)' without a click"),
        _column("performance_campaign_id", StringType(), "campaign it counts under"),
        _column("click_campaign_name", StringType(), "that click's campaign name"),
    ]
)

AD_PERFORMANCE_SCHEMA = StructType(
    [
        _column("performance_date", DateType(), "day in the budget time zone"),
        _column("source", StringType(), "traffic source, '(none)' when not given"),
        _column("platform", StringType(), "platform, '(none)' when not given"),
        _column("campaign_id", StringType(), "campaign, '(none)' when not given"),
        _column("campaign_name", StringType(), "campaign name from its clicks"),
        _column("impressions", LongType(), "impressions"),
        _column("clicks", LongType(), "clicks"),
        _column("ad_spend", MONEY_TYPE, "cost of clicks and impressions"),
        _column("conversions", LongType(), "conversions not cancelled, by their last click"),
        _column("revenue", MONEY_TYPE, "their revenue"),
        _column("ctr", DoubleType(), "clicks / impressions (null without impressions)"),
        _column("cpc", MONEY_TYPE, "ad_spend / clicks (null without clicks)"),
        _column("cpa", MONEY_TYPE, "ad_spend / conversions (null without conversions)"),
        _column("roas", DoubleType(), "revenue / ad_spend (null without spend)"),
        _column("conversion_rate", DoubleType(), "conversions / clicks (null without clicks)"),
    ]
)

_CDF = {"delta.enableChangeDataFeed": "true"}

GOLD_ADVERTISERS = TableSpec(
    key="gold_advertisers",
    schema=ADVERTISERS_SCHEMA,
    comment="Advertiser id -> name, so events that carry only the id count for the name.",
    properties=_CDF,
)
GOLD_ADVERTISER_SPEND = TableSpec(
    key="gold_advertiser_spend",
    schema=ADVERTISER_SPEND_SCHEMA,
    comment="Advertiser x hour: spend, budget in effect, spend_to_date, can_serve, pacing.",
    cluster_by=("advertiser", "window_start"),
    properties=_CDF,
)
GOLD_FACT_CONVERSIONS = TableSpec(
    key="gold_fact_conversions",
    schema=CONVERSION_FACTS_SCHEMA,
    comment="One row per conversion, with cancellation and last click.",
    cluster_by=("conversion_date", "advertiser"),
    properties=_CDF,
)
GOLD_FACT_AD_PERFORMANCE = TableSpec(
    key="gold_fact_ad_performance",
    schema=AD_PERFORMANCE_SCHEMA,
    comment="Day x source x platform x campaign delivery, spend, conversions and ratios.",
    cluster_by=("performance_date", "campaign_id"),
    properties=_CDF,
)
GOLD_TABLES = (
    GOLD_ADVERTISERS,
    GOLD_ADVERTISER_SPEND,
    GOLD_FACT_CONVERSIONS,
    GOLD_FACT_AD_PERFORMANCE,
)
