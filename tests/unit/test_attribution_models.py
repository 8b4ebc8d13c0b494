"""Conversion paths and every attribution model on hand-computed paths: one touch, two touches,
repeated channels, a touch exactly at the lookback boundary, a conversion with no touch, and two
conversions of one user (one of them cancelled). Then the invariants on many paths: credits sum
to 1 and attributed revenue to the non-cancelled revenue, exactly."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ad_marketing_pipeline.attribution.channels import NO_TOUCH
from ad_marketing_pipeline.attribution.marts import (
    attribution_by_day,
    attribution_comparison,
    channel_performance,
    click_spend_by_day,
)
from ad_marketing_pipeline.attribution.models import (
    FIRST_CLICK,
    LAST_CLICK,
    LAST_NON_DIRECT_CLICK,
    LINEAR,
    MARKOV,
    MODELS,
    POSITION_BASED,
    TIME_DECAY,
    attribute,
)
from ad_marketing_pipeline.attribution.paths import (
    build_conversion_paths,
    to_conversions,
    to_touchpoints,
)
from ad_marketing_pipeline.attribution.tables import ATTRIBUTION_SCHEMA
from ad_marketing_pipeline.config import AttributionConfig
from events import Event, cancellation, click, conversion, page_view, silver_frame
from helpers import assert_frames_equal

T0 = datetime(2024, 3, 15, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
CONFIG = AttributionConfig()  # 14-day lookback, 7-day half-life, 40/20/40, collapse repeats
PS, OS, SOCIAL, EMAIL, DIRECT, REFERRAL = (
    "Paid Search",
    "Organic Social",
    "Paid Social",
    "Email",
    "Direct",
    "Referral",
)
EFFECTS = {PS: 0.5, EMAIL: 0.25, DIRECT: 0.0}  # removal effects given to the Markov model


SCENARIO = [
    # c1, one touch
    click("k1", user_id="u1", at=T0 - DAY, source="google", medium="cpc"),
    conversion("c1", user_id="u1", at=T0, revenue="100"),
    # c2, two touches
    click("k2", user_id="u2", at=T0 - 3 * DAY, source="google", medium="cpc"),
    page_view(event_id="v2", user_id="u2", at=T0 - DAY, source="facebook", medium="social"),
    conversion("c2", user_id="u2", at=T0, revenue="60"),
    # c3, repeated channels: PS PS Email PS Direct -> PS Email PS Direct (run kept at its last)
    click("k3a", user_id="u3", at=T0 - 4 * DAY, source="google", medium="cpc"),
    page_view(event_id="v3a", user_id="u3", at=T0 - 3 * DAY, source="google", medium="cpc"),
    page_view(event_id="v3b", user_id="u3", at=T0 - 2 * DAY, source="newsletter", medium="email"),
    click("k3b", user_id="u3", at=T0 - DAY, source="google", medium="cpc"),
    page_view(event_id="v3c", user_id="u3", at=T0 - DAY / 2, source="(direct)", medium="(none)"),
    page_view(event_id="v3d", user_id="u3", at=T0 - DAY / 4),  # no source: not a touch
    conversion("c3", user_id="u3", at=T0, revenue="100"),
    # c4, the lookback boundary: exactly 14 days before counts, a second earlier does not
    page_view(
        event_id="v4a",
        user_id="u4",
        at=T0 - 14 * DAY - timedelta(seconds=1),
        source="somesite",
        medium="display",
    ),
    page_view(
        event_id="v4b", user_id="u4", at=T0 - 14 * DAY, source="partner-blog", medium="referral"
    ),
    page_view(event_id="v4c", user_id="u4", at=T0 - 2 * DAY, source="newsletter", medium="email"),
    conversion("c4", user_id="u4", at=T0, revenue="10"),
    # c5, no touch before it (one after it)
    conversion("c5", user_id="u5", at=T0, revenue="25"),
    click("k5", user_id="u5", at=T0 + timedelta(hours=1), source="facebook", medium="paid_social"),
    # c6 and c7, two conversions of one user sharing a touch; c6 cancelled later
    click("k6", user_id="u6", at=T0 - 10 * DAY, source="facebook", medium="paid_social"),
    conversion("c6", user_id="u6", at=T0 - 5 * DAY, revenue="30"),
    page_view(event_id="v6", user_id="u6", at=T0 - 2 * DAY, source="newsletter", medium="email"),
    conversion("c7", user_id="u6", at=T0, revenue="50"),
    cancellation("c6", event_id="x6", at=T0 + DAY),
]
NET_REVENUE = {  # c6 is cancelled
    "c1": "100",
    "c2": "60",
    "c3": "100",
    "c4": "10",
    "c5": "25",
    "c6": "0",
    "c7": "50",
}


def decay(age_days: float) -> float:
    return float(2 ** (-age_days / 7.0))


def split(weights: dict[str, float]) -> dict[str, float]:
    total = sum(weights.values())
    return {channel: weight / total for channel, weight in weights.items()}


# Credits worked out by hand from the paths above (time decay relative to the path's last touch).
EXPECTED: dict[str, dict[str, dict[str, float]]] = {
    "c1": {model: {PS: 1.0} for model in MODELS},
    "c2": {
        FIRST_CLICK: {PS: 1.0},
        LAST_CLICK: {OS: 1.0},
        LAST_NON_DIRECT_CLICK: {OS: 1.0},
        LINEAR: {PS: 0.5, OS: 0.5},
        TIME_DECAY: split({PS: decay(2), OS: decay(0)}),
        POSITION_BASED: {PS: 0.5, OS: 0.5},
        MARKOV: {PS: 1.0},  # Organic Social has no removal effect
    },
    "c3": {
        FIRST_CLICK: {PS: 1.0},
        LAST_CLICK: {DIRECT: 1.0},
        LAST_NON_DIRECT_CLICK: {PS: 1.0},
        LINEAR: {PS: 0.5, EMAIL: 0.25, DIRECT: 0.25},
        TIME_DECAY: split({PS: decay(2.5) + decay(0.5), EMAIL: decay(1.5), DIRECT: decay(0)}),
        POSITION_BASED: {PS: 0.4 + 0.1, EMAIL: 0.1, DIRECT: 0.4},
        MARKOV: {PS: 0.5 / 0.75, EMAIL: 0.25 / 0.75},  # Direct's effect is 0: no row
    },
    "c4": {
        FIRST_CLICK: {REFERRAL: 1.0},
        LAST_CLICK: {EMAIL: 1.0},
        LAST_NON_DIRECT_CLICK: {EMAIL: 1.0},
        LINEAR: {REFERRAL: 0.5, EMAIL: 0.5},
        TIME_DECAY: split({REFERRAL: decay(12), EMAIL: decay(0)}),
        POSITION_BASED: {REFERRAL: 0.5, EMAIL: 0.5},
        MARKOV: {EMAIL: 1.0},
    },
    "c5": {model: {NO_TOUCH: 1.0} for model in MODELS},
    "c6": {model: {SOCIAL: 1.0} for model in MODELS},  # Markov: no effect known, split equally
    "c7": {
        FIRST_CLICK: {SOCIAL: 1.0},
        LAST_CLICK: {EMAIL: 1.0},
        LAST_NON_DIRECT_CLICK: {EMAIL: 1.0},
        LINEAR: {SOCIAL: 0.5, EMAIL: 0.5},
        TIME_DECAY: split({SOCIAL: decay(8), EMAIL: decay(0)}),
        POSITION_BASED: {SOCIAL: 0.5, EMAIL: 0.5},
        MARKOV: {EMAIL: 1.0},
    },
}


def revenue_shares(revenue: Decimal, credits: dict[str, float]) -> dict[str, Decimal]:
    """Each share rounded to 6 places; the largest credit takes what is left (exact total)."""
    cent = Decimal("0.000001")
    largest = max(credits, key=lambda channel: credits[channel])
    shares = {
        channel: (revenue * Decimal(credit)).quantize(cent)
        for channel, credit in credits.items()
        if channel != largest
    }
    shares[largest] = revenue - sum(shares.values(), Decimal(0))
    return shares


def paths_of(events: DataFrame, config: AttributionConfig = CONFIG) -> DataFrame:
    touches = events.transform(to_touchpoints(config.channel_rules))
    return to_conversions(events).transform(build_conversion_paths(touches, config))


@pytest.fixture(scope="module")
def scenario_paths(spark: SparkSession) -> DataFrame:
    return paths_of(silver_frame(spark, SCENARIO)).cache()


# -- paths ---------------------------------------------------------------------------------------


def test_conversion_paths(spark: SparkSession, scenario_paths: DataFrame) -> None:
    actual = scenario_paths.select(
        "conversion_id", "is_cancelled", "net_revenue", "touch_count", "path", "path_length"
    )
    expected = spark.createDataFrame(
        [
            ("c1", False, Decimal(100), 1, "Paid Search", 1),
            ("c2", False, Decimal(60), 2, "Paid Search > Organic Social", 2),
            ("c3", False, Decimal(100), 5, "Paid Search > Email > Paid Search > Direct", 4),
            ("c4", False, Decimal(10), 2, "Referral > Email", 2),
            ("c5", False, Decimal(25), 0, "(none)", 0),
            ("c6", True, Decimal(0), 1, "Paid Social", 1),
            ("c7", False, Decimal(50), 2, "Paid Social > Email", 2),
        ],
        "conversion_id string, is_cancelled boolean, net_revenue decimal(18,6), "
        "touch_count int, path string, path_length int",
    )
    assert_frames_equal(actual, expected)


def test_repeats_keep_the_time_of_the_runs_last_touch(scenario_paths: DataFrame) -> None:
    row = scenario_paths.filter("conversion_id = 'c3'").select("steps").first()
    assert row is not None
    assert [step["event_id"] for step in row["steps"]] == [
        "page_view:v3a",
        "page_view:v3b",
        "ad_click:k3b",
        "page_view:v3c",
    ]


@pytest.mark.parametrize(
    ("options", "path"),
    [
        (
            {"collapse_repeated_channels": False},
            "Paid Search > Paid Search > Email > Paid Search > Direct",
        ),
        ({"drop_direct_unless_only": True}, "Paid Search > Email > Paid Search"),
        ({"max_path_length": 2}, "Paid Search > Direct"),
        ({"lookback_days": 1}, "Paid Search > Direct"),
    ],
)
def test_path_options(spark: SparkSession, options: dict[str, Any], path: str) -> None:
    config = AttributionConfig(**options)
    actual = paths_of(silver_frame(spark, SCENARIO), config).filter("conversion_id = 'c3'")
    assert_frames_equal(actual.select("path"), spark.createDataFrame([(path,)], "path string"))


def test_a_direct_only_path_keeps_direct(spark: SparkSession) -> None:
    rows = [
        page_view(event_id="d1", user_id="u9", at=T0 - DAY, source="(direct)", medium="(none)"),
        conversion("c9", user_id="u9", at=T0, revenue="5"),
    ]
    actual = paths_of(silver_frame(spark, rows), AttributionConfig(drop_direct_unless_only=True))
    assert_frames_equal(actual.select("path"), spark.createDataFrame([("Direct",)], "path string"))


# -- models --------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
def test_model_on_hand_computed_paths(
    spark: SparkSession, scenario_paths: DataFrame, model: str
) -> None:
    actual = scenario_paths.transform(
        attribute(CONFIG, models=[model], removal_effects=EFFECTS)
    ).select(
        "conversion_id",
        "model",
        "channel",
        F.round("credit", 12).alias("credit"),
        "attributed_revenue",
    )
    rows = []
    for conversion_id, by_model in EXPECTED.items():
        credits = by_model[model]
        shares = revenue_shares(Decimal(NET_REVENUE[conversion_id]), credits)
        rows += [
            (conversion_id, model, channel, round(credit, 12), shares[channel])
            for channel, credit in credits.items()
        ]
    expected = spark.createDataFrame(
        rows,
        "conversion_id string, model string, channel string, credit double, "
        "attributed_revenue decimal(18,6)",
    )
    assert_frames_equal(actual, expected)


def test_position_based_with_other_weights(spark: SparkSession, scenario_paths: DataFrame) -> None:
    config = AttributionConfig(position_based_weights=(0.3, 0.6, 0.1))
    actual = (
        scenario_paths.filter("conversion_id IN ('c2', 'c3')")
        .transform(attribute(config, models=[POSITION_BASED]))
        .select("conversion_id", "channel", F.round("credit", 12).alias("credit"))
    )
    expected = spark.createDataFrame(
        [
            ("c2", PS, 0.75),  # two steps: first / (first + last)
            ("c2", OS, 0.25),
            ("c3", PS, 0.6),  # 0.3 first + 0.6 / 2 third
            ("c3", EMAIL, 0.3),
            ("c3", DIRECT, 0.1),
        ],
        "conversion_id string, channel string, credit double",
    )
    assert_frames_equal(actual, expected)


def test_markov_needs_removal_effects(scenario_paths: DataFrame) -> None:
    with pytest.raises(ValueError, match="markov needs removal_effects"):
        scenario_paths.transform(attribute(CONFIG, models=[MARKOV]))


# -- invariants ----------------------------------------------------------------------------------


def random_journeys(seed: int, users: int) -> list[Event]:
    """Users with 0-6 touches over 20 days and 1-2 conversions with awkward revenues."""
    rng = random.Random(seed)
    sources = [
        ("google", "cpc"),
        ("facebook", "social"),
        ("newsletter", "email"),
        ("(direct)", "(none)"),
        ("partner-blog", "referral"),
        ("google", "organic"),
    ]
    rows: list[Event] = []
    for user in range(users):
        for touch in range(rng.randint(0, 6)):
            source, medium = rng.choice(sources)
            at = T0 - timedelta(seconds=rng.randint(0, 20 * 86_400))
            rows.append(
                page_view(
                    event_id=f"v{user}-{touch}",
                    user_id=f"u{user}",
                    at=at,
                    source=source,
                    medium=medium,
                )
            )
        for number in range(rng.randint(1, 2)):
            conversion_id = f"c{user}-{number}"
            revenue = f"{rng.randint(0, 10**6)}.{rng.randint(0, 999_999):06d}"
            at = T0 - timedelta(seconds=rng.randint(0, 5 * 86_400))
            rows.append(conversion(conversion_id, user_id=f"u{user}", at=at, revenue=revenue))
            if rng.random() < 0.2:
                rows.append(cancellation(conversion_id, event_id=f"x{user}-{number}", at=T0))
    return rows


def test_credits_sum_to_one_and_revenue_reconciles_exactly(spark: SparkSession) -> None:
    events = silver_frame(spark, random_journeys(seed=7, users=60))
    paths = paths_of(events).cache()
    attributed = paths.transform(
        attribute(CONFIG, models=MODELS, removal_effects={PS: 0.4, EMAIL: 0.1, REFERRAL: 1e-9})
    )
    per_conversion = attributed.groupBy("conversion_id", "model").agg(
        F.sum("credit").alias("credit"), F.sum("attributed_revenue").alias("revenue")
    )
    expected_pairs = paths.count() * len(MODELS)
    assert per_conversion.count() == expected_pairs
    assert per_conversion.filter(F.abs(F.col("credit") - 1) > 1e-9).isEmpty()

    revenue = to_conversions(events).filter(~F.col("is_cancelled")).agg(F.sum("revenue")).first()
    assert revenue is not None
    totals = attributed.groupBy("model").agg(F.sum("attributed_revenue").alias("revenue"))
    assert_frames_equal(
        totals,
        spark.createDataFrame(
            [(model, revenue[0]) for model in MODELS], "model string, revenue decimal(28,6)"
        ),
    )
    # Each conversion reconciles on its own too, and no share is negative.
    exact = per_conversion.join(paths.select("conversion_id", "net_revenue"), "conversion_id")
    assert exact.filter(F.col("revenue") != F.col("net_revenue")).isEmpty()
    assert attributed.filter(F.col("attributed_revenue") < 0).isEmpty()


# -- marts ---------------------------------------------------------------------------------------


def test_marts_compare_channels_per_model(spark: SparkSession) -> None:
    attribution = spark.createDataFrame(
        [
            ("c1", LINEAR, PS, "u1", T0, False, 0.5, Decimal(50)),
            ("c1", LINEAR, EMAIL, "u1", T0, False, 0.5, Decimal(50)),
            ("c2", LINEAR, PS, "u2", T0, False, 1.0, Decimal(30)),
            ("c3", LINEAR, EMAIL, "u3", T0, True, 1.0, Decimal(0)),  # cancelled: not counted
        ],
        ATTRIBUTION_SCHEMA,
    )
    touchpoints = silver_frame(
        spark,
        [
            click("k1", user_id="u1", at=T0, source="google", medium="cpc"),
            click("k2", at=T0, source="google", medium="cpc"),  # spend without a user counts too
            click("k3", user_id="u3", at=T0, source="display_network", medium="display"),
            page_view(event_id="v1", user_id="u1", at=T0, source="newsletter", medium="email"),
        ],
    ).transform(to_touchpoints())
    attribution_days = attribution_by_day(attribution)
    comparison = attribution_comparison(attribution_days)
    assert_frames_equal(
        comparison,
        spark.createDataFrame(
            [
                (PS, LINEAR, 1.5, Decimal(80), 0.75, 80 / 130),
                (EMAIL, LINEAR, 0.5, Decimal(50), 0.25, 50 / 130),
            ],
            "channel string, model string, conversions double, revenue decimal(38,6), "
            "conversion_share double, revenue_share double",
        ),
    )
    performance = channel_performance(attribution_days, click_spend_by_day(touchpoints), [LINEAR])
    assert_frames_equal(
        performance,
        spark.createDataFrame(
            [
                (PS, LINEAR, Decimal(1), 2, 1.5, Decimal(80), Decimal("0.666667"), 80.0),
                (EMAIL, LINEAR, Decimal(0), 0, 0.5, Decimal(50), Decimal(0), None),
                ("Display", LINEAR, Decimal("0.5"), 1, 0.0, Decimal(0), None, 0.0),
            ],
            "channel string, model string, spend decimal(38,6), clicks bigint, "
            "conversions double, revenue decimal(38,6), cpa decimal(38,6), roas double",
        ),
    )
