"""`ad-pipeline`: the command line. It parses flags and configuration once, then calls the
package's entry points; every command takes `--env/--conf/--set` the same way."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from rich.markup import escape

from ad_marketing_pipeline.cli.output import (
    console,
    describe_seconds,
    print_demo_summary,
    print_query_rows,
    progress_bars,
    results_console,
    status_table,
)
from ad_marketing_pipeline.cli.parser import build_parser
from ad_marketing_pipeline.config import (
    LOCAL_KAFKA_BOOTSTRAP,
    LOCAL_KAFKA_TOPIC,
    EventHubsSource,
    KafkaSource,
    PipelineConfig,
    TableKey,
    redacted_dump,
)
from ad_marketing_pipeline.demo import run_demo
from ad_marketing_pipeline.devtools.generator import (
    GeneratorSettings,
    generate_lines,
    write_landing_files,
)
from ad_marketing_pipeline.devtools.local_kafka import serve
from ad_marketing_pipeline.devtools.producer import (
    eventhubs_client,
    kafka_producer_config,
    paced,
    send_to_eventhubs,
    send_to_kafka,
)
from ad_marketing_pipeline.errors import PipelineError
from ad_marketing_pipeline.invocation import (
    EXIT_ERROR,
    config_from_args,
    failure_report,
    runtime_from_args,
)
from ad_marketing_pipeline.io import stream_trigger
from ad_marketing_pipeline.ops import layer_status
from ad_marketing_pipeline.pipeline import LAYERS, progress_summary, run_layers
from ad_marketing_pipeline.provisioning import create_views, ensure_tables, provision
from ad_marketing_pipeline.secrets import with_source_secrets
from ad_marketing_pipeline.spark import get_spark
from ad_marketing_pipeline.sql import run_query, use_pipeline_schema
from ad_marketing_pipeline.tables import OPS_DATA_QUALITY, OPS_STREAMING_PROGRESS

__all__ = [
    "COMMANDS",
    "build_parser",
    "cmd_config",
    "cmd_demo",
    "cmd_generate",
    "cmd_kafka_broker",
    "cmd_provision",
    "cmd_run",
    "cmd_sql",
    "cmd_status",
    "console",
    "describe_seconds",
    "main",
    "print_demo_summary",
    "report_failure",
    "results_console",
]

# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------


def _generator_settings(args: argparse.Namespace) -> GeneratorSettings:
    return GeneratorSettings(
        events=args.events,
        advertisers=args.advertisers,
        days=args.days,
        start=args.start,
        seed=args.seed,
        malformed_share=args.malformed_share,
        duplicate_share=args.duplicate_share,
        events_per_file=args.events_per_file,
    )


def _lines_to_send(args: argparse.Namespace) -> tuple[Iterator[str], int | None]:
    if args.from_files:
        paths = [Path(name) for name in args.from_files]
        missing = [str(path) for path in paths if not path.is_file()]
        if missing:
            raise PipelineError(f"--from-files: no such file: {', '.join(missing)}")
        return _file_lines(paths), None
    settings = _generator_settings(args)
    return (line.text for line in generate_lines(settings)), settings.events


def _file_lines(paths: list[Path]) -> Iterator[str]:
    for path in paths:
        with path.open(encoding="utf-8", newline="") as handle:
            for line in handle:
                yield line.rstrip("\r\n")


def _kafka_target(args: argparse.Namespace, config: PipelineConfig) -> tuple[KafkaSource, str]:
    source = config.source
    if isinstance(source, KafkaSource):
        overrides: dict[str, object] = {}
        if args.bootstrap_servers:
            overrides["bootstrap_servers"] = args.bootstrap_servers
        source = source.model_copy(update=overrides)
    else:  # not configured for Kafka: the given broker, or the local one of `make kafka`
        source = KafkaSource(
            kind="kafka",
            bootstrap_servers=args.bootstrap_servers or LOCAL_KAFKA_BOOTSTRAP,
            topics=[args.topic or LOCAL_KAFKA_TOPIC],
        )
    topic = args.topic or (source.topics[0] if source.topics else None)
    if topic is None:
        raise PipelineError("--to kafka with source.topic_pattern needs --topic")
    return source, topic


def cmd_generate(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    if args.to == "landing":
        if args.from_files or args.rate is not None:
            flag = "--from-files" if args.from_files else "--rate"
            raise PipelineError(f"{flag} needs --to kafka or --to eventhubs")
        settings = _generator_settings(args)
        out_dir = Path(args.out) if args.out else Path(config.landing_path)
        with progress_bars() as progress:
            task = progress.add_task("generating events", total=settings.events)
            summary = write_landing_files(
                settings, out_dir, on_progress=lambda n: progress.advance(task, n)
            )
        print(json.dumps(summary.to_dict(), indent=2, default=str))
        return 0
    config = with_source_secrets(config, environ=os.environ, secret_reader=None)
    lines, total = _lines_to_send(args)
    if args.rate is not None:
        if args.rate <= 0:
            raise PipelineError("--rate must be a positive number of records per second")
        lines = paced(lines, args.rate)
    with progress_bars() as progress:
        task = progress.add_task(f"sending to {args.to}", total=total)

        def advance(count: int) -> None:
            progress.advance(task, count)

        if args.to == "kafka":
            source, topic = _kafka_target(args, config)
            sent = send_to_kafka(
                lines,
                producer_config=kafka_producer_config(source),
                topic=topic,
                on_progress=advance,
            )
        else:
            if not isinstance(config.source, EventHubsSource):
                raise PipelineError(
                    "--to eventhubs needs source.kind: eventhubs in the configuration"
                )
            sent = send_to_eventhubs(
                lines, client=eventhubs_client(config.source), on_progress=advance
            )
    console.print(f"sent {sent:,} records to {args.to}")
    return 0


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


def cmd_kafka_broker(args: argparse.Namespace) -> int:
    serve(Path(args.jars), Path(args.work_dir), args.port)
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "generate": cmd_generate,
    "run": cmd_run,
    "sql": cmd_sql,
    "provision": cmd_provision,
    "demo": cmd_demo,
    "status": cmd_status,
    "config": cmd_config,
    "kafka-broker": cmd_kafka_broker,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Console script `ad-pipeline`. Errors are printed with the configuration's secrets (and
    any secret-looking `key=value`) masked: a failure of Spark or of a client library may quote
    a JAAS line or a connection string."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (Exception, KeyboardInterrupt) as error:
        return report_failure(error, args)


def report_failure(error: Exception | KeyboardInterrupt, args: argparse.Namespace) -> int:
    """Print why a command failed (`invocation.failure_report`: secrets masked); returns its
    exit code."""
    code, text = failure_report(error, args)
    if code == EXIT_ERROR:
        console.print(f"[bold red]error:[/] {escape(text)}", highlight=False, soft_wrap=True)
    else:
        console.print(
            text, markup=False, highlight=False, soft_wrap=True, end="" if code == 1 else "\n"
        )
    return code
