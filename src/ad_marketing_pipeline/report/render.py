"""The report as one self-contained HTML page: plotly.js inlined once in the head, one section per
question, each chart in a div with a stable id. Viewing it needs no network.

Text from the data is escaped everywhere: `html.escape` in the page's own markup
(`report.markup`), and the same escaping for the strings handed to plotly (`report.charts`).
The charts themselves are drawn in `report.spend_charts`, `report.performance_charts` and
`report.operations_charts`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from ad_marketing_pipeline.report.charts import chart_div
from ad_marketing_pipeline.report.formatting import format_time
from ad_marketing_pipeline.report.markup import html_table, html_text, note, section
from ad_marketing_pipeline.report.operations_charts import (
    reject_rate_figure,
    reject_reasons_figure,
    streaming_figure,
)
from ad_marketing_pipeline.report.performance_charts import (
    CAMPAIGNS_CHARTED,
    campaign_figure,
    campaign_table,
    channel_credit_figure,
)
from ad_marketing_pipeline.report.records import ReportData
from ad_marketing_pipeline.report.spend_charts import serving_figure, spend_figure

# The figures are re-exported: they were defined here before the charts had modules of their own.
__all__ = [
    "CAMPAIGNS_CHARTED",
    "CHART_CAMPAIGNS",
    "CHART_CHANNEL_CREDIT",
    "CHART_IDS",
    "CHART_REJECT_RATE",
    "CHART_REJECT_REASONS",
    "CHART_SERVING",
    "CHART_SPEND",
    "CHART_STREAMING",
    "NO_STREAMING_PROGRESS",
    "campaign_figure",
    "channel_credit_figure",
    "reject_rate_figure",
    "reject_reasons_figure",
    "render_report",
    "serving_figure",
    "spend_figure",
    "streaming_figure",
]

CHART_SPEND = "chart-spend-vs-budget"
CHART_SERVING = "chart-serving-status"
CHART_CAMPAIGNS = "chart-campaign-roas"
CHART_CHANNEL_CREDIT = "chart-channel-credit"
CHART_REJECT_REASONS = "chart-rejects-by-reason"
CHART_REJECT_RATE = "chart-reject-rate"
CHART_STREAMING = "chart-streaming-ops"
CHART_IDS = (
    CHART_SPEND,
    CHART_SERVING,
    CHART_CAMPAIGNS,
    CHART_CHANNEL_CREDIT,
    CHART_REJECT_REASONS,
    CHART_REJECT_RATE,
    CHART_STREAMING,
)
NO_STREAMING_PROGRESS = "No streaming progress recorded yet"


# ---------------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------------


def _summary_section(data: ReportData) -> str:
    tables = html_table(
        "table-summary",
        ("layer", "table", "rows"),
        [(rows.layer, rows.table, f"{rows.rows:,}") for rows in data.table_rows],
    )
    blocked = data.blocked_advertisers
    serving_count = len(data.serving) - len(blocked)
    if data.serving:
        names = ", ".join(blocked) if blocked else "none"
        serving = (
            f"{serving_count} of {len(data.serving)} advertisers serving; "
            f"not serving ({len(blocked)}): {names}"
        )
    else:
        serving = "No serving status yet (Gold has not run)."
    return section(
        "section-summary",
        "Summary",
        "Rows per table along the data flow, and which advertisers' ads may not serve now.",
        tables if data.table_rows else note("No pipeline tables yet."),
        f'<p id="summary-serving">{html_text(serving)}</p>',
    )


def _chart_or_note(
    rows: Sequence[object], draw: Callable[[], go.Figure], chart_id: str, missing: str
) -> str:
    """The chart drawn from `rows`, or a note saying why there is none."""
    return chart_div(draw(), chart_id) if rows else note(missing)


def _sections(data: ReportData) -> list[str]:
    spend = _chart_or_note(
        data.daily_spend,
        lambda: spend_figure(data.daily_spend, data.pacing, data.pacing_days),
        CHART_SPEND,
        "No Gold spend yet.",
    )
    blocked = data.blocked_advertisers
    serving = _chart_or_note(
        data.serving, lambda: serving_figure(data.serving), CHART_SERVING, "No serving status yet."
    )
    if data.serving:
        not_serving = ", ".join(blocked) or "none"
        serving += f'<p id="blocked-advertisers">Not serving: {html_text(not_serving)}</p>'
    campaigns = _chart_or_note(
        data.campaigns,
        lambda: campaign_figure(data.campaigns),
        CHART_CAMPAIGNS,
        "No campaign performance yet.",
    )
    if data.campaigns:
        campaigns += campaign_table(data.campaigns)
    credit = _chart_or_note(
        data.channel_credit,
        lambda: channel_credit_figure(data.channel_credit),
        CHART_CHANNEL_CREDIT,
        "No attribution yet.",
    )
    reasons = _chart_or_note(
        data.rejects_by_reason,
        lambda: reject_reasons_figure(data.rejects_by_reason),
        CHART_REJECT_REASONS,
        "No quarantined records.",
    )
    rates = _chart_or_note(
        data.batch_quality,
        lambda: reject_rate_figure(data.batch_quality),
        CHART_REJECT_RATE,
        "No data-quality counts yet.",
    )
    operations = _chart_or_note(
        data.streaming,
        lambda: streaming_figure(data.streaming),
        CHART_STREAMING,
        f"{NO_STREAMING_PROGRESS}: ops_streaming_progress is empty or does not exist. "
        "Each layer's micro-batches appear here once the progress listener records them.",
    )
    return [
        _summary_section(data),
        section(
            "section-spend",
            "Spend against budget",
            "Daily net spend (after refunds) against the budget in effect at each day's end, and "
            "how fast the budget is being spent (1.0 = on pace, above = ahead). The advertisers "
            "with the most net spend; pick one in the dropdown.",
            spend,
        ),
        section(
            "section-serving",
            "Serving status now",
            "Whether each advertiser's ads may serve as of the newest processed event, with the "
            "share of the current period's budget already spent.",
            serving,
        ),
        section(
            "section-campaigns",
            "Campaign performance",
            f"Return on ad spend of the {CAMPAIGNS_CHARTED} biggest-spending campaigns, and every "
            "campaign's delivery, spend, conversions and ratios over all days.",
            campaigns,
        ),
        section(
            "section-attribution",
            "Channel credit by attribution model",
            "Conversions (or revenue) each model credits to each channel, side by side.",
            credit,
        ),
        section(
            "section-data-quality",
            "Data-quality rejects",
            "Records Silver quarantined, per rule (a record counts under each rule it fails), "
            "and the share of each micro-batch's input that was rejected.",
            reasons,
            rates,
        ),
        section(
            "section-operations",
            "Operations: freshness and throughput",
            "Per layer and micro-batch: how far behind the newest event read each batch was "
            "when recorded, and how many rows per second it processed.",
            operations,
        ),
    ]


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1200px; padding: 1rem 2rem;
  color: #222; }
h1 { margin-bottom: 0.2rem; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #ddd; }
.meta, .explain { color: #555; } .no-data { color: #8a6d3b; background: #fcf8e3; padding: 0.6rem; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: right; }
th:first-child, td:first-child, #table-summary td:nth-child(2) { text-align: left; }
thead { background: #f5f5f5; }
"""


def render_report(data: ReportData, *, title: str) -> str:
    """The report as one HTML page that needs no network to view."""
    meta = (
        f"Tables in {data.namespace}; newest processed event {format_time(data.as_of)}; "
        f"generated {format_time(data.generated_at)}."
    )
    sections = "\n".join(_sections(data))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html_text(title)}</title>\n<style>{_STYLE}</style>\n"
        f'<script type="text/javascript">{get_plotlyjs()}</script>\n</head>\n<body>\n'
        f"<h1>{html_text(title)}</h1>\n"
        f'<p class="meta">{html_text(meta)}</p>\n{sections}\n</body>\n</html>\n'
    )
