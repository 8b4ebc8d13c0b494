"""The `ad-pipeline` commands that drive the local development tools (`devtools/`): `generate`
writes synthetic events as landing files or sends them (or given files' lines) to Kafka or Event
Hubs, and `kafka-broker` runs the local Kafka broker."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ad_marketing_pipeline.cli.output import console, progress_bars
from ad_marketing_pipeline.config import (
    LOCAL_KAFKA_BOOTSTRAP,
    LOCAL_KAFKA_TOPIC,
    EventHubsSource,
    KafkaSource,
    PipelineConfig,
)
from ad_marketing_pipeline.devtools.generator import (
    GeneratorSettings,
    generate_lines,
    write_landing_files,
)
from ad_marketing_pipeline.devtools.local_kafka import serve
from ad_marketing_pipeline.devtools.producer import (
    eventhubs_client,
    eventhubs_kafka_producer_config,
    kafka_producer_config,
    paced,
    send_to_eventhubs,
    send_to_kafka,
)
from ad_marketing_pipeline.devtools.secured_kafka import serve_secured
from ad_marketing_pipeline.errors import PipelineError
from ad_marketing_pipeline.invocation import config_from_args
from ad_marketing_pipeline.secrets import with_source_secrets

__all__ = ["cmd_generate", "cmd_kafka_broker"]


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


def _kafka_target(args: argparse.Namespace, config: PipelineConfig) -> tuple[dict[str, Any], str]:
    """The producer settings and topic of `generate --to kafka`: the configured Kafka source,
    the configured event hub's Kafka endpoint with the same sign-in, or the local broker."""
    source = config.source
    if isinstance(source, EventHubsSource):
        if args.bootstrap_servers:
            source = source.model_copy(update={"bootstrap_servers": args.bootstrap_servers})
        return eventhubs_kafka_producer_config(source), args.topic or source.event_hub
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
    return kafka_producer_config(source), topic


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
            producer_config, topic = _kafka_target(args, config)
            sent = send_to_kafka(
                lines,
                producer_config=producer_config,
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


def cmd_kafka_broker(args: argparse.Namespace) -> int:
    if args.secured:
        serve_secured(Path(args.jars), Path(args.work_dir), args.port, args.topic)
    else:
        serve(Path(args.jars), Path(args.work_dir), args.port)
    return 0
