"""The `ad-pipeline` argument parser: its commands, their flags and help texts, and the argument
types that check a flag's value while parsing (an ISO-8601 time, NAME=VALUE, a set of layers).
Every command but `kafka-broker` takes the configuration flags of `invocation.config_options`."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from ad_marketing_pipeline import __version__
from ad_marketing_pipeline.config import LOCAL_KAFKA_BOOTSTRAP, LOCAL_KAFKA_TOPIC
from ad_marketing_pipeline.invocation import config_options
from ad_marketing_pipeline.pipeline import LAYERS
from ad_marketing_pipeline.sql import query_names

__all__ = ["build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ad-pipeline",
        description="Ad-marketing medallion lakehouse on Spark and Delta Lake: "
        "landing files / Kafka / Event Hubs -> Bronze -> Silver -> Gold -> attribution.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = [config_options()]

    generate = commands.add_parser(
        "generate",
        parents=common,
        help="write realistic synthetic events as JSON-lines landing files",
        description="Write synthetic events (every event type, advertisers with budgets, "
        "multi-touch user journeys, conversions, cancellations, refunds, and a share of "
        "malformed and duplicate records) as JSON-lines files. The same --seed gives the "
        "same bytes.",
    )
    generate.add_argument("--out", help="landing folder (default: the configured landing path)")
    generate.add_argument("--events", type=int, default=200_000, help="lines to write")
    generate.add_argument("--advertisers", type=int, default=50)
    generate.add_argument("--days", type=int, default=30, help="days of event time")
    generate.add_argument(
        "--start",
        type=_utc_datetime,
        default=datetime(2024, 1, 1, tzinfo=UTC),
        help="first event time, ISO-8601 (default 2024-01-01T00:00:00Z)",
    )
    generate.add_argument("--seed", type=int, default=7)
    generate.add_argument("--malformed-share", type=float, default=0.01)
    generate.add_argument("--duplicate-share", type=float, default=0.01)
    generate.add_argument("--events-per-file", type=int, default=20_000)
    generate.add_argument(
        "--to",
        choices=("landing", "kafka", "eventhubs"),
        default="landing",
        help="write landing files (default), or send to Kafka / Event Hubs keyed by advertiser",
    )
    generate.add_argument(
        "--rate",
        type=float,
        help="with --to kafka|eventhubs: send at most this many records per second (a steady "
        "stream for continuous runs; default: as fast as possible)",
    )
    generate.add_argument(
        "--from-files",
        nargs="+",
        metavar="FILE",
        help="with --to kafka|eventhubs: send these files' lines instead of generated events",
    )
    generate.add_argument("--topic", help="Kafka topic (default: the configured source's first)")
    generate.add_argument(
        "--bootstrap-servers", help="Kafka bootstrap servers (default: the configured source's)"
    )

    run = commands.add_parser(
        "run",
        parents=common,
        help="run pipeline layers once (availableNow) or continuously",
        description="Run the layers in pipeline order. --trigger once processes what is "
        "available and stops (availableNow, for schedules); --trigger continuous keeps "
        "running with the configured processing-time interval, printing each batch's rows, "
        "rows/s, duration and lag, until Ctrl-C.",
    )
    run.add_argument(
        "--layers",
        type=_layers,
        default=tuple(LAYERS),
        help=f"comma-separated subset of {','.join(LAYERS)} (default: all)",
    )
    run.add_argument(
        "--trigger",
        choices=("once", "continuous"),
        default=None,
        help="default: the configured trigger.mode",
    )
    run.add_argument(
        "--source",
        choices=("files", "kafka"),
        help="read landing files, or the local Kafka broker (`make kafka`: "
        f"{LOCAL_KAFKA_BOOTSTRAP}, topic {LOCAL_KAFKA_TOPIC}) instead of the configured source; "
        "--set source.* still applies on top",
    )
    run.add_argument(
        "--full-refresh",
        action="store_true",
        help="rebuild the chosen layers that support it (gold, attribution) from the whole of "
        "the layer before them instead of processing only what is new (for recovery)",
    )

    sql = commands.add_parser(
        "sql",
        parents=common,
        help="run a SQL query against the pipeline's tables",
        description="Run SQL with the configured schema as the current one, so tables are "
        "addressed by their bare names (e.g. SELECT * FROM gold_latest_serving_status). "
        "--query NAME runs one of the shipped warehouse queries: "
        f"{', '.join(query_names())}.",
    )
    sql.add_argument("query", nargs="?", help="the SQL text")
    sql.add_argument("--table", help="show the rows of this table instead of a query")
    sql.add_argument(
        "--query",
        dest="named_query",
        metavar="NAME",
        choices=query_names(),
        help="run this shipped warehouse query instead (see ad_marketing_pipeline/sql/)",
    )
    sql.add_argument(
        "--param",
        dest="params",
        metavar="NAME=VALUE",
        action="append",
        default=[],
        type=_query_parameter,
        help="value of a :NAME parameter of --query, e.g. --param advertiser=advertiser-001",
    )
    sql.add_argument("--limit", type=int, default=50, help="rows to show (default 50)")
    sql.add_argument("--format", choices=("table", "json", "csv"), default="table")

    commands.add_parser(
        "provision",
        parents=common,
        help="create the schema and the pipeline's folders",
        description="Create the configured schema (and catalog folders locally); idempotent.",
    )
    demo = commands.add_parser(
        "demo",
        parents=common,
        help="the whole pipeline on generated landing files into local Delta tables",
        description="Generate landing files (unless the landing folder has some), run every "
        "layer once into local Delta tables under --root, print a summary, then start the "
        "serving app on app.host:app.port until Ctrl-C (--no-serve: stop after the summary).",
    )
    demo.add_argument("--events", type=int, default=200_000, help="lines to generate")
    demo.add_argument("--advertisers", type=int, default=50)
    demo.add_argument("--days", type=int, default=30)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument(
        "--report", type=Path, help="where to write the HTML report (default: ROOT/report.html)"
    )
    demo.add_argument(
        "--no-serve",
        dest="serve",
        action="store_false",
        help="do not start the serving app after the pipeline (by default it runs until Ctrl-C)",
    )
    serve = commands.add_parser(
        "serve",
        parents=common,
        help="the serving app: can_serve, the report API, the event collector, the dashboard",
        description="Start the web app (uvicorn) on app.host:app.port: GET /v1/advertisers/ID/"
        "serving, GET /v1/report, POST /v1/events, GET / (the live dashboard), GET /healthz, "
        "GET /docs. It reads Gold as app.reader says and forwards events to the source.",
    )
    serve.add_argument("--host", help="interface to listen on (default: app.host)")
    serve.add_argument("--port", type=int, help="port (default: app.port)")
    commands.add_parser(
        "status",
        parents=common,
        help="per layer: freshness, throughput and reject rate from the ops tables",
        description="Read ops_streaming_progress and ops_data_quality and print, per streaming "
        "query, its last batch, the newest event time it read and the lag behind that batch, "
        "its rows/s over the last 20 batches, and Silver's reject rate.",
    )
    commands.add_parser(
        "config",
        parents=common,
        help="print the effective configuration (secrets redacted)",
    )
    broker = commands.add_parser(
        "kafka-broker",
        help="start a local Apache Kafka broker (KRaft) until Ctrl-C",
        description="Start the local Kafka broker from the jars `make jars` fetched.",
    )
    broker.add_argument("--port", type=int, default=9092)
    broker.add_argument("--jars", default=".jars/kafka", help="broker jars folder")
    broker.add_argument("--work-dir", default=".pipeline/kafka", help="broker data folder")
    broker.add_argument(
        "--secured",
        action="store_true",
        help="an Event Hubs-style endpoint: SASL_SSL with a local CA, SASL PLAIN with a "
        "connection string and OAUTHBEARER with a local token endpoint; writes the "
        "configurations and the secrets file that point the pipeline at it",
    )
    broker.add_argument(
        "--topic", default=LOCAL_KAFKA_TOPIC, help="with --secured: the event hub to create"
    )
    return parser


def _utc_datetime(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _query_parameter(text: str) -> tuple[str, str]:
    name, separator, value = text.partition("=")
    if not separator or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    return name.strip(), value


def _layers(text: str) -> tuple[str, ...]:
    chosen = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [layer for layer in chosen if layer not in LAYERS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"layers must be among {', '.join(LAYERS)}")
    return tuple(layer for layer in LAYERS if layer in chosen)
