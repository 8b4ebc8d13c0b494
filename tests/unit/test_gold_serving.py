"""The serving status's rules: folding partial states (plain Python) and the per-batch partial
states Spark computes (`batch_partials`), on hand-computed scenarios."""

from __future__ import annotations

import itertools
import random
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from pyspark.sql import SparkSession

from ad_marketing_pipeline.config import BudgetPolicy
from ad_marketing_pipeline.gold.serving import (
    ServingState,
    batch_partials,
    dedup_watermark,
    fold,
    fold_batch,
    stand_ins_among,
)
from helpers import assert_frames_equal

DAY_1, DAY_2 = datetime(2024, 1, 1), datetime(2024, 1, 2)


def state(
    advertiser: str = "acme",
    *,
    period: datetime = DAY_2,
    spend: str = "0",
    clicks: int = 0,
    budget: str | None = None,
    budget_at: tuple[datetime, int, str] | None = None,
    hour: datetime | None = None,
    advertiser_id: str | None = "adv-1",
) -> ServingState:
    latest = hour or period.replace(hour=9)
    return ServingState(
        advertiser=advertiser,
        advertiser_id=advertiser_id,
        period_start=period,
        spend_to_date=Decimal(spend),
        clicks=clicks,
        budget_value=None if budget is None else Decimal(budget),
        budget_order=budget_at if budget is not None else None,
        latest_hour=latest,
        latest_event_time=latest.replace(minute=30),
    )


def test_spend_of_the_same_period_adds_up() -> None:
    folded = fold(state(spend="2.50", clicks=1), state(spend="0.75", clicks=2))
    assert (folded.spend_to_date, folded.clicks) == (Decimal("3.25"), 3)


def test_a_newer_period_starts_a_new_sum_and_an_older_one_does_not_count() -> None:
    today = state(period=DAY_2, spend="4", clicks=4)
    yesterday = state(period=DAY_1, spend="90", clicks=9)
    for folded in (fold(today, yesterday), fold(yesterday, today)):
        assert (folded.period_start, folded.spend_to_date, folded.clicks) == (DAY_2, Decimal(4), 4)


def test_the_budget_observed_last_wins_and_an_update_beats_a_click_at_the_same_instant() -> None:
    at_nine = DAY_2.replace(hour=9)
    click_budget = state(budget="100", budget_at=(at_nine, 1, "z-click"))
    update = state(budget="50", budget_at=(at_nine, 2, "a-update"))
    later_click = state(budget="70", budget_at=(at_nine.replace(minute=1), 1, "b"))
    no_budget = state()
    assert fold(click_budget, update).budget_value == Decimal("50")
    assert fold(update, click_budget).budget_value == Decimal("50")
    assert fold(fold(update, later_click), no_budget).budget_value == Decimal("70")
    assert fold(no_budget, click_budget).budget_value == Decimal("100")


def test_newest_hour_and_event_and_largest_id_are_kept() -> None:
    early = state(hour=DAY_2.replace(hour=3), advertiser_id=None)
    late = state(hour=DAY_2.replace(hour=11), advertiser_id="adv-2")
    folded = fold(early, late)
    assert folded.latest_hour == DAY_2.replace(hour=11)
    assert folded.latest_event_time == DAY_2.replace(hour=11, minute=30)
    assert folded.advertiser_id == "adv-2"


def _random_state(rng: random.Random) -> ServingState:
    has_budget = rng.random() < 0.6
    return state(
        period=rng.choice((DAY_1, DAY_2)),
        spend=str(Decimal(rng.randint(0, 500)) / 100),
        clicks=rng.randint(0, 3),
        budget=str(rng.randint(0, 20)) if has_budget else None,
        budget_at=(DAY_1.replace(hour=rng.randint(0, 23)), rng.randint(1, 2), str(rng.random())),
        hour=rng.choice((DAY_1, DAY_2)).replace(hour=rng.randint(0, 23)),
        advertiser_id=rng.choice((None, "adv-1", "adv-2")),
    )


def test_folding_gives_the_same_state_in_any_order_and_grouping() -> None:
    rng = random.Random(7)
    for _ in range(30):
        states = [_random_state(rng) for _ in range(4)]
        left = fold(fold(fold(states[0], states[1]), states[2]), states[3])
        for order in itertools.permutations(states):
            grouped = fold(fold(order[0], order[1]), fold(order[2], order[3]))
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
    serving = state(spend=spend, budget=budget, budget_at=(DAY_2, 2, "u"))
    assert serving.can_serve(policy) is can_serve


def test_a_batch_folds_into_the_rows_it_touches_and_moves_stand_ins() -> None:
    current = {
        "acme": state("acme", spend="3", clicks=3),
        "adv-9": state("adv-9", spend="2", clicks=1, advertiser_id="adv-9"),
        "bravo": state("bravo", spend="1", clicks=1),
    }
    partials = [state("acme", spend="1", clicks=1), state("zulu", spend="5", clicks=5)]
    # The batch taught that adv-9 is "acme": the row kept under the id moves into acme's.
    changed, removed = fold_batch(current, partials, {"adv-9": "acme", "adv-7": "yankee"})
    assert sorted(changed) == ["acme", "zulu"]
    assert (changed["acme"].spend_to_date, changed["acme"].clicks) == (Decimal("6"), 5)
    assert changed["acme"].advertiser_id == "adv-9"
    assert changed["zulu"].spend_to_date == Decimal("5")
    assert removed == {"adv-9"}  # adv-7 had no row


def test_clicks_are_remembered_for_a_budget_period_and_an_hour_more() -> None:
    assert dedup_watermark(BudgetPolicy()) == f"{26 * 3600} seconds"
    monthly = BudgetPolicy.model_validate({"period": "month"})
    assert dedup_watermark(monthly) == f"{(32 * 24 + 1) * 3600} seconds"


EVENT_SCHEMA = (
    "event_id string, event_type string, event_time timestamp, advertiser string, "
    "advertiser_id string, amount decimal(18,6), budget_value decimal(18,6), counts_spend boolean"
)
PARTIALS_SCHEMA = (
    "advertiser string, advertiser_id string, period_start timestamp, observed boolean, "
    "spend_to_date decimal(18,6), clicks bigint, budget_value decimal(18,6), "
    "budget_order struct<event_time: timestamp, rank: int, event_id: string>, "
    "latest_hour timestamp, latest_event_time timestamp"
)


def _event(
    event_id: str, event_type: str, time: str, counts: bool, **fields: Any
) -> tuple[Any, ...]:
    amount = fields.get("amount")
    budget = fields.get("budget")
    return (
        event_id,
        event_type,
        datetime.fromisoformat(f"2024-01-{time}"),
        fields.get("advertiser", "acme"),
        fields.get("advertiser_id"),
        None if amount is None else Decimal(amount),
        None if budget is None else Decimal(budget),
        counts,
    )


def test_batch_partials_sum_counted_spend_and_keep_the_last_budget_per_period(
    spark: SparkSession,
) -> None:
    events = spark.createDataFrame(
        [
            # A click arrives as an observation and, de-duplicated, as counted spend.
            _event("c-1", "ad_click", "02 09:10", False, amount="2.5", budget="100"),
            _event("c-1", "ad_click", "02 09:10", True, amount="2.5", budget="100"),
            _event("c-2", "ad_click", "02 11:40", False, amount="1", advertiser_id="adv-1"),
            _event("c-2", "ad_click", "02 11:40", True, amount="1", advertiser_id="adv-1"),
            _event("u-1", "budget_update", "02 11:40", False, budget="50"),
            # Yesterday's click: its own period.
            _event("c-0", "ad_click", "01 23:59", False, amount="7"),
            _event("c-0", "ad_click", "01 23:59", True, amount="7"),
            # An impression only teaches a name (blank names count as missing).
            _event("i-1", "impression", "02 12:00", False, advertiser_id="adv-5"),
            _event("i-2", "impression", "02 12:00", False, advertiser=" ", advertiser_id="adv-6"),
        ],
        EVENT_SCHEMA,
    )

    def hour(day: int, at: int, minute: int = 0) -> datetime:
        return datetime(2024, 1, day, at, minute)

    update = (hour(2, 11, 40), 2, "u-1")
    money = Decimal
    expected = [
        ("acme", None, DAY_2, True, money("2.5"), 1, money("50"), update, hour(2, 11), update[0]),
        ("acme", "adv-1", DAY_2, True, money("1"), 1, None, None, hour(2, 11), hour(2, 11, 40)),
        ("acme", None, DAY_1, True, money("7"), 1, None, None, hour(1, 23), hour(1, 23, 59)),
        ("acme", "adv-5", DAY_2, False, money("0"), 0, None, None, None, None),
        (None, "adv-6", DAY_2, False, money("0"), 0, None, None, None, None),
    ]
    assert_frames_equal(
        events.transform(batch_partials(BudgetPolicy())),
        spark.createDataFrame(expected, PARTIALS_SCHEMA),
    )


def test_rows_kept_under_an_id_whose_name_is_known_move_to_it() -> None:
    states = {
        "adv-9": state("adv-9", advertiser_id="adv-9"),
        "adv-8": state("adv-8", advertiser_id="adv-8"),  # no name known yet
        "acme": state("acme", advertiser_id="adv-1"),  # a name stays, even if not its id's
    }
    names = {"adv-9": "charlie", "adv-1": "acme corp"}
    assert stand_ins_among(states, names) == {"adv-9": "charlie"}
