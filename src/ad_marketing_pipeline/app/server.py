"""The serving app (FastAPI): can_serve for ad servers, the report API, the event collector and
the live dashboard. `create_app` builds it from a reader, a forwarder and a clock (tests pass
their own); `serve` runs it with uvicorn, as `ad-pipeline serve` and the Databricks App do.

| route | answers |
|---|---|
| `GET /v1/advertisers/{advertiser}/serving` | can_serve (by id, key or name) from memory |
| `GET /v1/report?campaign_id=&start=-1h&end=` | the window's KPIs from Gold |
| `POST /v1/events` | the collector (`collector`) |
| `GET /v1/dashboard` | the dashboard's data; `GET /` the dashboard itself |
| `GET /healthz` | liveness and the serving data's age; `/docs`: OpenAPI |
"""

from __future__ import annotations

import gc
import json
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import date, datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import plotly
import uvicorn
from fastapi import Body, FastAPI, Query, Response
from fastapi.responses import FileResponse, HTMLResponse

from ad_marketing_pipeline.app.answers import ReportWindow, dashboard_data, report
from ad_marketing_pipeline.app.collector import Collector, Forward, RememberedIds, source_forward
from ad_marketing_pipeline.app.readers import GoldReader, GoldUnavailableError, gold_reader
from ad_marketing_pipeline.app.serving_cache import Clock, ServingCache, utc_now
from ad_marketing_pipeline.config import PipelineConfig
from ad_marketing_pipeline.errors import PipelineError
from ad_marketing_pipeline.secrets import with_source_secrets

logger = logging.getLogger(__name__)


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def json_response(content: Any, status_code: int = 200) -> Response:
    """JSON with ISO times and exact decimals, encoded directly (the serving lookup's hot path
    skips FastAPI's generic encoder)."""
    body = json.dumps(content, default=_json_value, separators=(",", ":"))
    return Response(body, status_code=status_code, media_type="application/json")


def _problem(status_code: int, detail: str) -> Response:
    return json_response({"detail": detail}, status_code)


def _plotly_js() -> Path:
    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def _dashboard_page(refresh_seconds: float) -> str:
    page = resources.files("ad_marketing_pipeline.app").joinpath("dashboard.html").read_text()
    return page.replace("__REFRESH_MS__", str(int(refresh_seconds * 1000)))


def create_app(
    config: PipelineConfig, reader: GoldReader, forward: Forward, *, clock: Clock = utc_now
) -> FastAPI:
    settings = config.app
    cache = ServingCache(reader, settings, clock)
    collector = Collector(forward, RememberedIds(settings.remembered_event_ids))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        cache.start()
        gc.freeze()  # what start-up made lives on: later collections need not walk it
        try:
            yield
        finally:
            cache.stop()
            reader.close()

    app = FastAPI(
        title="ad_marketing_pipeline serving app",
        summary="can_serve for ad servers, the report API, the event collector, the dashboard",
        lifespan=lifespan,
    )
    app.state.serving_cache = cache

    @app.get("/healthz")
    async def healthz() -> Response:
        return json_response(
            {
                "status": "ok",
                "serving_data_age_seconds": cache.data_age_seconds(),
                "serving_data_stale": cache.is_stale(),
                "max_data_age_seconds": settings.max_data_age_seconds,
                "stale_policy": settings.stale_policy,
                "last_refresh_error": cache.last_error,
            }
        )

    # The lookup reads only memory: `async`, so it runs on the event loop without a thread hop.
    @app.get("/v1/advertisers/{advertiser}/serving")
    async def serving(advertiser: str) -> Response:
        """May the advertiser serve now: can_serve, spend_to_date, budget, period, as_of and the
        data's age; past `app.max_data_age_seconds` the stale policy answers (`answered_by`)."""
        answer = cache.answer(advertiser)
        if answer is None:
            return _problem(404, f"no advertiser {advertiser!r} in gold_serving_status")
        return json_response(answer)

    @app.get("/v1/report")
    def report_window(
        start: str = Query("-1h", description="now, -15m, -1h, -7d, or an ISO date or instant"),
        end: str | None = Query(None, description="as start; now when absent"),
        campaign_id: str | None = Query(None, description="all campaigns when absent"),
    ) -> Response:
        """Impressions, clicks, conversions, spend, revenue, CTR, CPC, CPA and ROAS of the
        window [start, end), counted as gold_fact_ad_performance counts them."""
        try:
            window = ReportWindow.parse(start, end, clock())
            return json_response(report(reader, campaign_id, window))
        except ValueError as error:
            return _problem(400, str(error))
        except GoldUnavailableError as error:
            return _problem(503, str(error))

    @app.post("/v1/events", status_code=202)
    def post_events(events: Any = Body(..., description="a JSON array of events")) -> Response:  # noqa: B008
        """Events checked against the contract and forwarded once each: 202 when every event
        was accepted (or was a duplicate of one accepted before), 422 when some were rejected
        (the others are accepted all the same; each rejected one has its reason)."""
        if isinstance(events, Mapping) and isinstance(events.get("events"), list):
            events = events["events"]
        if not isinstance(events, list):
            return _problem(400, "the body must be a JSON array of events (or {'events': [...]})")
        if len(events) > settings.max_events_per_request:
            return _problem(
                413,
                f"at most {settings.max_events_per_request} events per request "
                "(app.max_events_per_request)",
            )
        try:
            outcome = collector.collect(events)
        except PipelineError as error:
            logger.warning("events not forwarded: %s", error)
            return _problem(503, f"the events were not forwarded, send them again: {error}")
        return json_response(outcome, 422 if outcome["rejected"] else 202)

    @app.get("/v1/dashboard")
    def dashboard() -> Response:
        snapshot = cache.snapshot
        serving_rows = sorted(
            (cache.answer(key) for key in (snapshot.rows if snapshot else {})),
            key=lambda answer: str(answer and answer["advertiser"]),
        )
        try:
            data = dashboard_data(reader)
        except GoldUnavailableError as error:
            return _problem(503, str(error))
        return json_response(
            {
                **data,
                "serving": serving_rows,
                "fresh": not cache.is_stale(),
                "data_age_seconds": cache.data_age_seconds(),
                "max_data_age_seconds": settings.max_data_age_seconds,
                "generated_at": clock(),
            }
        )

    @app.get("/", response_class=HTMLResponse)
    def dashboard_page() -> HTMLResponse:
        return HTMLResponse(_dashboard_page(settings.dashboard_refresh_seconds))

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        return FileResponse(_plotly_js(), media_type="text/javascript")

    return app


def serve(
    config: PipelineConfig,
    reader: GoldReader,
    forward: Forward,
    *,
    host: str | None = None,
    port: int | None = None,
) -> None:
    """Run the app with uvicorn until interrupted."""
    app = create_app(config, reader, forward)
    uvicorn.run(
        app,
        host=host or config.app.host,
        port=port if port is not None else config.app.port,
        log_level="warning",
        access_log=False,
    )


def run_app(
    config: PipelineConfig,
    environ: Mapping[str, str],
    *,
    host: str | None = None,
    port: int | None = None,
) -> None:
    """Serve the app with the configured reader and the configured source's forwarder."""
    app_port = environ.get("DATABRICKS_APP_PORT")
    if app_port and port is None:
        host, port = host or "0.0.0.0", int(app_port)
    config = with_source_secrets(config, environ=environ, secret_reader=None)
    serve(config, gold_reader(config, environ), source_forward(config), host=host, port=port)
