"""The Markov model: transition counts from paths, removal effects against a linear-algebra
solution worked out here, loops, and the split of a conversion's credit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ad_marketing_pipeline.attribution.markov import (
    CONVERSION,
    NULL,
    START,
    conversion_probability,
    removal_effects,
    transition_counts,
)
from ad_marketing_pipeline.attribution.models import MARKOV, attribute
from ad_marketing_pipeline.attribution.tables import STEP_TYPE
from ad_marketing_pipeline.config import AttributionConfig
from helpers import assert_frames_equal

T0 = datetime(2024, 3, 15, 12, 0, tzinfo=UTC)
PATH_SCHEMA = f"steps array<{STEP_TYPE.simpleString()}>"

# The worked example: two converting and two non-converting paths, one with a loop B -> A -> B.
CONVERTING = [["A"], ["A", "B"]]
NOT_CONVERTING = [["B"], ["B", "A", "B"]]
EXAMPLE_COUNTS = {
    (START, "A"): 2,
    (START, "B"): 2,
    ("A", CONVERSION): 1,
    ("A", "B"): 2,
    ("B", CONVERSION): 1,
    ("B", NULL): 2,
    ("B", "A"): 1,
}


def steps(channels: list[str]) -> list[tuple[datetime, str, str]]:
    """A path's steps, one hour apart."""
    return [(T0 + timedelta(hours=i), f"e{i}", channel) for i, channel in enumerate(channels)]


def paths_frame(spark: SparkSession, paths: list[list[str]]) -> DataFrame:
    return spark.createDataFrame([(steps(path),) for path in paths], PATH_SCHEMA)


def transitions(counts: dict[tuple[str, str], int]) -> list[tuple[str, str, int]]:
    return [(source, target, count) for (source, target), count in counts.items()]


def test_transition_counts_of_converting_and_non_converting_paths(spark: SparkSession) -> None:
    actual = transition_counts(paths_frame(spark, CONVERTING), paths_frame(spark, NOT_CONVERTING))
    expected = spark.createDataFrame(
        [(source, target, count) for (source, target), count in EXAMPLE_COUNTS.items()],
        "from_state string, to_state string, count bigint",
    )
    assert_frames_equal(actual, expected)


def test_a_conversion_without_touch_goes_straight_from_start_to_conversion(
    spark: SparkSession,
) -> None:
    actual = transition_counts(paths_frame(spark, [[]]), paths_frame(spark, []))
    expected = spark.createDataFrame(
        [(START, CONVERSION, 1)], "from_state string, to_state string, count bigint"
    )
    assert_frames_equal(actual, expected)


def test_removal_effects_match_the_linear_algebra_solution() -> None:
    # Transition probabilities: A -> conversion 1/3, A -> B 2/3; B -> conversion 1/4,
    # B -> null 2/4, B -> A 1/4; start -> A 1/2, start -> B 1/2. With p(x) the probability of
    # converting from x:
    #   p_A = 1/3 + 2/3 p_B          i.e.   p_A - 2/3 p_B = 1/3
    #   p_B = 1/4 + 1/4 p_A          i.e.  -1/4 p_A + p_B = 1/4
    # Cramer's rule on [[1, -2/3], [-1/4, 1]] [p_A, p_B] = [1/3, 1/4]:
    det = Fraction(1) * 1 - Fraction(-2, 3) * Fraction(-1, 4)
    p_a = (Fraction(1, 3) * 1 - Fraction(-2, 3) * Fraction(1, 4)) / det
    p_b = (Fraction(1) * Fraction(1, 4) - Fraction(-1, 4) * Fraction(1, 3)) / det
    assert (p_a, p_b) == (Fraction(3, 5), Fraction(2, 5))
    converts = Fraction(1, 2) * p_a + Fraction(1, 2) * p_b
    # Without A (transitions into A go to null): p_B = 1/4. Without B: p_A = 1/3.
    without_a = Fraction(1, 2) * Fraction(1, 4)
    without_b = Fraction(1, 2) * Fraction(1, 3)
    expected = {"A": 1 - without_a / converts, "B": 1 - without_b / converts}
    assert expected == {"A": Fraction(3, 4), "B": Fraction(2, 3)}

    counts: dict[str, dict[str, int]] = {}
    for (source, target), count in EXAMPLE_COUNTS.items():
        counts.setdefault(source, {})[target] = count
    assert conversion_probability(counts) == converts == Fraction(1, 2)
    assert conversion_probability(counts, removed="A") == without_a
    assert conversion_probability(counts, removed="B") == without_b
    assert removal_effects(transitions(EXAMPLE_COUNTS)) == {
        channel: float(effect) for channel, effect in expected.items()
    }


def test_self_loops_and_long_cycles_are_solved_not_walked() -> None:
    # A mostly loops on itself (repeats kept) and cycles A -> B -> A: a random walk would take
    # about 100,000 steps per conversion; the solve does not walk. Exactly: p_B = (999 p_A + 1)
    # / 1000 and 101000 p_A = 99999 p_A + 1000 p_B, so p_A = 1/2.
    counts = {
        (START, "A"): 1,
        ("A", "A"): 99_999,
        ("A", "B"): 1_000,
        ("B", "A"): 999,
        ("B", CONVERSION): 1,
        ("A", NULL): 1,
    }
    effects = removal_effects(transitions(counts))
    # Every conversion passes through both A and B: removing either removes them all.
    assert effects["B"] == 1.0
    assert effects["A"] == 1.0


def test_nothing_converts_gives_no_effect() -> None:
    assert removal_effects([(START, "A", 3), ("A", NULL, 3)]) == {"A": 0.0}


def markov_credits(
    spark: SparkSession, effects: dict[str, float], paths: list[list[str]]
) -> DataFrame:
    frame = spark.createDataFrame(
        [
            (f"c{i}", "u", T0 + timedelta(days=1), False, Decimal("90.000000"), steps(path))
            for i, path in enumerate(paths)
        ],
        "conversion_id string, user_id string, converted_at timestamp, is_cancelled boolean, "
        f"net_revenue decimal(18,6), {PATH_SCHEMA}",
    )
    attributed = frame.transform(
        attribute(AttributionConfig(), models=[MARKOV], removal_effects=effects)
    )
    return attributed.select(
        "conversion_id", "channel", F.round("credit", 12).alias("credit"), "attributed_revenue"
    )


def test_credit_is_split_by_removal_effects_once_per_channel(spark: SparkSession) -> None:
    effects = {"A": 0.75, "B": 2 / 3}
    actual = markov_credits(spark, effects, [["A", "B", "A"], ["B"], ["C"], ["A", "C"]])
    schema = "conversion_id string, channel string, credit double, attributed_revenue decimal(18,6)"
    a_share = 0.75 / (0.75 + 2 / 3)  # 9/17: A counts once although it appears twice
    expected = spark.createDataFrame(
        [
            ("c0", "A", round(a_share, 12), Decimal("47.647059")),
            ("c0", "B", round(1 - a_share, 12), Decimal("42.352941")),
            ("c1", "B", 1.0, Decimal("90.000000")),
            # C was never seen by the fit: no effect, so the path splits equally.
            ("c2", "C", 1.0, Decimal("90.000000")),
            ("c3", "A", 1.0, Decimal("90.000000")),
        ],
        schema,
    )
    assert_frames_equal(actual, expected)


@pytest.mark.parametrize("path", [["A", "B", "A", "B", "A"], ["A", "A", "A"], ["B", "A", "B"]])
def test_a_path_with_loops_keeps_all_its_credit(spark: SparkSession, path: list[str]) -> None:
    counts = transition_counts(
        paths_frame(spark, [path, ["B", "A"]]), paths_frame(spark, [["A", "B"]])
    ).collect()
    effects = removal_effects((r["from_state"], r["to_state"], r["count"]) for r in counts)
    totals = (
        markov_credits(spark, effects, [path])
        .agg(F.sum("credit").alias("credit"), F.sum("attributed_revenue").alias("revenue"))
        .first()
    )
    assert totals is not None
    assert abs(totals["credit"] - 1.0) <= 1e-9
    assert totals["revenue"] == Decimal("90.000000")
