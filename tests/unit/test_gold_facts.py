"""Conversion and ad-performance facts on hand-computed cases: cancellations, last clicks,
ratios without divide-by-zero."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from functools import partial

from pyspark.sql import DataFrame, SparkSession

from ad_marketing_pipeline.gold.facts import ad_performance, conversion_facts
from events import (
    Event,
    cancellation,
    click,
    conversion,
    impression,
    silver_frame,
    with_advertiser_key,
)
from helpers import assert_frames_equal

EVENTS_SCHEMA = (
    "event_id string, event_time timestamp, advertiser_key string, advertiser string, "
    "advertiser_id string, click_id string, "
    "campaign_id string, campaign_name string, user_id string, device_id string, "
    "conversion_type string, conversion_id string, revenue decimal(18,6), currency string, "
    "amount decimal(18,6), source string, platform string"
)


def utc(text: str) -> datetime:
    """'MM-DD HH:MM' in 2024, UTC."""
    return datetime.strptime(f"2024-{text}", "%Y-%m-%d %H:%M")


# A click of user u-1's journey: on Google search, campaign cmp-1, for 1.
journey_click = partial(
    click,
    user_id="u-1",
    campaign_id="cmp-1",
    campaign_name="Spring",
    amount=1,
    source="google",
    platform="search",
)


def frame(spark: SparkSession, events: Sequence[Event]) -> DataFrame:
    """The events' Silver rows as the fact transforms read them: only their columns
    (EVENTS_SCHEMA) and the key Gold gives an advertiser (its id, else its name)."""
    return silver_frame(spark, [with_advertiser_key(event) for event in events], EVENTS_SCHEMA)


def facts(
    spark: SparkSession,
    conversions: list[Event],
    cancellations: list[Event],
    clicks: list[Event],
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
        [
            conversion("v-1", at=utc("01-02 10:00"), revenue=20),
            conversion("v-2", at=utc("01-02 11:00"), revenue=30),
        ],
        [cancellation("v-1", at=utc("01-05 09:00"))],
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
        journey_click("c-old", at=utc("01-01 08:00"), source="facebook", platform="social"),
        journey_click("c-last", at=utc("01-10 08:00"), source="bing"),
        journey_click("c-after", at=utc("01-10 12:00"), source="tiktok"),
        journey_click("c-other-user", at=utc("01-10 09:00"), user_id="u-2"),
        journey_click("c-too-old", at=utc("01-01 07:00"), user_id="u-3", source="email"),
    ]
    actual = facts(
        spark,
        [
            conversion("v-1", at=utc("01-10 10:00"), revenue=20),
            conversion("v-3", at=utc("01-20 10:00"), revenue=5, user_id="u-3"),
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
    clicks = [
        journey_click("c-1", at=utc("01-02 08:00"), amount="0.50"),
        journey_click("c-2", at=utc("01-02 09:00"), amount=1.5),
    ]
    seen = utc("01-02 07:00")
    impressions = [
        impression(
            event_id=f"i-{n}", at=seen, campaign_id="cmp-1", source="google", platform="search"
        )
        for n in range(8)
    ] + [impression(event_id="i-x", at=seen, campaign_id="cmp-2", amount="0.25")]
    conversion_facts_rows = facts(
        spark,
        [
            conversion("v-1", at=utc("01-02 10:00"), revenue=12),
            conversion("v-2", at=utc("01-02 11:00"), revenue=99),
        ],
        [cancellation("v-2", at=utc("01-03 09:00"))],
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
