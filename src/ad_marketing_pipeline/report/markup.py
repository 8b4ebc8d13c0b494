"""The page's HTML building blocks: data as escaped HTML text, tables, notes and sections.
Everything from the data goes through `html_text`."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence


def html_text(value: object) -> str:
    """Data as HTML text."""
    return html.escape(str(value))


def html_table(table_id: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    head = "".join(f"<th>{html_text(cell)}</th>" for cell in header)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{html_text(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>'


def note(text: str) -> str:
    return f'<p class="no-data">{html_text(text)}</p>'


def section(section_id: str, heading: str, explanation: str, *parts: str) -> str:
    body = "\n".join(parts)
    return (
        f'<section id="{section_id}"><h2>{html_text(heading)}</h2>'
        f'<p class="explain">{html_text(explanation)}</p>\n{body}\n</section>'
    )
