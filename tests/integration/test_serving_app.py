"""The serving app on a real HTTP server over the tables of a real pipeline run: every endpoint
called over HTTP, both readers (delta-rs, and the SQL warehouse one at its client boundary)
giving the same rows, the stale policies, and the live dashboard in headless Chromium changing
after new events are processed, without a reload."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, sync_playwright
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ad_marketing_pipeline.app import queries
from ad_marketing_pipeline.app.answers import ReportWindow, dashboard_data, report
from ad_marketing_pipeline.app.collector import source_forward
from ad_marketing_pipeline.app.readers import DeltaGoldReader, WarehouseGoldReader
from ad_marketing_pipeline.app.server import create_app
from ad_marketing_pipeline.config import PipelineConfig, TableKey
from ad_marketing_pipeline.devtools.generator import GeneratorSettings, write_landing_files
from ad_marketing_pipeline.io import StreamTrigger
from ad_marketing_pipeline.pipeline import LAYERS, run_layers
from ad_marketing_pipeline.runtime import prepare_runtime
from app_server import TestClock, call, running_app
from helpers import pipeline_config

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"
CHARTS = (
    "chart-spend-vs-budget",
    "chart-serving-status",
    "chart-first-vs-last",
    "chart-channels",
)


def run_pipeline(spark: SparkSession, config: PipelineConfig) -> None:
    run_layers(prepare_runtime(spark, config, environ={}), list(LAYERS), StreamTrigger())


@pytest.fixture(scope="module")
def config(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> PipelineConfig:
    """Every layer over 1,500 generated events of 5 advertisers over 20 days."""
    root = tmp_path_factory.mktemp("serving_app")
    config = pipeline_config(
        root, "app", app={"refresh_seconds": 0.2, "dashboard_refresh_seconds": 1}
    )
    settings = GeneratorSettings(events=1_500, advertisers=5, days=20, seed=23)
    write_landing_files(settings, Path(config.landing_path))
    run_pipeline(spark, config)
    return config


@pytest.fixture(scope="module")
def delta_reader(spark: SparkSession, config: PipelineConfig) -> DeltaGoldReader:
    """The delta-rs reader on the test session's warehouse (shared by the tests' schemas)."""
    detail = spark.sql(f"DESCRIBE DETAIL {config.table(TableKey.GOLD_SERVING_STATUS)}").first()
    assert detail is not None
    return DeltaGoldReader(config, str(Path(detail["location"].removeprefix("file:")).parent))


@pytest.fixture(scope="module")
def clock() -> TestClock:
    return TestClock()


@pytest.fixture(scope="module")
def base_url(
    config: PipelineConfig, delta_reader: DeltaGoldReader, clock: TestClock
) -> Iterator[str]:
    app = create_app(config, delta_reader, source_forward(config), clock=clock)
    with running_app(app) as url:
        yield url


def serving_rows(spark: SparkSession, config: PipelineConfig) -> list[dict[str, Any]]:
    table = spark.table(config.table(TableKey.GOLD_SERVING_STATUS))
    return [row.asDict() for row in table.collect()]


def money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.6f}"


# ---------------------------------------------------------------------------------------------
# can_serve
# ---------------------------------------------------------------------------------------------


def test_serving_answers_each_advertiser_by_key_id_and_name(
    spark: SparkSession, config: PipelineConfig, base_url: str
) -> None:
    rows = serving_rows(spark, config)
    assert len(rows) == 5
    for row in rows:
        for name in {row["advertiser_key"], row["advertiser_id"], row["advertiser"]} - {None}:
            reply = call(f"{base_url}/v1/advertisers/{name}/serving")
            assert reply.status == 200, reply.body
            answer = reply.body
            assert answer["advertiser_key"] == row["advertiser_key"]
            assert answer["can_serve"] is row["can_serve"]
            assert answer["answered_by"] == "data"
            assert answer["stale"] is False
            assert answer["spend_to_date"] == money(row["spend_to_date"])
            assert answer["budget"] == money(row["budget_value"])
            assert answer["period_start"] == row["current_period_start"].isoformat() + "+00:00"
            assert 0 <= answer["data_age_seconds"] < config.app.max_data_age_seconds


def test_an_unknown_advertiser_is_not_found(base_url: str) -> None:
    reply = call(f"{base_url}/v1/advertisers/no-such-advertiser/serving")
    assert reply.status == 404
    assert "no-such-advertiser" in reply.body["detail"]


@pytest.mark.parametrize("policy", ["fail_closed", "fail_open"])
def test_stale_data_is_answered_by_the_configured_policy(
    spark: SparkSession, config: PipelineConfig, delta_reader: DeltaGoldReader, policy: str
) -> None:
    rows = serving_rows(spark, config)
    written_at = max(row["updated_at"] for row in rows).replace(tzinfo=UTC)  # Spark's are UTC
    limit = 60.0
    clock = TestClock()
    settings = config.app.model_copy(update={"stale_policy": policy, "max_data_age_seconds": limit})
    app_config = config.model_copy(update={"app": settings})
    app = create_app(app_config, delta_reader, source_forward(config), clock=clock)
    with running_app(app) as url:
        clock.fixed = written_at + timedelta(seconds=limit - 1)
        for row in rows:
            fresh = call(f"{url}/v1/advertisers/{row['advertiser_key']}/serving").body
            assert (fresh["can_serve"], fresh["stale"]) == (row["can_serve"], False)
        clock.fixed = written_at + timedelta(seconds=limit + 1)
        for row in rows:
            stale = call(f"{url}/v1/advertisers/{row['advertiser_key']}/serving").body
            assert stale["stale"] is True
            assert stale["answered_by"] == policy
            assert stale["can_serve"] is (policy == "fail_open")
            assert stale["data_can_serve"] is row["can_serve"]
            assert stale["data_age_seconds"] == pytest.approx(limit + 1)
        health = call(f"{url}/healthz").body
        assert health["serving_data_stale"] is True


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------


def performance_totals(
    spark: SparkSession, config: PipelineConfig, first: date, last: date, campaign: str | None
) -> dict[str, Any]:
    facts = spark.table(config.table(TableKey.GOLD_FACT_AD_PERFORMANCE)).filter(
        F.col("performance_date").between(first, last)
    )
    if campaign is not None:
        facts = facts.filter(F.col("campaign_id") == campaign)
    totals = facts.agg(
        F.sum("impressions").alias("impressions"),
        F.sum("clicks").alias("clicks"),
        F.sum("conversions").alias("conversions"),
        F.sum("ad_spend").alias("spend"),
        F.sum("revenue").alias("revenue"),
    ).first()
    assert totals is not None
    return totals.asDict()


def test_report_over_whole_days_equals_gold_ad_performance(
    spark: SparkSession, config: PipelineConfig, base_url: str
) -> None:
    busiest = (
        spark.table(config.table(TableKey.GOLD_FACT_AD_PERFORMANCE))
        .groupBy("campaign_id")
        .agg(F.sum("clicks").alias("clicks"))
        .orderBy(F.desc("clicks"))
        .first()
    )
    assert busiest is not None
    first, last = date(2024, 1, 3), date(2024, 1, 12)
    for campaign in (None, busiest["campaign_id"]):
        expected = performance_totals(spark, config, first, last, campaign)
        query = f"start={first}&end={last + timedelta(days=1)}"
        if campaign is not None:
            query += f"&campaign_id={campaign}"
        reply = call(f"{base_url}/v1/report?{query}")
        assert reply.status == 200, reply.body
        body = reply.body
        assert expected["clicks"] > 0
        assert (body["impressions"], body["clicks"], body["conversions"]) == (
            expected["impressions"],
            expected["clicks"],
            expected["conversions"],
        )
        assert Decimal(body["spend"]) == expected["spend"]
        assert Decimal(body["revenue"]) == expected["revenue"]
        assert body["ctr"] == pytest.approx(expected["clicks"] / expected["impressions"])
        assert Decimal(body["cpc"]) == (expected["spend"] / expected["clicks"]).quantize(
            Decimal("0.000001")
        )
        assert body["roas"] == pytest.approx(float(expected["revenue"] / expected["spend"]))


def test_report_windows_relative_to_now_and_bad_ones(base_url: str) -> None:
    recent = call(f"{base_url}/v1/report?start=-1h")
    assert recent.status == 200
    assert (recent.body["clicks"], recent.body["spend"], recent.body["cpc"]) == (
        0,
        "0.000000",
        None,
    )
    start = datetime.fromisoformat(recent.body["start"])
    end = datetime.fromisoformat(recent.body["end"])
    assert end - start == timedelta(hours=1)
    for query in ("start=yesterday", "start=2024-01-05&end=2024-01-01", "start=-1h&end=soon"):
        reply = call(f"{base_url}/v1/report?{query}")
        assert reply.status == 400, query
        assert reply.body["detail"]


def test_health_and_openapi(base_url: str) -> None:
    health = call(f"{base_url}/healthz")
    assert health.status == 200
    assert health.body["status"] == "ok"
    openapi = call(f"{base_url}/openapi.json").body
    assert {
        "/v1/advertisers/{advertiser}/serving",
        "/v1/report",
        "/v1/events",
        "/healthz",
    } <= set(openapi["paths"])
    assert call(f"{base_url}/docs").status == 200


# ---------------------------------------------------------------------------------------------
# Both readers, the same rows
# ---------------------------------------------------------------------------------------------


class SparkWarehouseConnection:
    """`databricks.sql.connect(...)`'s connection, answered by the local Spark session: the
    warehouse reader's SQL runs on Spark SQL, the engine of SQL warehouses."""

    def __init__(self, spark: SparkSession, **settings: Any) -> None:
        self.spark = spark
        self.settings = settings
        self.description: list[tuple[str, ...]] = []
        self.rows: list[tuple[Any, ...]] = []

    def cursor(self) -> SparkWarehouseConnection:
        return self

    def __enter__(self) -> SparkWarehouseConnection:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def execute(self, sql: str) -> None:
        frame = self.spark.sql(sql)
        self.description = [(name,) for name in frame.columns]
        self.rows = [tuple(row) for row in frame.collect()]

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    def close(self) -> None:
        return None


def test_the_warehouse_reader_gives_what_the_delta_reader_gives(
    spark: SparkSession, config: PipelineConfig, delta_reader: DeltaGoldReader
) -> None:
    connections: list[SparkWarehouseConnection] = []

    def connect(**settings: Any) -> SparkWarehouseConnection:
        connections.append(SparkWarehouseConnection(spark, **settings))
        return connections[-1]

    warehouse = WarehouseGoldReader(config, {"server_hostname": "test"}, connect)
    delta = delta_reader
    window = ReportWindow.parse("2024-01-02", "2024-01-09T12:00:00Z", datetime.now().astimezone())

    def by_key(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(rows, key=lambda row: row["advertiser_key"])

    assert by_key(warehouse.query(queries.SERVING_STATUS)) == by_key(
        delta.query(queries.SERVING_STATUS)
    )
    for campaign in (None, "(none)"):
        assert report(warehouse, campaign, window) == report(delta, campaign, window)
    assert dashboard_data(warehouse) == dashboard_data(delta)
    assert len(connections) == 1  # one connection, reused
    assert connections[0].settings == {"server_hostname": "test"}


# ---------------------------------------------------------------------------------------------
# The live dashboard (last: it adds events and runs the pipeline again)
# ---------------------------------------------------------------------------------------------


def chart_points(page: Page, chart: str) -> int:
    """Data points plotly holds for a chart (its traces' y values that are numbers)."""
    return int(
        page.evaluate(
            """(id) => (document.getElementById(id).data || [])
                 .flatMap((trace) => Array.from(trace.y || []))
                 .filter((y) => typeof y === "number").length""",
            chart,
        )
    )


def new_click(advertiser_id: str, number: int) -> dict[str, Any]:
    return {
        "event_type": "ad_click",
        "click_id": f"live-{uuid.uuid4().hex[:8]}-{number}",
        "advertiser_id": advertiser_id,
        "ad_id": "ad-live",
        "amount": "2.50",
        "campaign_id": "cmp-live",
        "timestamp": "2024-01-20T23:30:00Z",
    }


def test_dashboard_draws_every_chart_and_follows_new_events_without_reload(
    spark: SparkSession, config: PipelineConfig, base_url: str
) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(f"{base_url}/")
        page.wait_for_function("document.getElementById('updated').textContent.includes('refresh')")
        for chart in CHARTS:
            assert chart_points(page, chart) > 0, chart
        assert page.locator("#freshness").get_attribute("class") == "fresh"
        assert page.locator("#feed tbody tr").count() == queries.FEED_SIZE
        clicks_before = page.text_content("#kpi-clicks")
        page.evaluate("window.notReloaded = true")

        advertiser = serving_rows(spark, config)[0]["advertiser_id"]
        events = [new_click(advertiser, number) for number in range(3)]
        posted = call(f"{base_url}/v1/events", method="POST", payload=events)
        assert posted.status == 202, posted.body
        run_pipeline(spark, config)

        newest_ids = {f"ad_click:{event['click_id']}" for event in events}
        page.wait_for_function(
            """(ids) => ids.includes(
                 document.querySelector('#feed tbody tr td:last-child').textContent)""",
            arg=sorted(newest_ids),
            timeout=30_000,
        )
        page.wait_for_function(
            "(before) => document.getElementById('kpi-clicks').textContent !== before",
            arg=clicks_before,
            timeout=30_000,
        )
        clicks_after = page.text_content("#kpi-clicks")
        assert clicks_before is not None and clicks_after is not None
        assert int(clicks_after.replace(",", "")) == int(clicks_before.replace(",", "")) + 3
        assert page.evaluate("window.notReloaded") is True
        browser.close()
