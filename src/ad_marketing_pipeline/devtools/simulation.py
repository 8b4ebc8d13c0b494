"""The simulated world behind the synthetic events, and the valid events it produces.

Advertisers (daily budgets, campaigns on paid channels, ads, a cost per click) and users whose
multi-touch journeys cross channels over several days produce impressions, clicks, page views,
conversions, refunds, cancellations and budget updates that follow the event contract (v1). Some
advertisers' clicks are concentrated on a few days so that they overspend their daily budget.
Each event is a `Draft`: a JSON payload (no timestamp yet) and its time in seconds after the
start; `generator` turns them into lines. All randomness comes from the `random.Random` given.
"""

from __future__ import annotations

import bisect
import json
import random
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from ad_marketing_pipeline.devtools.settings import GeneratorSettings

__all__ = ["Draft", "Payload", "Simulation"]

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

#: An event as a JSON object: the contract's fields, without `timestamp` until it becomes a line.
Payload = dict[str, Any]


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
class Draft:
    """One valid event of the simulation: its payload and when it happens."""

    time: int  # seconds after settings.start
    payload: Payload


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


def _advertiser_fields(advertiser: _Advertiser, rng: random.Random) -> Payload:
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


class Simulation:
    """Builds the valid events of one run from the settings and the random generator."""

    def __init__(self, settings: GeneratorSettings, rng: random.Random) -> None:
        self.settings = settings
        self.rng = rng
        self.end = settings.days * _DAY
        self.world = _build_world(settings, rng)
        self.user_count = max(10, round(settings.valid_lines * _CLICK_SHARE / 3))
        self.drafts: list[Draft] = []
        self.clicks: list[Draft] = []
        self.conversions: list[Draft] = []
        self.clicks_with_budget: list[tuple[Draft, int]] = []
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

    def run(self) -> list[Draft]:
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

    def _add(self, time: int, payload: Payload) -> Draft:
        """Record an event; one without an id of its own (its id hashes its payload) moves on a
        second if another event has the same payload, which would make them one event."""
        own_id = payload["event_type"] in ("ad_click", "conversion") or "event_id" in payload
        if not own_id:
            identity = json.dumps(payload, sort_keys=True, default=str)
            while (identity, time) in self._hashed:
                time = (time + 1) % self.end
            self._hashed.add((identity, time))
        draft = Draft(time, payload)
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
        payload: Payload = {"event_type": "ad_click", "click_id": self._uuid()}
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
            payload: Payload = {"event_type": "page_view", "user_id": f"user-{user:06d}"}
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
        payload: Payload = {"event_type": "conversion", "conversion_id": self._uuid()}
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
            payload: Payload = {
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
                payload: Payload = {"event_type": "conversion_cancellation"}
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
            payload: Payload = {"event_type": "budget_update", "advertiser": advertiser.name}
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
            payload: Payload = {"event_type": "impression"}
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
