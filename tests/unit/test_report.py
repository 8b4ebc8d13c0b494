"""The report page rendered from hand-made data: every chart, the numbers, escaping, the notes
of empty sections; and the report's aggregations on small frames."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal

from plotly.offline import get_plotlyjs
from pyspark.sql import SparkSession

from ad_marketing_pipeline.report import CHART_IDS, ReportData, render_report, report_data
from ad_marketing_pipeline.report.aggregations import (
    campaign_totals,
    newest_batches,
    reason_counts,
    top_spenders,
)
from ad_marketing_pipeline.report.render import NO_STREAMING_PROGRESS
from helpers import assert_frames_equal, pipeline_config
from report_rows import HOSTILE_ADVERTISER, HOSTILE_CAMPAIGN, sample_report_data

EXPECTED_CHART_IDS = (
    "chart-spend-vs-budget",
    "chart-serving-status",
    "chart-campaign-roas",
    "chart-channel-credit",
    "chart-rejects-by-reason",
    "chart-reject-rate",
    "chart-streaming-ops",
)


def test_every_chart_has_its_div_once_and_plotly_js_is_inlined_once() -> None:
    page = render_report(sample_report_data(), title="Demo report")

    assert CHART_IDS == EXPECTED_CHART_IDS
    for chart_id in EXPECTED_CHART_IDS:
        assert page.count(f'id="{chart_id}"') == 1, chart_id
        assert re.search(rf'Plotly\.newPlot\(\s*"{chart_id}"', page), chart_id
    assert page.count(get_plotlyjs()) == 1
    assert page.count("* plotly.js v") == 1
    assert page.startswith("<!DOCTYPE html>")
    assert "<title>Demo report</title>" in page


def test_the_page_needs_no_network() -> None:
    page = render_report(sample_report_data(), title="Demo report")

    # plotly.js itself names URLs (e.g. map outlines for geo charts, which the report has none
    # of); outside it, the page refers to nothing.
    markup = page.replace(get_plotlyjs(), "")
    assert "<script src" not in markup
    assert "<link" not in markup
    assert "http" not in markup
    assert "//" not in markup.replace("\\u002f", "")


def test_the_data_appears_in_tables_and_charts() -> None:
    page = render_report(sample_report_data(), title="Demo report")

    # Summary: rows per table, serving status now.
    assert "<td>bronze_ad_events</td><td>3,000</td>" in page
    assert "<td>silver_quarantine</td><td>31</td>" in page
    assert "1 of 2 advertisers serving; not serving (1): advertiser-001" in page
    assert '<p id="blocked-advertisers">Not serving: advertiser-001</p>' in page
    assert "newest processed event 2024-01-03 23:59 UTC" in page
    # Campaign table: totals, money to the cent, ratios; a campaign without spend has no ratios.
    assert "<td>12,345</td><td>321</td><td>1,234.50</td><td>17</td><td>4,938.00</td>" in page
    assert "<td>2.6%</td><td>3.85</td><td>72.62</td><td>4.00</td>" in page
    assert "<td>(none)</td><td>(none)</td><td>0</td><td>0</td><td>0.00</td>" in page
    assert "<td>90.00</td><td>n/a</td><td>n/a</td><td>0.00</td><td>n/a</td></tr>" in page
    # Chart data (plotly's JSON): spend, budgets, pacing, models, channels, reasons, layers.
    for value in ("120.5", "151.25", "150.0", "1.3", "9.5", "3612.5", "1500.0"):
        assert value in page, value
    for name in ('"last_click"', '"markov"', '"Paid Search"', '"Email"', '"negative_value"'):
        assert name in page, name
    for name in ('"bronze_files"', '"silver"', '"advertiser-001"'):
        assert name in page, name


def test_html_in_the_data_is_escaped() -> None:
    page = render_report(sample_report_data(), title="<i>title</i>")

    assert HOSTILE_ADVERTISER not in page
    assert HOSTILE_CAMPAIGN not in page
    assert "<i>title</i>" not in page
    assert "<title>&lt;i&gt;title&lt;/i&gt;</title>" in page
    assert "<td>&lt;b&gt;Big &amp; Bold&lt;/b&gt;</td>" in page  # the campaign table
    # Chart labels are escaped for plotly too, which shows `&lt;` as `<` but reads `<b>` as
    # markup; plotly's JSON then escapes `/` as \u002f.
    assert '&lt;script&gt;alert(\\"owned\\")&lt;\\u002fscript&gt;' in page
    assert "&lt;b&gt;Big &amp; Bold&lt;\\u002fb&gt;" in page


def test_no_streaming_progress_shows_a_note_instead_of_the_chart() -> None:
    page = render_report(sample_report_data(streaming=()), title="Demo report")

    assert 'id="chart-streaming-ops"' not in page
    assert NO_STREAMING_PROGRESS == "No streaming progress recorded yet"
    operations = page[page.index('<section id="section-operations">') :]
    assert NO_STREAMING_PROGRESS in operations.split("</section>")[0]
    for chart_id in EXPECTED_CHART_IDS[:-1]:
        assert f'id="{chart_id}"' in page, chart_id


def test_a_pipeline_that_has_not_run_gives_a_note_per_section() -> None:
    empty = ReportData(namespace="nothing_yet", generated_at=datetime(2024, 1, 1), as_of=None)
    page = render_report(empty, title="Empty")

    for chart_id in EXPECTED_CHART_IDS:
        assert f'id="{chart_id}"' not in page
    assert page.count('class="no-data"') == 8
    assert "No serving status yet (Gold has not run)." in page
    assert NO_STREAMING_PROGRESS in page


def test_report_data_of_a_schema_without_tables_is_empty(spark: SparkSession) -> None:
    config = pipeline_config(None, "report")
    data = report_data(spark, config)

    assert data == ReportData(
        namespace=config.namespace, generated_at=data.generated_at, as_of=None
    )  # every section empty
    assert NO_STREAMING_PROGRESS in render_report(data, title="t")


# ---------------------------------------------------------------------------------------------
# Aggregations
# ---------------------------------------------------------------------------------------------

PERFORMANCE_SCHEMA = (
    "campaign_id string, campaign_name string, impressions bigint, clicks bigint, "
    "ad_spend decimal(38,6), conversions bigint, revenue decimal(38,6)"
)
CAMPAIGN_TOTALS_SCHEMA = (
    "campaign_id string, campaign_name string, impressions bigint, clicks bigint, "
    "ad_spend decimal(38,6), conversions bigint, revenue decimal(38,6), "
    "ctr double, cpc decimal(38,6), cpa decimal(38,6), roas double"
)


def test_campaign_totals_recompute_ratios_from_totals(spark: SparkSession) -> None:
    rows = [
        # Two days of one campaign: the ratios are of the sums, not averages of daily ratios.
        ("cmp-1", "Spring", 1000, 10, Decimal("5"), 1, Decimal("40")),
        ("cmp-1", "Spring", 100, 30, Decimal("15"), 3, Decimal("0")),
        # Conversions without a click: no impressions, clicks or spend, so no CTR, CPC, ROAS.
        ("(none)", None, 0, 0, Decimal("0"), 2, Decimal("60")),
    ]
    actual = campaign_totals(spark.createDataFrame(rows, PERFORMANCE_SCHEMA))

    expected = spark.createDataFrame(
        [
            ("cmp-1", "Spring", 1100, 40, Decimal("20"), 4, Decimal("40"), 40 / 1100,
             Decimal("0.5"), Decimal("5"), 2.0),
            ("(none)", None, 0, 0, Decimal("0"), 2, Decimal("60"), None, None, Decimal("0"), None),
        ],
        CAMPAIGN_TOTALS_SCHEMA,
    )  # fmt: skip
    assert_frames_equal(actual.select(*expected.columns), expected)


def test_reason_counts_count_a_record_under_each_of_its_reasons(spark: SparkSession) -> None:
    quarantine = spark.createDataFrame(
        [(["malformed_json"],), (["wrong_type", "negative_value"],), (["wrong_type"],)],
        "reason_codes array<string>",
    )
    expected = spark.createDataFrame(
        [("wrong_type", 2), ("malformed_json", 1), ("negative_value", 1)],
        "reason_code string, records bigint",
    )
    assert_frames_equal(reason_counts(quarantine), expected, ordered=True)


def test_newest_batches_keeps_the_newest_of_each_query(spark: SparkSession) -> None:
    batches = spark.createDataFrame(
        [("silver", 0), ("silver", 1), ("silver", 2), ("gold", 0), ("gold", 5)],
        "query_name string, batch_id bigint",
    )
    expected = spark.createDataFrame(
        [("gold", 0), ("gold", 5), ("silver", 1), ("silver", 2)],
        "query_name string, batch_id bigint",
    )
    assert_frames_equal(newest_batches(batches, 2), expected, ordered=True)


def test_top_spenders_rank_by_net_spend(spark: SparkSession) -> None:
    daily = spark.createDataFrame(
        [("a", Decimal("5")), ("a", Decimal("6")), ("b", Decimal("12")), ("c", Decimal("1"))],
        "advertiser string, net_spend decimal(18,6)",
    )
    assert [row.advertiser for row in top_spenders(daily, 2).collect()] == ["b", "a"]
