"""The event types as pydantic models, and the Python side of the contract.

Each event type is a model; `parse_event` validates one decoded JSON object against them.
Timestamps are ISO-8601 and a timestamp without a zone is UTC. Unknown extra fields are
allowed. Plain Python: no pyspark here (the Spark schemas derived from these models are
`spark_schema`'s).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

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

from ad_marketing_pipeline.contract.grammar import (
    ASCII_WHITESPACE,
    BLANK_PATTERN,
    CONTRACT_VERSION,
    MONEY_PRECISION,
    MONEY_SCALE,
    MONEY_TEXT,
    TIMESTAMP_PATTERN,
)
from ad_marketing_pipeline.errors import ContractError


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
        text = value.strip(ASCII_WHITESPACE)
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


def _plain_money_text(value: object) -> object:
    if not isinstance(value, str):
        return value
    plain = value.strip(ASCII_WHITESPACE)
    if re.fullmatch(MONEY_TEXT, plain) is None:
        raise ValueError(f"money {value!r} is not a plain decimal number")
    return plain


Money = Annotated[
    Decimal,
    BeforeValidator(_plain_money_text),
    Field(ge=0, max_digits=MONEY_PRECISION, decimal_places=MONEY_SCALE),
]
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
