"""What the bundle's job tasks call: one console script per task (see `[project.scripts]`).

A `python_wheel_task` runs `entry_point` from the wheel's metadata with the task's `parameters`
as `sys.argv`. Each function here parses `--catalog --schema --env --conf --set --root` (plus
`--trigger` and `--full-refresh` where they apply) into the typed configuration and calls the
pipeline's API (`pipeline.run_layers`, `provisioning.provision`), as the matching `ad-pipeline`
command does; a failure prints its reason (secrets masked) and raises `SystemExit` with a
non-zero code, which fails the task. Each function also takes `argv` so notebooks and tests
call it directly. Nothing here needs the CLI's terminal library or the development tools.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from pyspark.sql import SparkSession

from ad_marketing_pipeline.config import TableKey
from ad_marketing_pipeline.errors import PipelineError
from ad_marketing_pipeline.invocation import (
    config_from_args,
    config_options,
    failure_report,
    runtime_from_args,
)
from ad_marketing_pipeline.io import stream_trigger
from ad_marketing_pipeline.ops import prune_progress
from ad_marketing_pipeline.pipeline import progress_summary, run_layers
from ad_marketing_pipeline.provisioning import ALL_TABLES, provision
from ad_marketing_pipeline.runtime import Runtime, prepare_runtime
from ad_marketing_pipeline.secrets import SecretReader

# /Volumes/<catalog>/<schema>/<volume>/...: the Unity Catalog volume holding paths.root.
_VOLUME_PATH = re.compile(r"^/Volumes/(?P<catalog>[^/]+)/(?P<schema>[^/]+)/(?P<volume>[^/]+)")
# Delta refuses to VACUUM with a shorter retention unless its safety check is disabled; a
# shorter one could delete files a running stream or a time-travel query still reads.
MIN_RETAIN_HOURS = 168


def _args(argv: Sequence[str] | None) -> list[str]:
    return list(sys.argv[1:] if argv is None else argv)


def _say(text: str) -> None:
    print(text, flush=True)  # the task's log


def _run_task(
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    work: Callable[[Runtime, argparse.Namespace], None],
) -> None:
    """Parse the task's flags, build its runtime and do its work; a failure is printed as the
    CLI prints it (secrets masked) and fails the task with the CLI's exit code."""
    args = parser.parse_args(_args(argv))
    try:
        work(runtime_from_args(args), args)
    except (Exception, KeyboardInterrupt) as error:
        code, text = failure_report(error, args)
        print(f"error: {text}" if code == 2 else text, file=sys.stderr, flush=True)
        raise SystemExit(code) from error


def _main_parser(prog: str, description: str) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(prog=prog, description=description, parents=[config_options()])


def _run_layers_task(
    prog: str,
    description: str,
    layers: Sequence[str],
    trigger: str,
    argv: Sequence[str] | None,
    *,
    can_refresh: bool = False,
) -> None:
    """Run `layers` with `trigger` (`--trigger` overrides it; `--full-refresh` where the
    layers can be rebuilt), printing each layer's time, or each batch's progress when
    continuous."""
    parser = _main_parser(prog, description)
    parser.add_argument("--trigger", choices=("once", "continuous"), default=trigger)
    if can_refresh:
        parser.add_argument(
            "--full-refresh",
            action="store_true",
            help="rebuild the tables from the whole of Silver instead of processing what is new",
        )

    def work(runtime: Runtime, args: argparse.Namespace) -> None:
        run_layers(
            runtime,
            layers,
            stream_trigger(runtime.config.trigger, args.trigger),
            on_layer_done=lambda layer, seconds: _say(f"{layer}: done in {seconds:.1f} s"),
            on_progress=lambda layer, progress: _say(
                f"{layer}: " + ", ".join(f"{k}={v}" for k, v in progress_summary(progress).items())
            ),
            on_stopping=lambda: _say("stopping once the running micro-batches finish"),
            full_refresh=getattr(args, "full_refresh", False),
        )

    _run_task(parser, argv, work)


def ingest_main(argv: Sequence[str] | None = None) -> None:
    """Source (Event Hubs, Kafka or landing files) -> bronze_ad_events, and beside it the
    serving stream (source -> gold_serving_status, the can_serve an ad server reads),
    continuously by default (`--trigger once` for a catch-up run)."""
    _run_layers_task(
        "ad-pipeline-ingest", ingest_main.__doc__ or "", ("bronze", "serving"), "continuous", argv
    )


def silver_main(argv: Sequence[str] | None = None) -> None:
    """bronze_ad_events -> silver_ad_events, silver_quarantine and ops_data_quality, once."""
    _run_layers_task("ad-pipeline-silver", silver_main.__doc__ or "", ("silver",), "once", argv)


def gold_main(argv: Sequence[str] | None = None) -> None:
    """silver_ad_events -> the Gold spend, budget and fact tables, once (`--full-refresh`
    rebuilds them from the whole of Silver)."""
    _run_layers_task(
        "ad-pipeline-gold", gold_main.__doc__ or "", ("gold",), "once", argv, can_refresh=True
    )


def attribution_main(argv: Sequence[str] | None = None) -> None:
    """silver_ad_events -> touchpoints, conversion paths and attribution marts, once
    (`--full-refresh` recomputes them)."""
    _run_layers_task(
        "ad-pipeline-attribution",
        attribution_main.__doc__ or "",
        ("attribution",),
        "once",
        argv,
        can_refresh=True,
    )


def volume_of(path: str) -> tuple[str, str, str] | None:
    """(catalog, schema, volume) of a `/Volumes/...` path, else None."""
    match = _VOLUME_PATH.match(path)
    return (match["catalog"], match["schema"], match["volume"]) if match else None


def ensure_volume(runtime: Runtime) -> str | None:
    """On Databricks, create the Unity Catalog volume holding `paths.root` (checkpoints,
    landing files) and its schema; returns the volume's name. Locally there is none."""
    volume = volume_of(runtime.config.paths.root)
    if volume is None or not runtime.on_databricks:
        return None
    name = ".".join(f"`{part}`" for part in volume)
    runtime.spark.sql(f"CREATE SCHEMA IF NOT EXISTS `{volume[0]}`.`{volume[1]}`")
    runtime.spark.sql(f"CREATE VOLUME IF NOT EXISTS {name}")
    return name


def provision_main(argv: Sequence[str] | None = None) -> None:
    """Create the schema, the volume of the checkpoints and every table and view; idempotent."""
    parser = _main_parser("ad-pipeline-provision", provision_main.__doc__ or "")

    def work(runtime: Runtime, _args: argparse.Namespace) -> None:
        volume = ensure_volume(runtime)
        if volume:
            _say(f"volume {volume} is ready")
        for table in provision(runtime):
            _say(f"table {table} is ready")

    _run_task(parser, argv, work)


def maintained_tables(runtime: Runtime) -> list[str]:
    """The Delta tables (not views) of every layer that exist: the ones streams append to or
    MERGE into, so they accumulate small files and obsolete ones."""
    names = [runtime.config.table(spec.key) for spec in ALL_TABLES]
    return [name for name in names if runtime.spark.catalog.tableExists(name)]


def maintain(runtime: Runtime, *, retain_hours: int, vacuum: bool = True) -> list[str]:
    """Prune ops_streaming_progress to `ops.retention_days`, then OPTIMIZE (compaction, and
    clustering of the tables with CLUSTER BY) and VACUUM files older than `retain_hours` of each
    table; returns the tables maintained."""
    if retain_hours < MIN_RETAIN_HOURS:
        raise PipelineError(
            f"--retain-hours {retain_hours} is below {MIN_RETAIN_HOURS}: a shorter retention "
            "could delete files a running stream still reads; use at least "
            f"{MIN_RETAIN_HOURS}"
        )
    tables = maintained_tables(runtime)
    progress = runtime.config.table(TableKey.OPS_STREAMING_PROGRESS)
    if progress in tables:
        prune_progress(runtime.spark, progress, runtime.config.ops.retention_days)
    for table in tables:
        runtime.spark.sql(f"OPTIMIZE {table}")
        if vacuum:
            runtime.spark.sql(f"VACUUM {table} RETAIN {retain_hours} HOURS")
    return tables


def maintenance_main(argv: Sequence[str] | None = None) -> None:
    """OPTIMIZE and VACUUM every table of the pipeline (weekly)."""
    parser = _main_parser("ad-pipeline-maintenance", maintenance_main.__doc__ or "")
    parser.add_argument(
        "--retain-hours",
        type=int,
        default=MIN_RETAIN_HOURS,
        help=f"VACUUM keeps files newer than this (default and minimum {MIN_RETAIN_HOURS})",
    )
    parser.add_argument("--no-vacuum", action="store_true", help="OPTIMIZE only")

    def work(runtime: Runtime, args: argparse.Namespace) -> None:
        for table in maintain(runtime, retain_hours=args.retain_hours, vacuum=not args.no_vacuum):
            _say(f"table {table} optimized")

    _run_task(parser, argv, work)


# The widgets every notebook declares, with their defaults for an interactive run in the
# deployed bundle (a notebook's working directory is its folder: notebooks/<group>/).
NOTEBOOK_WIDGETS: dict[str, str] = {
    "env": "dev",
    "catalog": "",
    "schema": "",
    "conf_dir": "../../conf",
    "root": "",
}


def notebook_arguments(widgets: Mapping[str, str]) -> list[str]:
    """The entry points' flags from a notebook's widget values; empty values keep the
    configuration file's setting."""
    env = widgets.get("env") or "dev"
    argv = ["--env", env]
    if widgets.get("conf_dir"):
        argv += ["--conf", str(Path(widgets["conf_dir"]) / f"{env}.yml")]
    for name in ("catalog", "schema", "root"):
        if widgets.get(name):
            argv += [f"--{name}", widgets[name]]
    return argv


def notebook_runtime(
    spark: SparkSession, secrets: SecretReader, widgets: Mapping[str, str]
) -> Runtime:
    """The runtime of a notebook run: the notebook's session, the configuration from its
    widgets (parsed like the entry points' flags), and secrets read with `dbutils.secrets`."""
    args = config_options().parse_args(notebook_arguments(widgets))
    config = config_from_args(args)
    return prepare_runtime(spark, config, environ=os.environ, secret_reader=secrets)
