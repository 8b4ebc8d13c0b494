"""The marts on top of the attribution table: channel x model comparison and performance.

Attributed conversions count non-cancelled conversions only (a cancelled one's credits stay in
`gold_attribution`, with revenue 0). Sums are exact: credits are added as decimal(38,18) and
money as DECIMAL(38, 6), so a mart is the same whatever order its rows are read in. Spend is the
gross cost of the channel's clicks (all of them, also clicks without a user), the same for every
model. The marts are small (channels x models) and are rebuilt whole from their inputs.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from ad_marketing_pipeline import contract
from ad_marketing_pipeline.attribution.models import MODELS

_EXACT_CREDIT = "decimal(38,18)"


def _attributed(attribution: DataFrame) -> DataFrame:
    counted = F.when(~F.col("is_cancelled"), F.col("credit")).otherwise(0.0)
    return attribution.groupBy("channel", "model").agg(
        F.sum(counted.cast(_EXACT_CREDIT)).alias("exact_conversions"),
        F.sum("attributed_revenue").cast(contract.MONEY_SUM_TYPE).alias("revenue"),
    )


def _share(part: Column, whole: Column) -> Column:
    """part / whole as a double; null when whole is 0."""
    return F.when(whole != 0, part.cast("double") / whole.cast("double"))


def attribution_comparison(attribution: DataFrame) -> DataFrame:
    """gold_attribution -> channel x model: conversions, revenue, conversion_share,
    revenue_share (of the model's totals)."""
    per_model = Window.partitionBy("model")
    return _attributed(attribution).select(
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
    attribution: DataFrame, touchpoints: DataFrame, models: Sequence[str] = MODELS
) -> DataFrame:
    """gold_attribution and gold_touchpoints -> channel x model: spend, clicks, conversions,
    revenue, cpa (spend / conversions) and roas (revenue / spend)."""
    spend = (
        touchpoints.filter(F.col("event_type") == "ad_click")
        .groupBy("channel")
        .agg(
            F.sum(F.coalesce("cost", F.lit(0).cast(contract.MONEY_TYPE))).alias("spend"),
            F.count(F.lit(1)).alias("clicks"),
        )
        .withColumn("model", F.explode(F.array(*(F.lit(model) for model in models))))
    )
    zero_money = F.lit(0).cast(contract.MONEY_SUM_TYPE)
    joined = _attributed(attribution).join(spend, ["channel", "model"], "full_outer")
    conversions = F.coalesce("exact_conversions", F.lit(0).cast(_EXACT_CREDIT))
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
