"""The report's aggregations: pure DataFrame -> DataFrame transforms over the pipeline's
tables, each result small enough to collect (`report.data` reads the tables and collects).
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from ad_marketing_pipeline.gold.facts import with_performance_ratios


def top_spenders(daily_spend: DataFrame, count: int) -> DataFrame:
    """The `count` advertisers with the most net spend (ties by name): advertiser, net_spend."""
    return (
        daily_spend.groupBy("advertiser")
        .agg(F.sum("net_spend").alias("net_spend"))
        .orderBy(F.desc("net_spend"), "advertiser")
        .limit(count)
    )


def campaign_totals(ad_performance: DataFrame) -> DataFrame:
    """gold_fact_ad_performance summed per campaign over every day, source and platform, with
    the ratios of the totals (an average of daily ratios would weigh a quiet day like a busy
    one; money ratios are money again), biggest spend first."""
    totals = ad_performance.groupBy("campaign_id").agg(
        F.max("campaign_name").alias("campaign_name"),
        F.sum("impressions").alias("impressions"),
        F.sum("clicks").alias("clicks"),
        F.sum("ad_spend").alias("ad_spend"),
        F.sum("conversions").alias("conversions"),
        F.sum("revenue").alias("revenue"),
    )
    return (
        totals.transform(with_performance_ratios)
        .drop("conversion_rate")
        .orderBy(F.desc("ad_spend"), "campaign_id")
    )


def reason_counts(quarantine: DataFrame) -> DataFrame:
    """Quarantined records per reason code, most frequent first."""
    return (
        quarantine.select(F.explode("reason_codes").alias("reason_code"))
        .groupBy("reason_code")
        .agg(F.count(F.lit(1)).alias("records"))
        .orderBy(F.desc("records"), "reason_code")
    )


def newest_batches(per_batch: DataFrame, count: int) -> DataFrame:
    """The `count` newest batches of each query, oldest first."""
    newest_first = Window.partitionBy("query_name").orderBy(F.desc("batch_id"))
    return (
        per_batch.withColumn("_newest", F.row_number().over(newest_first))
        .where(F.col("_newest") <= count)
        .drop("_newest")
        .orderBy("query_name", "batch_id")
    )
