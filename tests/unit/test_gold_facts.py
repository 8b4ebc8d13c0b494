"""Conversion and ad-performance facts on hand-computed cases: cancellations, last clicks,
ratios without divide-by-zero."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from ad_marketing_pipeline.gold.facts import ad_performance, conversion_facts
from helpers import assert_frames_equal

EVENTS_SCHEMA = (
    "event_id string, event_time timestamp, advertiser_key string, advertiser string, "
    "advertiser_id string, click_id string, "
    "campaign_id string, campaign_name string, user_id string, device_id string, "
    "conversion_type string, conversion_id string, revenue decimal(18,6), currency string, "
    "amount decimal(18,6), source string, platform string"
)
_FIELDS = [field.split()[0] for field in EVENTS_SCHEMA.split(", ")]


def event(event_id: str, time: str, **fields: Any) -> dict[str, Any]:
    """An event at '2024-MM-DD HH:MM' UTC; money given as text or numbers."""
    row: dict[str, Any] = dict.fromkeys(_FIELDS)
    row.update(event_id=event_id, event_time=datetime.strptime(f"2024-{time}", "%Y-%m-%d %H:%M"))
    for name, value in fields.items():
        row[name] = Decimal(str(value)) if name in ("revenue", "amount") else value
    return row


def click(click_id: str, time: str, **fields: Any) -> dict[str, Any]:
    defaults = {"user_id": "u-1", "campaign_id": "cmp-1", "campaign_name": "Spring", "amount": 1}
    given = {"source": "google", "platform": "search", "click_id": click_id, **defaults, **fields}
    return event(f"ad_click:{click_id}", time, **given)


def conversion(conversion_id: str, time: str, revenue: float, **fields: Any) -> dict[str, Any]:
    given = {"user_id": "u-1", "currency": "USD", **fields}
    return event(
        f"conversion:{conversion_id}", time, conversion_id=conversion_id, revenue=revenue, **given
    )


def frame(spark: SparkSession, rows: list[dict[str, Any]]) -> DataFrame:
    return spark.createDataFrame(rows, EVENTS_SCHEMA)


def facts(
    spark: SparkSession,
    conversions: list[dict[str, Any]],
    cancellations: list[dict[str, Any]],
    clicks: list[dict[str, Any]],
) -> DataFrame:
    return conversion_facts(
        frame(spark, conversions),
        frame(spark, cancellations),
        frame(spark, clicks),
        lookback_days=14,
        zone="UTC",
    )


def test_a_cancelled_conversion_keeps_its_revenue_but_nets_zero(spark: SparkSession) -> None:
    actual = facts(
        spark,
        [conversion("v-1", "01-02 10:00", 20), conversion("v-2", "01-02 11:00", 30)],
        [event("x-1", "01-05 09:00", conversion_id="v-1")],
        [],
    )
    assert_frames_equal(
        actual.select("conversion_id", "revenue", "is_cancelled", "net_revenue", "source"),
        spark.createDataFrame(
            [
                ("v-1", Decimal(20), True, Decimal(0), "(none)"),
                ("v-2", Decimal(30), False, Decimal(30), "(none)"),
            ],
            "conversion_id string, revenue decimal(18,6), is_cancelled boolean, "
            "net_revenue decimal(18,6), source string",
        ),
    )


def test_a_conversion_counts_under_the_users_last_click_within_the_lookback(
    spark: SparkSession,
) -> None:
    clicks = [
        click("c-old", "01-01 08:00", source="facebook", platform="social"),
        click("c-last", "01-10 08:00", source="bing"),
        click("c-after", "01-10 12:00", source="tiktok"),
        click("c-other-user", "01-10 09:00", user_id="u-2"),
        click("c-too-old", "01-01 07:00", user_id="u-3", source="email"),
    ]
    actual = facts(
        spark,
        [
            conversion("v-1", "01-10 10:00", 20),
            conversion("v-3", "01-20 10:00", 5, user_id="u-3"),
        ],
        [],
        clicks,
    )
    assert_frames_equal(
        actual.select("conversion_id", "last_click_id", "source", "platform"),
        spark.createDataFrame(
            [("v-1", "c-last", "bing", "search"), ("v-3", None, "(none)", "(none)")],
            "conversion_id string, last_click_id string, source string, platform string",
        ),
    )


def test_ad_performance_ratios_are_null_where_undefined(spark: SparkSession) -> None:
    clicks = [click("c-1", "01-02 08:00", amount="0.50"), click("c-2", "01-02 09:00", amount=1.5)]
    impressions = [
        event(f"i-{n}", "01-02 07:00", campaign_id="cmp-1", source="google", platform="search")
        for n in range(8)
    ] + [event("i-x", "01-02 07:00", campaign_id="cmp-2", amount="0.25")]
    conversion_facts_rows = facts(
        spark,
        [conversion("v-1", "01-02 10:00", 12), conversion("v-2", "01-02 11:00", 99)],
        [event("x-1", "01-03 09:00", conversion_id="v-2")],
        clicks,
    )
    actual = ad_performance(
        frame(spark, clicks), frame(spark, impressions), conversion_facts_rows, zone="UTC"
    )
    expected = spark.createDataFrame(
        [
            # 8 impressions, 2 clicks for 2.00, one conversion worth 12 (the other cancelled)
            ("google", "search", "cmp-1", 8, 2, "2", 1, "12", 0.25, "1", "2", 6.0, 0.5),
            # an impression with no clicks and no conversions: only CTR and ROAS defined
            ("(none)", "(none)", "cmp-2", 1, 0, "0.25", 0, "0", 0.0, None, None, 0.0, None),
        ],
        "source string, platform string, campaign_id string, impressions long, clicks long, "
        "ad_spend string, conversions long, revenue string, ctr double, cpc string, cpa string, "
        "roas double, conversion_rate double",
    )
    money_columns = ("ad_spend", "revenue", "cpc", "cpa")
    assert_frames_equal(
        actual.drop("performance_date", "campaign_name"),
        expected.select(
            *(
                expected[name].cast("decimal(38,6)").alias(name)
                if name in money_columns
                else expected[name]
                for name in expected.columns
            )
        ),
    )
