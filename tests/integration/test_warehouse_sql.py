"""The shipped warehouse queries against the Gold tables of a small generated dataset, plus one
hand-made advertiser whose daily spend against budget is worked out by hand."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from ad_marketing_pipeline import cli
from ad_marketing_pipeline.config import PipelineConfig, load_config
from ad_marketing_pipeline.devtools.generator import GeneratorSettings, write_landing_files
from ad_marketing_pipeline.errors import PipelineError
from ad_marketing_pipeline.sql import (
    bind_parameters,
    query_names,
    query_parameters,
    query_text,
    run_query,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
HAND_CHECKED = "advertiser-hand-checked"

# One advertiser's events, in the landing folder next to the generated ones. Day 1: budget 10,
# clicks of 0.50 and 1.25. Day 2: budget 1.50, a click of 2.00 (over budget from its hour on),
# and a refund of the 0.50 click, booked on day 2.
HAND_CHECKED_EVENTS = [
    {"event_type": "budget_update", "advertiser": HAND_CHECKED, "budget_value": 10.0,
     "timestamp": "2024-01-02T00:00:00Z"},
    {"event_type": "ad_click", "click_id": "hand-c1", "advertiser": HAND_CHECKED,
     "ad_id": "ad-h", "amount": 0.50, "timestamp": "2024-01-02T09:15:00Z"},
    {"event_type": "ad_click", "click_id": "hand-c2", "advertiser": HAND_CHECKED,
     "ad_id": "ad-h", "amount": 1.25, "timestamp": "2024-01-02T17:40:00Z"},
    {"event_type": "budget_update", "advertiser": HAND_CHECKED, "budget_value": 1.5,
     "timestamp": "2024-01-03T00:00:00Z"},
    {"event_type": "ad_click", "click_id": "hand-c3", "advertiser": HAND_CHECKED,
     "ad_id": "ad-h", "amount": 2.00, "timestamp": "2024-01-03T08:00:00Z"},
    {"event_type": "click_refund", "click_id": "hand-c1", "timestamp": "2024-01-03T10:00:00Z"},
]  # fmt: skip

# The columns each query promises in its header comment, in order.
PROMISED_COLUMNS = {
    "serving_status": [
        "advertiser", "advertiser_id", "can_serve", "budget_value", "spend_to_date",
        "remaining_budget", "latest_hour", "as_of",
    ],
    "pacing": [
        "advertiser", "advertiser_id", "latest_hour", "budget_value", "spend_to_date",
        "budget_used_share", "expected_spend_to_date", "pacing_ratio", "can_serve",
        "pacing_status",
    ],
    "daily_spend_vs_budget": [
        "spend_day", "advertiser", "gross_spend", "net_spend", "clicks", "budget_value",
        "budget_used_share", "can_serve",
    ],
    "campaign_performance": [
        "campaign_id", "campaign_name", "impressions", "clicks", "ad_spend", "conversions",
        "revenue", "ctr", "cpc", "cpa", "roas",
    ],
    "attribution_comparison": [
        "channel", "model", "conversions", "revenue", "conversion_share", "revenue_share",
    ],
    "channel_roas": [
        "channel", "model", "spend", "clicks", "conversions", "revenue", "cpa", "roas",
    ],
    "reject_rates": [
        "processed_day", "input_rows", "valid_rows", "duplicate_rows", "quarantined_rows",
        "reject_rate",
    ],
}  # fmt: skip
PARAMETERS = {"daily_spend_vs_budget": {"advertiser": HAND_CHECKED}}


@dataclass(frozen=True)
class Warehouse:
    root: Path
    schema: str
    config: PipelineConfig

    def cli_args(self) -> list[str]:
        return [
            "--conf",
            str(REPO_ROOT / "conf" / "local.yml"),
            "--root",
            str(self.root),
            "--schema",
            self.schema,
            "--set",
            "spark.shuffle_partitions=2",
        ]


@pytest.fixture(scope="module")
def warehouse(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    """Bronze through attribution run once over generated events plus the hand-made ones."""
    root = tmp_path_factory.mktemp("warehouse_sql")
    landing = root / "landing"
    write_landing_files(
        GeneratorSettings(events=800, advertisers=4, days=2, seed=5, events_per_file=800),
        landing,
    )
    lines = "".join(json.dumps(event) + "\n" for event in HAND_CHECKED_EVENTS)
    (landing / "hand-checked.jsonl").write_text(lines, encoding="utf-8")
    schema = f"sql_{uuid.uuid4().hex[:8]}"
    built = Warehouse(
        root,
        schema,
        load_config(
            "local",
            conf_file=REPO_ROOT / "conf" / "local.yml",
            overrides=[f"paths.root={root}", f"schema={schema}"],
        ),
    )
    assert cli.main(["run", *built.cli_args(), "--trigger", "once"]) == 0
    yield built


def test_every_query_file_promises_its_columns() -> None:
    assert set(query_names()) == set(PROMISED_COLUMNS)
    for name, columns in PROMISED_COLUMNS.items():
        header = " ".join(
            line.removeprefix("--").strip()
            for line in query_text(name).splitlines()
            if line.startswith("--")
        )
        assert "Columns: " + ", ".join(columns) in header, name
        assert query_parameters(query_text(name)) == list(PARAMETERS.get(name, {})), name


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PROMISED_COLUMNS))
def test_query_returns_the_promised_columns_with_rows(
    spark: SparkSession, warehouse: Warehouse, name: str
) -> None:
    result = run_query(spark, warehouse.config, name, PARAMETERS.get(name, {}))
    assert result.columns == PROMISED_COLUMNS[name]
    assert result.count() > 0, f"{name} returned no rows on the generated dataset"


@pytest.mark.e2e
@pytest.mark.slow
def test_daily_spend_vs_budget_matches_hand_computed_numbers(
    spark: SparkSession, warehouse: Warehouse
) -> None:
    result = run_query(
        spark, warehouse.config, "daily_spend_vs_budget", PARAMETERS["daily_spend_vs_budget"]
    )
    rows = [row.asDict() for row in result.collect()]
    day_1, day_2 = rows
    assert str(day_1["spend_day"]) == "2024-01-02"
    assert day_1["gross_spend"] == Decimal("1.75")  # 0.50 + 1.25
    assert day_1["net_spend"] == Decimal("1.75")
    assert day_1["clicks"] == 2
    assert day_1["budget_value"] == Decimal("10")
    assert day_1["budget_used_share"] == pytest.approx(0.175)  # 1.75 / 10
    assert day_1["can_serve"] is True
    assert str(day_2["spend_day"]) == "2024-01-03"
    assert day_2["gross_spend"] == Decimal("2")
    assert day_2["net_spend"] == Decimal("1.5")  # 2.00 - the 0.50 refunded on this day
    assert day_2["budget_value"] == Decimal("1.5")
    assert day_2["budget_used_share"] == pytest.approx(2 / 1.5)
    assert day_2["can_serve"] is False  # 2.00 >= 1.50: the budget is exhausted


@pytest.mark.e2e
@pytest.mark.slow
def test_cli_runs_a_named_query_with_a_parameter(
    warehouse: Warehouse, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["sql", *warehouse.cli_args(), "--query", "daily_spend_vs_budget", "--format", "json"]
    assert cli.main([*argv, "--param", f"advertiser={HAND_CHECKED}"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["spend_day"] for row in rows] == ["2024-01-02", "2024-01-03"]
    assert list(rows[0]) == PROMISED_COLUMNS["daily_spend_vs_budget"]

    assert cli.main(argv) == 2  # the advertiser parameter is missing
    assert "missing --param advertiser=VALUE" in capsys.readouterr().err


def test_unknown_query_names_and_parameters_are_errors() -> None:
    with pytest.raises(PipelineError, match="no query named 'spend'"):
        query_text("spend")
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["sql", "--query", "spend"])
    with pytest.raises(PipelineError, match="unknown parameter 'advertiser'"):
        bind_parameters(query_text("serving_status"), {"advertiser": "advertiser-001"})


def test_parameter_markers_ignore_strings_comments_and_casts() -> None:
    text = "-- :nope\nSELECT ':no', x::string, :advertiser, :day FROM t WHERE a = :advertiser"
    assert query_parameters(text) == ["advertiser", "day"]
