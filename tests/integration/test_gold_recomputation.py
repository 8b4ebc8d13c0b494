"""Gold spend against an independent recomputation: a generated dataset of 100,000 events over 30
days and 50 advertisers goes through the real pipeline (Bronze -> Silver -> Gold, Gold in several
incremental micro-batches, and the serving stream beside them, also in several batches), and
gold_advertiser_spend and every Gold view over it (gold_latest_serving_status over
gold_serving_status) must equal what plain Python computes from the generated lines, to the cent.

The recomputation reads the landing files itself: each line is decoded with `json.loads` and
checked against the event contract (`contract.parse_event`, the rules Silver follows), events
dated in the future are dropped (Silver quarantines them), and the first line of each event id
(files in name order, lines in file order) is kept. It then applies the rules documented in
`gold/spend.py`, `gold/layer.py` and `views.py` with Decimal, Fraction, datetime and zoneinfo
only; none of the package's Spark code is used:
- an advertiser is its name; an event naming only its id counts for the smallest name events
  carrying both gave that id; a row's `advertiser_id` is the largest id its events carry;
- rows are the budget time zone's wall-clock hours that have a click, a credited refund or a
  budget update; the budget in effect is the last one seen up to the hour's end (a budget update
  wins a tie with a click at the same instant, then the larger event id), carried over;
- only a click's first refund (by time, then event id) counts, for at most the click's amount,
  in the refund's hour and for the click's advertiser;
- `spend_to_date` is the period's gross spend so far; `can_serve` is spend_to_date < budget
  (true without a budget: the default `missing_budget: serve`); the expected spend and the
  average budget are exact values rounded half up to DECIMAL(18, 6), as Spark's casts round.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from math import floor
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from pyspark.sql import SparkSession

from ad_marketing_pipeline.config import BudgetPolicy, PipelineConfig
from ad_marketing_pipeline.contract import (
    AdClick,
    BudgetUpdate,
    ClickRefund,
    EventModel,
    derive_event_id,
    parse_event,
)
from ad_marketing_pipeline.entrypoints import prepare_runtime, run_layers
from ad_marketing_pipeline.errors import ContractError
from ad_marketing_pipeline.generator import GeneratorSettings, write_landing_files
from ad_marketing_pipeline.io import StreamTrigger
from helpers import assert_frames_equal, committed_batches

SETTINGS = GeneratorSettings(
    events=100_000,
    advertisers=50,
    days=30,
    malformed_share=0.01,
    duplicate_share=0.01,
    events_per_file=33_334,
)
HOUR = timedelta(hours=1)
SECOND = timedelta(seconds=1)
MICRO = Fraction(1, 1_000_000)

Key = TypeVar("Key")
Item = TypeVar("Item")


def gold_config(root: Path) -> PipelineConfig:
    """One landing file per Bronze batch (Spark reads it as two splits, so two Delta files), at
    most two Delta files per Silver and Gold micro-batch: Gold applies the events in three
    batches in arrival order (its incremental path), the later ones bringing late clicks and
    refunds of clicks it has already counted."""
    return PipelineConfig.model_validate(
        {
            "env": "test",
            "schema": f"gold_{uuid.uuid4().hex[:10]}",
            "paths": {"root": str(root)},
            "source": {"kind": "files", "max_files_per_trigger": 1},
            "trigger": {"max_files_per_batch": 2},
        }
    )


# ---------------------------------------------------------------------------------------------
# The events, as Silver should hold them
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    event_id: str
    event: EventModel


def valid_events(landing: Path, latest_allowed: datetime) -> list[Event]:
    """The contract-valid events of the landing files, each event id once (its first line),
    none after `latest_allowed`."""
    seen: set[str] = set()
    events: list[Event] = []
    for path in sorted(landing.glob("events-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                payload = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(payload, dict):
                continue
            try:
                event = parse_event(payload)
            except ContractError:
                continue
            event_id = derive_event_id(line)
            if event.timestamp > latest_allowed or event_id in seen:
                continue
            seen.add(event_id)
            events.append(Event(event_id, event))
    return events


# ---------------------------------------------------------------------------------------------
# gold_advertiser_spend, recomputed
# ---------------------------------------------------------------------------------------------


def _given(text: str | None) -> str | None:
    return text if text is not None and text.strip() != "" else None


@dataclass(frozen=True)
class Observation:
    """One click, credited refund or budget update, under the advertiser it counts for."""

    advertiser: str
    advertiser_id: str | None
    order: tuple[datetime, int, str]  # event time, budget rank (update 2 > click 1), event id
    gross: Decimal = Decimal(0)
    credited: Decimal = Decimal(0)
    clicks: int = 0
    budget: Decimal | None = None

    @property
    def event_time(self) -> datetime:
        return self.order[0]


def spend_observations(events: Sequence[Event]) -> list[Observation]:
    """Clicks, first refunds of known clicks (credit at most the click's amount) and budget
    updates; an event naming only an advertiser id counts for the smallest name events carrying
    both fields gave that id (the id itself while there is none)."""
    names: dict[str, str] = {}
    for event in (identified.event for identified in events):
        name, advertiser_id = (
            _given(getattr(event, "advertiser", None)),
            _given(getattr(event, "advertiser_id", None)),
        )
        if name is not None and advertiser_id is not None:
            names[advertiser_id] = min(name, names.get(advertiser_id, name))

    def advertiser_of(event: AdClick | BudgetUpdate) -> str:
        name = _given(event.advertiser)
        if name is not None:
            return name
        assert event.advertiser_id is not None
        return names.get(event.advertiser_id, event.advertiser_id)

    observations: list[Observation] = []
    clicks: dict[str, tuple[AdClick, str]] = {}
    first_refunds: dict[str, tuple[tuple[datetime, str], ClickRefund]] = {}
    for event_id, event in ((identified.event_id, identified.event) for identified in events):
        if isinstance(event, AdClick):
            advertiser = advertiser_of(event)
            clicks[event_id] = (event, advertiser)
            observations.append(
                Observation(
                    advertiser,
                    event.advertiser_id,
                    (event.timestamp, 1, event_id),
                    gross=event.amount,
                    clicks=1,
                    budget=event.budget_value,
                )
            )
        elif isinstance(event, BudgetUpdate):
            observations.append(
                Observation(
                    advertiser_of(event),
                    event.advertiser_id,
                    (event.timestamp, 2, event_id),
                    budget=event.budget_value,
                )
            )
        elif isinstance(event, ClickRefund):
            rank = (event.timestamp, event_id)
            known = first_refunds.get(event.click_id)
            if known is None or rank < known[0]:
                first_refunds[event.click_id] = (rank, event)
    for click_id, ((refunded_at, refund_id), refund) in first_refunds.items():
        if click_id not in clicks:
            continue
        click, advertiser = clicks[click_id]
        credit = min(refund.amount if refund.amount is not None else click.amount, click.amount)
        observations.append(
            Observation(
                advertiser, click.advertiser_id, (refunded_at, 0, refund_id), credited=credit
            )
        )
    return observations


@dataclass(frozen=True)
class LocalHour:
    """An hour of the budget time zone's wall clock and the budget period it lies in."""

    wall_clock: datetime  # naive local start
    window_start: datetime
    window_end: datetime
    period_start: datetime
    period_end: datetime

    @property
    def spend_day(self) -> date:
        return self.wall_clock.date()

    @property
    def spend_month(self) -> date:
        return self.wall_clock.date().replace(day=1)


def local_hour(moment: datetime, policy: BudgetPolicy) -> LocalHour:
    zone = ZoneInfo(policy.timezone)
    wall_clock = moment.astimezone(zone).replace(minute=0, second=0, microsecond=0, tzinfo=None)
    day = wall_clock.replace(hour=0)
    if policy.period == "day":
        period, next_period = day, day + timedelta(days=1)
    else:
        period = day.replace(day=1)
        next_period = (period + timedelta(days=32)).replace(day=1)

    def instant(local: datetime) -> datetime:
        return local.replace(tzinfo=zone).astimezone(UTC)

    return LocalHour(
        wall_clock,
        instant(wall_clock),
        instant(wall_clock + HOUR),
        instant(period),
        instant(next_period),
    )


def to_micros(value: Fraction) -> Decimal:
    """A non-negative exact amount as DECIMAL(18, 6): rounded half up, as Spark casts."""
    return Decimal(floor(value / MICRO + Fraction(1, 2))).scaleb(-6)


@dataclass
class SpendRow:
    """One expected row of gold_advertiser_spend."""

    advertiser: str
    hour: LocalHour
    advertiser_ids: set[str] = field(default_factory=set)
    gross_spend: Decimal = Decimal(0)
    credited_spend: Decimal = Decimal(0)
    record_count: int = 0
    budgets: list[tuple[tuple[datetime, int, str], Decimal]] = field(default_factory=list)
    event_times: list[datetime] = field(default_factory=list)
    budget_value: Decimal | None = None
    budget_changed: bool = False
    spend_to_date: Decimal = Decimal(0)

    def add(self, observation: Observation) -> None:
        if observation.advertiser_id is not None:
            self.advertiser_ids.add(observation.advertiser_id)
        self.gross_spend += observation.gross
        self.credited_spend += observation.credited
        self.record_count += observation.clicks
        if observation.budget is not None:
            self.budgets.append((observation.order, observation.budget))
        self.event_times.append(observation.event_time)

    @property
    def latest_event_time(self) -> datetime:
        return max(self.event_times)

    @property
    def advertiser_id(self) -> str | None:
        """The largest advertiser id the hour's events carry (None when none does)."""
        return max(self.advertiser_ids, default=None)

    @property
    def net_spend(self) -> Decimal:
        return self.gross_spend - self.credited_spend

    @property
    def hour_budget(self) -> Decimal | None:
        """The last budget seen in the hour: by time, a budget update before a click at the
        same instant, then by event id."""
        return max(self.budgets)[1] if self.budgets else None

    @property
    def avg_budget(self) -> Decimal | None:
        if not self.budgets:
            return None
        values = [Fraction(budget) for _, budget in self.budgets]
        return to_micros(sum(values, Fraction(0)) / len(values))

    @property
    def can_serve(self) -> bool:
        return self.budget_value is None or self.spend_to_date < self.budget_value

    @property
    def expected_spend_to_date(self) -> Decimal | None:
        if self.budget_value is None:
            return None
        hour = self.hour
        elapsed = (hour.window_end - hour.period_start) // SECOND
        period = (hour.period_end - hour.period_start) // SECOND
        return to_micros(Fraction(self.budget_value) * elapsed / period)

    @property
    def pacing_ratio(self) -> float | None:
        expected = self.expected_spend_to_date
        if expected is None or expected == 0:
            return None
        return float(self.spend_to_date) / float(expected)

    def as_tuple(self) -> tuple[Any, ...]:
        hour = self.hour
        return (
            self.advertiser,
            self.advertiser_id,
            hour.window_start,
            hour.window_start,
            hour.window_end,
            hour.spend_day,
            hour.spend_month,
            hour.period_start,
            self.gross_spend,
            self.credited_spend,
            self.net_spend,
            self.record_count,
            self.budget_value,
            self.avg_budget,
            self.budget_changed,
            self.spend_to_date,
            self.can_serve,
            self.expected_spend_to_date,
            self.pacing_ratio,
            self.latest_event_time,
        )


def spend_rows(observations: Iterable[Observation], policy: BudgetPolicy) -> list[SpendRow]:
    """Advertiser x hour rows with the budget in effect (carried over from earlier hours),
    spend_to_date within the budget period, can_serve and pacing."""
    rows: dict[tuple[str, datetime], SpendRow] = {}
    for observation in observations:
        hour = local_hour(observation.event_time, policy)
        key = (observation.advertiser, hour.wall_clock)
        rows.setdefault(key, SpendRow(observation.advertiser, hour)).add(observation)
    ordered = sorted(rows.values(), key=lambda row: (row.advertiser, row.hour.window_start))
    previous: SpendRow | None = None
    for row in ordered:
        if previous is not None and previous.advertiser != row.advertiser:
            previous = None
        carried = previous.budget_value if previous is not None else None
        row.budget_value = row.hour_budget if row.hour_budget is not None else carried
        row.budget_changed = row.budget_value != carried
        row.spend_to_date = row.gross_spend
        if previous is not None and previous.hour.period_start == row.hour.period_start:
            row.spend_to_date += previous.spend_to_date
        previous = row
    return ordered


# ---------------------------------------------------------------------------------------------
# The Gold views, recomputed from the expected rows
# ---------------------------------------------------------------------------------------------


def grouped(items: Iterable[Item], key: Callable[[Item], Key]) -> dict[Key, list[Item]]:
    groups: dict[Key, list[Item]] = defaultdict(list)
    for item in items:
        groups[key(item)].append(item)
    return groups


def newest(rows: Sequence[SpendRow]) -> SpendRow:
    return max(rows, key=lambda row: row.hour.window_start)


def max_id(rows: Sequence[SpendRow]) -> str | None:
    return max((row.advertiser_id for row in rows if row.advertiser_id is not None), default=None)


def total(values: Iterable[Decimal]) -> Decimal:
    return sum(values, Decimal(0))


def hourly_spend(rows: Sequence[SpendRow]) -> list[tuple[Any, ...]]:
    return [
        (
            row.advertiser,
            row.advertiser_id,
            row.hour.window_start,
            row.hour.window_start,
            row.hour.window_end,
            row.hour.spend_day,
            row.gross_spend,
            row.net_spend,
            row.record_count,
            row.budget_value,
            row.can_serve,
        )
        for row in rows
    ]


def daily_spend(rows: Sequence[SpendRow]) -> list[tuple[Any, ...]]:
    by_day = grouped(rows, lambda row: (row.advertiser, row.hour.spend_day))
    return [
        (
            advertiser,
            max_id(day_rows),
            day,
            total(row.gross_spend for row in day_rows),
            total(row.net_spend for row in day_rows),
            sum(row.record_count for row in day_rows),
            newest(day_rows).budget_value,
            newest(day_rows).can_serve,
        )
        for (advertiser, day), day_rows in by_day.items()
    ]


def monthly_spend(rows: Sequence[SpendRow]) -> list[tuple[Any, ...]]:
    by_month = grouped(rows, lambda row: (row.advertiser, row.hour.spend_month))
    return [
        (
            advertiser,
            max_id(month_rows),
            month,
            total(row.gross_spend for row in month_rows),
            total(row.net_spend for row in month_rows),
            sum(row.record_count for row in month_rows),
            newest(month_rows).budget_value,
        )
        for (advertiser, month), month_rows in by_month.items()
    ]


def latest_serving_status(
    observations: Sequence[Observation], policy: BudgetPolicy
) -> list[tuple[Any, ...]]:
    """As of the newest click or budget observation: per advertiser, its newest period's flag
    and spend when that period is the current one, a fresh period otherwise; the budget
    observed last; the hour of its newest observation; the largest id its events carry."""
    seen = [observation for observation in observations if observation.order[1] != 0]
    as_of = max(observation.event_time for observation in seen)
    current_period = local_hour(as_of, policy).period_start
    statuses = []
    for advertiser, own in grouped(seen, lambda observation: observation.advertiser).items():
        periods = {o: local_hour(o.event_time, policy) for o in own}
        newest_period = max(hour.period_start for hour in periods.values())
        spend = sum((o.gross for o in own if periods[o].period_start == newest_period), Decimal(0))
        budgets = [(o.order, o.budget) for o in own if o.budget is not None]
        budget = max(budgets)[1] if budgets else None
        if newest_period == current_period:
            can_serve = budget is None or spend < budget
        else:
            can_serve = budget is None or budget > 0
        statuses.append(
            (
                advertiser,
                max((o.advertiser_id for o in own if o.advertiser_id), default=None),
                max(hour.window_start for hour in periods.values()),
                can_serve,
                budget,
                spend if newest_period == current_period else Decimal(0),
                current_period,
                as_of,
            )
        )
    return statuses


def latest_changed_budgets(rows: Sequence[SpendRow]) -> list[tuple[Any, ...]]:
    return [
        (
            row.advertiser,
            row.advertiser_id,
            row.hour.window_start,
            row.hour.window_start,
            row.budget_value,
        )
        for row in rows
        if row.budget_changed
    ]


def hourly_average_budget(rows: Sequence[SpendRow]) -> list[tuple[Any, ...]]:
    return [
        (
            row.advertiser,
            row.advertiser_id,
            row.hour.window_start,
            row.hour.window_start,
            row.avg_budget if row.avg_budget is not None else row.budget_value,
        )
        for row in rows
    ]


def combined_spend_budget(rows: Sequence[SpendRow]) -> list[tuple[Any, ...]]:
    combined: list[tuple[Any, ...]] = []
    for (advertiser, day), day_rows in grouped(
        rows, lambda row: (row.advertiser, row.hour.spend_day)
    ).items():
        combined.append((advertiser, day, "spend", total(row.gross_spend for row in day_rows)))
        combined.append((advertiser, day, "budget", newest(day_rows).budget_value))
    return combined


def aggregated_advertiser_spend(
    rows: Sequence[SpendRow], observations: Sequence[Observation], policy: BudgetPolicy
) -> list[tuple[Any, ...]]:
    serving = {status[0]: status[3] for status in latest_serving_status(observations, policy)}
    return [
        (
            advertiser,
            max_id(advertiser_rows),
            total(row.gross_spend for row in advertiser_rows),
            total(row.net_spend for row in advertiser_rows),
            sum(row.record_count for row in advertiser_rows),
            newest(advertiser_rows).budget_value,
            max(row.latest_event_time for row in advertiser_rows),
            serving[advertiser],
        )
        for advertiser, advertiser_rows in grouped(rows, lambda row: row.advertiser).items()
    ]


# ---------------------------------------------------------------------------------------------
# Expected schemas (money is DECIMAL(18, 6); sums of it DECIMAL(28, 6))
# ---------------------------------------------------------------------------------------------

ADVERTISER_SPEND_DDL = (
    "advertiser string, advertiser_id string, spend_hour timestamp, window_start timestamp, "
    "window_end timestamp, spend_day date, spend_month date, period_start timestamp, "
    "gross_spend decimal(18,6), credited_spend decimal(18,6), net_spend decimal(18,6), "
    "record_count bigint, budget_value decimal(18,6), avg_budget decimal(18,6), "
    "budget_changed boolean, spend_to_date decimal(18,6), can_serve boolean, "
    "expected_spend_to_date decimal(18,6), pacing_ratio double, latest_event_time timestamp"
)
VIEW_DDL = {
    "gold_hourly_spend": (
        "advertiser string, advertiser_id string, spend_hour timestamp, window_start timestamp, "
        "window_end timestamp, spend_day date, gross_spend decimal(18,6), "
        "net_spend decimal(18,6), clicks bigint, budget_value decimal(18,6), can_serve boolean"
    ),
    "gold_daily_spend": (
        "advertiser string, advertiser_id string, spend_day date, gross_spend decimal(28,6), "
        "net_spend decimal(28,6), clicks bigint, budget_value decimal(18,6), can_serve boolean"
    ),
    "gold_monthly_spend": (
        "advertiser string, advertiser_id string, spend_month date, gross_spend decimal(28,6), "
        "net_spend decimal(28,6), clicks bigint, budget_value decimal(18,6)"
    ),
    "gold_latest_serving_status": (
        "advertiser string, advertiser_id string, latest_hour timestamp, "
        "latest_can_serve boolean, budget_value decimal(18,6), spend_to_date decimal(18,6), "
        "current_period_start timestamp, as_of timestamp"
    ),
    "gold_latest_changed_budgets": (
        "advertiser string, advertiser_id string, spend_hour timestamp, window_start timestamp, "
        "budget_value decimal(18,6)"
    ),
    "gold_hourly_average_budget": (
        "advertiser string, advertiser_id string, spend_hour timestamp, window_start timestamp, "
        "avg_budget decimal(18,6)"
    ),
    "gold_combined_spend_budget": (
        "advertiser string, spend_day date, category string, amount decimal(28,6)"
    ),
    "gold_aggregated_advertiser_spend": (
        "advertiser string, advertiser_id string, total_gross_spend decimal(28,6), "
        "total_net_spend decimal(28,6), total_clicks bigint, latest_budget_value decimal(18,6), "
        "latest_activity_time timestamp, current_serving_status boolean"
    ),
}


def expected_views(
    rows: Sequence[SpendRow], observations: Sequence[Observation], policy: BudgetPolicy
) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
    yield "gold_hourly_spend", hourly_spend(rows)
    yield "gold_daily_spend", daily_spend(rows)
    yield "gold_monthly_spend", monthly_spend(rows)
    yield "gold_latest_serving_status", latest_serving_status(observations, policy)
    yield "gold_latest_changed_budgets", latest_changed_budgets(rows)
    yield "gold_hourly_average_budget", hourly_average_budget(rows)
    yield "gold_combined_spend_budget", combined_spend_budget(rows)
    yield (
        "gold_aggregated_advertiser_spend",
        aggregated_advertiser_spend(rows, observations, policy),
    )


# ---------------------------------------------------------------------------------------------
# The test
# ---------------------------------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.slow
def test_gold_spend_equals_an_independent_recomputation_of_generated_events(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = gold_config(tmp_path)
    landing = Path(config.landing_path)
    write_landing_files(SETTINGS, landing)
    latest_allowed = datetime.now(UTC) + timedelta(minutes=config.quality.max_future_skew_minutes)

    run_layers(
        prepare_runtime(spark, config, environ={}),
        ["bronze", "serving", "silver", "gold"],
        StreamTrigger(),
    )

    assert committed_batches(tmp_path, "gold") >= 3, "Gold should run in several micro-batches"
    observations = spend_observations(valid_events(landing, latest_allowed))
    rows = spend_rows(observations, config.budget)
    # The dataset is as large as promised and exercises the rules that are easy to get wrong.
    days = {row.hour.spend_day for row in rows}
    assert len({row.advertiser for row in rows}) >= SETTINGS.advertisers
    assert (max(days) - min(days)).days + 1 >= SETTINGS.days
    assert any(not row.can_serve for row in rows), "no advertiser exhausts its budget"
    assert any(row.credited_spend > 0 for row in rows), "no refund is credited"
    assert sum(row.budget_changed for row in rows) > SETTINGS.advertisers, "no budget changes"
    assert any(row.record_count == 0 for row in rows), "every hour row has clicks"

    assert_frames_equal(
        spark.table(config.table("gold_advertiser_spend")),
        spark.createDataFrame([row.as_tuple() for row in rows], ADVERTISER_SPEND_DDL),
    )
    for view, expected in expected_views(rows, observations, config.budget):
        assert_frames_equal(
            spark.table(config.table(view)), spark.createDataFrame(expected, VIEW_DDL[view])
        )
