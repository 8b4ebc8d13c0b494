"""The serving status's rules: folding partial states (plain Python) and the per-batch partial
states Spark computes (`batch_partials`), on hand-computed scenarios."""

from __future__ import annotations

import itertools
import random
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ad_marketing_pipeline.config import BudgetPolicy, QualityConfig
from ad_marketing_pipeline.gold.rules import order_key
from ad_marketing_pipeline.serving.transforms import (
    ServingState,
    batch_partials,
    dedup_watermark,
    fold,
    fold_batch,
)
from events import Event, budget, click, impression, silver_frame
from helpers import assert_frames_equal

DAY_1, DAY_2, DAY_3 = datetime(2024, 1, 1), datetime(2024, 1, 2), datetime(2024, 1, 3)


def order(
    at: datetime, rank: int, received: datetime | None = None, line: int = 0
) -> tuple[Any, ...]:
    """A budget order: (event time, rank, received_at, file, partition, offset, event id)."""
    return (at, rank, received or at, "f.jsonl", None, line, f"id-{line}")


def state(
    key: str = "adv-1",
    *,
    periods: dict[datetime, tuple[str, int]] | None = None,
    budget: str | None = None,
    budget_at: tuple[Any, ...] | None = None,
    hour: datetime | None = None,
    advertiser_id: str | None = "adv-1",
) -> ServingState:
    latest = hour or DAY_2.replace(hour=9)
    return ServingState(
        key=key,
        advertiser_id=advertiser_id,
        periods={
            start: (Decimal(spend), clicks) for start, (spend, clicks) in (periods or {}).items()
        },
        budget_value=None if budget is None else Decimal(budget),
        budget_order=budget_at if budget is not None else None,
        latest_hour=latest,
        latest_event_time=latest.replace(minute=30),
    )


def test_spend_of_a_period_adds_up_and_periods_stay_apart() -> None:
    today = state(periods={DAY_2: ("2.50", 1)})
    more = state(periods={DAY_2: ("0.75", 2), DAY_3: ("9", 1)})
    folded = fold(today, more)
    assert folded.spend_in(DAY_2) == (Decimal("3.25"), 3)
    # A click stamped in the next period waits for it: it does not replace today's spend.
    assert folded.spend_in(DAY_3) == (Decimal("9"), 1)
    assert folded.since(DAY_3).periods == {DAY_3: (Decimal("9"), 1)}


def test_the_budget_observed_last_wins_an_update_beats_a_click_and_the_later_received() -> None:
    at_nine = DAY_2.replace(hour=9)
    click_budget = state(budget="100", budget_at=order(at_nine, 1, line=1))
    update = state(budget="50", budget_at=order(at_nine, 2, line=2))
    later_click = state(budget="70", budget_at=order(at_nine.replace(minute=1), 1, line=3))
    no_budget = state()
    assert fold(click_budget, update).budget_value == Decimal("50")
    assert fold(update, click_budget).budget_value == Decimal("50")
    assert fold(fold(update, later_click), no_budget).budget_value == Decimal("70")
    assert fold(no_budget, click_budget).budget_value == Decimal("100")
    # Two budget updates at one instant: the one received later is in effect.
    first = state(budget="10", budget_at=order(at_nine, 2, received=at_nine, line=4))
    second = state(budget="20", budget_at=order(at_nine, 2, received=at_nine, line=5))
    assert fold(first, second).budget_value == fold(second, first).budget_value == Decimal("20")


def test_budget_orders_with_nulls_compare_as_spark_compares_structs() -> None:
    kafka = (DAY_2, 2, DAY_2, None, 0, 7, "a")
    kafka_later = (DAY_2, 2, DAY_2, None, 1, 3, "b")
    assert order_key(kafka_later) > order_key(kafka)
    assert order_key(kafka) > order_key(None)


def test_newest_hour_and_event_are_kept() -> None:
    early = state(hour=DAY_2.replace(hour=3))
    late = state(hour=DAY_2.replace(hour=11))
    folded = fold(early, late)
    assert folded.latest_hour == DAY_2.replace(hour=11)
    assert folded.latest_event_time == DAY_2.replace(hour=11, minute=30)


def _random_state(rng: random.Random) -> ServingState:
    has_budget = rng.random() < 0.6
    at = DAY_1.replace(hour=rng.randint(0, 23))
    return state(
        periods={
            rng.choice((DAY_1, DAY_2, DAY_3)): (str(Decimal(rng.randint(0, 500)) / 100), 1)
            for _ in range(rng.randint(0, 2))
        },
        budget=str(rng.randint(0, 20)) if has_budget else None,
        budget_at=order(at, rng.randint(1, 2), line=rng.randint(0, 1000)),
        hour=rng.choice((DAY_1, DAY_2)).replace(hour=rng.randint(0, 23)),
    )


def test_folding_gives_the_same_state_in_any_order_and_grouping() -> None:
    rng = random.Random(7)
    for _ in range(30):
        states = [_random_state(rng) for _ in range(4)]
        left = fold(fold(fold(states[0], states[1]), states[2]), states[3])
        for permuted in itertools.permutations(states):
            grouped = fold(fold(permuted[0], permuted[1]), fold(permuted[2], permuted[3]))
            assert grouped == left


@pytest.mark.parametrize(
    ("spend", "budget", "missing_budget", "can_serve"),
    [
        ("9.99", "10", "serve", True),
        ("10", "10", "serve", False),  # reached means exhausted
        ("0", "0", "serve", False),
        ("5", None, "serve", True),
        ("5", None, "block", False),
    ],
)
def test_can_serve_until_the_budget_is_reached(
    spend: str, budget: str | None, missing_budget: str, can_serve: bool
) -> None:
    policy = BudgetPolicy.model_validate({"missing_budget": missing_budget})
    serving = state(periods={DAY_2: (spend, 1)}, budget=budget, budget_at=order(DAY_2, 2))
    assert serving.can_serve(DAY_2, policy) is can_serve


def test_a_new_period_starts_from_zero_spend() -> None:
    exhausted = state(periods={DAY_2: ("10", 3)}, budget="10", budget_at=order(DAY_2, 2))
    assert not exhausted.can_serve(DAY_2, BudgetPolicy())
    assert exhausted.can_serve(DAY_3, BudgetPolicy())


def test_a_batch_folds_into_the_rows_it_touches_and_moves_stand_ins() -> None:
    current = {
        "adv-1": state("adv-1", periods={DAY_2: ("3", 3)}),
        "Acme": state("Acme", periods={DAY_2: ("2", 1)}, advertiser_id=None),
        "bravo": state("bravo", periods={DAY_2: ("1", 1)}, advertiser_id=None),
    }
    partials = [
        state("adv-1", periods={DAY_2: ("1", 1)}),
        state("adv-9", periods={DAY_2: ("5", 5)}, advertiser_id="adv-9"),
    ]
    # The batch gave "Acme" its id adv-1: the row kept under the name moves into the id's.
    changed, removed = fold_batch(current, partials, {"Acme": "adv-1", "yankee": "adv-7"})
    assert sorted(changed) == ["adv-1", "adv-9"]
    assert changed["adv-1"].spend_in(DAY_2) == (Decimal("6"), 5)
    assert changed["adv-9"].spend_in(DAY_2) == (Decimal("5"), 5)
    assert removed == {"Acme"}  # yankee had no row


def test_clicks_are_remembered_for_a_budget_period_the_allowed_skew_and_an_hour_more() -> None:
    quality = QualityConfig()
    assert dedup_watermark(BudgetPolicy(), quality) == f"{26 * 3600 + 15 * 60} seconds"
    monthly = BudgetPolicy.model_validate({"period": "month"})
    assert dedup_watermark(monthly, quality) == f"{(32 * 24 + 1) * 3600 + 15 * 60} seconds"


EVENT_SCHEMA = (
    "event_id string, event_type string, event_time timestamp, advertiser string, "
    "advertiser_id string, amount decimal(18,6), budget_value decimal(18,6), "
    "received_at timestamp, file_path string, partition int, offset bigint"
)
BUDGET_ORDER = (
    "struct<event_time: timestamp, rank: int, received_at: timestamp, file_path: string, "
    "partition: int, offset: bigint, event_id: string>"
)
PARTIALS_SCHEMA = (
    "advertiser string, advertiser_id string, period_start timestamp, observed boolean, "
    "spend_to_date decimal(38,6), clicks bigint, budget_value decimal(18,6), "
    f"budget_order {BUDGET_ORDER}, latest_hour timestamp, latest_event_time timestamp, "
    "now_candidate timestamp, now_period timestamp"
)
RECEIVED = datetime(2024, 1, 2, 12, 30)


def serving_batch(spark: SparkSession, events: list[Event], new_ids: list[Event]) -> DataFrame:
    """A batch as `with_new_ids` gives it to `batch_partials`: the events (lines of f.jsonl in
    the order listed, all received at RECEIVED), then a row of only the id of each of
    `new_ids`, which the stream had not seen before."""
    observed = silver_frame(spark, events, EVENT_SCHEMA, received_at=RECEIVED, file_path="f.jsonl")
    ids = spark.createDataFrame([(event.event_id,) for event in new_ids], "event_id string")
    return observed.withColumn("is_new_id", F.lit(False)).unionByName(
        ids.withColumn("is_new_id", F.lit(True)), allowMissingColumns=True
    )


def test_batch_partials_sum_counted_spend_and_keep_the_last_budget_per_period(
    spark: SparkSession,
) -> None:
    first_c1 = click("c-1", at=DAY_2.replace(hour=9, minute=10), amount="2.5", budget_value="100")
    c2 = click("c-2", at=DAY_2.replace(hour=11, minute=40), amount="1", advertiser_id="adv-1")
    update = budget(event_id="u-1", at=DAY_2.replace(hour=11, minute=40), budget_value="50")
    c0 = click("c-0", at=DAY_1.replace(hour=23, minute=59), amount="7")
    events = serving_batch(
        spark,
        [
            # A click arrives as an observation and, new to the stream, as its id.
            first_c1,
            c2,
            # A click the stream has seen before (no id row): it counts for nothing.
            click("c-3", at=DAY_2.replace(hour=11, minute=50), amount="4", budget_value="1"),
            update,
            # Yesterday's click: its own period.
            c0,
            # An impression only names an advertiser (blank names count as missing); one
            # stamped ahead of its arrival moves "now" no further than its arrival.
            impression(event_id="i-1", at=DAY_2.replace(hour=12), advertiser_id="adv-5"),
            impression(
                event_id="i-2", at=DAY_2.replace(hour=13), advertiser=" ", advertiser_id="adv-6"
            ),
            # A second copy of c-1 with another amount, received later: the first one counts.
            click("c-1", at=DAY_2.replace(hour=9, minute=10), amount="900", budget_value="1"),
        ],
        new_ids=[first_c1, c2, update, c0],
    )

    def hour(day: int, at: int, minute: int = 0) -> datetime:
        return datetime(2024, 1, day, at, minute)

    def budget_order(at: datetime, rank: int, line: int, event_id: str) -> tuple[Any, ...]:
        return (at, rank, RECEIVED, "f.jsonl", None, line, event_id)

    update_order = budget_order(hour(2, 11, 40), 2, 3, "budget_update:u-1")
    money = Decimal
    expected = [
        (
            "acme", None, DAY_2, True, money("2.5"), 1, money("50"), update_order,
            hour(2, 11), hour(2, 11, 40), hour(2, 11, 40), DAY_2,
        ),
        (
            "acme", "adv-1", DAY_2, True, money("1"), 1, None, None,
            hour(2, 11), hour(2, 11, 40), hour(2, 11, 40), DAY_2,
        ),
        (
            "acme", None, DAY_1, True, money("7"), 1, None, None,
            hour(1, 23), hour(1, 23, 59), hour(1, 23, 59), DAY_1,
        ),
        ("acme", "adv-5", DAY_2, False, money("0"), 0, None, None, None, None, hour(2, 12), DAY_2),
        (None, "adv-6", DAY_2, False, money("0"), 0, None, None, None, None, RECEIVED, DAY_2),
    ]  # fmt: skip
    assert_frames_equal(
        events.transform(batch_partials(BudgetPolicy())),
        spark.createDataFrame(expected, PARTIALS_SCHEMA),
    )
