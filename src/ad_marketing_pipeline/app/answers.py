"""The app's answers from Gold's rows: the report of a window (with CTR, CPC, CPA, ROAS as
gold_fact_ad_performance defines them), the report window itself (`-1h`, ISO instants), and the
dashboard's data. Pure functions of rows and a clock; `readers` fetches the rows."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ad_marketing_pipeline.app import queries
from ad_marketing_pipeline.app.readers import GoldReader, GoldUnavailableError, Row

MONEY_PLACES = Decimal("0.000001")  # DECIMAL(38, 6), as Gold's money sums
ATTRIBUTION_DAYS = 14
TOP_CHANNELS = 4
_RELATIVE = re.compile(r"^-(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def money_text(value: Decimal | None) -> str | None:
    """Money as exact decimal text with 6 places (JSON numbers would round it)."""
    return None if value is None else str(Decimal(value).quantize(MONEY_PLACES, ROUND_HALF_UP))


def _money_ratio(numerator: Decimal, denominator: Decimal | int) -> str | None:
    return money_text(numerator / Decimal(denominator)) if denominator else None


def _ratio(numerator: Decimal | int, denominator: Decimal | int) -> float | None:
    return float(Decimal(numerator) / Decimal(denominator)) if denominator else None


def parse_instant(text: str, now: datetime) -> datetime:
    """`now`, a relative time before now (`-90s`, `-15m`, `-1h`, `-7d`, `-2w`) or an ISO 8601
    date or instant (UTC when it has no offset); ValueError names what is accepted."""
    cleaned = text.strip()
    if cleaned.lower() == "now":
        return now
    relative = _RELATIVE.match(cleaned.lower())
    if relative:
        return now - timedelta(**{_UNITS[relative.group(2)]: int(relative.group(1))})
    try:
        moment = datetime.fromisoformat(cleaned.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: use now, -<n>s/m/h/d/w (e.g. -1h) or an ISO 8601 "
            "date or instant (2024-01-31T12:00:00Z)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class ReportWindow:
    start: datetime
    end: datetime

    @classmethod
    def parse(cls, start: str, end: str | None, now: datetime) -> ReportWindow:
        window = cls(parse_instant(start, now), parse_instant(end or "now", now))
        if window.start >= window.end:
            raise ValueError(f"start {window.start} is not before end {window.end}")
        return window


def report(reader: GoldReader, campaign_id: str | None, window: ReportWindow) -> dict[str, Any]:
    """Impressions, clicks, conversions, spend, revenue and their ratios for the window (all
    campaigns when `campaign_id` is None; "(none)" for events without a campaign)."""
    deliveries = reader.query(queries.report_deliveries_sql(campaign_id, window.start, window.end))
    converted = reader.query(queries.report_conversions_sql(campaign_id, window.start, window.end))
    impressions = int(deliveries[0]["impressions"] or 0)
    clicks = int(deliveries[0]["clicks"] or 0)
    spend = Decimal(deliveries[0]["spend"] or 0)
    conversions = int(converted[0]["conversions"] or 0)
    revenue = Decimal(converted[0]["revenue"] or 0)
    return {
        "campaign_id": campaign_id,
        "start": window.start,
        "end": window.end,
        "impressions": impressions,
        "clicks": clicks,
        "conversions": conversions,
        "spend": money_text(spend),
        "revenue": money_text(revenue),
        "ctr": _ratio(clicks, impressions),
        "cpc": _money_ratio(spend, clicks),
        "cpa": _money_ratio(spend, conversions),
        "roas": _ratio(revenue, spend),
    }


# ---------------------------------------------------------------------------------------------
# The dashboard
# ---------------------------------------------------------------------------------------------


def _number(value: Any) -> float:
    return float(value or 0)


def _totals(row: Row) -> dict[str, Any]:
    spend = Decimal(row["spend"] or 0)
    revenue = Decimal(row["revenue"] or 0)
    clicks = int(row["clicks"] or 0)
    impressions = int(row["impressions"] or 0)
    return {
        "impressions": impressions,
        "clicks": clicks,
        "conversions": int(row["conversions"] or 0),
        "spend": money_text(spend),
        "revenue": money_text(revenue),
        "ctr": _ratio(clicks, impressions),
        "roas": _ratio(revenue, spend),
        "newest_day": row["newest_day"],
    }


def _attribution_days(rows: list[Row]) -> dict[str, Any]:
    """The newest 14 days with attributed conversions: for the channels with the most
    conversions in them, the conversions first click and last click credit each day (every
    model credits each day's conversions in full, so per channel is where they differ)."""
    days: list[date] = sorted({row["conversion_date"] for row in rows})[-ATTRIBUTION_DAYS:]
    position = {day: index for index, day in enumerate(days)}
    recent = [row for row in rows if row["conversion_date"] in position]
    volume: dict[str, float] = {}
    for row in recent:
        volume[row["channel"]] = volume.get(row["channel"], 0.0) + _number(row["conversions"])
    channels = sorted(volume, key=lambda channel: (-volume[channel], channel))[:TOP_CHANNELS]
    series = {
        (model, channel): [0.0] * len(days)
        for channel in channels
        for model in queries.DASHBOARD_MODELS
    }
    for row in recent:
        values = series.get((row["model"], row["channel"]))
        if values is not None:
            values[position[row["conversion_date"]]] += _number(row["conversions"])
    return {
        "days": [day.isoformat() for day in days],
        "series": [
            {"model": model, "channel": channel, "conversions": values}
            for (model, channel), values in series.items()
        ],
    }


def _channels(rows: list[Row]) -> list[dict[str, Any]]:
    channels: dict[str, dict[str, Any]] = {}
    for row in rows:
        channel = channels.setdefault(
            row["channel"],
            {"channel": row["channel"], "spend": _number(row["spend"]), "clicks": row["clicks"]},
        )
        channel[f"{row['model']}_conversions"] = _number(row["conversions"])
        channel[f"{row['model']}_revenue"] = _number(row["revenue"])
    return list(channels.values())


def _feed(rows: list[Row]) -> list[dict[str, Any]]:
    return [{**row, "amount": money_text(row["amount"])} for row in rows]


def _optional(reader: GoldReader, sql: str) -> list[Row]:
    """Rows of a table the pipeline may not have written yet (attribution): none until then."""
    try:
        return reader.query(sql)
    except GoldUnavailableError:
        return []


def dashboard_data(reader: GoldReader) -> dict[str, Any]:
    """KPI totals, the first vs last click series, the channel breakdown and the newest events
    (the serving part comes from the app's in-memory serving status)."""
    totals = _optional(reader, queries.DASHBOARD_TOTALS)
    return {
        "totals": _totals(totals[0]) if totals else None,
        "attribution": _attribution_days(_optional(reader, queries.DASHBOARD_ATTRIBUTION_DAYS)),
        "channels": _channels(_optional(reader, queries.DASHBOARD_CHANNELS)),
        "feed": _feed(_optional(reader, queries.DASHBOARD_FEED)),
    }
