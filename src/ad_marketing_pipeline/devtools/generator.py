"""Deterministic synthetic ad-marketing events, written as JSON-lines landing files.

Advertisers (daily budgets, campaigns on paid channels, ads, a cost per click) and users whose
multi-touch journeys cross channels over several days produce impressions, clicks, page views,
conversions, refunds, cancellations and budget updates that follow the event contract (v1). Some
advertisers' clicks are concentrated on a few days so that they overspend their daily budget.
Like a real producer the stream also holds malformed records and exact duplicates (retries).
The same settings always give the same bytes: all randomness comes from one `random.Random`.
"""

from __future__ import annotations

import bisect
import json
import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import accumulate, islice
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ad_marketing_pipeline.contract import EVENT_TYPES, required_fields

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

_DAY = 86_400
_HOUR = 3_600
_CLICK_SHARE = 0.15  # of valid events; impressions fill what journeys and budgets leave
_PAID_TOUCH_SHARE = 0.75  # journey touches that are ad clicks (the rest are organic visits)
_FOCUS_SHARE = 0.6  # later clicks of a journey on the advertiser of its first click
_LEGACY_CLICK_SHARE = 0.1  # clicks shaped exactly like the original pipeline's JSON
_BUDGET_ON_CLICK_SHARE = 0.2
_REFUND_SHARE = 0.01  # of clicks
_CANCELLATION_SHARE = 0.05  # of conversions
_BURST_WEIGHT = 12.0  # how much more an overspender is picked on its burst days
_MEAN_GAP = 20 * _HOUR  # between two touches of a journey
_TOUCH_CUMULATIVE = tuple(accumulate((25, 25, 20, 15, 10, 5)))
_HOUR_CUMULATIVE = tuple(
    accumulate((2, 1, 1, 1, 1, 2, 3, 5, 7, 8, 9, 9, 9, 9, 9, 9, 8, 8, 8, 8, 7, 6, 4, 3))
)
_PAID_CHANNELS = (
    ("google", "cpc", "google_ads"),
    ("facebook", "paid_social", "meta"),
    ("bing", "cpc", "microsoft_ads"),
    ("tiktok", "paid_social", "tiktok"),
    ("display_network", "display", "google_display"),
    ("affiliates", "affiliate", "awin"),
)
_PAID_CHANNEL_WEIGHTS = (35, 25, 10, 10, 12, 8)
_ORGANIC_CHANNELS = (
    ("google", "organic"),
    ("(direct)", "(none)"),
    ("newsletter", "email"),
    ("facebook", "social"),
    ("partner-blog", "referral"),
)
_THEMES = ("Brand", "Winter Sale", "Retargeting", "Prospecting", "New Arrivals", "Clearance")
_LANDING_PAGES = ("/", "/pricing", "/offers/winter-sale", "/products/running-shoes")
_BROWSE_PAGES = ("/products/headphones", "/cart", "/checkout", "/blog/how-to-choose", "/about")
_CONVERSION_TYPES = ("purchase", "sign_up", "lead")
_REFUND_REASONS = ("invalid_traffic", "accidental_click", "bot_detected")
_CANCEL_REASONS = ("order_cancelled", "returned", "fraud")
_OFFSETS = (("+02:00", 120), ("-05:00", -300), ("+05:30", 330), ("+01:00", 60))
_BAD_TIMESTAMPS = ("not-a-date", "2024-02-30T10:00:00Z", "31/01/2024 10:00", "2024-01-01T25:00:00Z")
_BAD_CURRENCIES = ("usd", "US$", "EURO", "\u20ac")
_UNKNOWN_TYPES = ("ad_view", "video_play", "AdClick", "")
_ENCODER = json.JSONEncoder(separators=(",", ":"))

_Payload = dict[str, Any]


class GeneratorSettings(BaseModel):
    """What to generate: size, the simulated world, the seed and the share of bad lines."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    events: int = Field(default=200_000, ge=1, description="lines written, bad ones included")
    advertisers: int = Field(default=50, ge=1, le=999)
    days: int = Field(default=30, ge=1, le=3_660)
    start: datetime = datetime(2024, 1, 1, tzinfo=UTC)
    seed: int = 7
    malformed_share: float = Field(default=0.01, ge=0, le=0.5)
    duplicate_share: float = Field(default=0.01, ge=0, le=0.5)
    events_per_file: int = Field(default=20_000, ge=1)

    @field_validator("start")
    @classmethod
    def _start_in_utc(cls, value: datetime) -> datetime:
        """A start without a zone is UTC (as in the contract); others are converted to UTC."""
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @model_validator(mode="after")
    def _leaves_valid_lines(self) -> GeneratorSettings:
        if self.valid_lines < 1:
            raise ValueError(
                f"events={self.events} with malformed_share={self.malformed_share} and "
                f"duplicate_share={self.duplicate_share} leaves no valid event; lower a share"
            )
        return self

    @property
    def malformed_lines(self) -> int:
        """Malformed lines written: `malformed_share` of all lines, rounded down."""
        return int(Decimal(repr(self.malformed_share)) * self.events)

    @property
    def duplicate_lines(self) -> int:
        """Duplicate lines written: `duplicate_share` of all lines, rounded down."""
        return int(Decimal(repr(self.duplicate_share)) * self.events)

    @property
    def valid_lines(self) -> int:
        """Distinct valid events written."""
        return self.events - self.malformed_lines - self.duplicate_lines


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


@dataclass(frozen=True, slots=True)
class _Campaign:
    campaign_id: str
    campaign_name: str
    channel: tuple[str, str, str]  # source, medium, platform
    ads: tuple[str, ...]
    cpc_cents: int


@dataclass(frozen=True, slots=True)
class _Advertiser:
    name: str
    advertiser_id: str
    campaigns: tuple[_Campaign, ...]
    weight: float
    overspends: bool


@dataclass(slots=True)
class _Draft:
    time: int  # seconds after settings.start
    payload: _Payload


def _campaign(advertiser: int, number: int, rng: random.Random) -> _Campaign:
    channel = rng.choices(_PAID_CHANNELS, weights=_PAID_CHANNEL_WEIGHTS)[0]
    ads = tuple(f"ad-{advertiser:03d}-{number}-{ad}" for ad in range(1, rng.randint(2, 5) + 1))
    name = f"{rng.choice(_THEMES)} | {channel[2]}"
    return _Campaign(f"cmp-{advertiser:03d}-{number}", name, channel, ads, rng.randint(10, 300))


def _build_world(settings: GeneratorSettings, rng: random.Random) -> tuple[_Advertiser, ...]:
    """Advertisers with 1-4 campaigns of 2-5 ads; about a quarter of them overspend."""
    count = settings.advertisers
    overspenders = set(rng.sample(range(1, count + 1), max(1, count // 4)))
    return tuple(
        _Advertiser(
            name=f"advertiser-{number:03d}",
            advertiser_id=f"adv-{number:03d}",
            campaigns=tuple(_campaign(number, c, rng) for c in range(1, rng.randint(1, 4) + 1)),
            weight=rng.uniform(0.5, 2.0),
            overspends=number in overspenders,
        )
        for number in range(1, count + 1)
    )


def _advertiser_fields(advertiser: _Advertiser, rng: random.Random) -> _Payload:
    """Mostly both advertiser fields; a few events carry only one of them."""
    draw = rng.random()
    if draw < 0.9:
        return {"advertiser": advertiser.name, "advertiser_id": advertiser.advertiser_id}
    return (
        {"advertiser": advertiser.name}
        if draw < 0.95
        else {"advertiser_id": advertiser.advertiser_id}
    )


def _weighted_index(rng: random.Random, cumulative: Sequence[float]) -> int:
    """An index drawn with the given cumulative weights (what `rng.choices` does, faster)."""
    return bisect.bisect(cumulative, rng.random() * cumulative[-1])


def _clamp(value: int, bounds: tuple[int, int]) -> int:
    return min(max(value, bounds[0]), bounds[1])


def _budget_bounds(advertiser: _Advertiser, busiest_day: int) -> tuple[int, int]:
    """Budget range in cents: overspenders below their busiest day's spend, others well above."""
    if advertiser.overspends and busiest_day > 0:
        return max(1, int(busiest_day * 0.45)), max(1, int(busiest_day * 0.85))
    return max(20_000, int(busiest_day * 2.5)), 10**12


class _Simulation:
    """Builds the valid events of one run from the settings and the random generator."""

    def __init__(self, settings: GeneratorSettings, rng: random.Random) -> None:
        self.settings = settings
        self.rng = rng
        self.end = settings.days * _DAY
        self.world = _build_world(settings, rng)
        self.user_count = max(10, round(settings.valid_lines * _CLICK_SHARE / 3))
        self.drafts: list[_Draft] = []
        self.clicks: list[_Draft] = []
        self.conversions: list[_Draft] = []
        self.clicks_with_budget: list[tuple[_Draft, int]] = []
        self.click_spend: Counter[tuple[int, int]] = Counter()  # (advertiser, UTC day) -> cents
        self._hashed: set[tuple[str, int]] = set()
        start = settings.start
        self._day_offset = start.hour * _HOUR + start.minute * 60 + start.second
        self._indexes = range(len(self.world))
        base = [advertiser.weight for advertiser in self.world]
        self._base_cum = list(accumulate(base))
        self._burst_cum: dict[int, list[float]] = {}
        for index, advertiser in enumerate(self.world):
            if advertiser.overspends:
                for day in rng.sample(range(settings.days), min(settings.days, rng.randint(1, 3))):
                    weights = self._burst_cum.setdefault(day, list(base))
                    weights[index] *= _BURST_WEIGHT
        self._burst_cum = {day: list(accumulate(w)) for day, w in self._burst_cum.items()}

    def run(self) -> list[_Draft]:
        """All valid events, in creation order: exactly `valid_lines` of them."""
        target = self.settings.valid_lines
        while len(self.clicks) < round(target * _CLICK_SHARE):
            self._journey()
        self._refunds()
        self._cancellations()
        self._budgets(changes=min(len(self.world) * self.settings.days // 7, target // 200))
        self._impressions(target - len(self.drafts))
        if len(self.drafts) > target:  # tiny runs: keep the earliest events, causes before effects
            return sorted(self.drafts, key=lambda draft: draft.time)[:target]
        return self.drafts

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _random_time(self) -> int:
        hour = _weighted_index(self.rng, _HOUR_CUMULATIVE)
        return (
            self.rng.randrange(self.settings.days) * _DAY + hour * _HOUR + self.rng.randrange(_HOUR)
        )

    def _pick_advertiser(self, time: int) -> int:
        cumulative = self._burst_cum.get(time // _DAY, self._base_cum)
        return _weighted_index(self.rng, cumulative)

    def _add(self, time: int, payload: _Payload) -> _Draft:
        """Record an event; one without an id of its own (its id hashes its payload) moves on a
        second if another event has the same payload, which would make them one event."""
        own_id = payload["event_type"] in ("ad_click", "conversion") or "event_id" in payload
        if not own_id:
            identity = json.dumps(payload, sort_keys=True, default=str)
            while (identity, time) in self._hashed:
                time = (time + 1) % self.end
            self._hashed.add((identity, time))
        draft = _Draft(time, payload)
        self.drafts.append(draft)
        return draft

    def _journey(self) -> None:
        """One user's touches over several days (clicks and visits), sometimes a conversion."""
        rng = self.rng
        user = rng.randrange(self.user_count)
        time = self._random_time()
        focus: int | None = None
        last_click: tuple[_Advertiser, _Campaign] | None = None
        clicks = 0
        for step in range(1 + _weighted_index(rng, _TOUCH_CUMULATIVE)):
            if step:
                time += 600 + int(rng.expovariate(1 / _MEAN_GAP))
            if time >= self.end:
                return
            if rng.random() < _PAID_TOUCH_SHARE:
                stays = focus is not None and rng.random() < _FOCUS_SHARE
                index = focus if stays and focus is not None else self._pick_advertiser(time)
                focus = index if focus is None else focus
                campaign = rng.choice(self.world[index].campaigns)
                if self._click(time, user, index, campaign):
                    last_click = (self.world[index], campaign)
                clicks += 1
                if rng.random() < 0.9:
                    source, medium, _ = campaign.channel
                    visit = (source, medium, campaign.campaign_name)
                    time = self._visit(time + rng.randint(2, 20), user, visit)
            else:
                time = self._visit(time, user, (*rng.choice(_ORGANIC_CHANNELS), None))
        if rng.random() < min(0.8, 0.15 + 0.12 * clicks):
            self._conversion(time + rng.randint(60, 1_800), user, last_click)

    def _click(self, time: int, user: int, index: int, campaign: _Campaign) -> bool:
        """A paid click; returns whether it carries the user (legacy-shaped ones do not)."""
        rng, advertiser = self.rng, self.world[index]
        legacy = rng.random() < _LEGACY_CLICK_SHARE
        payload: _Payload = {"event_type": "ad_click", "click_id": self._uuid()}
        if legacy:
            payload["advertiser"] = advertiser.name
        else:
            payload.update(_advertiser_fields(advertiser, rng))
        payload.update(ad_id=rng.choice(campaign.ads), amount=campaign.cpc_cents / 100)
        if not legacy:
            source, medium, platform = campaign.channel
            payload.update(
                campaign_id=campaign.campaign_id,
                campaign_name=campaign.campaign_name,
                user_id=f"user-{user:06d}",
                source=source,
                medium=medium,
                platform=platform,
                currency="USD",
            )
            if rng.random() < 0.25:
                payload["metadata"] = {"device_type": rng.choice(("mobile", "desktop", "tablet"))}
        draft = self._add(time, payload)
        self.clicks.append(draft)
        self.click_spend[(index, (self._day_offset + time) // _DAY)] += campaign.cpc_cents
        if legacy or rng.random() < _BUDGET_ON_CLICK_SHARE:
            self.clicks_with_budget.append((draft, index))
        return not legacy

    def _visit(self, time: int, user: int, channel: tuple[str, str, str | None]) -> int:
        """Page views of one session on the advertiser's site; returns the time after it."""
        rng, session = self.rng, self._uuid()
        source, medium, campaign = channel
        for page in (1, 2) if rng.random() < 0.15 else (1,):
            if time >= self.end:
                break
            payload: _Payload = {"event_type": "page_view", "user_id": f"user-{user:06d}"}
            payload.update(session_id=session, source=source, medium=medium)
            if campaign is not None:
                payload["campaign"] = campaign
            payload["page"] = rng.choice(_LANDING_PAGES if page == 1 else _BROWSE_PAGES)
            time = self._add(time, payload).time + rng.randint(30, 600)
        return time

    def _conversion(
        self, time: int, user: int, last_click: tuple[_Advertiser, _Campaign] | None
    ) -> None:
        """A conversion credited to the user's last click of the journey, when any."""
        if time >= self.end:
            return
        rng = self.rng
        kind = rng.choices(_CONVERSION_TYPES, weights=(70, 15, 15))[0]
        cents = {"purchase": rng.randint(1_500, 40_000), "lead": rng.randint(500, 5_000)}
        payload: _Payload = {"event_type": "conversion", "conversion_id": self._uuid()}
        payload.update(user_id=f"user-{user:06d}", revenue=cents.get(kind, 0) / 100)
        if last_click is not None:
            advertiser, campaign = last_click
            payload.update(advertiser=advertiser.name, advertiser_id=advertiser.advertiser_id)
            payload["campaign_id"] = campaign.campaign_id
        payload.update(currency="USD", conversion_type=kind, device_id=f"device-{user:06d}")
        self.conversions.append(self._add(time, payload))

    def _later(self, time: int, longest: int) -> int | None:
        """A moment 10 minutes to `longest` seconds after `time`, inside the period, or None."""
        latest = min(time + longest, self.end - 1)
        return self.rng.randint(time + 600, latest) if time + 600 <= latest else None

    def _refunds(self) -> None:
        """Credit about 1% of clicks back, after the click; some refunds name no amount."""
        wanted = max(1, round(len(self.clicks) * _REFUND_SHARE)) if self.clicks else 0
        for number, click in enumerate(self.rng.sample(self.clicks, wanted)):
            time = self._later(click.time, 3 * _DAY)
            if time is None:
                continue
            payload: _Payload = {
                "event_type": "click_refund",
                "click_id": click.payload["click_id"],
            }
            if number % 3:
                full = click.payload["amount"]
                payload["amount"] = full if number % 3 == 1 else round(full * 50) / 100
            payload["reason"] = self.rng.choice(_REFUND_REASONS)
            self._add(time, payload)

    def _cancellations(self) -> None:
        """Cancel about 5% of conversions, after the conversion."""
        conversions = self.conversions
        wanted = max(1, round(len(conversions) * _CANCELLATION_SHARE)) if conversions else 0
        for conversion in self.rng.sample(conversions, wanted):
            time = self._later(conversion.time, 5 * _DAY)
            if time is not None:
                payload: _Payload = {"event_type": "conversion_cancellation"}
                payload["conversion_id"] = conversion.payload["conversion_id"]
                payload["reason"] = self.rng.choice(_CANCEL_REASONS)
                self._add(time, payload)

    def _budgets(self, changes: int) -> None:
        """Daily budgets set at the start, raised or lowered now and then, and on the clicks."""
        rng = self.rng
        busiest: Counter[int] = Counter()
        for (index, _), cents in self.click_spend.items():
            busiest[index] = max(busiest[index], cents)
        bounds = [_budget_bounds(adv, busiest[index]) for index, adv in enumerate(self.world)]
        current = [
            int(busiest[index] * rng.uniform(0.5, 0.75))
            if adv.overspends and busiest[index] > 0
            else rng.randint(20_000, 500_000)
            for index, adv in enumerate(self.world)
        ]
        current = [_clamp(value, bounds[index]) for index, value in enumerate(current)]
        timelines: list[list[tuple[int, int]]] = [[] for _ in self.world]
        moments = sorted(
            (rng.randrange(_HOUR, self.end), rng.randrange(len(self.world))) for _ in range(changes)
        )
        for time, index in [(0, index) for index in self._indexes] + moments:
            if timelines[index]:
                current[index] = _clamp(int(current[index] * rng.uniform(0.8, 1.25)), bounds[index])
            advertiser = self.world[index]
            payload: _Payload = {"event_type": "budget_update", "advertiser": advertiser.name}
            payload.update(
                advertiser_id=advertiser.advertiser_id, budget_value=current[index] / 100
            )
            payload["budget_period"] = "day"
            timelines[index].append((self._add(time, payload).time, current[index]))
        for timeline in timelines:
            timeline.sort()
        for click, index in self.clicks_with_budget:
            timeline = timelines[index]
            position = bisect.bisect_right(timeline, (click.time, 10**15)) - 1
            click.payload["budget_value"] = timeline[position][1] / 100

    def _impressions(self, count: int) -> None:
        """The bulk: ads shown, free or at a small CPM cost on display campaigns."""
        rng = self.rng
        for _ in range(count):
            time = self._random_time()
            advertiser = self.world[self._pick_advertiser(time)]
            campaign = rng.choice(advertiser.campaigns)
            payload: _Payload = {"event_type": "impression"}
            if rng.random() < 0.5:
                payload["event_id"] = self._uuid()
            payload.update(_advertiser_fields(advertiser, rng))
            payload["ad_id"] = rng.choice(campaign.ads)
            source, medium, platform = campaign.channel
            if medium == "display":
                payload["amount"] = 0.01
            elif rng.random() < 0.5:
                payload["amount"] = 0.0
            payload["campaign_id"] = campaign.campaign_id
            if rng.random() < 0.4:
                payload["user_id"] = f"user-{rng.randrange(self.user_count):06d}"
            payload.update(source=source, medium=medium, platform=platform)
            self._add(time, payload)


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


def _arrival_order(drafts: list[_Draft], rng: random.Random) -> list[_Draft]:
    """Events as they would arrive: a few seconds after they happen, a few up to an hour late."""
    arrivals = [
        draft.time + (rng.randint(60, _HOUR) if rng.random() < 0.03 else rng.randint(0, 5))
        for draft in drafts
    ]
    return [drafts[i] for i in sorted(range(len(drafts)), key=arrivals.__getitem__)]


def _malformed_text(
    kind: str, rng: random.Random, payloads: list[_Payload], clicks: list[_Payload]
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
    payloads: list[_Payload],
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
    drafts = _arrival_order(_Simulation(settings, rng).run(), rng)
    start = settings.start.replace(tzinfo=None)
    valid: list[GeneratedLine] = []
    payloads: list[_Payload] = []
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
