"""The synthetic event generator: deterministic, realistic, contract-true landing files."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from ad_marketing_pipeline import contract
from ad_marketing_pipeline.devtools.generator import (
    DUPLICATE,
    MALFORMED_KINDS,
    VALID,
    GeneratedLine,
    GenerationSummary,
    GeneratorSettings,
    generate_lines,
    write_landing_files,
)
from ad_marketing_pipeline.errors import ContractError

SMALL = GeneratorSettings(events=5_000, events_per_file=1_200)
START = datetime(2024, 1, 1, tzinfo=UTC)
END = START + timedelta(days=SMALL.days)
FILE_SIZES = [1_200] * 4 + [200]  # SMALL's 5,000 lines at 1,200 per file
LEGACY_CLICK_KEYS = ["event_type", "click_id", "advertiser", "ad_id", "amount", "budget_value"]
MONEY_VALUE = re.compile(r'"(?:amount|revenue|budget_value)":(-?[0-9.eE+-]+)')


@pytest.fixture(scope="module")
def lines() -> list[GeneratedLine]:
    return list(generate_lines(SMALL))


@pytest.fixture(scope="module")
def valid_events(lines: list[GeneratedLine]) -> list[dict[str, Any]]:
    """The decoded valid lines, in output order."""
    return [json.loads(line.text) for line in lines if line.kind == VALID]


@pytest.fixture(scope="module")
def parsed(valid_events: list[dict[str, Any]]) -> list[contract.EventModel]:
    return [contract.parse_event(event) for event in valid_events]


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[GenerationSummary, list[int]]:
    progress: list[int] = []
    summary = write_landing_files(SMALL, tmp_path_factory.mktemp("landing"), progress.append)
    return summary, progress


def of_type(events: list[contract.EventModel], event_type: str) -> list[Any]:
    return [event for event in events if event.event_type == event_type]


def advertiser_number(event: Any) -> str:
    """advertiser-007 and adv-007 name the same advertiser."""
    return str(event.advertiser or event.advertiser_id).rsplit("-", 1)[1]


@pytest.mark.slow
def test_same_settings_write_the_same_bytes(tmp_path: Path) -> None:
    settings = GeneratorSettings(events=100_000, seed=7)
    first = write_landing_files(settings, tmp_path / "first")
    second = write_landing_files(settings, tmp_path / "second")

    assert [path.name for path in first.files] == [path.name for path in second.files]
    for one, other in zip(first.files, second.files, strict=True):
        assert one.read_bytes() == other.read_bytes()
    assert first.to_dict()["valid_events"] == second.to_dict()["valid_events"]


def test_another_seed_gives_other_events(lines: list[GeneratedLine]) -> None:
    other = list(generate_lines(SMALL.model_copy(update={"seed": 8})))

    assert len(other) == len(lines)
    assert [line.text for line in other] != [line.text for line in lines]


def test_every_event_type_appears_in_realistic_shares(
    written: tuple[GenerationSummary, list[int]],
) -> None:
    summary, _ = written
    counts = summary.valid_events
    share = {event_type: count / summary.valid_lines for event_type, count in counts.items()}

    assert set(counts) == set(contract.EVENT_TYPES)
    assert all(count > 0 for count in counts.values()), counts
    assert 0.55 <= share["impression"] <= 0.65
    assert 0.12 <= share["ad_click"] <= 0.16
    assert 0.12 <= share["page_view"] <= 0.25
    assert 0.02 <= share["conversion"] <= 0.04
    assert counts["conversion_cancellation"] < counts["conversion"] * 0.1
    assert counts["click_refund"] < counts["ad_click"] * 0.02


def test_summary_counts_match_the_files(
    written: tuple[GenerationSummary, list[int]], lines: list[GeneratedLine]
) -> None:
    summary, progress = written
    texts = [text for path in summary.files for text in path.read_text("utf-8").split("\n")[:-1]]
    kinds: Counter[str] = Counter()
    for text in texts:
        try:
            contract.parse_event(json.loads(text))
            kinds["parses"] += 1
        except (ValueError, ContractError):
            kinds["fails"] += 1

    assert [path.name for path in summary.files] == [f"events-0000{n}.jsonl" for n in range(5)]
    assert all(path.read_bytes().endswith(b"\n") for path in summary.files)
    assert [len(path.read_text("utf-8").splitlines()) for path in summary.files] == FILE_SIZES
    assert texts == [line.text for line in lines]
    assert len(texts) == summary.total_lines == SMALL.events
    assert kinds["parses"] == summary.valid_lines + summary.duplicates
    assert kinds["fails"] == sum(summary.malformed.values())
    assert progress == FILE_SIZES
    assert json.loads(json.dumps(summary.to_dict()))["files"] == [str(p) for p in summary.files]


def test_bad_lines_follow_the_shares(written: tuple[GenerationSummary, list[int]]) -> None:
    summary, _ = written

    assert summary.duplicates == SMALL.duplicate_lines == 50
    assert sum(summary.malformed.values()) == SMALL.malformed_lines == 50
    assert summary.valid_lines == SMALL.valid_lines == 4_900
    assert set(summary.malformed) == set(MALFORMED_KINDS)
    assert all(count >= 5 for count in summary.malformed.values()), summary.malformed


def test_every_valid_line_follows_the_contract(
    lines: list[GeneratedLine], parsed: list[contract.EventModel]
) -> None:
    valid = [line for line in lines if line.kind == VALID]

    assert len(parsed) == len(valid) == SMALL.valid_lines
    assert all(START <= event.timestamp < END for event in parsed)
    assert [event.event_type for event in parsed] == [line.event_type for line in valid]
    for line in valid:
        compact = json.dumps(json.loads(line.text), separators=(",", ":"))
        assert line.text == compact
        assert "\n" not in line.text


def test_valid_events_never_share_an_event_id(valid_events: list[dict[str, Any]]) -> None:
    ids = Counter(contract.derive_event_id(json.dumps(event)) for event in valid_events)

    assert ids.most_common(1)[0][1] == 1
    assert len(ids) == SMALL.valid_lines


def test_dense_runs_still_give_every_valid_event_its_own_id() -> None:
    # One advertiser over one day: many events share user, ad and second, so ids must be kept apart.
    dense = GeneratorSettings(events=5_000, advertisers=1, days=1, duplicate_share=0)
    events = [line.text for line in generate_lines(dense) if line.kind == VALID]
    ids = {contract.derive_event_id(event) for event in events}

    assert len(ids) == len(events) == dense.valid_lines


def test_every_malformed_line_fails(lines: list[GeneratedLine]) -> None:
    malformed = [line for line in lines if line.kind not in (VALID, DUPLICATE)]

    assert {line.kind for line in malformed} == set(MALFORMED_KINDS)
    for line in malformed:
        assert "\n" not in line.text
        with pytest.raises((json.JSONDecodeError, ContractError)):
            contract.parse_event(json.loads(line.text))
        if line.kind in ("not_json", "truncated_json"):
            with pytest.raises(json.JSONDecodeError):
                json.loads(line.text)
    assert {line.text for line in malformed if line.kind == "empty_object"} == {"{}"}


def test_duplicates_are_byte_copies_of_earlier_valid_lines(lines: list[GeneratedLine]) -> None:
    first_seen: dict[str, int] = {}
    for position, line in enumerate(lines):
        if line.kind == VALID:
            assert line.text not in first_seen
            first_seen[line.text] = position
        elif line.kind == DUPLICATE:
            assert first_seen.get(line.text, position) < position
    assert sum(line.kind == DUPLICATE for line in lines) == SMALL.duplicate_lines


def test_money_is_written_with_at_most_two_decimals(lines: list[GeneratedLine]) -> None:
    values = [
        value for line in lines if line.kind == VALID for value in MONEY_VALUE.findall(line.text)
    ]

    assert len(values) > 2_000
    assert all(re.fullmatch(r"[0-9]+\.[0-9]{1,2}", value) for value in values), [
        value for value in values if not re.fullmatch(r"[0-9]+\.[0-9]{1,2}", value)
    ][:5]


def test_timestamps_are_mostly_utc_with_a_few_naive_and_offset(
    valid_events: list[dict[str, Any]],
) -> None:
    stamps = [str(event["timestamp"]) for event in valid_events]
    zulu = sum(stamp.endswith("Z") for stamp in stamps)
    offset = sum(bool(re.search(r"[+-]\d{2}:\d{2}$", stamp)) for stamp in stamps)
    naive = len(stamps) - zulu - offset

    assert zulu / len(stamps) > 0.9
    assert naive > 20
    assert offset > 20
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}.*", stamp) for stamp in stamps)


def test_valid_events_arrive_roughly_in_time_order(parsed: list[contract.EventModel]) -> None:
    latest = START
    for event in parsed:
        assert event.timestamp > latest - timedelta(hours=2)
        latest = max(latest, event.timestamp)


def test_clicks_carry_advertiser_campaign_and_channel(parsed: list[contract.EventModel]) -> None:
    clicks = of_type(parsed, "ad_click")
    full = [click for click in clicks if click.user_id is not None]

    assert len({click.click_id for click in clicks}) == len(clicks)
    assert sum(bool(c.advertiser and c.advertiser_id) for c in clicks) > len(clicks) / 2
    assert all(Decimal("0.10") <= click.amount <= Decimal("3.00") for click in clicks)
    assert all(click.currency == "USD" and click.campaign_id for click in full)
    assert {(c.source, c.medium) for c in full} >= {("google", "cpc"), ("facebook", "paid_social")}
    assert 0.1 < sum(c.budget_value is not None for c in full) / len(full) < 0.4


def test_some_clicks_look_exactly_like_the_original_pipeline(lines: list[GeneratedLine]) -> None:
    legacy = [
        payload
        for line in lines
        if line.kind == VALID
        and (payload := json.loads(line.text))["event_type"] == "ad_click"
        and "advertiser_id" not in payload
        and "user_id" not in payload
    ]

    assert len(legacy) > 20
    assert all(list(payload) == [*LEGACY_CLICK_KEYS, "timestamp"] for payload in legacy)
    assert all(re.fullmatch(r"advertiser-\d{3}", payload["advertiser"]) for payload in legacy)


def test_refunds_and_cancellations_come_after_what_they_undo(
    parsed: list[contract.EventModel],
) -> None:
    clicks = {click.click_id: click for click in of_type(parsed, "ad_click")}
    conversions = {c.conversion_id: c for c in of_type(parsed, "conversion")}
    refunds = of_type(parsed, "click_refund")
    cancellations = of_type(parsed, "conversion_cancellation")

    assert all(clicks[r.click_id].timestamp < r.timestamp for r in refunds)
    assert all(r.amount is None or r.amount <= clicks[r.click_id].amount for r in refunds)
    assert {r.amount is None for r in refunds} == {True, False}
    assert all(conversions[c.conversion_id].timestamp < c.timestamp for c in cancellations)


def test_conversions_credit_an_earlier_click_of_the_same_user(
    parsed: list[contract.EventModel],
) -> None:
    clicked: defaultdict[tuple[str | None, str | None], list[datetime]] = defaultdict(list)
    for click in of_type(parsed, "ad_click"):
        clicked[(click.user_id, click.campaign_id)].append(click.timestamp)
    conversions = of_type(parsed, "conversion")
    credited = [c for c in conversions if c.campaign_id is not None]

    assert len(credited) > len(conversions) / 2
    for conversion in credited:
        assert conversion.currency == "USD" and conversion.device_id
        assert conversion.advertiser_id == conversion.campaign_id.replace("cmp", "adv")[:7]
        times = clicked[(conversion.user_id, conversion.campaign_id)]
        assert times and min(times) < conversion.timestamp


def test_users_touch_several_channels_before_converting(
    parsed: list[contract.EventModel],
) -> None:
    channels: defaultdict[str, set[tuple[str | None, str | None]]] = defaultdict(set)
    multi_channel = 0
    for event in sorted(parsed, key=lambda event: event.timestamp):
        if event.event_type == "page_view":
            channels[event.user_id].add((event.source, event.medium))
        elif event.event_type == "conversion":
            multi_channel += len(channels[event.user_id]) >= 2
    sources = {source for touched in channels.values() for source, _ in touched}

    assert multi_channel > 20
    assert {"google", "(direct)", "newsletter", "partner-blog", "facebook"} <= sources


def test_budgets_are_set_per_day_and_some_advertisers_overspend(
    parsed: list[contract.EventModel],
) -> None:
    updates = sorted(of_type(parsed, "budget_update"), key=lambda event: event.timestamp)
    budgets: defaultdict[str, list[tuple[datetime, Decimal]]] = defaultdict(list)
    for update in updates:
        budgets[advertiser_number(update)].append((update.timestamp, update.budget_value))

    def budget_at(number: str, moment: datetime) -> Decimal:
        return [value for time, value in budgets[number] if time <= moment][-1]

    daily_spend: Counter[tuple[str, datetime]] = Counter()
    for click in of_type(parsed, "ad_click"):
        number = advertiser_number(click)
        day = click.timestamp.replace(hour=0, minute=0, second=0)
        daily_spend[(number, day)] += click.amount
        if click.budget_value is not None:
            assert click.budget_value == budget_at(number, click.timestamp)
    peak: dict[str, Decimal] = defaultdict(Decimal)
    for (number, day), spend in daily_spend.items():
        peak[number] = max(
            peak[number], spend / budget_at(number, day + timedelta(days=1, seconds=-1))
        )

    starting = [update for update in updates if update.timestamp == START]
    assert len(starting) == SMALL.advertisers
    assert all(update.budget_period == "day" for update in updates)
    assert len(updates) > SMALL.advertisers
    assert sum(ratio >= 1 for ratio in peak.values()) >= 3
    assert sum(ratio < Decimal("0.5") for ratio in peak.values()) >= SMALL.advertisers / 2


def test_refuses_a_folder_that_holds_landing_files(tmp_path: Path) -> None:
    (tmp_path / "events-00000.jsonl").write_text("{}\n", encoding="utf-8")

    with pytest.raises(ValueError, match="already holds 1 events-"):
        write_landing_files(GeneratorSettings(events=100), tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["events-00000.jsonl"]


def test_writes_into_a_new_or_unrelated_folder(tmp_path: Path) -> None:
    (tmp_path / "README.txt").write_text("not landing data", encoding="utf-8")
    settings = GeneratorSettings(events=300, advertisers=3, events_per_file=1_000)

    in_place = write_landing_files(settings, tmp_path)
    nested = write_landing_files(settings, tmp_path / "a" / "b")

    assert [path.name for path in in_place.files] == ["events-00000.jsonl"]
    assert in_place.files[0].read_bytes() == nested.files[0].read_bytes()
    assert nested.total_lines == 300


@pytest.mark.parametrize(
    "overrides",
    [
        {"events": 0},
        {"advertisers": 0},
        {"days": 0},
        {"malformed_share": -0.1},
        {"duplicate_share": 0.6},
        {"events_per_file": 0},
        {"events": 10, "malformed_share": 0.5, "duplicate_share": 0.5},
        {"start": "yesterday"},
        {"speed": "fast"},
    ],
)
def test_settings_reject_impossible_values(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        GeneratorSettings(**overrides)


def test_settings_are_frozen_and_count_lines_from_the_shares() -> None:
    settings = GeneratorSettings(events=1_000, malformed_share=0.29, duplicate_share=0.015)

    field = "events"
    with pytest.raises(ValidationError):
        setattr(settings, field, 5)
    assert (settings.malformed_lines, settings.duplicate_lines, settings.valid_lines) == (
        290,
        15,
        695,
    )
    assert GeneratorSettings().start == START
    naive = GeneratorSettings(start=datetime(2024, 3, 1, 12))
    assert naive.start == datetime(2024, 3, 1, 12, tzinfo=UTC)
