"""How the report writes numbers and times as text: money and ratios with two decimals and
thousands separators, shares as percentages, instants in UTC, and `MISSING` for a value that
does not exist."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

MISSING = "n/a"  # a value that does not exist (a ratio without denominator, no budget)


def format_money(value: Decimal | None) -> str:
    return MISSING if value is None else f"{value:,.2f}"


def format_percent(value: float | None) -> str:
    return MISSING if value is None else f"{value:.1%}"


def format_ratio(value: float | None) -> str:
    return MISSING if value is None else f"{value:,.2f}"


def format_time(value: datetime | None) -> str:
    return MISSING if value is None else value.strftime("%Y-%m-%d %H:%M UTC")
