"""What `ad-pipeline` prints, with `rich`: the console for messages and errors (stderr), the one
for results (stdout), progress bars, and the tables of query rows, of the pipeline's status and
of the demo's summary. `rich` is a library of the `tools` extra: only the CLI modules import it.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Any

from pyspark.sql import Row
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from ad_marketing_pipeline.demo import DemoSummary

__all__ = [
    "console",
    "describe_seconds",
    "print_demo_summary",
    "print_query_rows",
    "progress_bars",
    "results_console",
    "rows_table",
    "status_table",
]

#: Messages, progress and errors (stderr), so that results on stdout stay machine-readable.
console = Console(stderr=True)


def results_console() -> Console:
    """Where results go (stdout): a terminal's width, or 140 columns when redirected, so that
    wide tables stay readable in a log."""
    out = Console()
    return out if out.is_terminal else Console(width=140)


def progress_bars() -> Progress:
    """Progress bars on `console`: description, bar, done/total, time remaining."""
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal and os.environ.get("CI") == "true",
    )


def print_query_rows(columns: list[str], rows: list[Row], output_format: str) -> None:
    """Rows of a query or table as JSON lines, CSV (both plain `print`), or a rich table."""
    if output_format == "json":
        for row in rows:
            print(json.dumps(row.asDict(recursive=True), default=str))
    elif output_format == "csv":
        print(",".join(columns))
        for row in rows:
            print(",".join("" if value is None else str(value) for value in row))
    else:
        table = Table(*columns)
        for row in rows:
            table.add_row(*("null" if value is None else str(value) for value in row))
        results_console().print(table)


def _money(value: object) -> str:
    return "-" if value is None else f"{value:,.2f}"


def rows_table(title: str, rows: list[dict[str, Any]], formats: dict[str, str]) -> Table:
    """A rich table of small result rows; `formats` maps a column to 'money' or 'count'."""
    columns = list(rows[0]) if rows else []
    table = Table(*columns, title=title)
    for row in rows:
        cells = []
        for column in columns:
            value = row[column]
            kind = formats.get(column)
            if kind == "money":
                cells.append(_money(value))
            elif kind == "count" and value is not None:
                cells.append(f"{value:,}")
            else:
                cells.append("-" if value is None else str(value))
        table.add_row(*cells)
    return table


def print_demo_summary(summary: DemoSummary, out: Console) -> None:
    if summary.generated:
        generated = summary.generated
        out.print(
            f"generated {generated.total_lines:,} lines: {generated.valid_lines:,} valid events, "
            f"{generated.duplicates:,} duplicates, {sum(generated.malformed.values()):,} malformed"
        )
    layers = Table("table", "rows", title="events per layer")
    for name, rows in summary.events_per_layer.items():
        layers.add_row(name, f"{rows:,}")
    out.print(layers)
    out.print(
        rows_table("quarantined by reason", summary.quarantined_by_reason, {"records": "count"})
    )
    if summary.not_serving:
        money = {"budget_value": "money", "spend_to_date": "money"}
        out.print(rows_table("advertisers not serving now", summary.not_serving, money))
    else:
        out.print("every advertiser may serve now")
    spenders = {"spend_to_date": "money", "budget_value": "money", "total_net_spend": "money"}
    out.print(rows_table("top spenders this budget period", summary.top_spenders, spenders))
    out.print(
        rows_table("credited conversions by channel under each model", summary.channel_credit, {})
    )


def status_table(rows: list[dict[str, Any]]) -> Table:
    """`ad-pipeline status`: one line per streaming query (rows of `ops.layer_status`)."""
    table = Table(
        "query",
        "last batch at (UTC)",
        "rows",
        "newest event (UTC)",
        "lag",
        "rows/s",
        "reject rate",
        title="pipeline status",
    )
    for row in rows:
        table.add_row(
            row["query_name"],
            _when(row["last_batch_at"]),
            "-" if row["last_batch_rows"] is None else f"{row['last_batch_rows']:,}",
            _when(row["newest_event_time"]),
            "-" if row["lag_seconds"] is None else describe_seconds(row["lag_seconds"]),
            "-" if row["rows_per_second"] is None else f"{row['rows_per_second']:,.1f}",
            "-" if row["reject_rate"] is None else f"{row['reject_rate']:.2%}",
        )
    return table


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def describe_seconds(seconds: float) -> str:
    """A lag a person reads at a glance: 4.2 s, 12 min, 3.5 h, 41 days."""
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"
