"""Named builders of the contract's events, the one way tests make events.

Each builder gives one event type (`BUILDERS` maps the contract's types to them) with defaults,
so that a test names only what matters to it: `click("c-1", amount="2.50", at="2024-01-02T09:10Z")`.
A builder returns an `Event`, the fields of its JSON payload, which converts to each shape a test
needs:

- `event.line()`: its JSON text, what lands in a landing file or is sent to Kafka (`jsonl` for a
  whole file);
- `silver_row(event)`: its row of silver_ad_events, a tuple in `SILVER_EVENTS_SCHEMA` order with
  the `event_id` Silver derives (`ad_click:c-1`, see contract/event_ids.py); `silver_values`
  gives the same row as {column: value};
- `silver_frame(spark, events)`: Silver rows as a DataFrame, received in the order listed (one
  landing file, line after line), or only the columns of a transform's narrower schema;
  `append_to_silver` writes them to a Silver table as one commit.

Values: a builder argument or override goes into the payload as given, odd values included.
`None` removes the field, `JSON_NULL` writes a JSON null, `Raw("NaN")` writes its text verbatim; a
`datetime` is written as ISO-8601 UTC text (a naive one is taken as UTC), a `Decimal` as a JSON
number.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import DataType, DecimalType, MapType, StructType, TimestampType

from ad_marketing_pipeline import contract
from ad_marketing_pipeline.contract import is_blank
from ad_marketing_pipeline.tables import SILVER_EVENTS_SCHEMA

#: The default event time: noon UTC on 1 January 2024.
NOON: Final = "2024-01-01T12:00:00Z"
#: The landing file Silver rows come from unless a test says otherwise.
LANDING_FILE: Final = "landing/events.jsonl"


class _JsonNull:
    def __repr__(self) -> str:
        return "JSON_NULL"


#: A field present with the value null (`None` removes a field instead).
JSON_NULL: Final = _JsonNull()


@dataclass(frozen=True)
class Raw:
    """A value written into the JSON text verbatim: `Raw("NaN")`, `Raw("1e400")`, an escape
    such as `Raw('"\\\\ud800"')` (a lone surrogate, which a Python string cannot carry)."""

    text: str


def _stamp(moment: datetime) -> str:
    """ISO-8601 text of an instant in UTC, `Z` for the zone; a naive datetime is UTC."""
    utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return utc.isoformat().replace("+00:00", "Z")


def _json(value: object) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, _JsonNull):
        return "null"
    if isinstance(value, datetime):
        return json.dumps(_stamp(value))
    if isinstance(value, Decimal):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _given(fields: Mapping[str, object]) -> MappingProxyType[str, object]:
    return MappingProxyType({name: value for name, value in fields.items() if value is not None})


@dataclass(frozen=True)
class Event:
    """One event: its payload's fields in order (never None: a removed field is absent), and
    the Silver or transform columns a test sets for it (`with_columns`)."""

    fields: Mapping[str, object]
    columns: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def event_type(self) -> str:
        return str(self.fields.get("event_type"))

    @property
    def event_id(self) -> str:
        """The id Silver gives it (`contract.derive_event_id`), e.g. `ad_click:c-1`."""
        return contract.derive_event_id(self.line())

    def get(self, name: str) -> object:
        """A payload field's value as given, None when absent."""
        return self.fields.get(name)

    def with_fields(self, **overrides: object) -> Event:
        """The same event with these payload fields set (None removes one)."""
        return Event(_given({**self.fields, **overrides}), self.columns)

    def with_columns(self, **columns: object) -> Event:
        """The same event with these Silver (or transform) columns set in its rows: its
        `offset`, `received_at`, or a column a transform adds such as `advertiser_key`."""
        return Event(self.fields, MappingProxyType({**self.columns, **columns}))

    def line(self) -> str:
        """The payload's JSON text, as json.dumps writes it (non-ASCII text unescaped)."""
        members = [
            f"{json.dumps(name, ensure_ascii=False)}: {_json(value)}"
            for name, value in self.fields.items()
        ]
        return "{" + ", ".join(members) + "}"

    def payload(self) -> dict[str, Any]:
        """The payload decoded as a JSON parser reads the line."""
        decoded: dict[str, Any] = json.loads(self.line())
        return decoded


def line(event: Event) -> str:
    """`event.line()`: the event's JSON text."""
    return event.line()


def jsonl(events: Iterable[Event | str]) -> str:
    """A landing file's text: one line per event (a str is a line as it is, e.g. broken JSON),
    each ending in a line break."""
    return "".join(f"{item if isinstance(item, str) else item.line()}\n" for item in events)


def _event(event_type: str, /, **fields: object) -> Event:
    """An event of this type (an `event_type` among the fields overrides it)."""
    return Event(_given({"event_type": event_type, **fields}))


# ---------------------------------------------------------------------------------------------
# One builder per event type of the contract
# ---------------------------------------------------------------------------------------------


def click(
    click_id: object = "c-1",
    *,
    amount: object = Decimal("0.50"),
    at: object = NOON,
    advertiser: object = "acme",
    ad_id: object = "ad-1",
    **overrides: object,
) -> Event:
    """A paid click (ad_click) `click_id` on `advertiser`'s ad at `at`, costing `amount`.
    Anything else it may carry (advertiser_id, user_id, budget_value, source, medium,
    campaign_id, currency, metadata, ...) is an override."""
    return _event(
        "ad_click",
        click_id=click_id,
        advertiser=advertiser,
        ad_id=ad_id,
        amount=amount,
        timestamp=at,
        **overrides,
    )


def impression(
    *, at: object = NOON, advertiser: object = "acme", ad_id: object = "ad-1", **overrides: object
) -> Event:
    """An ad of `advertiser` shown at `at`; free unless an `amount` (its CPM cost) is given.
    It has no id of its own: Silver's id is an `event_id` override, else the payload's hash."""
    return _event("impression", advertiser=advertiser, ad_id=ad_id, timestamp=at, **overrides)


def conversion(
    conversion_id: object = "v-1",
    *,
    revenue: object = Decimal(20),
    user_id: object = "u-1",
    at: object = NOON,
    **overrides: object,
) -> Event:
    """A purchase (conversion) `conversion_id` by `user_id` at `at`, worth `revenue`."""
    return _event(
        "conversion",
        conversion_id=conversion_id,
        user_id=user_id,
        revenue=revenue,
        timestamp=at,
        **overrides,
    )


def cancellation(conversion_id: object = "v-1", *, at: object = NOON, **overrides: object) -> Event:
    """A conversion_cancellation of conversion `conversion_id` at `at`: its revenue no longer
    counts. Its Silver id is an `event_id` override, else the payload's hash."""
    return _event("conversion_cancellation", conversion_id=conversion_id, timestamp=at, **overrides)


def refund(click_id: object = "c-1", *, at: object = NOON, **overrides: object) -> Event:
    """A click_refund at `at` crediting click `click_id` back (its whole amount unless an
    `amount` is given). Its Silver id is an `event_id` override, else the payload's hash."""
    return _event("click_refund", click_id=click_id, timestamp=at, **overrides)


def budget(
    *,
    budget_value: object = Decimal(100),
    advertiser: object = "acme",
    at: object = NOON,
    **overrides: object,
) -> Event:
    """A budget_update: `advertiser`'s budget is `budget_value` from `at` on (the policy's
    period unless a `budget_period` is given). Its Silver id is an `event_id` override, else
    the payload's hash."""
    return _event(
        "budget_update",
        advertiser=advertiser,
        budget_value=budget_value,
        timestamp=at,
        **overrides,
    )


def page_view(*, user_id: object = "u-1", at: object = NOON, **overrides: object) -> Event:
    """A visit of `user_id` to the advertiser's site at `at`; a marketing touch when it has a
    `source` (and `medium`). Its Silver id is an `event_id` override, else the payload's hash."""
    return _event("page_view", user_id=user_id, timestamp=at, **overrides)


#: The builder of each event type of the contract.
BUILDERS: Final[Mapping[str, Callable[..., Event]]] = MappingProxyType(
    {
        "ad_click": click,
        "impression": impression,
        "conversion": conversion,
        "conversion_cancellation": cancellation,
        "click_refund": refund,
        "budget_update": budget,
        "page_view": page_view,
    }
)


# ---------------------------------------------------------------------------------------------
# Silver rows
# ---------------------------------------------------------------------------------------------

_CONTRACT_FIELDS = contract.event_schema()
_CONTRACT_NAMES = frozenset(_CONTRACT_FIELDS.fieldNames())
_SILVER_COLUMNS = tuple(SILVER_EVENTS_SCHEMA.fieldNames())


def _text(value: object) -> str | None:
    """A JSON value as Spark's JSON reader gives it for a string-typed field: a string as it
    is, anything else as its compact JSON text."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _typed(data_type: DataType, value: object) -> object:
    """A payload value as its contract column holds it; None where it does not fit (a field
    of another event type, which no rule checks)."""
    if value is None:
        return None
    if isinstance(data_type, MapType):
        return (
            {key: _text(item) for key, item in value.items()} if isinstance(value, dict) else None
        )
    if not isinstance(data_type, TimestampType | DecimalType):
        return _text(value)  # the contract's other columns are text
    try:
        if isinstance(data_type, TimestampType):
            return contract.parse_event_timestamp(value)
        return Decimal(str(value).strip())
    except (ValueError, ArithmeticError):
        return None


def _utc(moment: object) -> datetime:
    assert isinstance(moment, datetime), moment
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _silver_values(
    event: Event, defaults: Mapping[str, object], overrides: Mapping[str, object]
) -> dict[str, object]:
    payload = json.loads(event.line(), parse_float=Decimal)  # money exactly as written
    model = contract.parse_event(payload)  # Silver holds only events that follow the contract
    own_fields = type(model).model_fields
    plain = event.payload()  # JSON text of objects and numbers as written
    values: dict[str, object] = {name: None for name in _SILVER_COLUMNS}
    for spec in _CONTRACT_FIELDS.fields:
        name = spec.name
        if isinstance(spec.dataType, MapType):
            value = plain.get(name)
        else:
            # (the model's value, normalized; a default such as an impression's amount 0 is
            # the Python side's: Silver holds null for a field the payload lacks)
            normalized = name in own_fields and name in payload
            value = getattr(model, name) if normalized else payload.get(name)
        column = "event_time" if name == "timestamp" else name
        values[column] = _typed(spec.dataType, value)
    values["event_id"] = event.event_id
    values["extra_fields"] = {
        name: _text(value) for name, value in plain.items() if name not in _CONTRACT_NAMES
    }
    given = {**defaults, **event.columns, **overrides}
    ingested = _utc(given.get("ingested_at", values["event_time"]))
    values |= {
        "source_kind": "files",
        "offset": 0,
        "file_path": LANDING_FILE,
        "ingested_at": ingested,
        "received_at": ingested,  # a landing file's line: received when ingested
        "is_valid": True,
        "processed_at": ingested,
        "ingest_year": ingested.year,
        "ingest_month": ingested.month,
        "ingest_day": ingested.day,
        "ingest_hour": ingested.hour,
    }
    return values | given | {"ingested_at": ingested}


def silver_values(event: Event, **columns: object) -> dict[str, object]:
    """The event's silver_ad_events row as {column: value}, as Silver stores the event: typed
    contract fields (timestamps as aware UTC datetimes, money as Decimals), unknown fields in
    `extra_fields`, the derived `event_id`, received from `LANDING_FILE` (line 0) when it was
    ingested, by default at its event time. The event's `with_columns` and then `columns` set
    any column, also one Silver lacks (a transform's, e.g. `advertiser_key`). Raises
    ContractError for an event Silver would quarantine for its contract."""
    return _silver_values(event, {}, columns)


def silver_row(event: Event, **columns: object) -> tuple[object, ...]:
    """`silver_values` as a tuple in SILVER_EVENTS_SCHEMA order."""
    values = silver_values(event, **columns)
    unknown = set(values) - set(_SILVER_COLUMNS)
    if unknown:
        raise ValueError(f"not columns of silver_ad_events: {sorted(unknown)}")
    return tuple(values[name] for name in _SILVER_COLUMNS)


def silver_frame(
    spark: SparkSession,
    events: Sequence[Event],
    schema: StructType | str = SILVER_EVENTS_SCHEMA,
    **columns: object,
) -> DataFrame:
    """The events' Silver rows, received in the order listed: lines 0, 1, ... of one landing
    file unless an event's own columns say otherwise; `columns` set a column of every row.
    With a narrower `schema` (a StructType or DDL), only its columns, by name: the frame a
    single transform reads."""
    names = (
        schema.fieldNames()
        if isinstance(schema, StructType)
        else spark.createDataFrame([], schema).columns
    )
    rows = []
    for position, event in enumerate(events):
        values = _silver_values(event, {"offset": position}, columns)
        missing = [name for name in names if name not in values]
        if missing:
            raise ValueError(f"no value for columns {missing} (set them with with_columns)")
        rows.append(tuple(values[name] for name in names))
    return spark.createDataFrame(rows, schema)


def with_advertiser_key(event: Event) -> Event:
    """The event with the `advertiser_key` Gold gives it while no name is linked to an id
    (gold/advertisers.py, tested on its own): its advertiser_id, else its advertiser name (a
    blank one counts as none); for the frames of Gold's transforms, which read keyed events."""
    given = (event.get(name) for name in ("advertiser_id", "advertiser"))
    return event.with_columns(advertiser_key=next((v for v in given if not is_blank(v)), None))


def append_to_silver(
    spark: SparkSession, table: str, events: Sequence[Event], **columns: object
) -> None:
    """Append the events' Silver rows (`silver_frame`) to a silver_ad_events table as one
    commit of one file: one micro-batch of a stream reading one file per batch. Give
    `ingested_at` (and `silver_batch_id`) to say when Silver stored them."""
    frame = silver_frame(spark, events, SILVER_EVENTS_SCHEMA, **columns).coalesce(1)
    frame.write.format("delta").mode("append").saveAsTable(table)
