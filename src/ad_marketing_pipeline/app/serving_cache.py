"""can_serve from memory: gold_serving_status held in a dict, re-read about every second by a
background thread, looked up by advertiser id, key or name in microseconds. When the data is
older than `app.max_data_age_seconds` (since the serving stream last wrote it) or was never
read, `app.stale_policy` answers: fail_closed says false, fail_open says true, and the answer
says it is stale and which policy spoke."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ad_marketing_pipeline.app import queries
from ad_marketing_pipeline.app.answers import money_text
from ad_marketing_pipeline.app.readers import GoldReader, Row
from ad_marketing_pipeline.config import AppConfig

logger = logging.getLogger(__name__)
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ServingSnapshot:
    """One read of gold_serving_status: rows by advertiser key, and lookups by id and name."""

    rows: dict[str, Row]
    aliases: dict[str, str]  # advertiser id or name -> key (names given to several: absent)
    written_at: datetime | None  # newest updated_at: when the serving stream last wrote

    @classmethod
    def of(cls, rows: list[Row]) -> ServingSnapshot:
        by_key = {row["advertiser_key"]: row for row in rows}
        aliases: dict[str, str] = {}
        ambiguous: set[str] = set()
        for key, row in by_key.items():
            for alias in (row.get("advertiser_id"), row.get("advertiser")):
                if alias and alias not in by_key:
                    if aliases.get(alias, key) != key:
                        ambiguous.add(alias)
                    aliases[alias] = key
        for alias in ambiguous:
            del aliases[alias]
        written = [row["updated_at"] for row in rows if row.get("updated_at")]
        return cls(by_key, aliases, max(written, default=None))

    def find(self, advertiser: str) -> Row | None:
        key = advertiser if advertiser in self.rows else self.aliases.get(advertiser)
        return self.rows.get(key) if key is not None else None


@dataclass
class ServingCache:
    """The serving status in memory, refreshed by `start()`'s thread every
    `app.refresh_seconds`; `answer()` never reads a table."""

    reader: GoldReader
    settings: AppConfig
    clock: Clock = utc_now
    snapshot: ServingSnapshot | None = None
    last_error: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def refresh(self) -> None:
        try:
            rows = self.reader.query(queries.SERVING_STATUS)
        except Exception as error:
            if str(error) != self.last_error:  # once per distinct failure, not every second
                logger.warning("serving status not refreshed: %s", error)
            self.last_error = str(error)
            return
        self.snapshot = ServingSnapshot.of(rows)
        self.last_error = None

    def start(self) -> None:
        self.refresh()
        self._thread = threading.Thread(target=self._run, name="serving-cache", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.settings.refresh_seconds):
            self.refresh()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def data_age_seconds(self, snapshot: ServingSnapshot | None = None) -> float | None:
        """Seconds since the serving stream last wrote `snapshot` (the current one by default);
        None when nothing was read."""
        snapshot = snapshot or self.snapshot
        if snapshot is None or snapshot.written_at is None:
            return None
        return max(0.0, (self.clock() - snapshot.written_at).total_seconds())

    def is_stale(self, age: float | None = None) -> bool:
        age = self.data_age_seconds() if age is None else age
        return age is None or age > self.settings.max_data_age_seconds

    def answer(self, advertiser: str) -> dict[str, Any] | None:
        """The serving answer for an advertiser id, key or name; None when the data (read at
        least once) does not know it."""
        snapshot = self.snapshot
        row = snapshot.find(advertiser) if snapshot is not None else None
        if snapshot is not None and snapshot.rows and row is None:
            return None
        age = self.data_age_seconds(snapshot)  # one clock reading and one snapshot per answer
        stale = self.is_stale(age)
        policy_answer = self.settings.stale_policy == "fail_open"
        row = row or {}
        return {
            "advertiser": row.get("advertiser", advertiser),
            "advertiser_id": row.get("advertiser_id"),
            "advertiser_key": row.get("advertiser_key"),
            "can_serve": policy_answer if stale else bool(row["can_serve"]),
            "data_can_serve": row.get("can_serve"),
            "spend_to_date": money_text(row.get("spend_to_date")),
            "budget": money_text(row.get("budget_value")),
            "clicks": row.get("clicks"),
            "period_start": row.get("current_period_start"),
            "as_of": row.get("as_of"),
            "written_at": snapshot.written_at if snapshot else None,
            "data_age_seconds": age,
            "stale": stale,
            "answered_by": self.settings.stale_policy if stale else "data",
        }
