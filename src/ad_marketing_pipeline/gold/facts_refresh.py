"""Gold's conversion and ad-performance facts kept up to date: the conversions and performance
keys a batch changes (`planning`), recomputed from Silver and MERGEd.

Ad performance is written first: the keys it recomputes include those the affected
conversions counted under before the batch, read from the facts table, which is written after
it. Were the facts written first and the batch killed in between, its replay would read the new
facts as the old ones and leave the old keys' rows stale."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import reduce

from pyspark.sql import DataFrame, Row
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, StringType

from ad_marketing_pipeline.config import PipelineConfig, TableKey
from ad_marketing_pipeline.frames import local_frame, schema_of
from ad_marketing_pipeline.gold.facts import PERFORMANCE_KEYS, ad_performance, conversion_facts
from ad_marketing_pipeline.gold.planning import (
    FACT_EVENT_TYPES,
    BatchSummary,
    affected_conversions,
    conversions_under,
    of_type,
    performance_scope,
)
from ad_marketing_pipeline.gold.tables import (
    AD_PERFORMANCE_SCHEMA,
    CONVERSION_FACTS_SCHEMA,
)
from ad_marketing_pipeline.io import MicroBatch

CONVERSION_IDS = schema_of(conversion_id=StringType())


def _facts_of(
    silver: DataFrame, config: PipelineConfig, conversions_at: dict[str, datetime] | None
) -> DataFrame:
    """Conversion facts of the conversions with these ids and times (all when None)."""
    lookback = config.attribution.lookback_days
    zone = config.budget.timezone
    conversions = of_type(silver, "conversion")
    cancellations = of_type(silver, "conversion_cancellation")
    clicks = of_type(silver, "ad_click")
    if conversions_at is not None:
        spark = silver.sparkSession
        ids = F.broadcast(
            local_frame(spark, [(i,) for i in sorted(conversions_at)], CONVERSION_IDS)
        )
        since, until = min(conversions_at.values()), max(conversions_at.values())
        # A cancellation comes after its conversion; a credited click within the lookback before.
        conversions = conversions.filter(F.col("event_time").between(since, until))
        conversions = conversions.join(ids, "conversion_id", "left_semi")
        cancellations = cancellations.filter(F.col("event_time") >= since).join(
            ids, "conversion_id", "left_semi"
        )
        users = F.broadcast(conversions.select("user_id").distinct())
        clicks = clicks.filter(
            F.col("event_time").between(since - timedelta(days=lookback), until)
        ).join(users, "user_id", "left_semi")
    return conversion_facts(conversions, cancellations, clicks, lookback_days=lookback, zone=zone)


def _performance_of(
    silver: DataFrame, facts: DataFrame, keys: list[Row] | None, config: PipelineConfig
) -> DataFrame:
    """Ad-performance rows of these keys (all when None)."""
    zone = config.budget.timezone
    clicks = of_type(silver, "ad_click")
    impressions = of_type(silver, "impression")
    if keys is not None:
        first_day = min(key["performance_date"] for key in keys)
        last_day = max(key["performance_date"] for key in keys)
        # A day in any time zone lies within a day either side of the same UTC date.
        since = datetime.combine(first_day, datetime.min.time()) - timedelta(days=1)
        until = datetime.combine(last_day, datetime.min.time()) + timedelta(days=2)
        in_days = F.col("event_time").between(since, until)
        clicks, impressions = clicks.filter(in_days), impressions.filter(in_days)
        facts = facts.filter(F.col("conversion_date").between(first_day, last_day))
    rows = ad_performance(clicks, impressions, facts, zone=zone)
    if keys is not None:
        wanted = local_frame(silver.sparkSession, keys, PERFORMANCE_KEYS_SCHEMA)
        rows = rows.join(F.broadcast(wanted), list(PERFORMANCE_KEYS), "left_semi")
    return rows.select(*AD_PERFORMANCE_SCHEMA.fieldNames())


PERFORMANCE_KEYS_SCHEMA = schema_of(
    performance_date=DateType(),
    source=StringType(),
    platform=StringType(),
    campaign_id=StringType(),
)


# A cancellation comes after its conversion, usually within days: the conversion's fact is first
# looked for among those converted this long before the batch's earliest cancellation (Delta
# skips older files by converted_at), then, if not found, among all of them.
CANCELLED_CONVERSION_SEARCH = timedelta(days=31)


def _facts_the_batch_can_alter(existing_facts: DataFrame, summary: BatchSummary) -> DataFrame:
    """The stored facts `affected_conversions` must look at: for the batch's cancellations,
    the facts of the conversions they name (found near them, else in all the facts: a
    cancellation whose conversion has not arrived costs one search of all the facts, in its
    own batch only; the conversion, when it comes, reads its cancellation from Silver); for
    its late clicks, the facts converted from its earliest click on (a click is credited to
    later conversions only), which Delta skips files for by `converted_at`; none otherwise
    (new conversions come from the batch)."""
    spark = existing_facts.sparkSession
    parts: list[DataFrame] = []
    if summary.has("ad_click"):
        parts.append(existing_facts.filter(F.col("converted_at") >= summary.earliest["ad_click"]))
    if summary.has("conversion_cancellation"):
        ids = set(summary.cancelled_conversions)

        def named(facts: DataFrame, wanted: set[str]) -> DataFrame:
            frame = local_frame(spark, [(i,) for i in sorted(wanted)], CONVERSION_IDS)
            return facts.join(F.broadcast(frame), "conversion_id", "left_semi")

        since = summary.earliest["conversion_cancellation"] - CANCELLED_CONVERSION_SEARCH
        near = named(existing_facts.filter(F.col("converted_at") >= since), ids)
        parts.append(near)
        missing = ids - {row[0] for row in near.select("conversion_id").collect()}
        if missing:
            parts.append(named(existing_facts, missing))
    return reduce(DataFrame.unionByName, parts, existing_facts.limit(0))


def refresh_facts(
    silver: DataFrame,
    config: PipelineConfig,
    changed: DataFrame | None,
    summary: BatchSummary,
    *,
    moves: Mapping[str, str],
    batch: MicroBatch,
) -> None:
    """Bring gold_fact_conversions and gold_fact_ad_performance up to date with Silver.

    Ad performance is written first: the keys it recomputes include those the affected
    conversions counted under before the batch, read from the facts table, which is written
    after it. Were the facts written first and the batch killed in between, its replay would
    read the new facts as the old ones and leave the old keys' rows stale."""
    spark = silver.sparkSession
    facts_table = config.table(TableKey.GOLD_FACT_CONVERSIONS)
    performance_table = config.table(TableKey.GOLD_FACT_AD_PERFORMANCE)
    fact_columns = CONVERSION_FACTS_SCHEMA.fieldNames()
    if changed is None:
        batch.overwrite_table(_facts_of(silver, config, None), facts_table, fact_columns)
        performance = _performance_of(silver, spark.table(facts_table), None, config)
        batch.overwrite_table(performance, performance_table, AD_PERFORMANCE_SCHEMA.fieldNames())
        return
    if not summary.has(*FACT_EVENT_TYPES) and not moves:
        return
    existing_facts = spark.table(facts_table)
    conversions_at = (
        affected_conversions(
            changed,
            _facts_the_batch_can_alter(existing_facts, summary),
            config.attribution.lookback_days,
        )
        if summary.has("conversion", "conversion_cancellation", "ad_click")
        else {}
    )
    for conversion_id, converted_at in conversions_under(existing_facts, moves).items():
        conversions_at.setdefault(conversion_id, converted_at)
    facts = existing_facts
    facts_before = facts_after = existing_facts.limit(0)
    new_facts: DataFrame | None = None
    if conversions_at:
        ids = F.broadcast(
            local_frame(spark, [(i,) for i in sorted(conversions_at)], CONVERSION_IDS)
        )
        facts_before = existing_facts.join(ids, "conversion_id", "left_semi")
        new_facts = _facts_of(silver, config, conversions_at).select(*fact_columns).persist()
        facts_after = new_facts
        facts = existing_facts.join(ids, "conversion_id", "left_anti").unionByName(new_facts)
    try:
        keys = performance_scope(changed, facts_before, facts_after, config.budget.timezone)
        if keys:
            performance = _performance_of(silver, facts, keys, config)
            affected = local_frame(spark, keys, PERFORMANCE_KEYS_SCHEMA)
            batch.replace_keys(performance, affected, performance_table, PERFORMANCE_KEYS)
        if new_facts is not None:
            batch.upsert_by_keys(new_facts, facts_table, ["conversion_id"])
    finally:
        if new_facts is not None:
            new_facts.unpersist()
