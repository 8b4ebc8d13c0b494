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
from pyspark.sql import Column, DataFrame
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
    VariantType,
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


# A blank text is empty or only ASCII whitespace (the same characters in Java's and Python's
# regexes): a blank required field or advertiser counts as missing.
BLANK_PATTERN = "^[ \\t\\n\\r\\f\\x0B]*$"
# The timestamps the contract accepts: a date, optionally a time (hours and minutes; seconds
# and up to nine decimals, truncated to microseconds, optional) and a zone (Z, +HH, +HHMM or
# +HH:MM). A time without a zone is UTC, and a date alone is its midnight UTC. Python and Spark
# read exactly these forms (ASCII digits only: Python's \d would take other scripts' digits).
TIMESTAMP_PATTERN = (
    "^([0-9]{4}-[0-9]{2}-[0-9]{2})"
    "(?:[T ]([0-9]{2}:[0-9]{2})(:[0-9]{2}(?:\\.[0-9]{1,9})?)?(Z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?$"
)
_SPACE = " \t\n\r\f\x0b"


def _trimmed(text: Column) -> Column:
    """`text` without the ASCII whitespace around it (Spark's `trim` takes spaces only)."""
    return F.regexp_replace(text, f"^[{_SPACE}]+|[{_SPACE}]+$", "")


def blank_column(text: Column) -> Column:
    """Whether a text column counts as absent (never null): null, or blank (the Spark form of
    `is_blank`)."""
    return text.isNull() | text.rlike(BLANK_PATTERN)


def is_blank(value: object) -> bool:
    """Whether a field's value counts as absent: None, or a blank text."""
    return value is None or (
        isinstance(value, str) and re.fullmatch(BLANK_PATTERN, value) is not None
    )


def parse_event_timestamp(value: object) -> datetime:
    """An ISO-8601 string (TIMESTAMP_PATTERN) or datetime as an aware UTC datetime; no zone
    means UTC."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        text = value.strip(_SPACE)
        if re.fullmatch(TIMESTAMP_PATTERN, text) is None:
            raise ValueError(f"timestamp {value!r} is not an ISO-8601 date and time")
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError as error:
            raise ValueError(f"timestamp {value!r} is not a valid instant") from error
    else:
        raise ValueError(f"timestamp must be an ISO-8601 string, got {type(value).__name__}")
    try:
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError as error:  # beyond years 1-9999 once in UTC
        raise ValueError(f"timestamp {value!r} is not a valid instant") from error


EventTimestamp = Annotated[datetime, BeforeValidator(parse_event_timestamp)]
# A money value is a JSON number or a string of one, written plainly: ASCII digits with an
# optional sign, point and exponent, ASCII whitespace around it ignored; no underscores, other
# scripts' digits, NaN or Infinity (which Python's Decimal would take, and Java's some of).
MONEY_TEXT = "[+-]?(?:[0-9]+(?:\\.[0-9]*)?|\\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
MONEY_TEXT_PATTERN = f"^[{_SPACE}]*(?:{MONEY_TEXT})[{_SPACE}]*\\z"  # Java's; \\z: the very end


def _plain_money_text(value: object) -> object:
    if not isinstance(value, str):
        return value
    plain = value.strip(_SPACE)
    if re.fullmatch(MONEY_TEXT, plain) is None:
        raise ValueError(f"money {value!r} is not a plain decimal number")
    return plain


Money = Annotated[
    Decimal,
    BeforeValidator(_plain_money_text),
    Field(ge=0, max_digits=MONEY_PRECISION, decimal_places=MONEY_SCALE),
]
CURRENCY_PATTERN = "^[A-Z]{3}\\z"  # \\z: a final line break does not pass (Java's $ lets it)
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
        for name, field in type(self).model_fields.items():
            if field.is_required() and field.annotation is str and is_blank(getattr(self, name)):
                raise ValueError(f"{name} must not be blank")
        for group in self.one_of:
            if all(is_blank(getattr(self, name)) for name in group):
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
    """ISO-8601 text (TIMESTAMP_PATTERN) as a TIMESTAMP, as `parse_event_timestamp` reads it:
    text without a zone is UTC, a date alone its midnight; anything else is null."""
    trimmed = _trimmed(text)
    matches = trimmed.rlike(TIMESTAMP_PATTERN)

    def part(group: int, default: str) -> Column:
        found = F.regexp_extract(trimmed, TIMESTAMP_PATTERN, group)
        return F.when(found != "", found).otherwise(F.lit(default))

    # Spark's parser wants seconds and a zone: fill in the ones the text leaves out.
    normalized = F.concat(part(1, ""), F.lit("T"), part(2, "00:00"), part(3, ":00"), part(4, "Z"))
    parsed = F.try_to_timestamp(normalized)
    # An instant outside years 1 to 9999 in UTC (9999-12-31T23:00:00-05:00) is not one Python
    # holds either: unparsable in both.
    in_range = F.year(parsed).between(1, 9999)
    return F.when(matches & in_range, parsed)


CORRUPT_RECORD_FIELD = "_corrupt_record"
JSON_STRING = "STRING"  # schema_of_variant's name of a JSON string
JSON_OBJECT = "OBJECT"  # ... and the start of an object's


def typed_field_column(text: Column, data_type: DataType) -> Column:
    """A field's JSON text as its contract type; null when absent or when it does not fit
    (e.g. "abc" or 1e30 for an amount). Whether a value is a JSON string or object (as a text
    field or metadata must be) is `payload_kinds_of`'s to say."""
    if isinstance(data_type, StringType):
        return text
    if isinstance(data_type, TimestampType):
        return event_timestamp_column(text)
    if isinstance(data_type, MapType):
        return F.when(F.trim(text).startswith("{"), F.from_json(text, data_type.simpleString()))
    if isinstance(data_type, DecimalType):
        # Only plain decimal text (MONEY_TEXT_PATTERN): Java would also read other scripts'
        # digits, as Python would underscores.
        return F.when(text.rlike(MONEY_TEXT_PATTERN), _trimmed(text).try_cast(data_type))
    return text.try_cast(data_type)


def json_text_column(raw: Column) -> Column:
    """A payload's JSON text without a leading UTF-8 byte-order mark (some tools write one at
    the start of every file), which a JSON parser would reject."""
    return F.regexp_replace(raw, "^\ufeff", "")


def payload_json_column(raw_payload: Column) -> Column:
    """A raw JSON payload as a struct of every contract field's JSON value (a VARIANT, null
    when absent); null unless the payload is exactly one JSON object: single quotes, a second
    value or text after the object make it malformed, as for any JSON parser."""
    raw = json_text_column(raw_payload)
    parse_schema = StructType(
        [
            *(StructField(field.name, VariantType()) for field in payload_schema().fields),
            StructField(CORRUPT_RECORD_FIELD, StringType()),
        ]
    )
    parsed = F.from_json(
        raw,
        parse_schema,
        {
            "mode": "PERMISSIVE",
            "columnNameOfCorruptRecord": CORRUPT_RECORD_FIELD,
            "allowSingleQuotes": "false",
        },
    )
    is_object = F.regexp_replace(raw, f"^[{_SPACE}]+", "").startswith("{")
    # One value and nothing after it: the payload as the only item of a JSON array. (NaN and
    # Infinity, which the field parser takes as numbers, stand in as 0 for this check.)
    single = F.json_array_length(
        F.concat(F.lit("["), F.regexp_replace(raw, "-?Infinity|NaN", "0"), F.lit("]"))
    )
    valid = parsed.isNotNull() & parsed[CORRUPT_RECORD_FIELD].isNull() & is_object & (single == 1)
    fields = [parsed[field.name].alias(field.name) for field in payload_schema().fields]
    return F.when(F.coalesce(valid, F.lit(False)), F.struct(*fields))


def _present(value: Column) -> Column:
    return value.isNotNull() & ~F.is_variant_null(value)


def json_value_text(value: Column) -> Column:
    """A JSON value's text: a string's own text, any other value as JSON; null when absent or
    JSON null."""
    is_string = F.schema_of_variant(value) == JSON_STRING
    return F.when(
        _present(value),
        F.when(is_string, F.variant_get(value, "$", "string")).otherwise(F.to_json(value)),
    )


def payload_texts_of(json_values: Column) -> Column:
    """The struct of field texts of `payload_json_column`'s struct of JSON values."""
    texts = [
        json_value_text(json_values[field.name]).alias(field.name)
        for field in payload_schema().fields
    ]
    return F.when(json_values.isNotNull(), F.struct(*texts))


def payload_kinds_of(json_values: Column) -> Column:
    """Per contract field of a text or map type, the kind of JSON value it holds (STRING,
    OBJECT<...>, BIGINT, BOOLEAN, ...; null when absent or JSON null)."""
    kinds = [
        F.when(
            _present(json_values[field.name]), F.schema_of_variant(json_values[field.name])
        ).alias(field.name)
        for field in event_schema().fields
        if isinstance(field.dataType, StringType | MapType)
    ]
    return F.when(json_values.isNotNull(), F.struct(*kinds))


def parse_payloads(records: DataFrame, raw_payload: str = "payload") -> DataFrame:
    """Adds `texts` (every contract field's JSON text, null if the raw payload is not one JSON
    object), `kinds` (the kind of JSON value of each text or map field: a text field must hold
    a JSON string, metadata an object) and `event` (the fields as their contract types; null
    where a value does not fit, metadata null unless an object).

    Each step is its own column so that Spark parses the payload once: as one nested
    expression, every field would repeat the whole parse. Unknown extra fields are not in
    `event`; callers that keep them read them from the raw text.
    """
    parsed = (
        records.withColumn("_json", payload_json_column(F.col(raw_payload)))
        .withColumn("texts", payload_texts_of(F.col("_json")))
        .withColumn("kinds", payload_kinds_of(F.col("_json")))
        .drop("_json")
    )
    typed = []
    for field in event_schema().fields:
        value = typed_field_column(F.col("texts")[field.name], field.dataType)
        if isinstance(field.dataType, MapType):
            value = F.when(F.col(f"kinds.{field.name}").startswith(JSON_OBJECT), value)
        typed.append(value.alias(field.name))
    return parsed.withColumn("event", F.when(F.col("texts").isNotNull(), F.struct(*typed)))


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
