"""The advertiser pairs tables (gold_advertisers for Gold, gold_serving_advertisers for the
serving stream): every (advertiser_id, advertiser_name) pair events gave, read as an
`AdvertiserDirectory` and added to by each batch that brings new ones."""

from __future__ import annotations

from collections.abc import Iterable

from pyspark.sql import SparkSession

from ad_marketing_pipeline.frames import local_frame
from ad_marketing_pipeline.gold.advertisers import PAIRS_SCHEMA, AdvertiserDirectory, Pair
from ad_marketing_pipeline.io import MicroBatch


def read_directory(spark: SparkSession, table: str) -> AdvertiserDirectory:
    """The pairs a names table (advertiser_id, advertiser_name) holds."""
    rows = spark.table(table).select("advertiser_id", "advertiser_name").collect()
    return AdvertiserDirectory(frozenset((row[0], row[1]) for row in rows if row[0] and row[1]))


def save_pairs(spark: SparkSession, pairs: Iterable[Pair], table: str, batch: MicroBatch) -> None:
    """Add new (advertiser_id, advertiser_name) pairs to a names table (idempotent)."""
    rows = sorted(set(pairs))
    if rows:
        batch.upsert_by_keys(
            local_frame(spark, rows, PAIRS_SCHEMA), table, ["advertiser_id", "advertiser_name"]
        )
