"""Silver transforms: parse Bronze payloads against the contract, validate them with named rules,
and split valid events from records to quarantine. Pure DataFrame -> DataFrame functions that
behave the same on streams and batches.

Every rule has a stable reason code; a record may fail several rules and keeps all of them, as
`reasons`: an array of (code, field) structs.

Time rules judge an event's timestamp against when its record was received (`received_at`:
the broker / enqueued time, else when Bronze ingested it), never against the clock of the run:
a record gets the same verdict however late Silver runs, and in the serving stream too.
Money values outside a sane range (`quality.max_amount`, `max_revenue`, `max_budget_value`)
are quarantined as `value_out_of_range`: one absurd value must not overflow a later sum.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache, reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import DecimalType, DoubleType, MapType, StringType, TimestampType

from ad_marketing_pipeline import contract
from ad_marketing_pipeline.config import QualityConfig
from ad_marketing_pipeline.frames import utc_day, within_days

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

REASON_CODES: tuple[str, ...] = (
    MALFORMED_JSON,
    OVERSIZED_PAYLOAD,
    UNKNOWN_EVENT_TYPE,
    MISSING_REQUIRED_FIELD,
    WRONG_TYPE,
    NEGATIVE_VALUE,
    UNPARSABLE_TIMESTAMP,
    TIMESTAMP_IN_FUTURE,
    TIMESTAMP_TOO_OLD,
    INVALID_CURRENCY,
    INVALID_VALUE,
    INVALID_UNICODE,
    VALUE_OUT_OF_RANGE,
)
# A lone UTF-16 surrogate escape (the parser would turn it into "?", so two different ids could
# collide), or U+FFFD, which stands for bytes that were not UTF-8 when the record was received.
NOT_UNICODE_PATTERN = (
    r"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    r"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
    "|\ufffd"
)
MONEY_FIELDS = ("amount", "revenue", "budget_value")
_ALLOWED_VALUES = {"budget_period": ("day", "month")}

Transform = Callable[[DataFrame], DataFrame]


def _reason(failed: Column, code: str, field: str | None = None) -> Column:
    detail = F.struct(F.lit(code).alias("code"), F.lit(field).cast(StringType()).alias("field"))
    return F.when(F.coalesce(failed, F.lit(False)), detail)


def _model_fields(event_type: str) -> list[str]:
    return [name for name in contract.EVENT_MODELS[event_type].model_fields if name != "event_type"]


def parse_payloads(records: DataFrame) -> DataFrame:
    """Adds `texts`, `kinds` and `event` of each record's `payload` (`contract.parse_payloads`)."""
    return contract.parse_payloads(records, "payload")


def _money_limits(quality: QualityConfig) -> dict[str, Column]:
    return {
        "amount": F.lit(quality.max_amount).cast(contract.MONEY_TYPE),
        "revenue": F.lit(quality.max_revenue).cast(contract.MONEY_TYPE),
        "budget_value": F.lit(quality.max_budget_value).cast(contract.MONEY_TYPE),
    }


def _type_rules(event_type: str, quality: QualityConfig) -> list[Column]:
    """Rules on the fields of one event type, applying to records of that type only."""
    is_type = F.col("event.event_type") == F.lit(event_type)
    schema = contract.event_schema()
    rules: list[Column] = []
    for name in contract.required_fields(event_type):
        missing = contract.blank_column(F.col(f"texts.{name}"))
        rules.append(_reason(is_type & missing, MISSING_REQUIRED_FIELD, name))
    for group in contract.required_one_of(event_type):
        absent = [contract.blank_column(F.col(f"texts.{name}")) for name in group]
        all_absent = absent[0]
        for other in absent[1:]:
            all_absent = all_absent & other
        rules.append(_reason(is_type & all_absent, MISSING_REQUIRED_FIELD, " or ".join(group)))
    for name in _model_fields(event_type):
        data_type = schema[name].dataType
        text, value = F.col(f"texts.{name}"), F.col(f"event.{name}")
        if isinstance(data_type, TimestampType):
            rules.append(
                _reason(is_type & text.isNotNull() & value.isNull(), UNPARSABLE_TIMESTAMP, name)
            )
        elif isinstance(data_type, DecimalType):
            # Money has 6 decimal places: more would be rounded away, so it does not fit (also
            # in an exponent: 1e-308 is not 0).
            exact = text.try_cast(DecimalType(38, 18))
            as_double = text.try_cast(DoubleType())
            unfit = (
                value.isNull()  # also text that is not plain decimal text (typed_field_column)
                | (exact.isNotNull() & (exact != value))
                | (as_double.isNotNull() & (as_double != value.cast(DoubleType())))
            )
            rules.append(_reason(is_type & text.isNotNull() & unfit, WRONG_TYPE, name))
        elif isinstance(data_type, MapType):
            kind = F.col(f"kinds.{name}")
            not_object = ~F.coalesce(kind.startswith(contract.JSON_OBJECT), F.lit(False))
            rules.append(_reason(is_type & text.isNotNull() & not_object, WRONG_TYPE, name))
        elif isinstance(data_type, StringType) and name not in _ALLOWED_VALUES:
            # (a choice that is not one of its values fails as invalid_value, whatever its kind)
            not_string = ~F.coalesce(F.col(f"kinds.{name}") == contract.JSON_STRING, F.lit(False))
            rules.append(_reason(is_type & text.isNotNull() & not_string, WRONG_TYPE, name))
        if isinstance(data_type, DecimalType) and name in MONEY_FIELDS:
            rules.append(_reason(is_type & (value < 0), NEGATIVE_VALUE, name))
            limit = _money_limits(quality)[name]
            rules.append(_reason(is_type & (value > limit), VALUE_OUT_OF_RANGE, name))
        if name == "currency":
            rules.append(
                _reason(
                    is_type & text.isNotNull() & ~text.rlike(contract.CURRENCY_PATTERN),
                    INVALID_CURRENCY,
                    name,
                )
            )
        if name in _ALLOWED_VALUES:
            allowed = [F.lit(v) for v in _ALLOWED_VALUES[name]]
            rules.append(
                _reason(is_type & text.isNotNull() & ~text.isin(*allowed), INVALID_VALUE, name)
            )
    return rules


def received_at_column() -> Column:
    """When a received record (Bronze's shape) reached us: the broker / enqueued time, else
    when it was ingested; never later than its ingestion (a broker timestamp a producer set in
    the future is not believed)."""
    return F.least(F.col("source_timestamp"), F.col("ingested_at"))


def validate(quality: QualityConfig) -> Transform:
    """Adds `reasons`: every rule the record fails, as (code, field) structs; empty when valid.
    The future and age limits count from the record's `received_at_column()`."""

    def apply(parsed: DataFrame) -> DataFrame:
        return parsed.withColumn("reasons", _reasons_column(quality))

    return apply


@cache
def _reasons_column(quality: QualityConfig) -> Column:
    """`validate`'s column, built once per configuration: its hundred rules are an expression
    of thousands of nodes, and each node built from Python is a call into the JVM."""
    received = received_at_column()
    event_time = F.col("event.timestamp")
    parsed_ok = F.col("event").isNotNull()
    known_type = F.col("event.event_type").isin(*[F.lit(t) for t in contract.EVENT_TYPES])
    oldest = F.lit(quality.earliest_event_time).cast("timestamp")
    if quality.max_event_age_days is not None:
        age_limit = received - F.make_dt_interval(days=F.lit(quality.max_event_age_days))
        oldest = F.greatest(oldest, age_limit)
    rules = [
        _reason(F.octet_length("payload") > quality.max_payload_bytes, OVERSIZED_PAYLOAD),
        _reason(~parsed_ok, MALFORMED_JSON),
        _reason(F.col("payload").rlike(NOT_UNICODE_PATTERN), INVALID_UNICODE),
        _reason(
            parsed_ok & ~F.coalesce(known_type, F.lit(False)), UNKNOWN_EVENT_TYPE, "event_type"
        ),
        _reason(
            event_time > received + F.make_dt_interval(mins=F.lit(quality.max_future_skew_minutes)),
            TIMESTAMP_IN_FUTURE,
            "timestamp",
        ),
        _reason(event_time < oldest, TIMESTAMP_TOO_OLD, "timestamp"),
    ]
    for event_type in contract.EVENT_TYPES:
        rules.extend(_type_rules(event_type, quality))
    reasons = F.filter(F.array(*rules), lambda reason: reason.isNotNull())
    return _evaluated_here(reasons)


def _evaluated_here(column: Column) -> Column:
    """`column`, which Spark computes where it is defined. Spark 4.0 pushes a filter through
    any deterministic projection by copying the projected expression into it, once per
    reference: `split_invalid`'s filter on `reasons` would copy every rule, each rule every
    parsed field it reads, each field the payload's parse, until planning one batch takes
    minutes and gigabytes, and would then parse every payload twice. A nondeterministic
    guard (always true) keeps the filter above the projection."""
    return F.when(F.spark_partition_id() >= 0, column)


def split_invalid(validated: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(valid records, records to quarantine) of a validated frame: nothing is dropped."""
    is_valid = F.size("reasons") == 0
    return validated.filter(is_valid), validated.filter(~is_valid)


# ---------------------------------------------------------------------------------------------
# Shaping the two outputs
# ---------------------------------------------------------------------------------------------

SOURCE_COLUMNS = ("source_kind", "topic", "partition", "offset", "file_path", "ingested_at")


def received_order() -> Column:
    """The order records were received in (of Silver rows, or of validated records), as a
    struct to sort or compare by: `received_at`, then position in the source (a landing file's
    lines in file order, a Kafka partition's offsets). Of two copies of one event, the first in
    this order wins; of two budget values at one instant, the last."""
    return F.struct(F.col("received_at"), F.col("file_path"), F.col("partition"), F.col("offset"))


def _known_field_names() -> Column:
    return F.array(*[F.lit(name) for name in contract.event_schema().fieldNames()])


def to_silver_events(valid: DataFrame) -> DataFrame:
    """Valid records as Silver rows: typed contract fields (`timestamp` as `event_time`),
    `event_id`, unknown extra fields as JSON text, source metadata, `received_at`, `is_valid`,
    `processed_at` and the ingest-time partition columns."""
    fields, event_id, stamps = _silver_event_columns()
    flat = valid.select(*fields)
    # The given event_id (if any) is replaced by the derived one, which falls back on it.
    identified = flat.withColumn("event_id", event_id).drop("_payload")
    return identified.select(
        "event_id", *[name for name in identified.columns if name != "event_id"], *stamps
    )


@cache
def _silver_event_columns() -> tuple[tuple[Column, ...], Column, tuple[Column, ...]]:
    """`to_silver_events`' columns, built once per process (each node is a call into the JVM):
    the flat fields with the raw payload, the event id, and the stamps added last."""
    fields = [
        F.col(f"event.{name}").alias("event_time" if name == "timestamp" else name)
        for name in contract.event_schema().fieldNames()
    ]
    all_fields = F.from_json(contract.json_text_column(F.col("payload")), "map<string,string>")
    extra = F.map_filter(
        all_fields, lambda key, _value: ~F.array_contains(_known_field_names(), key)
    )
    flat = (
        *fields,
        extra.alias("extra_fields"),
        *[F.col(name) for name in SOURCE_COLUMNS],
        received_at_column().alias("received_at"),
        F.col("payload").alias("_payload"),
    )
    ingested = F.col("ingested_at")
    stamps = (
        F.lit(True).alias("is_valid"),
        F.current_timestamp().alias("processed_at"),
        F.year(ingested).alias("ingest_year"),
        F.month(ingested).alias("ingest_month"),
        F.dayofmonth(ingested).alias("ingest_day"),
        F.hour(ingested).alias("ingest_hour"),
    )
    return flat, contract.event_id_column(F.col("_payload")), stamps


def to_quarantine(invalid: DataFrame) -> DataFrame:
    """Records that failed validation, as received, with every reason and where they came from."""
    return invalid.select(
        "payload",
        F.col("reasons"),
        F.transform("reasons", lambda reason: reason["code"]).alias("reason_codes"),
        *SOURCE_COLUMNS,
        received_at_column().alias("received_at"),
        F.current_timestamp().alias("quarantined_at"),
    )


def not_stored_before(events: DataFrame, stored: DataFrame, window_days: int) -> DataFrame:
    """The Silver rows of `events` that are no copy of a `stored` event: a copy has its
    event_id and a timestamp within `window_days` whole UTC days of it."""
    same_id = F.col("e.event_id") == F.col("s.event_id")
    near = F.abs(utc_day(F.col("e.event_time")) - utc_day(F.col("s.event_time")))
    return (
        events.alias("e")
        .join(
            stored.select("event_id", "event_time").alias("s"),
            same_id & (near <= window_days),
            "left_anti",
        )
        .select(*events.columns)
    )


def duplicate_scope(event_days: Iterable[int], window_days: int) -> Column:
    """Which stored Silver rows a batch's events are checked against: those stamped within
    `window_days` whole days of one of the batch's event days (`frames.utc_day` numbers).
    Delta skips every file whose `event_time` statistics lie outside: the check reads the
    days a batch touches, whatever the age of history. No days, no rows."""
    return within_days(F.col("event_time"), event_days, window_days)


#: More (topic, partition) offset ranges than this in one batch become one range over them all:
#: a filter of hundreds of ranges would cost more to plan than it saves.
MAX_POSITION_RANGES = 64


@dataclass(frozen=True)
class OffsetRange:
    """The offsets of a batch's records in one source partition (a Kafka topic's partition;
    for landing files, topic and partition are null and the offset is a line number)."""

    topic: str | None
    partition: int | None
    first: int
    last: int


def position_scope(ranges: Sequence[OffsetRange]) -> Column:
    """Which quarantined records a batch's invalid records can be copies of (a source read
    again): those of the same topic and partition whose offset lies within the batch's offsets
    there (one range over all of them when there are more than MAX_POSITION_RANGES). Delta
    skips every quarantine file whose offset statistics lie outside, so the check reads what a
    batch's positions reach, not all of quarantine. No ranges, no rows."""
    if len(ranges) > MAX_POSITION_RANGES:
        first, last = min(r.first for r in ranges), max(r.last for r in ranges)
        return F.col("offset").between(first, last)
    return reduce(
        Column.__or__,
        (
            F.col("topic").eqNullSafe(F.lit(r.topic).cast("string"))
            & F.col("partition").eqNullSafe(F.lit(r.partition).cast("int"))
            & F.col("offset").between(r.first, r.last)
            for r in ranges
        ),
        F.lit(False),
    )


def first_received_per_event(events: DataFrame) -> DataFrame:
    """One row per event_id within a batch: the copy received first (`received_order`); the
    others are counted as duplicates."""
    order = Window.partitionBy("event_id").orderBy(received_order())
    return events.withColumn("_rank", F.row_number().over(order)).filter("_rank = 1").drop("_rank")
