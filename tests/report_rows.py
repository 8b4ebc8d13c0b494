"""A small hand-made `ReportData` for the report's tests (importable as `report_rows`), with
one advertiser and one campaign whose names are HTML."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from ad_marketing_pipeline.report import (
    BatchQuality,
    CampaignPerformance,
    ChannelCredit,
    DailySpend,
    HourlyPacing,
    RejectReason,
    ReportData,
    ServingStatus,
    StreamingBatch,
    TableRows,
)

HOSTILE_ADVERTISER = '<script>alert("owned")</script>'
HOSTILE_CAMPAIGN = "<b>Big & Bold</b>"
T0 = datetime(2024, 1, 3, 0, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _daily(advertiser: str, day: int, net: str, budget: str | None) -> DailySpend:
    return DailySpend(
        advertiser=advertiser,
        spend_day=date(2024, 1, day),
        gross_spend=Decimal(net),
        net_spend=Decimal(net),
        budget_value=None if budget is None else Decimal(budget),
    )


def _pacing(advertiser: str, hour: int, ratio: float | None) -> HourlyPacing:
    return HourlyPacing(
        advertiser=advertiser,
        window_start=T0 + hour * HOUR,
        spend_to_date=Decimal("1.5") * (hour + 1),
        expected_spend_to_date=Decimal("2") * (hour + 1),
        pacing_ratio=ratio,
    )


def sample_report_data(**overrides: Any) -> ReportData:
    """Two advertisers over three days (one blocked now), two campaigns, two models, two reject
    reasons, two Silver batches and two layers' streaming batches."""
    data = ReportData(
        namespace="report_test",
        generated_at=datetime(2024, 1, 4, 8, 30, tzinfo=UTC),
        as_of=datetime(2024, 1, 3, 23, 59, tzinfo=UTC),
        pacing_days=7,
        table_rows=(
            TableRows("Bronze", "bronze_ad_events", 3_000),
            TableRows("Silver", "silver_ad_events", 2_910),
            TableRows("Silver", "silver_quarantine", 31),
        ),
        daily_spend=(
            _daily("advertiser-001", 1, "120.50", "150"),
            _daily("advertiser-001", 2, "151.25", "150"),
            _daily("advertiser-001", 3, "80.00", "200"),
            _daily(HOSTILE_ADVERTISER, 1, "10.00", None),
            _daily(HOSTILE_ADVERTISER, 2, "12.00", "50"),
        ),
        pacing=(
            _pacing("advertiser-001", 0, 0.8),
            _pacing("advertiser-001", 1, 1.3),
            _pacing("advertiser-001", 2, None),
            _pacing(HOSTILE_ADVERTISER, 0, 0.5),
        ),
        serving=(
            ServingStatus(
                "advertiser-001", False, Decimal("200"), Decimal("201.75"), T0 + 23 * HOUR
            ),
            ServingStatus(HOSTILE_ADVERTISER, True, Decimal("50"), Decimal("12"), T0),
        ),
        campaigns=(
            CampaignPerformance(
                campaign_id="cmp-001",
                campaign_name=HOSTILE_CAMPAIGN,
                impressions=12_345,
                clicks=321,
                ad_spend=Decimal("1234.5"),
                conversions=17,
                revenue=Decimal("4938"),
                ctr=321 / 12_345,
                cpc=Decimal("3.845794"),
                cpa=Decimal("72.617647"),
                roas=4.0,
            ),
            CampaignPerformance(
                campaign_id="(none)",
                campaign_name=None,
                impressions=0,
                clicks=0,
                ad_spend=Decimal("0"),
                conversions=3,
                revenue=Decimal("90"),
                ctr=None,
                cpc=None,
                cpa=Decimal("0"),
                roas=None,
            ),
        ),
        channel_credit=(
            ChannelCredit("Paid Search", "last_click", 12.0, Decimal("480")),
            ChannelCredit("Email", "last_click", 5.0, Decimal("200")),
            ChannelCredit("Paid Search", "markov", 9.5, Decimal("380")),
            ChannelCredit("Email", "markov", 7.5, Decimal("300")),
        ),
        rejects_by_reason=(
            RejectReason("malformed_json", 20),
            RejectReason("negative_value", 11),
        ),
        batch_quality=(
            BatchQuality("silver", 0, T0, 2_000, 21),
            BatchQuality("silver", 1, T0 + HOUR, 1_000, 10),
        ),
        streaming=(
            StreamingBatch("bronze_files", 0, T0, 3_000, 1_500.0, 12.5),
            StreamingBatch("bronze_files", 1, T0 + HOUR, 0, 0.0, 3_612.5),
            StreamingBatch("silver", 0, T0 + 2 * HOUR, 3_000, 900.0, 40.0),
        ),
    )
    return replace(data, **overrides)
