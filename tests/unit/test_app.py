"""The serving app's parts without a server or Spark: report windows and arithmetic, the SQL
literals both engines read, the in-memory serving status and its stale policy, the collector's
de-duplication and the landing-file forwarder, and the warehouse connection settings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ad_marketing_pipeline.app import queries
from ad_marketing_pipeline.app.answers import ReportWindow, parse_instant, report
from ad_marketing_pipeline.app.collector import Collector, RememberedIds, landing_file_forward
from ad_marketing_pipeline.app.readers import tables_named, warehouse_settings
from ad_marketing_pipeline.app.serving_cache import ServingCache
from ad_marketing_pipeline.config import AppConfig, PipelineConfig
from ad_marketing_pipeline.errors import ConfigError, PipelineError
from app_server import TestClock
from events import budget, click

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# Report windows and the report
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("-90s", NOW - timedelta(seconds=90)),
        ("-15m", NOW - timedelta(minutes=15)),
        ("-1h", NOW - timedelta(hours=1)),
        ("-7d", NOW - timedelta(days=7)),
        ("-2w", NOW - timedelta(weeks=2)),
        ("2024-04-30", datetime(2024, 4, 30, tzinfo=UTC)),
        ("2024-04-30T10:00:00Z", datetime(2024, 4, 30, 10, tzinfo=UTC)),
        ("2024-04-30T12:00:00+02:00", datetime(2024, 4, 30, 10, tzinfo=UTC)),
    ],
)
def test_report_times(text: str, expected: datetime) -> None:
    assert parse_instant(text, NOW) == expected


@pytest.mark.parametrize(
    ("start", "end"), [("yesterday", None), ("-1h", "-2h"), ("now", None), ("-1x", None)]
)
def test_bad_report_windows_are_refused(start: str, end: str | None) -> None:
    with pytest.raises(ValueError, match=r"not a time|is not before"):
        ReportWindow.parse(start, end, NOW)


class FakeReader:
    """Answers each query by the table it names."""

    def __init__(self, answers: dict[str, list[dict[str, Any]]]) -> None:
        self.answers = answers
        self.queries: list[str] = []

    def query(self, sql: str) -> list[dict[str, Any]]:
        self.queries.append(sql)
        return self.answers[tables_named(sql)[0].value]

    def close(self) -> None:
        return None


def test_the_report_divides_as_ad_performance_does() -> None:
    reader = FakeReader(
        {
            "silver_events": [{"impressions": 400, "clicks": 30, "spend": Decimal("10.000000")}],
            "gold_fact_conversions": [{"conversions": 3, "revenue": Decimal("25.500000")}],
        }
    )
    window = ReportWindow.parse("-1h", None, NOW)
    answer = report(reader, "cmp-1", window)
    assert answer == {
        "campaign_id": "cmp-1",
        "start": NOW - timedelta(hours=1),
        "end": NOW,
        "impressions": 400,
        "clicks": 30,
        "conversions": 3,
        "spend": "10.000000",
        "revenue": "25.500000",
        "ctr": 0.075,
        "cpc": "0.333333",
        "cpa": "3.333333",
        "roas": 2.55,
    }
    assert "'cmp-1'" in reader.queries[0]
    assert "TIMESTAMP '2024-05-01 11:00:00.000000+00:00'" in reader.queries[0]


def test_an_empty_window_has_no_ratios() -> None:
    reader = FakeReader(
        {
            "silver_events": [{"impressions": None, "clicks": None, "spend": None}],
            "gold_fact_conversions": [{"conversions": 0, "revenue": None}],
        }
    )
    answer = report(reader, None, ReportWindow.parse("-1h", None, NOW))
    assert (answer["ctr"], answer["cpc"], answer["cpa"], answer["roas"]) == (None,) * 4
    assert answer["spend"] == "0.000000"


def test_sql_literals_quote_and_refuse_what_engines_read_differently() -> None:
    assert queries.string_literal("O'Brien") == "'O''Brien'"
    for text in ("a\\b", "line\nbreak", "nul\x00"):
        with pytest.raises(ValueError, match="not allowed"):
            queries.string_literal(text)


# ---------------------------------------------------------------------------------------------
# can_serve from memory
# ---------------------------------------------------------------------------------------------


def status_row(key: str, name: str, can_serve: bool, written: datetime) -> dict[str, Any]:
    return {
        "advertiser_key": key,
        "advertiser": name,
        "advertiser_id": key,
        "can_serve": can_serve,
        "spend_to_date": Decimal("12.5"),
        "budget_value": Decimal(100),
        "clicks": 7,
        "current_period_start": datetime(2024, 5, 1, tzinfo=UTC),
        "latest_event_time": written,
        "as_of": written,
        "updated_at": written,
    }


def serving_cache(policy: str, clock: TestClock, rows: list[dict[str, Any]]) -> ServingCache:
    settings = AppConfig.model_validate({"stale_policy": policy, "max_data_age_seconds": 30})
    cache = ServingCache(FakeReader({"gold_serving_status": rows}), settings, clock)
    cache.refresh()
    return cache


@pytest.mark.parametrize("policy", ["fail_closed", "fail_open"])
def test_the_stale_policy_answers_past_the_age_limit(policy: str) -> None:
    clock = TestClock()
    rows = [status_row("a-1", "Acme", True, NOW), status_row("a-2", "Globex", False, NOW)]
    cache = serving_cache(policy, clock, rows)
    clock.fixed = NOW + timedelta(seconds=30)
    assert [cache.answer(key)["can_serve"] for key in ("a-1", "a-2")] == [True, False]  # type: ignore[index]
    clock.fixed = NOW + timedelta(seconds=31)
    for key in ("a-1", "a-2"):
        answer = cache.answer(key)
        assert answer is not None
        assert (answer["can_serve"], answer["stale"], answer["answered_by"]) == (
            policy == "fail_open",
            True,
            policy,
        )


def test_advertisers_are_found_by_key_id_or_unambiguous_name() -> None:
    clock = TestClock()
    rows = [
        status_row("a-1", "Acme", True, NOW),
        status_row("a-2", "Twin", True, NOW),
        status_row("a-3", "Twin", False, NOW),
    ]
    cache = serving_cache("fail_closed", clock, rows)
    clock.fixed = NOW
    assert cache.answer("Acme")["advertiser_key"] == "a-1"  # type: ignore[index]
    assert cache.answer("a-3")["can_serve"] is False  # type: ignore[index]
    assert cache.answer("Twin") is None  # two advertisers have that name
    assert cache.answer("nobody") is None
    answer = cache.answer("a-1")
    assert answer is not None
    assert (answer["spend_to_date"], answer["budget"], answer["data_age_seconds"]) == (
        "12.500000",
        "100.000000",
        0.0,
    )


def test_without_any_serving_data_the_policy_answers() -> None:
    clock = TestClock()
    cache = serving_cache("fail_closed", clock, [])
    answer = cache.answer("a-1")
    assert answer is not None
    assert (answer["can_serve"], answer["stale"], answer["data_age_seconds"]) == (False, True, None)


# ---------------------------------------------------------------------------------------------
# The collector
# ---------------------------------------------------------------------------------------------


def test_the_collector_forwards_each_event_once_in_order_and_names_rejections() -> None:
    forwarded: list[list[str]] = []
    collector = Collector(lambda lines: forwarded.append(list(lines)), RememberedIds(capacity=10))
    first = click("c-1").payload()
    second = budget(budget_value="5").payload()
    outcome = collector.collect([first, {"event_type": "ad_click"}, second, first])
    assert [result["status"] for result in outcome["results"]] == [
        "accepted",
        "rejected",
        "accepted",
        "duplicate",
    ]
    assert "click_id" in outcome["results"][1]["reason"]
    assert [json.loads(line) for line in forwarded[0]] == [first, second]
    retry = collector.collect([first, second])
    assert (retry["accepted"], retry["duplicate"]) == (0, 2)
    assert len(forwarded) == 1  # nothing forwarded for a retry


def test_a_failed_forward_remembers_nothing() -> None:
    attempts: list[int] = []

    def flaky(lines: Any) -> None:
        attempts.append(len(lines))
        if len(attempts) == 1:
            raise PipelineError("broker down")

    collector = Collector(flaky, RememberedIds(capacity=10))
    with pytest.raises(PipelineError):
        collector.collect([click("c-1").payload()])
    assert collector.collect([click("c-1").payload()])["accepted"] == 1
    assert attempts == [1, 1]


def test_remembered_ids_forget_the_oldest_first() -> None:
    remembered = RememberedIds(capacity=2)
    for event_id in ("a", "b", "c"):
        remembered.add(event_id)
    assert ("a" in remembered, "b" in remembered, "c" in remembered) == (False, True, True)


def test_landing_files_appear_whole(tmp_path: Path) -> None:
    forward = landing_file_forward(tmp_path / "landing")
    forward(['{"a":1}', '{"b":2}'])
    files = list((tmp_path / "landing").iterdir())
    assert len(files) == 1
    assert files[0].name.startswith("collector-")
    assert files[0].suffix == ".jsonl"
    assert files[0].read_text() == '{"a":1}\n{"b":2}\n'


# ---------------------------------------------------------------------------------------------
# The warehouse connection
# ---------------------------------------------------------------------------------------------


def test_warehouse_settings_come_from_the_app_environment() -> None:
    config = PipelineConfig.model_validate({"env": "prod", "app": {"reader": "warehouse"}})
    environ = {
        "DATABRICKS_HOST": "https://adb-1.2.azuredatabricks.net/",
        "DATABRICKS_WAREHOUSE_ID": "abc123",
        "DATABRICKS_TOKEN": "dapi-secret",
    }
    settings = warehouse_settings(config, environ)
    assert settings["server_hostname"] == "adb-1.2.azuredatabricks.net"
    assert settings["http_path"] == "/sql/1.0/warehouses/abc123"
    assert settings["access_token"] == "dapi-secret"
    with pytest.raises(ConfigError, match="DATABRICKS_WAREHOUSE_ID"):
        warehouse_settings(config, {"DATABRICKS_HOST": "h"})
