"""`ad-pipeline demo` end to end, as `make demo` runs it (on a smaller dataset): every layer
runs, the summary is printed, the report is written, and the serving app answers at the URL it
prints until interrupted (`--no-serve` skips it)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ad_marketing_pipeline.report.render import CHART_IDS
from app_server import call, free_port
from helpers import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

REPO_ROOT = Path(__file__).resolve().parents[2]


def _answers(url: str) -> bool:
    try:
        return call(url).status == 200
    except OSError:
        return False


def test_demo_runs_every_layer_prints_the_summary_writes_the_report_and_serves(
    tmp_path: Path,
) -> None:
    port = free_port()
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ad_marketing_pipeline.cli",
            "demo",
            *("--root", str(tmp_path), "--events", "3000", "--advertisers", "5", "--days", "3"),
            *("--set", f"app.port={port}"),
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert demo.stdout is not None
    printed = []
    for line in demo.stdout:  # the summary, then the app's URL
        printed.append(line)
        if "serving app:" in line:
            break
    url = f"http://127.0.0.1:{port}/"
    try:
        assert url in printed[-1], "".join(printed)[-3000:]
        wait_until(lambda: _answers(f"{url}healthz"), 60, "the demo's app to listen")
        health = call(f"{url}healthz")
        assert (health.status, health.body["status"]) == (200, "ok")
        dashboard = call(f"{url}v1/dashboard").body
        assert dashboard["totals"]["clicks"] > 0
        assert len(dashboard["serving"]) == 5
        assert "Ad marketing pipeline" in call(url).body
    finally:
        demo.send_signal(signal.SIGINT)
        rest, errors = demo.communicate(timeout=120)
    finished = subprocess.CompletedProcess(
        demo.args, demo.returncode, "".join(printed) + rest, errors
    )
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
