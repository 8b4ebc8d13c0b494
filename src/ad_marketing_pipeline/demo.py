"""The demo: generated landing files through every layer into local Delta tables, and a
summary a person can read at a glance (the CLI prints it; `report.py` draws the charts)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ad_marketing_pipeline.attribution.models import MODELS
from ad_marketing_pipeline.config import PipelineConfig, TableKey
from ad_marketing_pipeline.devtools.generator import (
    GenerationSummary,
    GeneratorSettings,
    write_landing_files,
)
from ad_marketing_pipeline.io import StreamTrigger
from ad_marketing_pipeline.pipeline import LAYERS, run_layers
from ad_marketing_pipeline.report import write_report
from ad_marketing_pipeline.report.aggregations import reason_counts
from ad_marketing_pipeline.runtime import Runtime

TOP_SPENDERS = 10


@dataclass(frozen=True)
class DemoSummary:
    """What the demo shows at the end; every list holds plain rows (dicts) of a few lines."""

    generated: GenerationSummary | None
    layer_seconds: dict[str, float]
    report: Path
    events_per_layer: dict[str, int]
    quarantined_by_reason: list[dict[str, Any]]
    not_serving: list[dict[str, Any]]
    top_spenders: list[dict[str, Any]]
    channel_credit: list[dict[str, Any]]


def landing_has_events(landing: Path) -> bool:
    return any(landing.glob("events-*.jsonl"))


def not_serving(serving_status: DataFrame) -> DataFrame:
    """Advertisers whose `latest_can_serve` is false now, with their spend against budget."""
    return (
        serving_status.filter(~F.col("latest_can_serve"))
        .select("advertiser", "budget_value", "spend_to_date", "latest_hour")
        .orderBy("advertiser")
    )


def top_spenders(serving_status: DataFrame, totals: DataFrame, limit: int) -> DataFrame:
    """The advertisers that spent the most in the current budget period, against their budget:
    spend to date, budget, the share of it used, whether they serve, and their total net spend
    over the whole history."""
    return (
        serving_status.join(totals.select("advertiser", "total_net_spend"), "advertiser", "left")
        .select(
            "advertiser",
            "spend_to_date",
            "budget_value",
            F.round(F.try_divide(F.col("spend_to_date"), F.col("budget_value")) * 100, 1).alias(
                "budget_used_percent"
            ),
            F.col("latest_can_serve").alias("can_serve"),
            "total_net_spend",
        )
        .orderBy(F.col("spend_to_date").desc_nulls_last(), "advertiser")
        .limit(limit)
    )


def channel_credit_by_model(comparison: DataFrame) -> DataFrame:
    """Channel x model: credited (non-cancelled) conversions, one column per model."""
    return (
        comparison.groupBy("channel")
        .pivot("model", list(MODELS))
        .agg(F.round(F.sum("conversions"), 1))
        .orderBy("channel")
    )


def _rows(frame: DataFrame) -> list[dict[str, Any]]:
    return [row.asDict() for row in frame.collect()]


def events_per_layer(spark: SparkSession, config: PipelineConfig) -> dict[str, int]:
    """Records in each table of the path an event takes, and duplicates Silver dropped (every
    Bronze record is in Silver, in quarantine, or counted as a duplicate)."""

    def rows(key: TableKey) -> tuple[str, int]:
        return getattr(config.tables, key.value), spark.table(config.table(key)).count()

    counts = dict(
        rows(key)
        for key in (TableKey.BRONZE_EVENTS, TableKey.SILVER_EVENTS, TableKey.SILVER_QUARANTINE)
    )
    duplicates = spark.table(config.table(TableKey.OPS_DATA_QUALITY)).agg(F.sum("duplicate_rows"))
    counts["duplicates dropped by Silver"] = int(duplicates.first()[0] or 0)  # type: ignore[index]
    for key in (
        TableKey.GOLD_ADVERTISER_SPEND,
        TableKey.GOLD_FACT_CONVERSIONS,
        TableKey.GOLD_ATTRIBUTION,
    ):
        counts.update([rows(key)])
    return counts


def summarize(spark: SparkSession, config: PipelineConfig) -> dict[str, Any]:
    """The figures of the summary, read from the pipeline's tables."""
    serving_status = spark.table(config.table(TableKey.GOLD_LATEST_SERVING_STATUS))
    totals = spark.table(config.table(TableKey.GOLD_AGGREGATED_ADVERTISER_SPEND))
    return {
        "events_per_layer": events_per_layer(spark, config),
        "quarantined_by_reason": _rows(
            reason_counts(spark.table(config.table(TableKey.SILVER_QUARANTINE)))
        ),
        "not_serving": _rows(not_serving(serving_status)),
        "top_spenders": _rows(top_spenders(serving_status, totals, TOP_SPENDERS)),
        "channel_credit": _rows(
            channel_credit_by_model(spark.table(config.table(TableKey.GOLD_ATTRIBUTION_COMPARISON)))
        ),
    }


def run_demo(
    runtime: Runtime,
    settings: GeneratorSettings,
    *,
    on_generated: Callable[[int], None] | None = None,
    on_layer_done: Callable[[str, float], None] | None = None,
    report: Path | None = None,
) -> DemoSummary:
    """Generate landing files (unless the landing folder already has some), run every layer
    once, summarize what the tables hold, and write the HTML report (default: report.html
    under the configured root)."""
    landing = Path(runtime.config.landing_path)
    generated = None
    if not landing_has_events(landing):
        generated = write_landing_files(settings, landing, on_progress=on_generated)
    layer_seconds: dict[str, float] = {}

    def layer_done(layer: str, seconds: float) -> None:
        layer_seconds[layer] = seconds
        if on_layer_done:
            on_layer_done(layer, seconds)

    run_layers(runtime, list(LAYERS), StreamTrigger(), on_layer_done=layer_done)
    report_path = report or Path(runtime.config.paths.root) / "report.html"
    write_report(runtime.spark, runtime.config, report_path)
    return DemoSummary(
        generated=generated,
        layer_seconds=layer_seconds,
        report=report_path,
        **summarize(runtime.spark, runtime.config),
    )
