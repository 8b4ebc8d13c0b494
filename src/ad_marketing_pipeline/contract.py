"""The event contract (v1), defined once.

Each event type is a pydantic model; the Spark schemas that parse and hold events are derived from
those models (`payload_schema`, `event_schema`), never written by hand. Timestamps are ISO-8601 and
a timestamp without a zone is UTC. Unknown extra fields are allowed.

`event_id` is the event type and its id: `ad_click:<click_id>`, `conversion:<conversion_id>`,
`<event_type>:<event_id>` for other types that carry an `event_id`, and otherwise
`<event_type>:<SHA-256 of the whole payload>` (its JSON text without surrounding whitespace), so
an exact re-send gets the same id and a different payload does not. A click and a conversion may
share an id without being one event. `derive_event_id` (Python) and `event_id_column` (Spark)
compute the same value.
"""

from __future__ import annotations

import hashlib
import json
import re
import types
import typing
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.types import (
    DataType,
    DecimalType,
    DoubleType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from ad_marketing_pipeline.errors import ContractError

CONTRACT_VERSION = "v1"

# Money is exact: DECIMAL(18, 6) holds 12 integer digits and sub-cent prices (CPM costs).
MONEY_PRECISION = 18
MONEY_SCALE = 6
MONEY_TYPE = DecimalType(MONEY_PRECISION, MONEY_SCALE)
# Sums of money (spend of an hour, of a period, revenue of a day): room for any number of events
# of the largest single value.
MONEY_SUM_TYPE = DecimalType(38, MONEY_SCALE)


def parse_event_timestamp(value: object) -> datetime:
    """An ISO-8601 string (or datetime) as an aware UTC datetime; no zone means UTC."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError as error:
            raise ValueError(f"timestamp {value!r} is not ISO-8601") from error
    else:
        raise ValueError(f"timestamp must be an ISO-8601 string, got {type(value).__name__}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


EventTimestamp = Annotated[datetime, BeforeValidator(parse_event_timestamp)]
Money = Annotated[Decimal, Field(ge=0, max_digits=MONEY_PRECISION, decimal_places=MONEY_SCALE)]
CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
BudgetPeriod = Literal["day", "month"]


class _Event(BaseModel):
    """Fields every event type has."""

    model_config = ConfigDict(extra="allow", frozen=True)

    event_type: str
    event_id: str | None = None
    timestamp: EventTimestamp

    # Groups of fields of which at least one must be present ("advertiser or advertiser_id").
    one_of: ClassVar[tuple[tuple[str, ...], ...]] = ()

    @model_validator(mode="after")
    def _check_one_of(self) -> _Event:
        for group in self.one_of:
            if all(getattr(self, name) in (None, "") for name in group):
                raise ValueError(f"one of {' or '.join(group)} is required")
        return self


class AdClick(_Event):
    """A paid click; `amount` is its cost. Accepts the original Event Hub pipeline's JSON."""

    event_type: Literal["ad_click"]
    click_id: str
    advertiser: str | None = None
    advertiser_id: str | None = None
    ad_id: str
    amount: Money
    campaign_id: str | None = None
    campaign_name: str | None = None
    user_id: str | None = None
    budget_value: Money | None = None
    source: str | None = None
    medium: str | None = None
    platform: str | None = None
    currency: CurrencyCode | None = None
    metadata: dict[str, Any] | None = None

    one_of = (("advertiser", "advertiser_id"),)


class Impression(_Event):
    """An ad shown; `amount` is its cost (CPM buys), 0 when not given."""

    event_type: Literal["impression"]
    advertiser: str | None = None
    advertiser_id: str | None = None
    ad_id: str
    amount: Money = Decimal(0)
    campaign_id: str | None = None
    user_id: str | None = None
    source: str | None = None
    medium: str | None = None
    platform: str | None = None

    one_of = (("advertiser", "advertiser_id"),)


class Conversion(_Event):
    """A purchase or sign-up by a user, worth `revenue`."""

    event_type: Literal["conversion"]
    conversion_id: str
    user_id: str
    revenue: Money
    advertiser: str | None = None
    advertiser_id: str | None = None
    campaign_id: str | None = None
    currency: CurrencyCode | None = None
    conversion_type: str | None = None
    device_id: str | None = None


class ConversionCancellation(_Event):
    """Cancels an earlier conversion (its revenue no longer counts)."""

    event_type: Literal["conversion_cancellation"]
    conversion_id: str
    reason: str | None = None


class ClickRefund(_Event):
    """Credits a click back to the advertiser; `amount` defaults to the click's amount."""

    event_type: Literal["click_refund"]
    click_id: str
    amount: Money | None = None
    reason: str | None = None


class BudgetUpdate(_Event):
    """Sets an advertiser's budget from `timestamp` on."""

    event_type: Literal["budget_update"]
    advertiser: str | None = None
    advertiser_id: str | None = None
    budget_value: Money
    budget_period: BudgetPeriod | None = None

    one_of = (("advertiser", "advertiser_id"),)


class PageView(_Event):
    """A visit to the advertiser's site, with its marketing source when known."""

    event_type: Literal["page_view"]
    user_id: str
    session_id: str | None = None
    source: str | None = None
    medium: str | None = None
    campaign: str | None = None
    page: str | None = None


EventModel = (
    AdClick
    | Impression
    | Conversion
    | ConversionCancellation
    | ClickRefund
    | BudgetUpdate
    | PageView
)
EVENT_MODELS: dict[str, type[_Event]] = {
    "ad_click": AdClick,
    "impression": Impression,
    "conversion": Conversion,
    "conversion_cancellation": ConversionCancellation,
    "click_refund": ClickRefund,
    "budget_update": BudgetUpdate,
    "page_view": PageView,
}
EVENT_TYPES: tuple[str, ...] = tuple(EVENT_MODELS)

_EVENT_ADAPTER: TypeAdapter[EventModel] = TypeAdapter(
    Annotated[EventModel, Field(discriminator="event_type")]
)


def parse_event(payload: Mapping[str, Any]) -> EventModel:
    """Validate one decoded JSON object against the contract, or raise `ContractError`."""
    try:
        return _EVENT_ADAPTER.validate_python(payload)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc']) or 'event'}: {issue['msg']}"
            for issue in error.errors()
        )
        raise ContractError(
            f"event does not follow contract {CONTRACT_VERSION}: {problems}"
        ) from None


def required_fields(event_type: str) -> tuple[str, ...]:
    """The fields an event of this type must carry (besides event_type and the one_of groups)."""
    model = EVENT_MODELS[event_type]
    return tuple(
        name
        for name, field in model.model_fields.items()
        if field.is_required() and name != "event_type"
    )


def required_one_of(event_type: str) -> tuple[tuple[str, ...], ...]:
    """Groups of fields of which an event of this type needs at least one."""
    return EVENT_MODELS[event_type].one_of


# ---------------------------------------------------------------------------------------------
# Spark schemas, derived from the models
# ---------------------------------------------------------------------------------------------


def _spark_type(annotation: Any) -> DataType:
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _spark_type(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(members) != 1:
            raise TypeError(f"cannot derive a Spark type for union {annotation!r}")
        return _spark_type(members[0])
    if origin is Literal:
        return StringType()
    if origin is dict or annotation is dict:
        # Nested objects are kept as JSON text per key; Spark's JSON reader does that for strings.
        return MapType(StringType(), StringType())
    simple: dict[Any, DataType] = {
        str: StringType(),
        Decimal: MONEY_TYPE,
        int: LongType(),
        float: DoubleType(),
        datetime: TimestampType(),
    }
    if annotation in simple:
        return simple[annotation]
    raise TypeError(f"cannot derive a Spark type for {annotation!r}")


def _derive_schema() -> StructType:
    fields: dict[str, DataType] = {}
    for model in EVENT_MODELS.values():
        for name, field in model.model_fields.items():
            data_type = _spark_type(field.annotation)
            known = fields.setdefault(name, data_type)
            if known != data_type:
                raise TypeError(
                    f"field {name!r} has type {data_type} in {model.__name__} "
                    f"but {known} in another event type"
                )
    return StructType([StructField(name, data_type, True) for name, data_type in fields.items()])


def payload_schema() -> StructType:
    """Schema to parse a raw JSON payload with: every contract field as text. Spark keeps any
    JSON value of a string field as its text, so a value of the wrong type never fails the
    record; `typed_field_column` converts each field and gives null where it does not fit."""
    return StructType([StructField(field.name, StringType()) for field in event_schema().fields])


def event_schema() -> StructType:
    """Schema of a parsed event: every contract field, typed, all nullable."""
    return _derive_schema()


def event_timestamp_column(text: Column) -> Column:
    """ISO-8601 text as a TIMESTAMP; text without a zone is UTC; unparsable text is null."""
    trimmed = F.trim(text)
    has_zone = trimmed.rlike(r"(?i)[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*(z|[+-]\d{2}(:?\d{2})?)$")
    return F.try_to_timestamp(F.when(has_zone, trimmed).otherwise(F.concat(trimmed, F.lit("Z"))))


CORRUPT_RECORD_FIELD = "_corrupt_record"


def typed_field_column(text: Column, data_type: DataType) -> Column:
    """A field's JSON text as its contract type; null when absent or when it does not fit
    (e.g. "abc" or 1e30 for an amount, a non-object for metadata)."""
    if isinstance(data_type, StringType):
        return text
    if isinstance(data_type, TimestampType):
        return event_timestamp_column(text)
    if isinstance(data_type, MapType):
        return F.when(F.trim(text).startswith("{"), F.from_json(text, data_type.simpleString()))
    return text.try_cast(data_type)


def json_text_column(raw: Column) -> Column:
    """A payload's JSON text without a leading UTF-8 byte-order mark (some tools write one at
    the start of every file), which a JSON parser would reject."""
    return F.regexp_replace(raw, "^\ufeff", "")


def payload_text_column(raw_payload: Column) -> Column:
    """A raw JSON payload as a struct of every contract field's text (`payload_schema()`);
    null when the payload is not a JSON object."""
    raw = json_text_column(raw_payload)
    parse_schema = StructType(
        [*payload_schema().fields, StructField(CORRUPT_RECORD_FIELD, StringType())]
    )
    parsed = F.from_json(
        raw, parse_schema, {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT_RECORD_FIELD}
    )
    is_object = F.trim(raw).startswith("{")
    unparsed = F.coalesce(
        parsed.isNull() | parsed[CORRUPT_RECORD_FIELD].isNotNull() | ~is_object, F.lit(True)
    )
    texts = [parsed[field.name].alias(field.name) for field in payload_schema().fields]
    return F.when(~unparsed, F.struct(*texts))


def parse_payload_column(raw: Column) -> Column:
    """A raw JSON payload as a struct of `event_schema()`; null when the payload is not a JSON
    object. Absent fields, and fields whose value does not fit their type, are null.

    Unknown extra fields are not in the struct; callers that keep them read them from the raw text.
    """
    texts = payload_text_column(raw)
    typed_fields = [
        typed_field_column(texts[field.name], field.dataType).alias(field.name)
        for field in event_schema().fields
    ]
    return F.when(texts.isNotNull(), F.struct(*typed_fields))


# ---------------------------------------------------------------------------------------------
# event_id
# ---------------------------------------------------------------------------------------------

_OWN_ID_FIELD = {"ad_click": "click_id", "conversion": "conversion_id"}
_ID_SEPARATOR = ":"
# Whitespace around a payload is not part of it (a Kafka value may end with a newline where the
# same event's line in a landing file does not). Java's and Python's `\s` differ, so spelled out.
_PAYLOAD_SPACE = "[ \t\n\u000b\f\r]"
_PAYLOAD_PADDING = f"^(\ufeff|{_PAYLOAD_SPACE})+|{_PAYLOAD_SPACE}+$"


def payload_identity_text(payload: str) -> str:
    """The payload text an id hash covers: without a byte-order mark and surrounding spaces."""
    return re.sub(_PAYLOAD_PADDING, "", payload)


def derive_event_id(payload: str) -> str:
    """The id of the event a JSON payload holds, as `event_id_column` computes it in Spark
    (for ids given as JSON strings)."""
    identity_text = payload_identity_text(payload)
    event = json.loads(identity_text)
    event_type = str(event.get("event_type"))
    own_field = _OWN_ID_FIELD.get(event_type)
    for candidate in (event.get(own_field) if own_field else None, event.get("event_id")):
        if candidate not in (None, ""):
            return f"{event_type}{_ID_SEPARATOR}{candidate}"
    digest = hashlib.sha256(identity_text.encode("utf-8")).hexdigest()
    return f"{event_type}{_ID_SEPARATOR}{digest}"


def event_id_column(payload: Column) -> Column:
    """The event's id from flat contract columns in scope (`event_type`, `click_id`,
    `conversion_id`, `event_id`) and its raw JSON `payload`."""
    own_id = F.coalesce(
        *(
            F.when(F.col("event_type") == event_type, F.nullif(F.col(field), F.lit("")))
            for event_type, field in _OWN_ID_FIELD.items()
        )
    )
    payload_hash = F.sha2(F.regexp_replace(payload, _PAYLOAD_PADDING, ""), 256)
    given = F.coalesce(own_id, F.nullif(F.col("event_id"), F.lit("")), payload_hash)
    return F.concat(F.col("event_type"), F.lit(_ID_SEPARATOR), given)
