"""The demo's report: one self-contained HTML page with charts of spend against budget and
pacing, serving status, campaign performance, attribution by model, data-quality rejects and
streaming operations.

`report_data` reads small aggregates from the tables (Spark), `render_report` turns them into
HTML (pure), `write_report` does both and writes the file.
"""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import SparkSession

from ad_marketing_pipeline.config import PipelineConfig
from ad_marketing_pipeline.report.data import report_data
from ad_marketing_pipeline.report.records import (
    BatchQuality,
    CampaignPerformance,
    ChannelCredit,
    DailySpend,
    HourlyPacing,
    RejectReason,
    ReportData,
    ServingStatus,
    StreamingBatch,
    TableRows,
)
from ad_marketing_pipeline.report.render import CHART_IDS, render_report

DEFAULT_TITLE = "Ad marketing pipeline report"

__all__ = [
    "CHART_IDS",
    "DEFAULT_TITLE",
    "BatchQuality",
    "CampaignPerformance",
    "ChannelCredit",
    "DailySpend",
    "HourlyPacing",
    "RejectReason",
    "ReportData",
    "ServingStatus",
    "StreamingBatch",
    "TableRows",
    "render_report",
    "report_data",
    "write_report",
]


def write_report(
    spark: SparkSession, config: PipelineConfig, path: Path, *, title: str = DEFAULT_TITLE
) -> Path:
    """Read the report's data from the configured schema, render it and write it to `path`
    (UTF-8, parent folders created); returns `path`."""
    page = render_report(report_data(spark, config), title=title)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
