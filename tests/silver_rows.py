"""Named builders of silver_ad_events rows (tuples in SILVER_EVENTS_SCHEMA order) for the tests
of the layers that read Silver."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from ad_marketing_pipeline.tables import SILVER_EVENTS_SCHEMA


def event(event_type: str, event_id: str, at: datetime, **fields: Any) -> tuple[Any, ...]:
    """A valid Silver event at `at` (also its ingest time), with these fields."""
    values = {
        "event_type": event_type,
        "event_id": event_id,
        "event_time": at,
        "source_kind": "files",
        "ingested_at": at,
        "is_valid": True,
        **fields,
    }
    return tuple(values.get(field.name) for field in SILVER_EVENTS_SCHEMA.fields)


def visit(
    event_id: str, user: str, at: datetime, source: str | None = None, medium: str | None = None
) -> tuple[Any, ...]:
    return event("page_view", event_id, at, user_id=user, source=source, medium=medium)


def conversion(conversion_id: str, user: str, at: datetime, revenue: str) -> tuple[Any, ...]:
    return event(
        "conversion",
        conversion_id,
        at,
        conversion_id=conversion_id,
        user_id=user,
        revenue=Decimal(revenue),
    )


def cancellation(event_id: str, conversion_id: str, at: datetime) -> tuple[Any, ...]:
    return event("conversion_cancellation", event_id, at, conversion_id=conversion_id)
