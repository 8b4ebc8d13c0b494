"""The `ad-pipeline` commands on the pipeline's tables: `sql` queries them, `provision` creates
them, `run` runs layers, `demo` runs every layer on generated landing files, `status` reads the
ops tables, and `config` prints the effective configuration (secrets redacted)."""

from __future__ import annotations

import argparse
import json
import os

from ad_marketing_pipeline.app.server import run_app
from ad_marketing_pipeline.cli.output import (
    console,
    print_demo_summary,
    print_query_rows,
    progress_bars,
    results_console,
    status_table,
)
from ad_marketing_pipeline.config import TableKey, redacted_dump
from ad_marketing_pipeline.demo import run_demo
from ad_marketing_pipeline.devtools.generator import GeneratorSettings
from ad_marketing_pipeline.errors import PipelineError
from ad_marketing_pipeline.invocation import config_from_args, runtime_from_args
from ad_marketing_pipeline.io import stream_trigger
from ad_marketing_pipeline.ops import layer_status
from ad_marketing_pipeline.pipeline import LAYERS, progress_summary, run_layers
from ad_marketing_pipeline.provisioning import create_views, ensure_tables, provision
from ad_marketing_pipeline.spark import get_spark
from ad_marketing_pipeline.sql import run_query, use_pipeline_schema
from ad_marketing_pipeline.tables import OPS_DATA_QUALITY, OPS_STREAMING_PROGRESS

__all__ = [
    "cmd_config",
    "cmd_demo",
    "cmd_provision",
    "cmd_run",
    "cmd_sql",
    "cmd_status",
]


def cmd_sql(args: argparse.Namespace) -> int:
    if sum(map(bool, (args.query, args.table, args.named_query))) != 1:
        raise PipelineError("give either a SQL query, --table NAME or --query NAME")
    if args.params and not args.named_query:
        raise PipelineError("--param goes with --query NAME")
    config = config_from_args(args)
    spark = get_spark(config, environ=os.environ)
    create_views(spark, config)
    use_pipeline_schema(spark, config)
    if args.named_query:
        frame = run_query(spark, config, args.named_query, dict(args.params))
    elif args.table:
        frame = spark.table(args.table)
    else:
        frame = spark.sql(args.query)
    rows = frame.limit(args.limit).collect()
    print_query_rows(frame.columns, rows, args.format)
    return 0


def cmd_provision(args: argparse.Namespace) -> int:
    runtime = runtime_from_args(args)
    for table in provision(runtime):
        console.print(f"table {table} is ready")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    runtime = runtime_from_args(args)
    trigger = stream_trigger(runtime.config.trigger, args.trigger)
    if trigger.continuous:
        others = [layer for layer in args.layers if layer != "serving"]
        every = [f"{', '.join(others)} every {trigger.processing_time}"] if others else []
        if "serving" in args.layers:
            every.append(f"serving every {runtime.config.serving.processing_time}")
        console.print(f"running {'; '.join(every)}; Ctrl-C stops cleanly")
    run_layers(
        runtime,
        args.layers,
        trigger,
        on_layer_done=lambda layer, seconds: console.print(f"{layer}: done in {seconds:.1f} s"),
        on_progress=lambda layer, progress: console.print(
            f"{layer}: " + ", ".join(f"{k}={v}" for k, v in progress_summary(progress).items())
        ),
        on_stopping=lambda: console.print("stopping once the running micro-batches finish"),
        full_refresh=args.full_refresh,
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    runtime = runtime_from_args(args)
    settings = GeneratorSettings(
        events=args.events, advertisers=args.advertisers, days=args.days, seed=args.seed
    )
    with progress_bars() as progress:
        task = progress.add_task("generating landing files", total=settings.events)
        summary = run_demo(
            runtime,
            settings,
            on_generated=lambda n: progress.advance(task, n),
            on_layer_done=lambda layer, seconds: progress.console.print(
                f"{layer}: done in {seconds:.1f} s"
            ),
            report=args.report,
        )
    print_demo_summary(summary, results_console())
    results_console().print(f"report: {summary.report.resolve().as_uri()}")
    if args.serve:
        config = runtime.config
        runtime.spark.stop()  # the app reads the Delta tables itself, without Spark
        url = f"http://{config.app.host}:{config.app.port}/"
        results_console().print(f"serving app: {url} (API docs: {url}docs); Ctrl-C stops it")
        run_app(config, os.environ)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    runtime = runtime_from_args(args)
    ensure_tables(runtime, [OPS_STREAMING_PROGRESS, OPS_DATA_QUALITY])
    spark, config = runtime.spark, runtime.config
    status = layer_status(
        spark.table(config.table(TableKey.OPS_STREAMING_PROGRESS)),
        spark.table(config.table(TableKey.OPS_DATA_QUALITY)),
        retention_days=config.ops.retention_days,
    )
    rows = sorted(
        (row.asDict() for row in status.collect()),
        key=lambda row: (_pipeline_position(row["query_name"]), row["query_name"]),
    )
    if not rows:
        console.print("no streaming batch recorded yet: run `ad-pipeline run` first")
        return 0
    results_console().print(status_table(rows))
    return 0


def _pipeline_position(query_name: str) -> int:
    """bronze_<source>, silver, gold, attribution: their order in the pipeline."""
    layer = query_name.split("_", 1)[0]
    return list(LAYERS).index(layer) if layer in LAYERS else len(LAYERS)


def cmd_config(args: argparse.Namespace) -> int:
    print(json.dumps(redacted_dump(config_from_args(args)), indent=2))
    return 0
