"""The rows the report draws: typed, frozen dataclasses, one per kind of row, and `ReportData`
holding them all. Built from the tables by `report.data.report_data`, or by hand in tests.
Money stays `Decimal`; the charts convert it to float only to draw it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

# How many days of hourly pacing the report reads and the spend chart shows by default.
PACING_DAYS = 7


@dataclass(frozen=True)
class TableRows:
    """How many rows one table holds."""

    layer: str
    table: str
    rows: int


@dataclass(frozen=True)
class DailySpend:
    """One advertiser's day: spend and the budget in effect at the day's end."""

    advertiser: str
    spend_day: date
    gross_spend: Decimal
    net_spend: Decimal
    budget_value: Decimal | None


@dataclass(frozen=True)
class HourlyPacing:
    """One advertiser's hour: spend to date against an even spread of the budget."""

    advertiser: str
    window_start: datetime
    spend_to_date: Decimal
    expected_spend_to_date: Decimal | None
    pacing_ratio: float | None


@dataclass(frozen=True)
class ServingStatus:
    """May the advertiser's ads serve now (as of the newest processed event)."""

    advertiser: str
    can_serve: bool
    budget_value: Decimal | None
    spend_to_date: Decimal | None
    latest_hour: datetime | None

    @property
    def budget_used_share(self) -> float | None:
        if self.budget_value is None or self.spend_to_date is None or self.budget_value == 0:
            return None
        return float(self.spend_to_date / self.budget_value)


@dataclass(frozen=True)
class CampaignPerformance:
    """A campaign over all days; ratios recomputed from the totals (null without denominator)."""

    campaign_id: str
    campaign_name: str | None
    impressions: int
    clicks: int
    ad_spend: Decimal
    conversions: int
    revenue: Decimal
    ctr: float | None
    cpc: Decimal | None
    cpa: Decimal | None
    roas: float | None


@dataclass(frozen=True)
class ChannelCredit:
    """What one attribution model credits one channel with."""

    channel: str
    model: str
    conversions: float
    revenue: Decimal


@dataclass(frozen=True)
class RejectReason:
    """Quarantined records failing one rule (a record counts under each of its reasons)."""

    reason_code: str
    records: int


@dataclass(frozen=True)
class BatchQuality:
    """One Silver micro-batch's input and quarantined rows."""

    query_name: str
    batch_id: int
    processed_at: datetime | None
    input_rows: int
    quarantined_rows: int

    @property
    def reject_rate(self) -> float | None:
        return self.quarantined_rows / self.input_rows if self.input_rows else None


@dataclass(frozen=True)
class StreamingBatch:
    """One streaming micro-batch of one layer: rows, throughput and freshness."""

    query_name: str
    batch_id: int
    recorded_at: datetime | None
    input_rows: int
    processed_rows_per_second: float | None
    lag_seconds: float | None


@dataclass(frozen=True)
class ReportData:
    """Everything the report draws; built by `report_data`, or by hand in tests."""

    namespace: str
    generated_at: datetime
    as_of: datetime | None  # newest processed event time (Gold's serving status)
    pacing_days: int = PACING_DAYS  # how many days of hourly pacing `pacing` holds
    table_rows: tuple[TableRows, ...] = ()
    daily_spend: tuple[DailySpend, ...] = ()
    pacing: tuple[HourlyPacing, ...] = ()
    serving: tuple[ServingStatus, ...] = ()
    campaigns: tuple[CampaignPerformance, ...] = ()
    channel_credit: tuple[ChannelCredit, ...] = ()
    rejects_by_reason: tuple[RejectReason, ...] = ()
    batch_quality: tuple[BatchQuality, ...] = ()
    streaming: tuple[StreamingBatch, ...] = ()

    @property
    def blocked_advertisers(self) -> list[str]:
        return sorted(status.advertiser for status in self.serving if not status.can_serve)
