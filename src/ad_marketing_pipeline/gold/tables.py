"""Gold's tables: explicit schemas, liquid clustering on their lookup keys, Change Data Feed."""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from ad_marketing_pipeline.config import TableKey
from ad_marketing_pipeline.contract import MONEY_SUM_TYPE, MONEY_TYPE
from ad_marketing_pipeline.tables import TableSpec, column

ADVERTISERS_SCHEMA = StructType(
    [
        column("advertiser_id", StringType(), "advertiser id"),
        column("advertiser_name", StringType(), "a name an event gave together with the id"),
    ]
)
ADVERTISER_KEY = column(
    "advertiser_key",
    StringType(),
    "the advertiser: its id, or its name while no event has given the name with an id",
)

ADVERTISER_SPEND_SCHEMA = StructType(
    [
        ADVERTISER_KEY,
        column("advertiser", StringType(), "advertiser label: its name (its id while unnamed)"),
        column("advertiser_id", StringType(), "advertiser id, when events give one"),
        column("spend_hour", TimestampType(), "start of the hour (UTC instant), as window_start"),
        column("window_start", TimestampType(), "start of the hour in the budget time zone"),
        column("window_end", TimestampType(), "end of the hour (exclusive)"),
        column("spend_day", DateType(), "day of the hour in the budget time zone"),
        column("spend_month", DateType(), "first day of the hour's month in the budget zone"),
        column("period_start", TimestampType(), "start of the budget period the hour is in"),
        column("gross_spend", MONEY_SUM_TYPE, "sum of the hour's click amounts"),
        column("credited_spend", MONEY_SUM_TYPE, "clicks credited back by refunds in this hour"),
        column("net_spend", MONEY_SUM_TYPE, "gross_spend - credited_spend"),
        column("record_count", LongType(), "clicks in the hour"),
        column("budget_value", MONEY_TYPE, "budget in effect at the hour's end (null: unknown)"),
        column("avg_budget", MONEY_TYPE, "average budget value seen during the hour"),
        column("budget_changed", BooleanType(), "the budget differs from the previous hour's"),
        column("spend_to_date", MONEY_SUM_TYPE, "gross spend of the period up to the hour's end"),
        column("can_serve", BooleanType(), "false once spend_to_date >= budget_value"),
        column(
            "expected_spend_to_date",
            MONEY_SUM_TYPE,
            "budget x elapsed share of the period (pacing)",
        ),
        column("pacing_ratio", DoubleType(), "spend_to_date / expected_spend_to_date"),
        column("latest_event_time", TimestampType(), "newest event of the hour"),
    ]
)

BUDGET_ORDER_TYPE = StructType(
    [
        StructField("event_time", TimestampType()),
        StructField("rank", IntegerType()),
        StructField("received_at", TimestampType()),
        StructField("file_path", StringType()),
        StructField("partition", IntegerType()),
        StructField("offset", LongType()),
        StructField("event_id", StringType()),
    ]
)
PERIOD_SPEND_TYPE = ArrayType(
    StructType(
        [
            StructField("period_start", TimestampType()),
            StructField("spend_to_date", MONEY_SUM_TYPE),
            StructField("clicks", LongType()),
        ]
    )
)

SERVING_STATUS_SCHEMA = StructType(
    [
        ADVERTISER_KEY,
        column("advertiser", StringType(), "advertiser label: its name (its id while unnamed)"),
        column("advertiser_id", StringType(), "advertiser id, when events give one"),
        column("period_start", TimestampType(), "the current budget period (of as_of)"),
        column("spend_to_date", MONEY_SUM_TYPE, "gross spend of the current period so far"),
        column("clicks", LongType(), "clicks of the current period so far"),
        column("budget_value", MONEY_TYPE, "newest budget value seen (null: unknown)"),
        column(
            "budget_order",
            BUDGET_ORDER_TYPE,
            "(event time, 2 for a budget update or 1 for a click, when and where it was "
            "received, event id) of that budget: the newest by this order is in effect",
        ),
        column("latest_hour", TimestampType(), "hour of the newest click or budget observation"),
        column("latest_event_time", TimestampType(), "newest click or budget observation"),
        column("can_serve", BooleanType(), "spend_to_date < budget_value (policy if no budget)"),
        column(
            "period_spend",
            PERIOD_SPEND_TYPE,
            "spend and clicks of the current period and of later ones (events stamped ahead)",
        ),
        column(
            "as_of",
            TimestampType(),
            "'now': the newest instant valid events show, none counting past its arrival",
        ),
        column("current_period_start", TimestampType(), "budget period of as_of"),
        column("serving_query_id", StringType(), "id of the serving stream that wrote the row"),
        column("serving_batch_id", LongType(), "its micro-batch that last wrote the table"),
        column("updated_at", TimestampType(), "when that micro-batch wrote it"),
    ]
)

CONVERSION_FACTS_SCHEMA = StructType(
    [
        column("conversion_id", StringType(), "the conversion"),
        ADVERTISER_KEY,
        column("advertiser", StringType(), "advertiser label, when the conversion names one"),
        column("advertiser_id", StringType(), "advertiser id, when given"),
        column("campaign_id", StringType(), "the conversion's campaign, else its last click's"),
        column("user_id", StringType(), "who converted"),
        column("device_id", StringType(), "device, when given"),
        column("conversion_type", StringType(), "purchase, lead, signup, ..."),
        column("converted_at", TimestampType(), "when (UTC)"),
        column("conversion_date", DateType(), "day of converted_at in the budget time zone"),
        column("revenue", MONEY_TYPE, "revenue as reported"),
        column("currency", StringType(), "ISO 4217 code of revenue"),
        column("is_cancelled", BooleanType(), "a conversion_cancellation names it"),
        column("cancelled_at", TimestampType(), "time of its first cancellation"),
        column("net_revenue", MONEY_TYPE, "revenue, 0 when cancelled"),
        column("last_click_id", StringType(), "click_id of the user's last click in the lookback"),
        column("source", StringType(), "that click's source, '(none)' without a click"),
        column("platform", StringType(), "that click's platform, '(none)' without a click"),
        column("performance_campaign_id", StringType(), "campaign it counts under"),
        column("click_campaign_name", StringType(), "that click's campaign name"),
    ]
)

AD_PERFORMANCE_SCHEMA = StructType(
    [
        column("performance_date", DateType(), "day in the budget time zone"),
        column("source", StringType(), "traffic source, '(none)' when not given"),
        column("platform", StringType(), "platform, '(none)' when not given"),
        column("campaign_id", StringType(), "campaign, '(none)' when not given"),
        column("campaign_name", StringType(), "campaign name from its clicks"),
        column("impressions", LongType(), "impressions"),
        column("clicks", LongType(), "clicks"),
        column("ad_spend", MONEY_SUM_TYPE, "cost of clicks and impressions"),
        column("conversions", LongType(), "conversions not cancelled, by their last click"),
        column("revenue", MONEY_SUM_TYPE, "their revenue"),
        column("ctr", DoubleType(), "clicks / impressions (null without impressions)"),
        column("cpc", MONEY_SUM_TYPE, "ad_spend / clicks (null without clicks)"),
        column("cpa", MONEY_SUM_TYPE, "ad_spend / conversions (null without conversions)"),
        column("roas", DoubleType(), "revenue / ad_spend (null without spend)"),
        column("conversion_rate", DoubleType(), "conversions / clicks (null without clicks)"),
    ]
)

_CDF = {"delta.enableChangeDataFeed": "true"}

GOLD_ADVERTISERS = TableSpec(
    key=TableKey.GOLD_ADVERTISERS,
    schema=ADVERTISERS_SCHEMA,
    comment=(
        "Every (advertiser id, name) pair events gave: an id's label is its smallest name, and "
        "events naming only a name count under the id it was given with."
    ),
    properties=_CDF,
)
GOLD_ADVERTISER_SPEND = TableSpec(
    key=TableKey.GOLD_ADVERTISER_SPEND,
    schema=ADVERTISER_SPEND_SCHEMA,
    comment="Advertiser x hour: spend, budget in effect, spend_to_date, can_serve, pacing.",
    cluster_by=("advertiser_key", "window_start"),
    properties=_CDF,
)
GOLD_FACT_CONVERSIONS = TableSpec(
    key=TableKey.GOLD_FACT_CONVERSIONS,
    schema=CONVERSION_FACTS_SCHEMA,
    comment="One row per conversion, with cancellation and last click.",
    cluster_by=("conversion_date", "advertiser_key"),
    properties=_CDF,
)
GOLD_FACT_AD_PERFORMANCE = TableSpec(
    key=TableKey.GOLD_FACT_AD_PERFORMANCE,
    schema=AD_PERFORMANCE_SCHEMA,
    comment="Day x source x platform x campaign delivery, spend, conversions and ratios.",
    cluster_by=("performance_date", "campaign_id"),
    properties=_CDF,
)
GOLD_SERVING_ADVERTISERS = TableSpec(
    key=TableKey.GOLD_SERVING_ADVERTISERS,
    schema=ADVERTISERS_SCHEMA,
    comment="(Advertiser id, name) pairs as the serving stream learned them (gold_advertisers').",
)
GOLD_SERVING_STATUS = TableSpec(
    key=TableKey.GOLD_SERVING_STATUS,
    schema=SERVING_STATUS_SCHEMA,
    comment=(
        "Per advertiser, seconds behind the source: spend of its newest budget period, newest "
        "budget, can_serve. Read through gold_latest_serving_status."
    ),
    # Rewritten whole by every micro-batch (one row per advertiser): one small commit each, so
    # keep a week of log, not Delta's default 30 days.
    properties={"delta.logRetentionDuration": "interval 7 days"},
)
GOLD_TABLES = (
    GOLD_ADVERTISERS,
    GOLD_ADVERTISER_SPEND,
    GOLD_FACT_CONVERSIONS,
    GOLD_FACT_AD_PERFORMANCE,
    GOLD_SERVING_ADVERTISERS,
    GOLD_SERVING_STATUS,
)
