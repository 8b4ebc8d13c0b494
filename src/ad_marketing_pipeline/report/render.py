"""The report as one self-contained HTML page: plotly.js inlined once in the head, one section per
question, each chart in a div with a stable id. Viewing it needs no network.

Text from the data is escaped everywhere: `html.escape` in the page's own markup, and the same
escaping for the strings handed to plotly, which reads `<b>`, `<a href=...>` and the like in
labels as markup and turns `&lt;` back into `<` when it draws (its JSON is escaped by plotly).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from ad_marketing_pipeline.attribution.models import MODELS
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
)

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

CAMPAIGNS_CHARTED = 25  # the ROAS chart's biggest spenders; the table lists every campaign
LAYER_ORDER = ("bronze", "silver", "gold", "attribution")
DAY_MS = 86_400_000
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
SERVING_COLOR, BLOCKED_COLOR = "#2ca02c", "#d62728"
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}
MISSING = "n/a"  # a value that does not exist (a ratio without denominator, no budget)


# ---------------------------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------------------------


def _e(value: object) -> str:
    """Data as HTML text."""
    return html.escape(str(value))


def _label(text: str) -> str:
    """Data as plotly text: shown literally, never read as plotly's pseudo-HTML."""
    return html.escape(text, quote=False)


def _money(value: Decimal | None) -> str:
    return MISSING if value is None else f"{value:,.2f}"


def _percent(value: float | None) -> str:
    return MISSING if value is None else f"{value:.1%}"


def _ratio(value: float | None) -> str:
    return MISSING if value is None else f"{value:,.2f}"


def _time(value: datetime | None) -> str:
    return MISSING if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def _float(value: Decimal | float | None) -> float | None:
    return None if value is None else float(value)


def _table(table_id: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    head = "".join(f"<th>{_e(cell)}</th>" for cell in header)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{_e(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>'


def _note(text: str) -> str:
    return f'<p class="no-data">{_e(text)}</p>'


def _section(section_id: str, heading: str, explanation: str, *parts: str) -> str:
    body = "\n".join(parts)
    return (
        f'<section id="{section_id}"><h2>{_e(heading)}</h2>'
        f'<p class="explain">{_e(explanation)}</p>\n{body}\n</section>'
    )


def _chart(figure: go.Figure, div_id: str) -> str:
    """The figure's div (plotly.js is in the page's head once)."""
    div: str = figure.to_html(
        full_html=False, include_plotlyjs=False, div_id=div_id, config=PLOTLY_CONFIG
    )
    return f'<div class="chart">{div}</div>'


def _layout(figure: go.Figure, *, height: int, **layout: Any) -> go.Figure:
    defaults: dict[str, Any] = {
        "margin": {"l": 60, "r": 20, "t": 60, "b": 50},
        "legend": {"orientation": "h", "y": -0.15},
        "template": "plotly_white",
    }
    figure.update_layout(height=height, **{**defaults, **layout})
    return figure


# ---------------------------------------------------------------------------------------------
# 1. Spend against budget, and pacing
# ---------------------------------------------------------------------------------------------


def spend_figure(
    daily: Sequence[DailySpend], pacing: Sequence[HourlyPacing], pacing_days: int
) -> go.Figure:
    """Per advertiser (a dropdown picks one, biggest spender first): daily net spend bars with
    the budget in effect at each day's end, and the hourly pacing ratio under them."""
    totals: dict[str, Decimal] = {}
    for day in daily:
        totals[day.advertiser] = totals.get(day.advertiser, Decimal(0)) + day.net_spend
    advertisers = sorted(totals, key=lambda name: (-totals[name], name))
    figure = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.1,
        row_heights=[0.6, 0.4],
        subplot_titles=(
            "Daily net spend and the budget in effect",
            f"Pacing: spend to date / expected (hourly, last {pacing_days} days)",
        ),
    )
    for index, advertiser in enumerate(advertisers):
        days = [day for day in daily if day.advertiser == advertiser]
        hours = [hour for hour in pacing if hour.advertiser == advertiser]
        shown = index == 0
        day_x = [day.spend_day for day in days]
        figure.add_trace(
            go.Bar(
                x=day_x,
                y=[_float(day.net_spend) for day in days],
                xperiod=DAY_MS,
                xperiodalignment="middle",
                name="net spend",
                marker_color=COLORS[0],
                visible=shown,
                hovertemplate="%{x|%Y-%m-%d}: net spend %{y:,.2f}<extra></extra>",
            ),
            row=1,
            col=1,
        )
        figure.add_trace(
            go.Scatter(
                x=day_x,
                y=[_float(day.budget_value) for day in days],
                xperiod=DAY_MS,
                xperiodalignment="middle",
                mode="lines+markers",
                name="budget",
                line={"color": COLORS[3], "dash": "dash"},
                visible=shown,
                hovertemplate="%{x|%Y-%m-%d}: budget %{y:,.2f}<extra></extra>",
            ),
            row=1,
            col=1,
        )
        figure.add_trace(
            go.Scatter(
                x=[hour.window_start for hour in hours],
                y=[hour.pacing_ratio for hour in hours],
                mode="lines+markers",
                marker={"size": 4},
                name="pacing ratio",
                line={"color": COLORS[1]},
                visible=shown,
                hovertemplate="%{x|%Y-%m-%d %H:00}: pacing %{y:.2f}<extra></extra>",
            ),
            row=2,
            col=1,
        )
    traces_each = 3
    buttons = [
        {
            "label": _label(advertiser),
            "method": "update",
            "args": [{"visible": [i // traces_each == index for i in range(len(figure.data))]}],
        }
        for index, advertiser in enumerate(advertisers)
    ]
    figure.add_hline(y=1.0, line={"dash": "dot", "color": "grey"}, row=2, col=1)
    figure.update_yaxes(title_text="amount", row=1, col=1)
    figure.update_yaxes(title_text="ratio", row=2, col=1)
    return _layout(
        figure,
        height=640,
        margin={"l": 60, "r": 20, "t": 110, "b": 50},
        # The dropdown shows the advertiser on display, top left (the modebar is top right).
        updatemenus=[
            {"buttons": buttons, "x": 0.0, "xanchor": "left", "y": 1.1, "yanchor": "bottom"}
        ],
    )


# ---------------------------------------------------------------------------------------------
# 2. Serving status now
# ---------------------------------------------------------------------------------------------


def serving_figure(serving: Sequence[ServingStatus]) -> go.Figure:
    """Budget used in the current period per advertiser, green while serving, red once
    blocked; the most used on top."""
    ordered = sorted(
        serving,
        key=lambda status: (-(status.budget_used_share or 0.0), status.advertiser),
    )
    figure = go.Figure()
    for state, can_serve, color in (
        ("serving", True, SERVING_COLOR),
        ("not serving", False, BLOCKED_COLOR),
    ):
        chosen = [status for status in ordered if status.can_serve == can_serve]
        figure.add_trace(
            go.Bar(
                orientation="h",
                y=[_label(status.advertiser) for status in chosen],
                x=[100 * (status.budget_used_share or 0.0) for status in chosen],
                name=f"{state} ({len(chosen)})",
                marker_color=color,
                customdata=[
                    [_money(status.budget_value), _money(status.spend_to_date)] for status in chosen
                ],
                hovertemplate=(
                    "%{y}: %{x:.0f}% of the budget used<br>budget %{customdata[0]}, "
                    f"spent %{{customdata[1]}}<extra>{state}</extra>"
                ),
            )
        )
    figure.add_vline(x=100, line={"dash": "dot", "color": "grey"})
    figure.update_yaxes(
        categoryorder="array",
        categoryarray=[_label(status.advertiser) for status in ordered],
        autorange="reversed",
    )
    figure.update_xaxes(title_text="budget used in the current period (%)")
    return _layout(figure, height=max(280, 22 * len(ordered) + 130), barmode="overlay")


# ---------------------------------------------------------------------------------------------
# 3. Campaign performance
# ---------------------------------------------------------------------------------------------


def _campaign_labels(campaigns: Sequence[CampaignPerformance]) -> list[str]:
    """The campaign's name, with its id where two campaigns share a name (or it has none)."""
    names = [campaign.campaign_name or campaign.campaign_id for campaign in campaigns]
    return [
        name if names.count(name) == 1 else f"{name} ({campaign.campaign_id})"
        for name, campaign in zip(names, campaigns, strict=True)
    ]


def campaign_figure(campaigns: Sequence[CampaignPerformance]) -> go.Figure:
    """ROAS of the biggest-spending campaigns."""
    charted = sorted(campaigns, key=lambda campaign: campaign.ad_spend, reverse=True)
    charted = charted[:CAMPAIGNS_CHARTED]
    figure = go.Figure(
        go.Bar(
            x=[_label(label) for label in _campaign_labels(charted)],
            y=[campaign.roas for campaign in charted],
            marker_color=COLORS[0],
            customdata=[[_money(c.ad_spend), _money(c.revenue)] for c in charted],
            hovertemplate=(
                "%{x}: ROAS %{y:.2f}<br>spend %{customdata[0]}, revenue %{customdata[1]}"
                "<extra></extra>"
            ),
            name="ROAS",
        )
    )
    figure.add_hline(y=1.0, line={"dash": "dot", "color": "grey"})
    figure.update_yaxes(title_text="ROAS (revenue / ad spend)")
    return _layout(figure, height=440, xaxis={"tickangle": -35})


def _campaign_table(campaigns: Sequence[CampaignPerformance]) -> str:
    rows = [
        (
            label,
            campaign.campaign_id,
            f"{campaign.impressions:,}",
            f"{campaign.clicks:,}",
            _money(campaign.ad_spend),
            f"{campaign.conversions:,}",
            _money(campaign.revenue),
            _percent(campaign.ctr),
            _money(campaign.cpc),
            _money(campaign.cpa),
            _ratio(campaign.roas),
        )
        for label, campaign in zip(_campaign_labels(campaigns), campaigns, strict=True)
    ]
    header = ("campaign", "id", "impressions", "clicks", "spend", "conversions", "revenue")
    return _table("table-campaigns", (*header, "CTR", "CPC", "CPA", "ROAS"), rows)


# ---------------------------------------------------------------------------------------------
# 4. Channel credit per attribution model
# ---------------------------------------------------------------------------------------------


def channel_credit_figure(credit: Sequence[ChannelCredit]) -> go.Figure:
    """Grouped bars, channel x model: credited conversions, or attributed revenue (buttons)."""
    conversions: dict[str, float] = {}
    for row in credit:
        conversions[row.channel] = conversions.get(row.channel, 0.0) + row.conversions
    channels = sorted(conversions, key=lambda channel: (-conversions[channel], channel))
    present = {row.model for row in credit}
    models = [model for model in MODELS if model in present] + sorted(present - set(MODELS))
    measures = (("Credited conversions", "conversions"), ("Attributed revenue", "revenue"))
    figure = go.Figure()
    for measure_index, (_, measure) in enumerate(measures):
        for model_index, model in enumerate(models):
            values = {
                row.channel: row.conversions if measure == "conversions" else float(row.revenue)
                for row in credit
                if row.model == model
            }
            figure.add_trace(
                go.Bar(
                    x=[_label(channel) for channel in channels],
                    y=[values.get(channel, 0.0) for channel in channels],
                    name=_label(model),
                    marker_color=COLORS[model_index % len(COLORS)],
                    visible=measure_index == 0,
                    hovertemplate=f"%{{x}}: %{{y:,.2f}} {measure}<extra>%{{fullData.name}}</extra>",
                )
            )
    buttons = [
        {
            "label": label,
            "method": "update",
            "args": [
                {"visible": [i // len(models) == index for i in range(len(figure.data))]},
                {"yaxis.title.text": label},
            ],
        }
        for index, (label, _) in enumerate(measures)
    ]
    return _layout(
        figure,
        height=460,
        barmode="group",
        yaxis={"title": {"text": measures[0][0]}},
        updatemenus=[
            {
                "type": "buttons",
                "direction": "right",
                "buttons": buttons,
                "x": 0.0,
                "xanchor": "left",
                "y": 1.12,
                "yanchor": "bottom",
            }
        ],
    )


# ---------------------------------------------------------------------------------------------
# 5. Data-quality rejects
# ---------------------------------------------------------------------------------------------


def reject_reasons_figure(reasons: Sequence[RejectReason]) -> go.Figure:
    """Quarantined records per reason code."""
    figure = go.Figure(
        go.Bar(
            x=[_label(reason.reason_code) for reason in reasons],
            y=[reason.records for reason in reasons],
            marker_color=BLOCKED_COLOR,
            name="quarantined records",
            hovertemplate="%{x}: %{y:,} records<extra></extra>",
        )
    )
    figure.update_yaxes(title_text="quarantined records")
    return _layout(figure, height=380)


def reject_rate_figure(batches: Sequence[BatchQuality]) -> go.Figure:
    """Share of each Silver micro-batch's input that went to quarantine."""
    figure = go.Figure()
    queries = list(dict.fromkeys(batch.query_name for batch in batches))
    for index, query in enumerate(queries):
        chosen = [batch for batch in batches if batch.query_name == query]
        figure.add_trace(
            go.Bar(
                x=[batch.batch_id for batch in chosen],
                y=[100 * (batch.reject_rate or 0.0) for batch in chosen],
                name=_label(query),
                marker_color=COLORS[(index + 1) % len(COLORS)],
                customdata=[[batch.quarantined_rows, batch.input_rows] for batch in chosen],
                hovertemplate=(
                    "batch %{x}: %{y:.2f}% rejected (%{customdata[0]:,} of %{customdata[1]:,})"
                    "<extra>%{fullData.name}</extra>"
                ),
            )
        )
    figure.update_xaxes(title_text="micro-batch", type="category")
    figure.update_yaxes(title_text="rejected (%)")
    return _layout(figure, height=360)


# ---------------------------------------------------------------------------------------------
# 6. Operations: freshness and throughput per layer
# ---------------------------------------------------------------------------------------------


def _layer_rank(query_name: str) -> tuple[int, str]:
    for rank, layer in enumerate(LAYER_ORDER):
        if query_name.startswith(layer):
            return rank, query_name
    return len(LAYER_ORDER), query_name


def streaming_figure(batches: Sequence[StreamingBatch]) -> go.Figure:
    """Per layer and batch: lag behind the newest event read, and rows processed per second."""
    figure = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.12,
        subplot_titles=(
            "Freshness: seconds behind the newest event read",
            "Throughput: rows processed per second",
        ),
    )
    layers = sorted({batch.query_name for batch in batches}, key=_layer_rank)
    for index, layer in enumerate(layers):
        chosen = [batch for batch in batches if batch.query_name == layer]
        color = COLORS[index % len(COLORS)]
        for row, values, unit in (
            (1, [batch.lag_seconds for batch in chosen], "s behind"),
            (2, [batch.processed_rows_per_second for batch in chosen], "rows/s"),
        ):
            figure.add_trace(
                go.Scatter(
                    x=[batch.recorded_at for batch in chosen],
                    y=values,
                    mode="lines+markers",
                    name=_label(layer),
                    legendgroup=layer,
                    showlegend=row == 1,
                    line={"color": color},
                    customdata=[[batch.batch_id, batch.input_rows] for batch in chosen],
                    hovertemplate=(
                        f"batch %{{customdata[0]}} (%{{customdata[1]:,}} rows): %{{y:,.1f}} {unit}"
                        "<extra>%{fullData.name}</extra>"
                    ),
                ),
                row=row,
                col=1,
            )
    # Layers reading Bronze lag by seconds; Gold's lag is the age of the newest event time,
    # days for replayed history: a log axis shows both.
    figure.update_yaxes(title_text="lag (s, log)", type="log", row=1, col=1)
    figure.update_yaxes(title_text="rows/s", row=2, col=1)
    return _layout(figure, height=560)


# ---------------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------------


def _summary_section(data: ReportData) -> str:
    tables = _table(
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
    return _section(
        "section-summary",
        "Summary",
        "Rows per table along the data flow, and which advertisers' ads may not serve now.",
        tables if data.table_rows else _note("No pipeline tables yet."),
        f'<p id="summary-serving">{_e(serving)}</p>',
    )


def _chart_or_note(
    rows: Sequence[object], draw: Callable[[], go.Figure], chart_id: str, missing: str
) -> str:
    """The chart drawn from `rows`, or a note saying why there is none."""
    return _chart(draw(), chart_id) if rows else _note(missing)


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
        serving += (
            f'<p id="blocked-advertisers">Not serving: {_e(", ".join(blocked) or "none")}</p>'
        )
    campaigns = _chart_or_note(
        data.campaigns,
        lambda: campaign_figure(data.campaigns),
        CHART_CAMPAIGNS,
        "No campaign performance yet.",
    )
    if data.campaigns:
        campaigns += _campaign_table(data.campaigns)
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
        _section(
            "section-spend",
            "Spend against budget",
            "Daily net spend (after refunds) against the budget in effect at each day's end, and "
            "how fast the budget is being spent (1.0 = on pace, above = ahead). The advertisers "
            "with the most net spend; pick one in the dropdown.",
            spend,
        ),
        _section(
            "section-serving",
            "Serving status now",
            "Whether each advertiser's ads may serve as of the newest processed event, with the "
            "share of the current period's budget already spent.",
            serving,
        ),
        _section(
            "section-campaigns",
            "Campaign performance",
            f"Return on ad spend of the {CAMPAIGNS_CHARTED} biggest-spending campaigns, and every "
            "campaign's delivery, spend, conversions and ratios over all days.",
            campaigns,
        ),
        _section(
            "section-attribution",
            "Channel credit by attribution model",
            "Conversions (or revenue) each model credits to each channel, side by side.",
            credit,
        ),
        _section(
            "section-data-quality",
            "Data-quality rejects",
            "Records Silver quarantined, per rule (a record counts under each rule it fails), "
            "and the share of each micro-batch's input that was rejected.",
            reasons,
            rates,
        ),
        _section(
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
        f"Tables in {data.namespace}; newest processed event {_time(data.as_of)}; "
        f"generated {_time(data.generated_at)}."
    )
    sections = "\n".join(_sections(data))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_e(title)}</title>\n<style>{_STYLE}</style>\n"
        f'<script type="text/javascript">{get_plotlyjs()}</script>\n</head>\n<body>\n'
        f'<h1>{_e(title)}</h1>\n<p class="meta">{_e(meta)}</p>\n{sections}\n</body>\n</html>\n'
    )
