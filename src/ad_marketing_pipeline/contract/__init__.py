"""The event contract (v1), defined once.

Each event type is a pydantic model; the Spark schemas that parse and hold events are derived from
those models (`payload_schema`, `event_schema`), never written by hand. Timestamps are ISO-8601 and
a timestamp without a zone is UTC. Unknown extra fields are allowed.

The contract's modules, each importable on its own; this package re-exports their public names:

- `grammar`: the text forms of blank text, timestamps, money and currency codes (plain Python).
- `models`: the pydantic event models and Python-side parsing (`parse_event`, plain Python).
- `event_ids`: how an event's id follows from its payload (`derive_event_id`, plain Python).
- `spark_schema`: the Spark types and schemas derived from the models.
- `columns`: Spark column expressions reading the text forms as `models` does, and the event id.
- `payloads`: raw JSON payloads parsed in Spark into contract fields (`parse_payloads`).
"""

from __future__ import annotations

from ad_marketing_pipeline.contract.columns import (
    blank_column,
    event_id_column,
    event_timestamp_column,
    typed_field_column,
)
from ad_marketing_pipeline.contract.event_ids import derive_event_id, payload_identity_text
from ad_marketing_pipeline.contract.grammar import (
    BLANK_PATTERN,
    CONTRACT_VERSION,
    CURRENCY_PATTERN,
    MONEY_PRECISION,
    MONEY_SCALE,
    MONEY_TEXT,
    MONEY_TEXT_PATTERN,
    TIMESTAMP_PATTERN,
)
from ad_marketing_pipeline.contract.models import (
    EVENT_MODELS,
    EVENT_TYPES,
    AdClick,
    BudgetPeriod,
    BudgetUpdate,
    ClickRefund,
    Conversion,
    ConversionCancellation,
    CurrencyCode,
    EventModel,
    EventTimestamp,
    Impression,
    Money,
    PageView,
    is_blank,
    parse_event,
    parse_event_timestamp,
    required_fields,
    required_one_of,
)
from ad_marketing_pipeline.contract.payloads import (
    CORRUPT_RECORD_FIELD,
    JSON_OBJECT,
    JSON_STRING,
    json_text_column,
    json_value_text,
    parse_payloads,
    payload_json_column,
    payload_kinds_of,
    payload_texts_of,
)
from ad_marketing_pipeline.contract.spark_schema import (
    MONEY_SUM_TYPE,
    MONEY_TYPE,
    event_schema,
    payload_schema,
)

__all__ = [
    "BLANK_PATTERN",
    "CONTRACT_VERSION",
    "CORRUPT_RECORD_FIELD",
    "CURRENCY_PATTERN",
    "EVENT_MODELS",
    "EVENT_TYPES",
    "JSON_OBJECT",
    "JSON_STRING",
    "MONEY_PRECISION",
    "MONEY_SCALE",
    "MONEY_SUM_TYPE",
    "MONEY_TEXT",
    "MONEY_TEXT_PATTERN",
    "MONEY_TYPE",
    "TIMESTAMP_PATTERN",
    "AdClick",
    "BudgetPeriod",
    "BudgetUpdate",
    "ClickRefund",
    "Conversion",
    "ConversionCancellation",
    "CurrencyCode",
    "EventModel",
    "EventTimestamp",
    "Impression",
    "Money",
    "PageView",
    "blank_column",
    "derive_event_id",
    "event_id_column",
    "event_schema",
    "event_timestamp_column",
    "is_blank",
    "json_text_column",
    "json_value_text",
    "parse_event",
    "parse_event_timestamp",
    "parse_payloads",
    "payload_identity_text",
    "payload_json_column",
    "payload_kinds_of",
    "payload_schema",
    "payload_texts_of",
    "required_fields",
    "required_one_of",
    "typed_field_column",
]
