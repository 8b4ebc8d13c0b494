"""The report's charts of data-quality rejects (per rule, per Silver micro-batch) and of
streaming operations (freshness and throughput per layer)."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ad_marketing_pipeline.report.charts import BLOCKED_COLOR, COLORS, plot_text, with_layout
from ad_marketing_pipeline.report.records import BatchQuality, RejectReason, StreamingBatch

LAYER_ORDER = ("bronze", "silver", "gold", "attribution")


# ---------------------------------------------------------------------------------------------
# 5. Data-quality rejects
# ---------------------------------------------------------------------------------------------


def reject_reasons_figure(reasons: Sequence[RejectReason]) -> go.Figure:
    """Quarantined records per reason code."""
    figure = go.Figure(
        go.Bar(
            x=[plot_text(reason.reason_code) for reason in reasons],
            y=[reason.records for reason in reasons],
            marker_color=BLOCKED_COLOR,
            name="quarantined records",
            hovertemplate="%{x}: %{y:,} records<extra></extra>",
        )
    )
    figure.update_yaxes(title_text="quarantined records")
    return with_layout(figure, height=380)


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
                name=plot_text(query),
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
    return with_layout(figure, height=360)


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
                    name=plot_text(layer),
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
    return with_layout(figure, height=560)
