"""Conversion and ad-performance facts: pure transforms from Silver events.

- gold_fact_conversions: one row per conversion. It is cancelled when any
  `conversion_cancellation` names it (whenever that arrives); a cancelled conversion keeps its
  `revenue` and has `net_revenue` 0. Each conversion is credited to the user's last ad click
  within the attribution lookback before it (a click on the conversion's campaign preferred),
  which gives it the source, platform and campaign it counts under in ad performance;
  conversions with no such click count under source and platform "(none)".
- gold_fact_ad_performance: one row per day (in the budget time zone) x source x platform x
  campaign: impressions, clicks, ad spend (clicks' and impressions' cost), conversions and
  revenue (not cancelled), and CTR, CPC, CPA, ROAS and conversion rate, null where the
  denominator is 0.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from ad_marketing_pipeline.gold.spend import money, money_sum

NO_SOURCE = "(none)"


def _local_date(moment: Column, zone: str) -> Column:
    return F.to_date(F.from_utc_timestamp(moment, zone))


def _label(value: Column) -> Column:
    return F.coalesce(F.when(F.trim(value) != "", value), F.lit(NO_SOURCE))


def conversion_facts(
    conversions: DataFrame,
    cancellations: DataFrame,
    clicks: DataFrame,
    *,
    lookback_days: int,
    zone: str,
) -> DataFrame:
    """Conversions with their cancellation and their last click (see the module docstring)."""
    first_cancellation = cancellations.groupBy("conversion_id").agg(
        F.min("event_time").alias("cancelled_at")
    )
    candidate_clicks = clicks.select(
        F.col("click_id").alias("last_click_id"),
        F.col("user_id").alias("click_user_id"),
        F.col("event_time").alias("clicked_at"),
        F.col("campaign_id").alias("click_campaign_id"),
        F.col("campaign_name").alias("click_campaign_name"),
        F.col("source").alias("click_source"),
        F.col("platform").alias("click_platform"),
    )
    in_lookback = (
        (F.col("click_user_id") == F.col("user_id"))
        & (F.col("clicked_at") <= F.col("converted_at"))
        & (F.col("clicked_at") > F.col("converted_at") - F.expr(f"INTERVAL {lookback_days} DAYS"))
    )
    latest_first = Window.partitionBy("conversion_id").orderBy(
        F.col("click_campaign_id").eqNullSafe(F.col("campaign_id")).desc(),
        F.col("clicked_at").desc(),
        F.col("last_click_id").desc(),
    )
    converted = conversions.select(
        "conversion_id",
        "advertiser_key",
        "advertiser",
        "advertiser_id",
        "campaign_id",
        "user_id",
        "device_id",
        "conversion_type",
        F.col("event_time").alias("converted_at"),
        "revenue",
        "currency",
    )
    with_click = (
        converted.join(candidate_clicks, in_lookback, "left")
        .withColumn("_rank", F.row_number().over(latest_first))
        .filter("_rank = 1")
    )
    cancelled = F.col("cancelled_at").isNotNull()
    return with_click.join(first_cancellation, "conversion_id", "left").select(
        "conversion_id",
        "advertiser_key",
        "advertiser",
        "advertiser_id",
        F.coalesce("campaign_id", "click_campaign_id").alias("campaign_id"),
        "user_id",
        "device_id",
        "conversion_type",
        "converted_at",
        _local_date(F.col("converted_at"), zone).alias("conversion_date"),
        money(F.col("revenue")).alias("revenue"),
        "currency",
        cancelled.alias("is_cancelled"),
        "cancelled_at",
        money(F.when(cancelled, F.lit(0)).otherwise(F.col("revenue"))).alias("net_revenue"),
        "last_click_id",
        _label(F.col("click_source")).alias("source"),
        _label(F.col("click_platform")).alias("platform"),
        F.coalesce("click_campaign_id", "campaign_id").alias("performance_campaign_id"),
        "click_campaign_name",
    )


PERFORMANCE_KEYS = ("performance_date", "source", "platform", "campaign_id")


def _ratio(numerator: Column, denominator: Column) -> Column:
    return F.when(denominator != 0, numerator.cast("double") / denominator.cast("double"))


def _money_ratio(numerator: Column, denominator: Column) -> Column:
    return money_sum(F.when(denominator != 0, numerator / denominator))


def _delivery_key_columns(zone: str) -> list[Column]:
    return [
        _local_date(F.col("event_time"), zone).alias("performance_date"),
        _label(F.col("source")).alias("source"),
        _label(F.col("platform")).alias("platform"),
        F.coalesce("campaign_id", F.lit(NO_SOURCE)).alias("campaign_id"),
    ]


def delivery_keys(events: DataFrame, zone: str) -> DataFrame:
    """The ad-performance keys of clicks or impressions."""
    return events.select(*_delivery_key_columns(zone))


def _conversion_key_columns() -> list[Column]:
    return [
        F.col("conversion_date").alias("performance_date"),
        F.col("source"),
        F.col("platform"),
        F.coalesce("performance_campaign_id", F.lit(NO_SOURCE)).alias("campaign_id"),
    ]


def conversion_keys(facts: DataFrame) -> DataFrame:
    """The ad-performance keys conversion facts count under."""
    return facts.select(*_conversion_key_columns())


def ad_performance(
    clicks: DataFrame, impressions: DataFrame, facts: DataFrame, *, zone: str
) -> DataFrame:
    """Day x source x platform x campaign performance from clicks, impressions and conversion
    facts (conversions count under their last click's source, platform and campaign)."""

    def delivery(events: DataFrame, is_click: bool) -> DataFrame:
        return events.select(
            *_delivery_key_columns(zone),
            (F.col("campaign_name") if is_click else F.lit(None).cast("string")).alias(
                "campaign_name"
            ),
            F.lit(0 if is_click else 1).alias("impressions"),
            F.lit(1 if is_click else 0).alias("clicks"),
            money(F.coalesce("amount", F.lit(0))).alias("ad_spend"),
            F.lit(0).alias("conversions"),
            money(F.lit(0)).alias("revenue"),
        )

    converted = facts.filter(~F.col("is_cancelled")).select(
        *_conversion_key_columns(),
        F.col("click_campaign_name").alias("campaign_name"),
        F.lit(0).alias("impressions"),
        F.lit(0).alias("clicks"),
        money(F.lit(0)).alias("ad_spend"),
        F.lit(1).alias("conversions"),
        F.col("net_revenue").alias("revenue"),
    )
    rows = delivery(clicks, True).unionByName(delivery(impressions, False)).unionByName(converted)
    totals = rows.groupBy(*PERFORMANCE_KEYS).agg(
        F.max("campaign_name").alias("campaign_name"),
        F.sum("impressions").cast("long").alias("impressions"),
        F.sum("clicks").cast("long").alias("clicks"),
        money_sum(F.sum("ad_spend")).alias("ad_spend"),
        F.sum("conversions").cast("long").alias("conversions"),
        money_sum(F.sum("revenue")).alias("revenue"),
    )
    return totals.transform(with_performance_ratios)


def with_performance_ratios(totals: DataFrame) -> DataFrame:
    """`totals` (impressions, clicks, ad_spend, conversions, revenue) with the ratios of those
    totals: ctr, cpc, cpa (money), roas, conversion_rate; null where the denominator is 0."""
    return totals.select(
        "*",
        _ratio(F.col("clicks"), F.col("impressions")).alias("ctr"),
        _money_ratio(F.col("ad_spend"), F.col("clicks")).alias("cpc"),
        _money_ratio(F.col("ad_spend"), F.col("conversions")).alias("cpa"),
        _ratio(F.col("revenue"), F.col("ad_spend")).alias("roas"),
        _ratio(F.col("conversions"), F.col("clicks")).alias("conversion_rate"),
    )
