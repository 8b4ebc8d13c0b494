"""A plain-Python reference of what the pipeline must hold for a set of received records: Silver's
verdict on each record and its de-duplication, the rows of gold_advertiser_spend and the serving
status (gold_latest_serving_status).

It uses the standard library (Decimal, Fraction, datetime, zoneinfo), the event contract's
pydantic models (`contract.parse_event`, `contract.EVENT_MODELS`, the timestamp parser) and its
id rule (`derive_event_id`); none of the package's Spark code. Tests
compare the pipeline's tables with it; the rules it follows, from ARCHITECTURE.md and the
modules named below, are:

Silver (silver.py `validate`), every rule a record fails giving a reason code:
- `oversized_payload`: more than `quality.max_payload_bytes` bytes of UTF-8;
- `invalid_unicode`: a lone UTF-16 surrogate escape, or U+FFFD (bytes that were not UTF-8);
- `malformed_json`: not one JSON object (a leading byte-order mark is not part of the payload;
  JSON whitespace around it is allowed; nesting too deep to decode counts as malformed);
- `unknown_event_type`: `event_type` is not one of the contract's types;
- `timestamp_in_future`: the event's time is more than `max_future_skew_minutes` after the
  record was received; `timestamp_too_old`: before `earliest_event_time`, or more than
  `max_event_age_days` before it was received (when set). A timestamp without a zone is UTC;
  one beyond Python's datetime range (year 10000 in UTC, year 0) counts as the farthest
  instant Python has in that direction. These two rules apply to any JSON object;
- for a known type, on its contract fields: `missing_required_field` (absent, null, or a
  string that is blank after `str.strip()`; for a one-of group such as "advertiser or
  advertiser_id", all of them), `wrong_type` (a value that is not of the field's JSON type: a
  non-string for a text field, a non-object for `metadata`, money that is no finite number or
  has more than 6 decimals or does not fit DECIMAL(18, 6)), `unparsable_timestamp` (not a
  string the contract parses), `negative_value`, `value_out_of_range` (above `max_amount`,
  `max_revenue` or `max_budget_value`), `invalid_currency` (not `^[A-Z]{3}$`) and
  `invalid_value` (`budget_period` not day or month);
- a record with no reason is valid: `contract.parse_event` must accept it (checked), and its
  id is `contract.derive_event_id` of the payload;
- of the valid records with one event id, the first received (received_at, file_path,
  partition, offset) is the Silver event; the others are duplicates. (Silver recognises a copy
  in a later batch only within `quality.duplicate_window_days` of the stored event's
  timestamp; the copies this model is given are stamped within a day of it.)

Gold spend (gold/advertisers.py, gold/spend.py): an event's advertiser key is its
advertiser_id when given, else the smallest id its name was ever given with, else the name (a
stand-in); its label is the smallest name given with that id, else the id (a stand-in is its
own label). Per key and budget-zone hour: clicks' gross spend, a click's first refund (by time,
then event id) credited in the refund's hour for at most the click's amount, the budget in
effect (the last observation up to the hour's end by event time, a budget update before a
click's budget value, then received order, then event id; carried over), spend_to_date of the
budget period, can_serve, pacing. Rows exist for hours with a click, a credited refund or a
budget update.

Serving status (gold/serving.py): "now" is the newest instant valid events show, none counting
past when the serving stream received it; per key with a click or budget observation: the
current period's clicks, the newest budget observation, can_serve.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction
from functools import cache
from math import floor
from types import UnionType
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin
from zoneinfo import ZoneInfo

from ad_marketing_pipeline.config import BudgetPolicy, QualityConfig
from ad_marketing_pipeline.contract import (
    EVENT_MODELS,
    AdClick,
    BudgetUpdate,
    ClickRefund,
    EventModel,
    derive_event_id,
    parse_event,
    parse_event_timestamp,
)
from ad_marketing_pipeline.errors import ContractError

# Silver's reason codes, spelled out (the reference does not import the pipeline's Spark modules).
MALFORMED_JSON = "malformed_json"
OVERSIZED_PAYLOAD = "oversized_payload"
UNKNOWN_EVENT_TYPE = "unknown_event_type"
MISSING_REQUIRED_FIELD = "missing_required_field"
WRONG_TYPE = "wrong_type"
NEGATIVE_VALUE = "negative_value"
UNPARSABLE_TIMESTAMP = "unparsable_timestamp"
TIMESTAMP_IN_FUTURE = "timestamp_in_future"
TIMESTAMP_TOO_OLD = "timestamp_too_old"
INVALID_CURRENCY = "invalid_currency"
INVALID_VALUE = "invalid_value"
INVALID_UNICODE = "invalid_unicode"
VALUE_OUT_OF_RANGE = "value_out_of_range"

HOUR = timedelta(hours=1)
SECOND = timedelta(seconds=1)
MICRO = Fraction(1, 1_000_000)
MONEY_STEP = Decimal("0.000001")
MONEY_BOUND = Decimal(10) ** 12  # DECIMAL(18, 6) holds 12 integer digits
BUDGET_UPDATE_RANK = 2  # a budget update outranks a click's budget value at the same instant
CLICK_BUDGET_RANK = 1

# A lone UTF-16 surrogate escape, or U+FFFD (silver.py's NOT_UNICODE_PATTERN says the same).
_NOT_UNICODE = re.compile(
    r"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    r"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
    "|\ufffd"
)
_CURRENCY = re.compile(r"[A-Z]{3}")
_PLAIN_NUMBER = re.compile(r"[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([Ee][-+]?[0-9]+)?")
_LINE_BREAK = re.compile("\r\n|\r|\n")

Key = TypeVar("Key")
Item = TypeVar("Item")


def grouped(items: Iterable[Item], key: Callable[[Item], Key]) -> dict[Key, list[Item]]:
    groups: dict[Key, list[Item]] = defaultdict(list)
    for item in items:
        groups[key(item)].append(item)
    return groups


def total(values: Iterable[Decimal]) -> Decimal:
    return sum(values, Decimal(0))


def spark_order(*values: Any) -> tuple[tuple[bool, Any], ...]:
    """Values as Spark orders a struct of them: field by field, nulls first."""
    return tuple((value is not None, value) for value in values)


# ---------------------------------------------------------------------------------------------
# Received records
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """One received record as Bronze holds it."""

    payload: str
    received_at: datetime  # aware: the broker time (never after ingestion), else ingestion
    file_path: str | None = None
    partition: int | None = None
    offset: int = 0

    @property
    def received_order(self) -> tuple[tuple[bool, Any], ...]:
        return spark_order(self.received_at, self.file_path, self.partition, self.offset)


def file_lines(content: bytes) -> list[str]:
    """A landing file's lines as Bronze keeps them, read as UTF-8 (bytes that are not UTF-8 read
    as U+FFFD, as Spark shows them): split at \\n, \\r\\n or \\r, no line after a final line
    break, none at all in an empty file. (`str.splitlines` would also split at U+2028, U+0085,
    form feeds and more.)"""
    text = content.decode("utf-8", errors="replace")
    if text == "":
        return []
    lines = _LINE_BREAK.split(text)
    return lines[:-1] if text.endswith(("\r", "\n")) else lines


def file_records(content: bytes, file_path: str, received_at: datetime) -> list[Record]:
    """The records of one landing file, Bronze having ingested it at `received_at`."""
    return [
        Record(line, received_at, file_path, None, offset)
        for offset, line in enumerate(file_lines(content))
    ]


# ---------------------------------------------------------------------------------------------
# Silver: the verdict on each record
# ---------------------------------------------------------------------------------------------


def blank(value: object) -> bool:
    """A string with nothing but ASCII whitespace in it (the contract's blank)."""
    return isinstance(value, str) and value.strip(" \t\n\r\f\v") == ""


FieldKind = Literal["text", "money", "time", "object", "choice"]


def _field_kind(annotation: Any) -> tuple[FieldKind, tuple[str, ...]]:
    """What JSON value a contract field holds (and the allowed values of a choice)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _field_kind(get_args(annotation)[0])
    if origin is Literal:
        return "choice", tuple(str(arg) for arg in get_args(annotation))
    if origin in (Union, UnionType):
        members = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(members) == 1:
            return _field_kind(members[0])
    simple: dict[Any, FieldKind] = {
        str: "text",
        Decimal: "money",
        datetime: "time",
        dict: "object",
    }
    kind = simple.get(origin if origin is not None else annotation)
    if kind is None:
        raise TypeError(f"the reference does not know the contract type {annotation!r}")
    return kind, ()


@dataclass(frozen=True)
class FieldRule:
    name: str
    kind: FieldKind
    required: bool
    allowed: tuple[str, ...] = ()


@cache
def field_rules(event_type: str) -> tuple[FieldRule, ...]:
    """The contract fields of one event type (besides event_type), as the reference checks
    them."""
    rules = []
    for name, info in EVENT_MODELS[event_type].model_fields.items():
        if name == "event_type":
            continue
        kind, allowed = _field_kind(info.annotation)
        rules.append(FieldRule(name, kind, info.is_required(), allowed))
    return tuple(rules)


def money_limits(quality: QualityConfig) -> dict[str, Decimal]:
    return {
        "amount": quality.max_amount,
        "revenue": quality.max_revenue,
        "budget_value": quality.max_budget_value,
    }


def exact_money(value: object) -> Decimal | None:
    """A JSON value as an exact finite number: a JSON number, or a string Python's Decimal reads
    (as the contract's pydantic Decimal does); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, str):
        plain = value.strip(" \t\n\r\f\v")
        if _PLAIN_NUMBER.fullmatch(plain) is None:
            return None  # "1_000", "NaN", "١٢": Python's Decimal reads them, the contract does not
        try:
            number = Decimal(plain)
        except InvalidOperation:
            return None
    else:
        return None  # null, NaN / Infinity (floats), arrays and objects
    return number if number.is_finite() else None


def fitted_money(number: Decimal) -> Decimal | None:
    """A number as DECIMAL(18, 6) holds it (rounded half up, as Spark casts), or None when it
    does not fit."""
    if abs(number) >= MONEY_BOUND:
        return None
    fitted = number.quantize(MONEY_STEP, rounding=ROUND_HALF_UP)
    return fitted if abs(fitted) < MONEY_BOUND else None


def event_time_of(value: object) -> datetime | None:
    """An event's timestamp as the contract parses it; None when it does not parse (also when
    it is beyond Python's datetime range in UTC)."""
    if not isinstance(value, str):
        return None
    try:
        return parse_event_timestamp(value)
    except ValueError:  # e.g. 9999-12-31T23:00:00-05:00, in year 10000 in UTC
        return None


def decode_object(payload: str) -> dict[str, Any] | None:
    """The JSON object a payload holds (numbers as exact Decimals), or None."""
    text = payload.removeprefix("\ufeff")
    try:
        decoded = json.loads(text, parse_float=Decimal, parse_int=Decimal)
    except (ValueError, RecursionError):
        return None
    return decoded if isinstance(decoded, dict) else None


def _time_reasons(
    event_time: datetime | None, received_at: datetime, quality: QualityConfig
) -> set[str]:
    if event_time is None:
        return set()
    reasons = set()
    if event_time > received_at + timedelta(minutes=quality.max_future_skew_minutes):
        reasons.add(TIMESTAMP_IN_FUTURE)
    oldest = quality.earliest_event_time
    if quality.max_event_age_days is not None:
        oldest = max(oldest, received_at - timedelta(days=quality.max_event_age_days))
    if event_time < oldest:
        reasons.add(TIMESTAMP_TOO_OLD)
    return reasons


def _text_reasons(rule: FieldRule, value: object) -> set[str]:
    reasons = set() if isinstance(value, str) else {WRONG_TYPE}
    if rule.name == "currency" and not (isinstance(value, str) and _CURRENCY.fullmatch(value)):
        reasons.add(INVALID_CURRENCY)
    return reasons


def _money_reasons(rule: FieldRule, value: object, quality: QualityConfig) -> set[str]:
    exact = exact_money(value)
    fitted = fitted_money(exact) if exact is not None else None
    reasons = set()
    if fitted is None or fitted != exact:
        reasons.add(WRONG_TYPE)
    if fitted is not None and fitted < 0:
        reasons.add(NEGATIVE_VALUE)
    if fitted is not None and fitted > money_limits(quality).get(rule.name, fitted):
        reasons.add(VALUE_OUT_OF_RANGE)
    return reasons


def _value_reasons(rule: FieldRule, value: object, quality: QualityConfig) -> set[str]:
    """The rules on a field's (non-null) value."""
    if rule.kind == "text":
        return _text_reasons(rule, value)
    if rule.kind == "money":
        return _money_reasons(rule, value, quality)
    wrong = {
        "choice": (INVALID_VALUE, value not in rule.allowed),
        "object": (WRONG_TYPE, not isinstance(value, dict)),
        "time": (UNPARSABLE_TIMESTAMP, event_time_of(value) is None),
    }
    code, failed = wrong[rule.kind]
    return {code} if failed else set()


def _field_reasons(rule: FieldRule, event: Mapping[str, Any], quality: QualityConfig) -> set[str]:
    value = event.get(rule.name)
    reasons = set()
    if rule.required and (value is None or blank(value)):
        reasons.add(MISSING_REQUIRED_FIELD)
    if value is not None:
        reasons |= _value_reasons(rule, value, quality)
    return reasons


def reasons_of(record: Record, quality: QualityConfig) -> set[str]:
    """Every Silver rule the record fails (empty when valid)."""
    payload = record.payload
    reasons = set()
    if len(payload.encode("utf-8", errors="surrogatepass")) > quality.max_payload_bytes:
        reasons.add(OVERSIZED_PAYLOAD)
    if _NOT_UNICODE.search(payload):
        reasons.add(INVALID_UNICODE)
    event = decode_object(payload)
    if event is None:
        return reasons | {MALFORMED_JSON}
    reasons |= _time_reasons(event_time_of(event.get("timestamp")), record.received_at, quality)
    event_type = event.get("event_type")
    if not isinstance(event_type, str) or event_type not in EVENT_MODELS:
        return reasons | {UNKNOWN_EVENT_TYPE}
    for rule in field_rules(event_type):
        reasons |= _field_reasons(rule, event, quality)
    for group in EVENT_MODELS[event_type].one_of:
        if all(event.get(name) is None or blank(event.get(name)) for name in group):
            reasons.add(MISSING_REQUIRED_FIELD)
    return reasons


@dataclass(frozen=True)
class Verdict:
    """Silver's verdict on one record: its reasons, or the valid event and its id."""

    record: Record
    reasons: frozenset[str]
    event: EventModel | None = None
    event_id: str | None = None

    @property
    def valid(self) -> bool:
        return not self.reasons


def judge(record: Record, quality: QualityConfig) -> Verdict:
    reasons = reasons_of(record, quality)
    if reasons:
        return Verdict(record, frozenset(reasons))
    decoded = decode_object(record.payload)
    assert decoded is not None
    try:
        event = parse_event(decoded)
    except ContractError as error:
        raise AssertionError(
            f"the reference finds {record.payload!r} valid but the contract does not: {error}"
        ) from None
    return Verdict(record, frozenset(), event, derive_event_id(record.payload))


@dataclass(frozen=True)
class SilverEvent:
    """A valid event as Silver holds it: the first received copy of its event id."""

    event_id: str
    event: EventModel
    record: Record

    @property
    def event_time(self) -> datetime:
        return self.event.timestamp


@dataclass(frozen=True)
class SilverOutcome:
    verdicts: list[Verdict]  # of every record, in the order given
    events: list[SilverEvent]  # in received order
    duplicates: list[Verdict]
    quarantined: list[Verdict]


def silver(records: Iterable[Record], quality: QualityConfig) -> SilverOutcome:
    """Silver's verdicts and de-duplication over received records."""
    verdicts = [judge(record, quality) for record in records]
    events: dict[str, SilverEvent] = {}
    duplicates: list[Verdict] = []
    for verdict in sorted(
        (verdict for verdict in verdicts if verdict.valid),
        key=lambda verdict: verdict.record.received_order,
    ):
        assert verdict.event is not None and verdict.event_id is not None
        if verdict.event_id in events:
            duplicates.append(verdict)
        else:
            events[verdict.event_id] = SilverEvent(verdict.event_id, verdict.event, verdict.record)
    quarantined = [verdict for verdict in verdicts if not verdict.valid]
    return SilverOutcome(verdicts, list(events.values()), duplicates, quarantined)


# ---------------------------------------------------------------------------------------------
# Advertisers: the id is the key, names are labels
# ---------------------------------------------------------------------------------------------


def given(value: str | None) -> str | None:
    return None if value is None or blank(value) else value


@dataclass(frozen=True)
class Identity:
    key: str
    label: str
    advertiser_id: str | None


class Advertisers:
    """The (advertiser_id, name) pairs valid events give, and the identity they decide."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self.labels: dict[str, str] = {}
        self.links: dict[str, str] = {}
        for advertiser_id, name in pairs:
            self.labels[advertiser_id] = min(name, self.labels.get(advertiser_id, name))
            self.links[name] = min(advertiser_id, self.links.get(name, advertiser_id))

    @classmethod
    def of(cls, events: Iterable[SilverEvent]) -> Advertisers:
        pairs = set()
        for event in (silver_event.event for silver_event in events):
            advertiser_id = given(getattr(event, "advertiser_id", None))
            name = given(getattr(event, "advertiser", None))
            if advertiser_id is not None and name is not None:
                pairs.add((advertiser_id, name))
        return cls(pairs)

    def identify(self, advertiser_id: str | None, name: str | None) -> Identity:
        given_id, given_name = given(advertiser_id), given(name)
        resolved = given_id if given_id is not None else self.links.get(given_name or "")
        if resolved is not None:
            return Identity(resolved, self.labels.get(resolved, resolved), resolved)
        assert given_name is not None, "a valid event names its advertiser"
        return Identity(given_name, given_name, None)


# ---------------------------------------------------------------------------------------------
# Gold: gold_advertiser_spend
# ---------------------------------------------------------------------------------------------

BudgetOrder = tuple[tuple[bool, Any], ...]


@dataclass(frozen=True)
class Observation:
    """One click, credited refund or budget update, under the advertiser it counts for."""

    kind: Literal["click", "refund", "budget_update"]
    advertiser: Identity
    event_time: datetime
    gross: Decimal = Decimal(0)
    credited: Decimal = Decimal(0)
    clicks: int = 0
    budget: Decimal | None = None
    budget_order: BudgetOrder | None = None


def budget_order(event: SilverEvent, rank: int) -> BudgetOrder:
    record = event.record
    return spark_order(
        event.event_time,
        rank,
        record.received_at,
        record.file_path,
        record.partition,
        record.offset,
        event.event_id,
    )


def spend_observations(events: Sequence[SilverEvent]) -> list[Observation]:
    """Clicks, budget updates and each click's first refund (credit at most the click's
    amount, in the refund's hour), each under its advertiser (`Advertisers`)."""
    advertisers = Advertisers.of(events)
    observations: list[Observation] = []
    clicks: dict[str, tuple[AdClick, Identity]] = {}
    first_refunds: dict[str, tuple[tuple[datetime, str], ClickRefund]] = {}
    for silver_event in events:
        event = silver_event.event
        if isinstance(event, AdClick):
            identity = advertisers.identify(event.advertiser_id, event.advertiser)
            clicks[event.click_id] = (event, identity)
            observations.append(
                Observation(
                    "click",
                    identity,
                    event.timestamp,
                    gross=event.amount,
                    clicks=1,
                    budget=event.budget_value,
                    budget_order=(
                        budget_order(silver_event, CLICK_BUDGET_RANK)
                        if event.budget_value is not None
                        else None
                    ),
                )
            )
        elif isinstance(event, BudgetUpdate):
            observations.append(
                Observation(
                    "budget_update",
                    advertisers.identify(event.advertiser_id, event.advertiser),
                    event.timestamp,
                    budget=event.budget_value,
                    budget_order=budget_order(silver_event, BUDGET_UPDATE_RANK),
                )
            )
        elif isinstance(event, ClickRefund):
            rank = (event.timestamp, silver_event.event_id)
            known = first_refunds.get(event.click_id)
            if known is None or rank < known[0]:
                first_refunds[event.click_id] = (rank, event)
    for click_id, ((refunded_at, _refund_id), refund) in first_refunds.items():
        if click_id not in clicks:
            continue
        click, identity = clicks[click_id]
        credit = min(refund.amount if refund.amount is not None else click.amount, click.amount)
        observations.append(Observation("refund", identity, refunded_at, credited=credit))
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

    advertiser: Identity
    hour: LocalHour
    gross_spend: Decimal = Decimal(0)
    credited_spend: Decimal = Decimal(0)
    record_count: int = 0
    budgets: list[tuple[BudgetOrder, Decimal]] = field(default_factory=list)
    event_times: list[datetime] = field(default_factory=list)
    budget_value: Decimal | None = None
    budget_changed: bool = False
    spend_to_date: Decimal = Decimal(0)

    def add(self, observation: Observation) -> None:
        self.gross_spend += observation.gross
        self.credited_spend += observation.credited
        self.record_count += observation.clicks
        if observation.budget is not None and observation.budget_order is not None:
            self.budgets.append((observation.budget_order, observation.budget))
        self.event_times.append(observation.event_time)

    @property
    def key(self) -> str:
        return self.advertiser.key

    @property
    def latest_event_time(self) -> datetime:
        return max(self.event_times)

    @property
    def net_spend(self) -> Decimal:
        return self.gross_spend - self.credited_spend

    @property
    def hour_budget(self) -> Decimal | None:
        """The last budget observation of the hour (`budget_order`)."""
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
        """The row in ADVERTISER_SPEND_DDL's column order."""
        hour = self.hour
        return (
            self.advertiser.key,
            self.advertiser.label,
            self.advertiser.advertiser_id,
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


ADVERTISER_SPEND_DDL = (
    "advertiser_key string, advertiser string, advertiser_id string, spend_hour timestamp, "
    "window_start timestamp, window_end timestamp, spend_day date, spend_month date, "
    "period_start timestamp, gross_spend decimal(38,6), credited_spend decimal(38,6), "
    "net_spend decimal(38,6), record_count bigint, budget_value decimal(18,6), "
    "avg_budget decimal(18,6), budget_changed boolean, spend_to_date decimal(38,6), "
    "can_serve boolean, expected_spend_to_date decimal(38,6), pacing_ratio double, "
    "latest_event_time timestamp"
)


def spend_rows(observations: Iterable[Observation], policy: BudgetPolicy) -> list[SpendRow]:
    """Advertiser x hour rows with the budget in effect (carried over from earlier hours),
    spend_to_date within the budget period, can_serve and pacing."""
    rows: dict[tuple[str, datetime], SpendRow] = {}
    for observation in observations:
        hour = local_hour(observation.event_time, policy)
        key = (observation.advertiser.key, hour.wall_clock)
        rows.setdefault(key, SpendRow(observation.advertiser, hour)).add(observation)
    ordered = sorted(rows.values(), key=lambda row: (row.key, row.hour.window_start))
    previous: SpendRow | None = None
    for row in ordered:
        if previous is not None and previous.key != row.key:
            previous = None
        carried = previous.budget_value if previous is not None else None
        row.budget_value = row.hour_budget if row.hour_budget is not None else carried
        row.budget_changed = row.budget_value != carried
        row.spend_to_date = row.gross_spend
        if previous is not None and previous.hour.period_start == row.hour.period_start:
            row.spend_to_date += previous.spend_to_date
        previous = row
    return ordered


def advertiser_spend(events: Sequence[SilverEvent], policy: BudgetPolicy) -> list[SpendRow]:
    """gold_advertiser_spend as the Silver events decide it."""
    return spend_rows(spend_observations(events), policy)


# ---------------------------------------------------------------------------------------------
# The serving status (gold_latest_serving_status)
# ---------------------------------------------------------------------------------------------

LATEST_SERVING_STATUS_DDL = (
    "advertiser string, advertiser_id string, advertiser_key string, latest_hour timestamp, "
    "latest_can_serve boolean, budget_value decimal(18,6), spend_to_date decimal(38,6), "
    "current_period_start timestamp, as_of timestamp"
)


def serving_now(events: Iterable[SilverEvent], received_by: datetime) -> datetime | None:
    """ "Now": the newest instant the events show, none counting past when the serving stream
    received it (all of them by `received_by`)."""
    return max((min(event.event_time, received_by) for event in events), default=None)


def latest_serving_status(
    events: Sequence[SilverEvent], policy: BudgetPolicy, received_by: datetime
) -> list[tuple[Any, ...]]:
    """gold_latest_serving_status rows (LATEST_SERVING_STATUS_DDL's order), the serving stream
    having received every event by `received_by`."""
    as_of = serving_now(events, received_by)
    if as_of is None:
        return []
    current_period = local_hour(as_of, policy).period_start
    observed = [o for o in spend_observations(events) if o.kind != "refund"]
    statuses = []
    for own in grouped(observed, lambda observation: observation.advertiser.key).values():
        advertiser = own[0].advertiser
        spend = total(
            o.gross
            for o in own
            if o.kind == "click" and local_hour(o.event_time, policy).period_start == current_period
        )
        budgets = [(o.budget_order, o.budget) for o in own if o.budget is not None]
        budget = max(budgets)[1] if budgets else None
        can_serve = policy.missing_budget == "serve" if budget is None else spend < budget
        statuses.append(
            (
                advertiser.label,
                advertiser.advertiser_id,
                advertiser.key,
                max(local_hour(o.event_time, policy).window_start for o in own),
                can_serve,
                budget,
                spend,
                current_period,
                as_of,
            )
        )
    return statuses


def outcome_counts(outcome: SilverOutcome) -> dict[str, int]:
    """Silver's totals as ops_data_quality sums them."""
    return {
        "input_rows": len(outcome.verdicts),
        "valid_rows": len(outcome.events) + len(outcome.duplicates),
        "inserted_rows": len(outcome.events),
        "duplicate_rows": len(outcome.duplicates),
        "quarantined_rows": len(outcome.quarantined),
    }


def by_position(outcome: SilverOutcome) -> Iterator[tuple[Record, str, frozenset[str]]]:
    """Each record with where it lands: ("silver" | "duplicate" | "quarantine", reasons)."""
    inserted = {event.record for event in outcome.events}
    for verdict in outcome.verdicts:
        if not verdict.valid:
            yield verdict.record, "quarantine", verdict.reasons
        elif verdict.record in inserted:
            yield verdict.record, "silver", frozenset()
        else:
            yield verdict.record, "duplicate", frozenset()
