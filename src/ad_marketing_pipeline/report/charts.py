"""What every chart shares: colours, plotly's layout defaults, data as plotly text and a figure
as the div the page embeds (plotly.js is in the page's head once).

Plotly reads `<b>`, `<a href=...>` and the like in labels as markup and turns `&lt;` back into
`<` when it draws, so text from the data goes through `plot_text` (its JSON is escaped by
plotly).
"""

from __future__ import annotations

import html
from typing import Any

import plotly.graph_objects as go

COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
SERVING_COLOR, BLOCKED_COLOR = "#2ca02c", "#d62728"
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}


def plot_text(text: str) -> str:
    """Data as plotly text: shown literally, never read as plotly's pseudo-HTML."""
    return html.escape(text, quote=False)


def chart_div(figure: go.Figure, div_id: str) -> str:
    """The figure's div (plotly.js is in the page's head once)."""
    div: str = figure.to_html(
        full_html=False, include_plotlyjs=False, div_id=div_id, config=PLOTLY_CONFIG
    )
    return f'<div class="chart">{div}</div>'


def with_layout(figure: go.Figure, *, height: int, **layout: Any) -> go.Figure:
    """The figure with the report's layout defaults (margins, legend, template); `layout`
    overrides them."""
    defaults: dict[str, Any] = {
        "margin": {"l": 60, "r": 20, "t": 60, "b": 50},
        "legend": {"orientation": "h", "y": -0.15},
        "template": "plotly_white",
    }
    figure.update_layout(height=height, **{**defaults, **layout})
    return figure
