"""The report's charts of spend against budget and pacing, and of serving status now."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ad_marketing_pipeline.report.charts import (
    BLOCKED_COLOR,
    COLORS,
    SERVING_COLOR,
    plot_text,
    with_layout,
)
from ad_marketing_pipeline.report.formatting import format_money
from ad_marketing_pipeline.report.records import DailySpend, HourlyPacing, ServingStatus

DAY_MS = 86_400_000


def _float(value: Decimal | float | None) -> float | None:
    return None if value is None else float(value)


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
            "label": plot_text(advertiser),
            "method": "update",
            "args": [{"visible": [i // traces_each == index for i in range(len(figure.data))]}],
        }
        for index, advertiser in enumerate(advertisers)
    ]
    figure.add_hline(y=1.0, line={"dash": "dot", "color": "grey"}, row=2, col=1)
    figure.update_yaxes(title_text="amount", row=1, col=1)
    figure.update_yaxes(title_text="ratio", row=2, col=1)
    return with_layout(
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
                y=[plot_text(status.advertiser) for status in chosen],
                x=[100 * (status.budget_used_share or 0.0) for status in chosen],
                name=f"{state} ({len(chosen)})",
                marker_color=color,
                customdata=[
                    [format_money(status.budget_value), format_money(status.spend_to_date)]
                    for status in chosen
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
        categoryarray=[plot_text(status.advertiser) for status in ordered],
        autorange="reversed",
    )
    figure.update_xaxes(title_text="budget used in the current period (%)")
    return with_layout(figure, height=max(280, 22 * len(ordered) + 130), barmode="overlay")
