"""`POST /v1/events`: a batch of events checked against the contract and forwarded to the
configured source, each valid event once.

- Every event is validated with the contract's pydantic models; an invalid one is rejected with
  its reason and the valid ones of the batch are still forwarded.
- Each event's id is the pipeline's own (`contract.derive_event_id`: its click, conversion or
  event id, else a hash of its JSON). The ids of forwarded events are remembered (the newest
  `app.remembered_event_ids`), so a client's retry forwards nothing twice; an id seen again is
  answered `duplicate`. Past that memory, Silver's de-duplication still keeps an event once.
- Events are forwarded in the order given, keyed by advertiser: to Kafka or Event Hubs' Kafka
  endpoint (idempotent producer, one partition per advertiser), to Event Hubs with
  azure-eventhub, or as one landing file per request (written under a hidden name, then
  renamed, so Bronze never reads half a file).
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ad_marketing_pipeline.config import (
    EventHubsSource,
    FilesSource,
    KafkaSource,
    PipelineConfig,
)
from ad_marketing_pipeline.contract import parse_event
from ad_marketing_pipeline.contract.event_ids import derive_event_id
from ad_marketing_pipeline.errors import ConfigError, ContractError

Forward = Callable[[Sequence[str]], None]


@dataclass(frozen=True)
class CheckedEvent:
    index: int
    line: str | None  # the JSON line forwarded; None when rejected
    event_id: str | None
    reason: str | None = None


def check_event(index: int, event: Any) -> CheckedEvent:
    """One posted event: its JSON line and id, or the reason it is rejected."""
    if not isinstance(event, dict):
        return CheckedEvent(index, None, None, "an event must be a JSON object")
    try:
        parse_event(event)
    except ContractError as error:
        return CheckedEvent(index, None, None, str(error))
    line = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
    return CheckedEvent(index, line, derive_event_id(line))


class RememberedIds:
    """The ids of the newest forwarded events, oldest forgotten first."""

    def __init__(self, capacity: int) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def add(self, event_id: str) -> None:
        self._ids[event_id] = None
        self._ids.move_to_end(event_id)
        while len(self._ids) > self._capacity:
            self._ids.popitem(last=False)


@dataclass
class Collector:
    """Checks, de-duplicates and forwards posted batches (one at a time, so a retry that
    races its original is still forwarded once)."""

    forward: Forward
    remembered: RememberedIds
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def collect(self, events: Sequence[Any]) -> dict[str, Any]:
        checked = [check_event(index, event) for index, event in enumerate(events)]
        with self._lock:
            fresh: list[CheckedEvent] = []
            fresh_ids: set[str] = set()
            results = []
            for event in checked:
                if event.line is None or event.event_id is None:
                    results.append(
                        {"index": event.index, "status": "rejected", "reason": event.reason}
                    )
                    continue
                duplicate = event.event_id in self.remembered or event.event_id in fresh_ids
                if not duplicate:
                    fresh.append(event)
                    fresh_ids.add(event.event_id)
                results.append(
                    {
                        "index": event.index,
                        "event_id": event.event_id,
                        "status": "duplicate" if duplicate else "accepted",
                    }
                )
            if fresh:
                self.forward([event.line for event in fresh if event.line is not None])
                for event_id in fresh_ids:
                    self.remembered.add(event_id)
        counts = {status: 0 for status in ("accepted", "duplicate", "rejected")}
        for result in results:
            counts[str(result["status"])] += 1
        return {**counts, "results": results}


# ---------------------------------------------------------------------------------------------
# Where events go: the configured source
# ---------------------------------------------------------------------------------------------


def landing_file_forward(landing: Path) -> Forward:
    """Each batch as one new landing file, complete before Bronze can list it."""

    def forward(lines: Sequence[str]) -> None:
        landing.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        name = f"collector-{stamp}-{uuid.uuid4().hex[:8]}.jsonl"
        hidden = landing / f".{name}.tmp"
        with hidden.open("w", encoding="utf-8") as out:
            out.write("".join(f"{line}\n" for line in lines))
            out.flush()
            os.fsync(out.fileno())
        hidden.rename(landing / name)

    return forward


def source_forward(config: PipelineConfig) -> Forward:
    """The forwarder of the configured source (its secrets already resolved)."""
    # Only the sending library of the configured source is needed (the tools extra has them).
    from ad_marketing_pipeline.devtools.producer import (  # noqa: PLC0415
        eventhubs_client,
        eventhubs_kafka_producer_config,
        kafka_producer_config,
        send_to_eventhubs,
        send_to_kafka,
    )

    source = config.source
    if isinstance(source, FilesSource):
        return landing_file_forward(Path(config.landing_path))
    if isinstance(source, EventHubsSource) and not source.bootstrap_servers:
        return lambda lines: _discard(send_to_eventhubs(lines, client=eventhubs_client(source)))
    if isinstance(source, KafkaSource):
        if not source.topics:
            raise ConfigError("the event collector sends to source.topics[0]; set source.topics")
        settings, topic = kafka_producer_config(source), source.topics[0]
    elif isinstance(source, EventHubsSource):  # a Kafka endpoint of its own (a local stand-in)
        settings, topic = eventhubs_kafka_producer_config(source), source.event_hub
    else:
        raise TypeError(f"no forwarder for source kind {source.kind!r}")
    return lambda lines: _discard(send_to_kafka(lines, producer_config=settings, topic=topic))


def _discard(_sent: int) -> None:
    """The senders return how many they sent and raise if any was not delivered."""
