"""The marts on top of the attribution table: channel x model comparison and performance.

Attributed conversions count non-cancelled conversions only (a cancelled one's credits stay in
`gold_attribution`, with revenue 0). Sums are exact: credits are added as decimal(38,18) and
money as DECIMAL(38, 6), so a mart is the same whatever order its rows are read in. Spend is the
gross cost of the channel's clicks (all of them, also clicks without a user), the same for every
model.

The marts are sums of daily sums: `attribution_by_day` (channel x model x UTC conversion date)
and `click_spend_by_day` (channel x UTC click date), kept in tables of their own, of which a
micro-batch recomputes only the days it changed. The marts (channels x models) are then rebuilt
whole from those small tables, never from all of gold_attribution and gold_touchpoints. Exact
sums of exact sums are the same sums.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from ad_marketing_pipeline import contract
from ad_marketing_pipeline.attribution.models import MODELS
from ad_marketing_pipeline.frames import utc_date

EXACT_CREDIT = "decimal(38,18)"


def attribution_by_day(attribution: DataFrame) -> DataFrame:
    """gold_attribution -> channel x model x conversion_date (UTC): exact_conversions (the
    credits of non-cancelled conversions, exact) and revenue."""
    counted = F.when(~F.col("is_cancelled"), F.col("credit")).otherwise(0.0)
    return attribution.groupBy(
        "channel", "model", utc_date(F.col("converted_at")).alias("conversion_date")
    ).agg(
        F.sum(counted.cast(EXACT_CREDIT)).cast(EXACT_CREDIT).alias("exact_conversions"),
        F.sum("attributed_revenue").cast(contract.MONEY_SUM_TYPE).alias("revenue"),
    )


def click_spend_by_day(touchpoints: DataFrame) -> DataFrame:
    """gold_touchpoints -> channel x touch_date (UTC) of the clicks: spend (their gross cost)
    and clicks."""
    return (
        touchpoints.filter(F.col("event_type") == "ad_click")
        .groupBy("channel", utc_date(F.col("touched_at")).alias("touch_date"))
        .agg(
            F.sum(F.coalesce("cost", F.lit(0).cast(contract.MONEY_TYPE)))
            .cast(contract.MONEY_SUM_TYPE)
            .alias("spend"),
            F.count(F.lit(1)).alias("clicks"),
        )
    )


def _attributed(attribution_days: DataFrame) -> DataFrame:
    return attribution_days.groupBy("channel", "model").agg(
        F.sum("exact_conversions").cast(EXACT_CREDIT).alias("exact_conversions"),
        F.sum("revenue").cast(contract.MONEY_SUM_TYPE).alias("revenue"),
    )


def _share(part: Column, whole: Column) -> Column:
    """part / whole as a double; null when whole is 0."""
    return F.when(whole != 0, part.cast("double") / whole.cast("double"))


def attribution_comparison(attribution_days: DataFrame) -> DataFrame:
    """`attribution_by_day` -> channel x model: conversions, revenue, conversion_share,
    revenue_share (of the model's totals)."""
    per_model = Window.partitionBy("model")
    return _attributed(attribution_days).select(
        "channel",
        "model",
        F.col("exact_conversions").cast("double").alias("conversions"),
        "revenue",
        _share(F.col("exact_conversions"), F.sum("exact_conversions").over(per_model)).alias(
            "conversion_share"
        ),
        _share(F.col("revenue"), F.sum("revenue").over(per_model)).alias("revenue_share"),
    )


def channel_performance(
    attribution_days: DataFrame, click_spend_days: DataFrame, models: Sequence[str] = MODELS
) -> DataFrame:
    """`attribution_by_day` and `click_spend_by_day` -> channel x model: spend, clicks,
    conversions, revenue, cpa (spend / conversions) and roas (revenue / spend)."""
    spend = (
        click_spend_days.groupBy("channel")
        .agg(
            F.sum("spend").cast(contract.MONEY_SUM_TYPE).alias("spend"),
            F.sum("clicks").alias("clicks"),
        )
        .withColumn("model", F.explode(F.array(*(F.lit(model) for model in models))))
    )
    zero_money = F.lit(0).cast(contract.MONEY_SUM_TYPE)
    joined = _attributed(attribution_days).join(spend, ["channel", "model"], "full_outer")
    conversions = F.coalesce("exact_conversions", F.lit(0).cast(EXACT_CREDIT))
    spent = F.coalesce("spend", zero_money)
    revenue = F.coalesce("revenue", zero_money)
    return joined.select(
        "channel",
        "model",
        spent.cast(contract.MONEY_SUM_TYPE).alias("spend"),
        F.coalesce("clicks", F.lit(0)).cast("bigint").alias("clicks"),
        conversions.cast("double").alias("conversions"),
        revenue.alias("revenue"),
        F.when(conversions > 0, F.round(spent / conversions, contract.MONEY_SCALE))
        .cast(contract.MONEY_SUM_TYPE)
        .alias("cpa"),
        _share(revenue, spent).alias("roas"),
    )
