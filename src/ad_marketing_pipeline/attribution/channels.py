"""Marketing channels: a default channel grouping in the style of GA4's, as Spark column
expressions, with the user's `ChannelRule`s (from `attribution.channel_rules`) tried first.

Source, medium and platform are compared in lower case; a missing value is the empty string.
The default grouping, first match wins:

| channel        | when                                                                      |
|----------------|---------------------------------------------------------------------------|
| Direct         | source is `(direct)` and medium is `(none)`, `(not set)` or missing        |
| Paid Search    | a search-engine source with a paid medium (`cpc`, `ppc`, `paid*`, ...), or  |
|                | no medium and a search-ads platform (`google_ads`, `microsoft_ads`, ...)   |
| Paid Social    | a social-network source with a paid medium, or no medium and a social-ads |
|                | platform (`meta`, `tiktok`, `linkedin_ads`, ...)                           |
| Display        | medium `display`, `banner`, `expandable`, `interstitial` or `cpm`, or a    |
|                | display platform (`google_display`, `dv360`, ...)                         |
| Other          | any other paid medium (GA4's "Paid Other")                                |
| Organic Social | a social-network source, or medium `social`, `social-network`, `sm`, ...   |
| Organic Search | a search-engine source, or medium `organic`                               |
| Referral       | medium `referral`, `app` or `link`                                        |
| Email          | source or medium `email`, `e-mail`, `e_mail`, `e mail`                     |
| Affiliates     | medium `affiliate` or `affiliates`                                        |
| Unassigned     | nothing above matched                                                     |

A user rule matches when every pattern it sets (source, medium, platform) is found in the value
(a regex search, case-insensitive: anchor it with `^...$` for a whole-value match).

`NO_TOUCH` ("(none)") is not a channel of any touch: it is where a conversion with no touchpoint
in its lookback window puts its credit (see `paths`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ad_marketing_pipeline.config import ChannelRule

DIRECT = "Direct"
PAID_SEARCH = "Paid Search"
PAID_SOCIAL = "Paid Social"
DISPLAY = "Display"
PAID_OTHER = "Other"
ORGANIC_SOCIAL = "Organic Social"
ORGANIC_SEARCH = "Organic Search"
REFERRAL = "Referral"
EMAIL = "Email"
AFFILIATES = "Affiliates"
UNASSIGNED = "Unassigned"
NO_TOUCH = "(none)"

DEFAULT_CHANNELS: tuple[str, ...] = (
    DIRECT,
    PAID_SEARCH,
    PAID_SOCIAL,
    DISPLAY,
    PAID_OTHER,
    ORGANIC_SOCIAL,
    ORGANIC_SEARCH,
    REFERRAL,
    EMAIL,
    AFFILIATES,
    UNASSIGNED,
)

# A site name as a whole label of the source ("google", "www.google.com", "m.facebook.com").
_SEARCH_SITES = (
    r"(^|\.)(google|bing|yahoo|baidu|duckduckgo|yandex|ecosia|naver|seznam|qwant|ask|aol)(\.|$)"
)
_SOCIAL_SITES = (
    r"(^|\.)(facebook|fb|instagram|meta|tiktok|linkedin|lnkd|twitter|x|t\.co|pinterest"
    r"|reddit|snapchat|youtube|threads|whatsapp)(\.|$)"
)
_PAID_MEDIUM = r"^(.*cp.*|ppc|retargeting|paid.*)$"
_DISPLAY_MEDIUM = r"^(display|banner|expandable|interstitial|cpm)$"
_SOCIAL_MEDIUM = r"^(social|social-network|social-media|sm|social network|social media)$"
_EMAIL = r"^(email|e-mail|e_mail|e mail)$"
_SEARCH_ADS_PLATFORM = r"^(google_ads|google ads|adwords|microsoft_ads|bing_ads|search_ads.*)$"
_SOCIAL_ADS_PLATFORM = (
    r"^(meta|facebook_ads|instagram_ads|tiktok|tiktok_ads|linkedin_ads|snapchat_ads"
    r"|pinterest_ads|twitter_ads|x_ads|reddit_ads)$"
)
_DISPLAY_PLATFORM = r"^(google_display|dv360|display_.*|criteo|the_trade_desk|ttd)$"


def _text(column: Column) -> Column:
    return F.lower(F.trim(F.coalesce(column, F.lit(""))))


def _user_rule(rule: ChannelRule, source: Column, medium: Column, platform: Column) -> Column:
    matches = [
        F.coalesce(value, F.lit("")).rlike(f"(?i){pattern}")
        for value, pattern in (
            (source, rule.source),
            (medium, rule.medium),
            (platform, rule.platform),
        )
        if pattern is not None
    ]
    condition = matches[0]
    for match in matches[1:]:
        condition = condition & match
    return condition


def channel_of(
    source: Column, medium: Column, platform: Column, rules: Sequence[ChannelRule] = ()
) -> Column:
    """The channel of a touch from its source, medium and platform: the first user rule that
    matches, else the default grouping (never null)."""
    src, med, plat = _text(source), _text(medium), _text(platform)
    no_medium = med == ""
    search_site, social_site = src.rlike(_SEARCH_SITES), src.rlike(_SOCIAL_SITES)
    paid = med.rlike(_PAID_MEDIUM)
    defaults: list[tuple[Column, str]] = [
        ((src == "(direct)") & med.isin("(none)", "(not set)", ""), DIRECT),
        ((search_site & paid) | (no_medium & plat.rlike(_SEARCH_ADS_PLATFORM)), PAID_SEARCH),
        ((social_site & paid) | (no_medium & plat.rlike(_SOCIAL_ADS_PLATFORM)), PAID_SOCIAL),
        (med.rlike(_DISPLAY_MEDIUM) | (no_medium & plat.rlike(_DISPLAY_PLATFORM)), DISPLAY),
        (paid, PAID_OTHER),
        (social_site | med.rlike(_SOCIAL_MEDIUM), ORGANIC_SOCIAL),
        (search_site | (med == "organic"), ORGANIC_SEARCH),
        (med.isin("referral", "app", "link"), REFERRAL),
        (src.rlike(_EMAIL) | med.rlike(_EMAIL), EMAIL),
        (med.isin("affiliate", "affiliates"), AFFILIATES),
    ]
    cases = [(_user_rule(rule, source, medium, platform), rule.channel) for rule in rules]
    cases += defaults
    first_condition, first_channel = cases[0]
    channel = F.when(first_condition, F.lit(first_channel))
    for condition, name in cases[1:]:
        channel = channel.when(condition, F.lit(name))
    return channel.otherwise(F.lit(UNASSIGNED))


def with_channel(rules: Sequence[ChannelRule] = ()) -> Callable[[DataFrame], DataFrame]:
    """Adds `channel` from the frame's `source`, `medium` and `platform` columns."""

    def transform(frame: DataFrame) -> DataFrame:
        return frame.withColumn(
            "channel", channel_of(F.col("source"), F.col("medium"), F.col("platform"), rules)
        )

    return transform
