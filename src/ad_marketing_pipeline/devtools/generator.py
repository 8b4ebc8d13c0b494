"""Deterministic synthetic ad-marketing events as JSON lines, and the landing files that hold them.

`simulation` makes the valid events of a run; this module gives each its timestamp text (mostly
UTC `...Z`, a few without a zone or at another offset), puts them in arrival order (some late)
and, like a real producer, adds malformed records (nine labelled kinds) and exact duplicates
(retries). The same settings always give the same bytes: all randomness comes from one
`random.Random` seeded by the settings.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

from ad_marketing_pipeline.contract import EVENT_TYPES, required_fields
from ad_marketing_pipeline.devtools.settings import GeneratorSettings
from ad_marketing_pipeline.devtools.simulation import Draft, Payload, Simulation

__all__ = [
    "DUPLICATE",
    "MALFORMED_KINDS",
    "VALID",
    "GeneratedLine",
    "GenerationSummary",
    "GeneratorSettings",
    "generate_lines",
    "write_landing_files",
]

VALID = "valid"
DUPLICATE = "duplicate"
MALFORMED_KINDS: tuple[str, ...] = (
    "not_json",
    "truncated_json",
    "empty_object",
    "unknown_event_type",
    "missing_required_field",
    "negative_amount",
    "unparsable_timestamp",
    "bad_currency",
    "wrong_type",
)

_LATE_ARRIVAL = 3_600  # seconds: the latest a late event arrives after it happens
_OFFSETS = (("+02:00", 120), ("-05:00", -300), ("+05:30", 330), ("+01:00", 60))
_BAD_TIMESTAMPS = ("not-a-date", "2024-02-30T10:00:00Z", "31/01/2024 10:00", "2024-01-01T25:00:00Z")
_BAD_CURRENCIES = ("usd", "US$", "EURO", "\u20ac")
_UNKNOWN_TYPES = ("ad_view", "video_play", "AdClick", "")
_ENCODER = json.JSONEncoder(separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class GeneratedLine:
    """One line of a landing file; `kind` is "valid", "duplicate" or a malformed kind."""

    text: str
    kind: str
    event_type: str | None = None  # of valid events and duplicates


@dataclass(frozen=True)
class GenerationSummary:
    """What `write_landing_files` wrote."""

    total_lines: int
    valid_events: dict[str, int]
    duplicates: int
    malformed: dict[str, int]
    files: list[Path]

    @property
    def valid_lines(self) -> int:
        """Distinct valid events written."""
        return sum(self.valid_events.values())

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-serialisable values."""
        return {
            "total_lines": self.total_lines,
            "valid_lines": self.valid_lines,
            "valid_events": dict(self.valid_events),
            "duplicates": self.duplicates,
            "malformed": dict(self.malformed),
            "files": [str(path) for path in self.files],
        }


def _timestamp_text(start: datetime, time: int, rng: random.Random) -> str:
    """Mostly `...Z`; a few without a zone (UTC) and a few at another offset (same instant)."""
    moment = start + timedelta(seconds=time)
    draw = rng.random()
    if draw < 0.94:
        return f"{moment.isoformat()}Z"
    if draw < 0.97:
        return moment.isoformat()
    label, minutes = rng.choice(_OFFSETS)
    return f"{(moment + timedelta(minutes=minutes)).isoformat()}{label}"


def _arrival_order(drafts: list[Draft], rng: random.Random) -> list[Draft]:
    """Events as they would arrive: a few seconds after they happen, a few up to an hour late."""
    arrivals = [
        draft.time + (rng.randint(60, _LATE_ARRIVAL) if rng.random() < 0.03 else rng.randint(0, 5))
        for draft in drafts
    ]
    return [drafts[i] for i in sorted(range(len(drafts)), key=arrivals.__getitem__)]


def _malformed_text(
    kind: str, rng: random.Random, payloads: list[Payload], clicks: list[Payload]
) -> str:
    """One bad line of the given kind, made from a valid event; never holds a newline."""
    base = dict(rng.choice(payloads))
    click = rng.choice(clicks) if clicks else {**base, "event_type": "ad_click", "amount": 0.5}
    if kind == "not_json":
        return rng.choice(
            (",".join(str(value) for value in base.values()), "<html>502 Bad Gateway</html>")
        )
    if kind == "truncated_json":
        text = _ENCODER.encode(base)
        return text[: rng.randrange(1, len(text) - 1)]
    if kind == "empty_object":
        return "{}"
    if kind == "unknown_event_type":
        base["event_type"] = rng.choice(_UNKNOWN_TYPES)
    elif kind == "missing_required_field":
        del base[rng.choice(required_fields(base["event_type"]))]
    elif kind == "unparsable_timestamp":
        base["timestamp"] = rng.choice(_BAD_TIMESTAMPS)
    elif kind == "negative_amount":
        base = {**click, "amount": -max(click["amount"], 0.5)}
    elif kind == "bad_currency":
        base = {**click, "currency": rng.choice(_BAD_CURRENCIES)}
    else:
        base = {**click, "amount": rng.choice(("abc", "n/a", "free"))}
    return _ENCODER.encode(base)


def _interleave(
    valid: list[GeneratedLine],
    payloads: list[Payload],
    settings: GeneratorSettings,
    rng: random.Random,
) -> Iterator[GeneratedLine]:
    """Valid lines with retried copies a little later and malformed lines anywhere."""
    after: dict[int, list[GeneratedLine]] = {}
    count, copies = len(valid), settings.duplicate_lines
    sources = (
        rng.sample(range(count), copies)
        if copies <= count
        else [rng.randrange(count) for _ in range(copies)]
    )
    for source in sources:
        slot = min(count - 1, source + 1 + int(rng.expovariate(1 / 200)))
        original = valid[source]
        after.setdefault(slot, []).append(
            GeneratedLine(original.text, DUPLICATE, original.event_type)
        )
    clicks = [payload for payload in payloads if payload["event_type"] == "ad_click"]
    for number in range(settings.malformed_lines):
        kind = MALFORMED_KINDS[number % len(MALFORMED_KINDS)]
        line = GeneratedLine(_malformed_text(kind, rng, payloads, clicks), kind)
        after.setdefault(rng.randrange(-1, count), []).append(line)
    yield from after.get(-1, ())
    for index, line in enumerate(valid):
        yield line
        yield from after.get(index, ())


def generate_lines(settings: GeneratorSettings) -> Iterator[GeneratedLine]:
    """Every line of a run, in output order: `settings.events` of them."""
    rng = random.Random(settings.seed)
    drafts = _arrival_order(Simulation(settings, rng).run(), rng)
    start = settings.start.replace(tzinfo=None)
    valid: list[GeneratedLine] = []
    payloads: list[Payload] = []
    for draft in drafts:
        draft.payload["timestamp"] = _timestamp_text(start, draft.time, rng)
        payloads.append(draft.payload)
        valid.append(
            GeneratedLine(_ENCODER.encode(draft.payload), VALID, draft.payload["event_type"])
        )
    yield from _interleave(valid, payloads, settings, rng)


def write_landing_files(
    settings: GeneratorSettings, out_dir: Path, on_progress: Callable[[int], None] | None = None
) -> GenerationSummary:
    """Write `events-00000.jsonl`, ... into `out_dir`, which must hold no such files yet."""
    out_dir = Path(out_dir)
    existing = sorted(out_dir.glob("events-*.jsonl")) if out_dir.is_dir() else []
    if existing:
        raise ValueError(
            f"landing folder {out_dir} already holds {len(existing)} events-*.jsonl files "
            f"(e.g. {existing[0].name}); generate into an empty folder so two runs never mix"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    kinds: Counter[str] = Counter()
    valid_events: Counter[str] = Counter()
    files: list[Path] = []
    lines = generate_lines(settings)
    while chunk := list(islice(lines, settings.events_per_file)):
        path = out_dir / f"events-{len(files):05d}.jsonl"
        path.write_text("".join(f"{line.text}\n" for line in chunk), encoding="utf-8", newline="\n")
        files.append(path)
        for line in chunk:
            kinds[line.kind] += 1
            if line.kind == VALID and line.event_type is not None:
                valid_events[line.event_type] += 1
        if on_progress is not None:
            on_progress(len(chunk))
    return GenerationSummary(
        total_lines=sum(kinds.values()),
        valid_events={event_type: valid_events[event_type] for event_type in EVENT_TYPES},
        duplicates=kinds[DUPLICATE],
        malformed={kind: kinds[kind] for kind in MALFORMED_KINDS},
        files=files,
    )
