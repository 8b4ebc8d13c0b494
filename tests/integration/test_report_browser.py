"""The report opened in a real headless Chromium (Debian's package, `make chromium`): every
chart drew plotly's SVG with data marks, on hand-made data and on the tables of a real pipeline
run over generated events. The DOM Chromium ends with (`--dump-dom`) is parsed here."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from ad_marketing_pipeline.config import PipelineConfig
from ad_marketing_pipeline.devtools.generator import GeneratorSettings, write_landing_files
from ad_marketing_pipeline.io import StreamTrigger
from ad_marketing_pipeline.pipeline import LAYERS, run_layers
from ad_marketing_pipeline.report import ReportData, render_report, report_data, write_report
from ad_marketing_pipeline.runtime import prepare_runtime
from helpers import pipeline_config
from report_rows import HOSTILE_ADVERTISER, HOSTILE_CAMPAIGN, sample_report_data

CHROMIUM = Path("/usr/bin/chromium")
CHART_IDS = (
    "chart-spend-vs-budget",
    "chart-serving-status",
    "chart-campaign-roas",
    "chart-channel-credit",
    "chart-rejects-by-reason",
    "chart-reject-rate",
    "chart-streaming-ops",
)
VOID_ELEMENTS = frozenset({
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
    "source", "track", "wbr",
})  # fmt: skip

# A bar's outline as plotly draws it: M x0,y0 V y1 H x1 V y0 Z.
BAR_PATH = re.compile(r"M([-\d.e]+),([-\d.e]+)V([-\d.e]+)H([-\d.e]+)V[-\d.e]+Z")

pytestmark = pytest.mark.slow


@dataclass
class RenderedChart:
    """What plotly drew inside one chart div."""

    main_svgs: int = 0  # plotly's <svg class="main-svg"> layers
    traces: int = 0  # <g class="trace ...">, one per drawn trace
    marks: int = 0  # bars (g.point > path), markers (g.points > path.point), lines (path.js-line)
    visible_marks: int = 0  # of which not a bar of zero height or width (a null or 0 value)
    texts: list[str] = field(default_factory=list)  # SVG text: tick labels, titles, legend


class ChartDom(HTMLParser):
    """The charts in a DOM dump, by the id of their div, and the page's other text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.charts: dict[str, RenderedChart] = {}
        self.page_text: list[str] = []
        # Open elements: tag, the chart whose div encloses it, its classes.
        self._open: list[tuple[str, str | None, frozenset[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        classes = frozenset((attributes.get("class") or "").split())
        chart_id = self._open[-1][1] if self._open else None
        if (attributes.get("id") or "").startswith("chart-"):
            chart_id = str(attributes["id"])
            self.charts[chart_id] = RenderedChart()
        if chart_id is not None:
            self._count(self.charts[chart_id], tag, classes, attributes)
        if tag not in VOID_ELEMENTS:
            self._open.append((tag, chart_id, classes))

    def _count(
        self,
        chart: RenderedChart,
        tag: str,
        classes: frozenset[str],
        attributes: dict[str, str | None],
    ) -> None:
        if tag == "svg" and "main-svg" in classes:
            chart.main_svgs += 1
        elif tag == "g" and "trace" in classes:
            chart.traces += 1
        elif tag == "path" and attributes.get("d"):
            in_points = any({"point", "points"} & open_classes for *_, open_classes in self._open)
            if in_points or "js-line" in classes:
                chart.marks += 1
                chart.visible_marks += not _flat_bar(str(attributes["d"]))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self._open) - 1, -1, -1):
            if self._open[depth][0] == tag:
                del self._open[depth:]
                return

    def handle_data(self, data: str) -> None:
        if not self._open or self._open[-1][0] in ("script", "style"):
            return
        chart_id = self._open[-1][1]
        if chart_id is not None and any(tag == "text" for tag, *_ in self._open):
            self.charts[chart_id].texts.append(data)
        elif data.strip():
            self.page_text.append(data.strip())


def _flat_bar(path: str) -> bool:
    bar = BAR_PATH.fullmatch(path)
    if bar is None:
        return False
    x0, y0, y1, x1 = (float(value) for value in bar.groups())
    return x0 == x1 or y0 == y1


def rendered_dom(page: Path, profile: Path) -> ChartDom:
    """Open `page` in headless Chromium, let its scripts run, and parse the resulting DOM."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make chromium` (apt-get install chromium)")
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        # Offline machine: no background or QUIC connections, no component updates or sync.
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1280,2000",
        "--virtual-time-budget=15000",
        "--dump-dom",
        page.as_uri(),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    dom = ChartDom()
    dom.feed(result.stdout)
    dom.close()
    return dom


def assert_drawn_with_data(dom: ChartDom, chart_ids: tuple[str, ...]) -> None:
    for chart_id in chart_ids:
        chart = dom.charts.get(chart_id)
        assert chart is not None, f"{chart_id} is not in the page"
        assert chart.main_svgs > 0, f"plotly drew no SVG in {chart_id}"
        assert chart.traces > 0, f"plotly drew no trace in {chart_id}"
        assert chart.visible_marks > 0, f"plotly drew no bar, marker or line in {chart_id}"


def test_hand_made_report_draws_every_chart(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_report(sample_report_data(), title="Hand-made"), encoding="utf-8")

    dom = rendered_dom(page, tmp_path / "profile")

    assert set(dom.charts) == set(CHART_IDS)
    assert_drawn_with_data(dom, CHART_IDS)
    # One bar per advertiser in the serving chart, one per reject reason, one per campaign
    # with a ROAS; two channels x two models in the attribution chart.
    assert dom.charts["chart-serving-status"].marks == 2
    assert dom.charts["chart-rejects-by-reason"].marks == 2
    assert dom.charts["chart-campaign-roas"].marks == 2
    assert dom.charts["chart-campaign-roas"].visible_marks == 1  # the other has no ROAS
    assert dom.charts["chart-channel-credit"].marks == 4
    # Names that are HTML show as text: the browser made no elements of them.
    assert HOSTILE_ADVERTISER in dom.charts["chart-serving-status"].texts
    assert HOSTILE_CAMPAIGN in dom.charts["chart-campaign-roas"].texts
    assert HOSTILE_CAMPAIGN in dom.page_text
    assert "Paid Search" in dom.charts["chart-channel-credit"].texts
    assert "malformed_json" in dom.charts["chart-rejects-by-reason"].texts


def test_hand_made_report_without_streaming_progress_says_so(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_report(sample_report_data(streaming=()), title="t"), encoding="utf-8")

    dom = rendered_dom(page, tmp_path / "profile")

    assert "chart-streaming-ops" not in dom.charts
    assert_drawn_with_data(dom, CHART_IDS[:-1])
    assert any(text.startswith("No streaming progress recorded yet") for text in dom.page_text)


# ---------------------------------------------------------------------------------------------
# A real pipeline run
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PipelineReport:
    config: PipelineConfig
    data: ReportData
    page: Path


@pytest.fixture(scope="module")
def pipeline_report(
    spark: SparkSession, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PipelineReport]:
    """Every layer run once over 3,000 generated events (5 advertisers, 5 days) in two landing
    files, then the report written."""
    root = tmp_path_factory.mktemp("report_browser")
    settings = GeneratorSettings(
        events=3_000, advertisers=5, days=5, seed=11, events_per_file=1_500
    )
    write_landing_files(settings, root / "landing")
    config = pipeline_config(
        root,
        "report",
        # One landing file per Bronze batch: two points per line in the operations chart.
        # The later layers take one batch each (every batch of Gold and attribution costs
        # tens of seconds on 2 cores).
        source={"kind": "files", "max_files_per_trigger": 1},
    )
    run_layers(prepare_runtime(spark, config, environ={}), list(LAYERS), StreamTrigger())
    page = write_report(spark, config, root / "report" / "report.html")
    yield PipelineReport(config, report_data(spark, config), page)


def test_pipeline_report_has_data_in_every_section(pipeline_report: PipelineReport) -> None:
    data = pipeline_report.data

    assert {row.table for row in data.table_rows} >= {"bronze_ad_events", "silver_ad_events"}
    assert all(row.rows > 0 for row in data.table_rows if row.table != "silver_quarantine")
    assert len({day.advertiser for day in data.daily_spend}) == 5
    assert data.pacing
    assert len(data.serving) == 5
    assert data.campaigns
    assert len({credit.model for credit in data.channel_credit}) == 7
    assert data.rejects_by_reason  # 1 % of generated lines are malformed
    assert data.batch_quality
    assert data.as_of is not None


def test_pipeline_report_draws_every_chart_in_chromium(
    pipeline_report: PipelineReport, tmp_path: Path
) -> None:
    data = pipeline_report.data

    dom = rendered_dom(pipeline_report.page, tmp_path / "profile")

    assert_drawn_with_data(dom, CHART_IDS[:-1])
    serving = dom.charts["chart-serving-status"]
    assert serving.marks == len(data.serving)  # a bar per advertiser
    for status in data.serving:
        assert status.advertiser in serving.texts
    assert dom.charts["chart-rejects-by-reason"].marks == len(data.rejects_by_reason)
    reject_rate = dom.charts["chart-reject-rate"]
    assert reject_rate.marks == len(data.batch_quality)  # a bar per Silver batch
    # The streaming-progress table fills once its listener records batches: until then the
    # report says so instead of drawing an empty chart.
    if data.streaming:
        assert_drawn_with_data(dom, ("chart-streaming-ops",))
    else:
        assert "chart-streaming-ops" not in dom.charts
        assert any(text.startswith("No streaming progress recorded yet") for text in dom.page_text)
