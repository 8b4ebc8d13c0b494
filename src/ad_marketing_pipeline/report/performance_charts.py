"""The report's campaign performance (a ROAS chart and a table of every campaign) and its
channel credit per attribution model."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from ad_marketing_pipeline.attribution.models import MODELS
from ad_marketing_pipeline.report.charts import COLORS, plot_text, with_layout
from ad_marketing_pipeline.report.formatting import format_money, format_percent, format_ratio
from ad_marketing_pipeline.report.markup import html_table
from ad_marketing_pipeline.report.records import CampaignPerformance, ChannelCredit

CAMPAIGNS_CHARTED = 25  # the ROAS chart's biggest spenders; the table lists every campaign


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
            x=[plot_text(label) for label in _campaign_labels(charted)],
            y=[campaign.roas for campaign in charted],
            marker_color=COLORS[0],
            customdata=[[format_money(c.ad_spend), format_money(c.revenue)] for c in charted],
            hovertemplate=(
                "%{x}: ROAS %{y:.2f}<br>spend %{customdata[0]}, revenue %{customdata[1]}"
                "<extra></extra>"
            ),
            name="ROAS",
        )
    )
    figure.add_hline(y=1.0, line={"dash": "dot", "color": "grey"})
    figure.update_yaxes(title_text="ROAS (revenue / ad spend)")
    return with_layout(figure, height=440, xaxis={"tickangle": -35})


def campaign_table(campaigns: Sequence[CampaignPerformance]) -> str:
    rows = [
        (
            label,
            campaign.campaign_id,
            f"{campaign.impressions:,}",
            f"{campaign.clicks:,}",
            format_money(campaign.ad_spend),
            f"{campaign.conversions:,}",
            format_money(campaign.revenue),
            format_percent(campaign.ctr),
            format_money(campaign.cpc),
            format_money(campaign.cpa),
            format_ratio(campaign.roas),
        )
        for label, campaign in zip(_campaign_labels(campaigns), campaigns, strict=True)
    ]
    header = ("campaign", "id", "impressions", "clicks", "spend", "conversions", "revenue")
    return html_table("table-campaigns", (*header, "CTR", "CPC", "CPA", "ROAS"), rows)


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
                    x=[plot_text(channel) for channel in channels],
                    y=[values.get(channel, 0.0) for channel in channels],
                    name=plot_text(model),
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
    return with_layout(
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
