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
from ad_marketing_pipeline.attribution.marts import attribution_comparison, channel_performance
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
from ad_marketing_pipeline.tables import SILVER_EVENTS_SCHEMA
from helpers import assert_frames_equal
from silver_rows import cancellation, conversion, event, visit

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


# -- builders ------------------------------------------------------------------------------------


def click(
    event_id: str, user: str | None, at: datetime, source: str, medium: str
) -> tuple[Any, ...]:
    return event(
        "ad_click",
        event_id,
        at,
        user_id=user,
        click_id=event_id,
        source=source,
        medium=medium,
        amount=Decimal("0.5"),
    )


SCENARIO = [
    # c1, one touch
    click("k1", "u1", T0 - DAY, "google", "cpc"),
    conversion("c1", "u1", T0, "100"),
    # c2, two touches
    click("k2", "u2", T0 - 3 * DAY, "google", "cpc"),
    visit("v2", "u2", T0 - DAY, "facebook", "social"),
    conversion("c2", "u2", T0, "60"),
    # c3, repeated channels: PS PS Email PS Direct -> PS Email PS Direct (run kept at its last)
    click("k3a", "u3", T0 - 4 * DAY, "google", "cpc"),
    visit("v3a", "u3", T0 - 3 * DAY, "google", "cpc"),
    visit("v3b", "u3", T0 - 2 * DAY, "newsletter", "email"),
    click("k3b", "u3", T0 - DAY, "google", "cpc"),
    visit("v3c", "u3", T0 - DAY / 2, "(direct)", "(none)"),
    visit("v3d", "u3", T0 - DAY / 4, None, None),  # no source: not a touch
    conversion("c3", "u3", T0, "100"),
    # c4, the lookback boundary: exactly 14 days before counts, a second earlier does not
    visit("v4a", "u4", T0 - 14 * DAY - timedelta(seconds=1), "somesite", "display"),
    visit("v4b", "u4", T0 - 14 * DAY, "partner-blog", "referral"),
    visit("v4c", "u4", T0 - 2 * DAY, "newsletter", "email"),
    conversion("c4", "u4", T0, "10"),
    # c5, no touch before it (one after it)
    conversion("c5", "u5", T0, "25"),
    click("k5", "u5", T0 + timedelta(hours=1), "facebook", "paid_social"),
    # c6 and c7, two conversions of one user sharing a touch; c6 cancelled later
    click("k6", "u6", T0 - 10 * DAY, "facebook", "paid_social"),
    conversion("c6", "u6", T0 - 5 * DAY, "30"),
    visit("v6", "u6", T0 - 2 * DAY, "newsletter", "email"),
    conversion("c7", "u6", T0, "50"),
    cancellation("x6", "c6", T0 + DAY),
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


def silver(spark: SparkSession, rows: list[tuple[Any, ...]]) -> DataFrame:
    return spark.createDataFrame(rows, SILVER_EVENTS_SCHEMA)


def paths_of(events: DataFrame, config: AttributionConfig = CONFIG) -> DataFrame:
    touches = events.transform(to_touchpoints(config.channel_rules))
    return to_conversions(events).transform(build_conversion_paths(touches, config))


@pytest.fixture(scope="module")
def scenario_paths(spark: SparkSession) -> DataFrame:
    return paths_of(silver(spark, SCENARIO)).cache()


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
    assert [step["event_id"] for step in row["steps"]] == ["v3a", "v3b", "k3b", "v3c"]


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
    actual = paths_of(silver(spark, SCENARIO), config).filter("conversion_id = 'c3'")
    assert_frames_equal(actual.select("path"), spark.createDataFrame([(path,)], "path string"))


def test_a_direct_only_path_keeps_direct(spark: SparkSession) -> None:
    rows = [
        visit("d1", "u9", T0 - DAY, "(direct)", "(none)"),
        conversion("c9", "u9", T0, "5"),
    ]
    actual = paths_of(silver(spark, rows), AttributionConfig(drop_direct_unless_only=True))
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


def random_journeys(seed: int, users: int) -> list[tuple[Any, ...]]:
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
    rows: list[tuple[Any, ...]] = []
    for user in range(users):
        for touch in range(rng.randint(0, 6)):
            source, medium = rng.choice(sources)
            at = T0 - timedelta(seconds=rng.randint(0, 20 * 86_400))
            rows.append(visit(f"v{user}-{touch}", f"u{user}", at, source, medium))
        for number in range(rng.randint(1, 2)):
            conversion_id = f"c{user}-{number}"
            revenue = f"{rng.randint(0, 10**6)}.{rng.randint(0, 999_999):06d}"
            at = T0 - timedelta(seconds=rng.randint(0, 5 * 86_400))
            rows.append(conversion(conversion_id, f"u{user}", at, revenue))
            if rng.random() < 0.2:
                rows.append(cancellation(f"x{user}-{number}", conversion_id, T0))
    return rows


def test_credits_sum_to_one_and_revenue_reconciles_exactly(spark: SparkSession) -> None:
    events = silver(spark, random_journeys(seed=7, users=60))
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
    touchpoints = silver(
        spark,
        [
            click("k1", "u1", T0, "google", "cpc"),
            click("k2", None, T0, "google", "cpc"),  # spend without a user counts too
            click("k3", "u3", T0, "display_network", "display"),
            visit("v1", "u1", T0, "newsletter", "email"),
        ],
    ).transform(to_touchpoints())
    comparison = attribution_comparison(attribution)
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
    performance = channel_performance(attribution, touchpoints, [LINEAR])
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
