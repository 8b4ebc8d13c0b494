"""The default channel grouping, one named case per rule, and the user's rules tried first."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ad_marketing_pipeline.attribution import channels
from ad_marketing_pipeline.config import ChannelRule
from helpers import assert_frames_equal

Case = tuple[str, str | None, str | None, str | None, str]

DEFAULT_CASES: list[Case] = [
    # name, source, medium, platform, expected channel
    ("direct", "(direct)", "(none)", None, channels.DIRECT),
    ("direct without medium", "(direct)", None, None, channels.DIRECT),
    ("google cpc", "google", "cpc", "google_ads", channels.PAID_SEARCH),
    ("bing ppc, mixed case", "Bing", "PPC", None, channels.PAID_SEARCH),
    ("search site as host name", "www.google.com", "paid_search", None, channels.PAID_SEARCH),
    ("search-ads platform only", None, None, "microsoft_ads", channels.PAID_SEARCH),
    ("facebook paid social", "facebook", "paid_social", "meta", channels.PAID_SOCIAL),
    ("tiktok cpc", "tiktok", "cpc", "tiktok", channels.PAID_SOCIAL),
    ("social-ads platform only", None, None, "meta", channels.PAID_SOCIAL),
    ("display medium", "display_network", "display", "google_display", channels.DISPLAY),
    ("cpm medium", "somesite", "cpm", None, channels.DISPLAY),
    ("display platform only", None, None, "dv360", channels.DISPLAY),
    ("paid medium, unknown source", "somesite", "cpc", None, channels.PAID_OTHER),
    ("facebook organic", "facebook", "social", None, channels.ORGANIC_SOCIAL),
    ("social medium", "forum", "social-network", None, channels.ORGANIC_SOCIAL),
    ("social site, no medium", "m.facebook.com", None, None, channels.ORGANIC_SOCIAL),
    ("google organic", "google", "organic", None, channels.ORGANIC_SEARCH),
    ("organic medium, unknown source", "ecosia.org", "organic", None, channels.ORGANIC_SEARCH),
    ("referral", "partner-blog", "referral", None, channels.REFERRAL),
    ("newsletter email", "newsletter", "email", None, channels.EMAIL),
    ("email as source", "e-mail", "blast", None, channels.EMAIL),
    ("affiliate", "affiliates", "affiliate", "awin", channels.AFFILIATES),
    ("a word that only contains a site name", "googlefan", "blog", None, channels.UNASSIGNED),
    ("nothing known", None, None, None, channels.UNASSIGNED),
    ("blank values", " ", "", None, channels.UNASSIGNED),
]


def touches(spark: SparkSession, cases: list[Case]) -> DataFrame:
    return spark.createDataFrame(
        [case[:4] for case in cases],
        "name string, source string, medium string, platform string",
    )


def expected_channels(spark: SparkSession, cases: list[Case]) -> DataFrame:
    return spark.createDataFrame(
        [(case[0], case[4]) for case in cases], "name string, channel string"
    )


def test_default_grouping(spark: SparkSession) -> None:
    actual = touches(spark, DEFAULT_CASES).transform(channels.with_channel())
    assert_frames_equal(actual.select("name", "channel"), expected_channels(spark, DEFAULT_CASES))


def test_user_rules_come_first_and_match_every_pattern_they_set(spark: SparkSession) -> None:
    rules = [
        ChannelRule(channel="Paid Video", source="^youtube$", medium="^(cpv|paid_video)$"),
        ChannelRule(channel="Partners", source="partner"),
        ChannelRule(channel="Retail Media", platform="amazon"),
    ]
    cases: list[Case] = [
        ("both patterns match", "YouTube", "CPV", None, "Paid Video"),
        ("one pattern only", "youtube", "social", None, channels.ORGANIC_SOCIAL),
        ("search inside the value, case-insensitive", "Partner-Blog", "referral", None, "Partners"),
        ("platform rule", "amazon", "cpc", "Amazon_Ads", "Retail Media"),
        ("no source: a source pattern does not match", None, "cpc", None, channels.PAID_OTHER),
        ("default grouping after the rules", "google", "cpc", None, channels.PAID_SEARCH),
    ]
    actual = touches(spark, cases).transform(channels.with_channel(rules))
    assert_frames_equal(actual.select("name", "channel"), expected_channels(spark, cases))


def test_every_default_channel_is_reachable(spark: SparkSession) -> None:
    reached = {case[4] for case in DEFAULT_CASES}
    assert reached == set(channels.DEFAULT_CHANNELS)
    assert (
        touches(spark, DEFAULT_CASES)
        .transform(channels.with_channel())
        .filter(F.col("channel").isNull())
        .isEmpty()
    )
