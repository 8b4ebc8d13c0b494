"""`ad-pipeline demo` end to end, as `make demo` runs it (on a smaller dataset): every layer
runs, the summary is printed, and the report is written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ad_marketing_pipeline.report.render import CHART_IDS

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_every_layer_prints_the_summary_and_writes_the_report(tmp_path: Path) -> None:
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "ad_marketing_pipeline.cli",
            "demo",
            *("--root", str(tmp_path), "--events", "3000", "--advertisers", "5", "--days", "3"),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    for layer in ("bronze", "silver", "gold", "attribution"):
        assert f"{layer}: done in" in finished.stderr
    summary = finished.stdout
    for title in (
        "events per layer",
        "quarantined by reason",
        "top spenders this budget period",
        "credited conversions by channel under each model",
        "malformed_json",
        "markov",
    ):
        assert title in summary
    assert "advertisers not serving now" in summary or "every advertiser may serve" in summary
    report = tmp_path / "report.html"
    assert f"report: {report.as_uri()}" in summary
    page = report.read_text()
    for chart in CHART_IDS:
        assert f'id="{chart}"' in page
