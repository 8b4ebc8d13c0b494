"""How a command or a job task is invoked: the configuration flags every entry point takes
(`--env --conf --set --root --catalog --schema`), the typed configuration and runtime they make,
and the report of a failure with every secret masked. The CLI (`cli/`) and the bundle's job
tasks (`jobs.py`) share these; nothing here prints or needs a terminal library.
"""

from __future__ import annotations

import argparse
import os
import traceback

from ad_marketing_pipeline.config import (
    LOCAL_KAFKA_BOOTSTRAP,
    LOCAL_KAFKA_TOPIC,
    PipelineConfig,
    load_config,
    scrub,
    secret_values,
)
from ad_marketing_pipeline.errors import PipelineError
from ad_marketing_pipeline.runtime import Runtime, databricks_secret_reader, prepare_runtime
from ad_marketing_pipeline.secrets import with_source_secrets
from ad_marketing_pipeline.spark import get_spark, running_on_databricks

EXIT_ERROR = 2  # the package's own errors: a message a person can act on
EXIT_FAILURE = 1  # anything else, with its traceback
EXIT_INTERRUPTED = 130


def config_options() -> argparse.ArgumentParser:
    """The configuration flags, as a parent parser."""
    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group("configuration")
    group.add_argument("--env", default="local", help="reads conf/ENV.yml (default: local)")
    group.add_argument("--conf", metavar="FILE", help="read this YAML file instead of conf/ENV.yml")
    group.add_argument(
        "--set",
        dest="overrides",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="override one setting, e.g. --set source.kind=kafka (repeatable)",
    )
    group.add_argument("--root", help="folder for all local state (same as --set paths.root=...)")
    group.add_argument("--catalog", help="Unity Catalog catalog (same as --set catalog=...)")
    group.add_argument("--schema", help="schema of the tables (same as --set schema=...)")
    return options


def config_from_args(args: argparse.Namespace) -> PipelineConfig:
    """The typed configuration: file, then environment variables, then flags."""
    overrides = list(args.overrides)
    source = getattr(args, "source", None)
    if source is not None:
        # The whole source section is replaced first, so --set source.* still applies.
        section = (
            f'{{kind: kafka, bootstrap_servers: "{LOCAL_KAFKA_BOOTSTRAP}", '
            f"topics: [{LOCAL_KAFKA_TOPIC}]}}"
            if source == "kafka"
            else "{kind: files}"
        )
        overrides.insert(0, f"source={section}")
    for flag, key in (("root", "paths.root"), ("catalog", "catalog"), ("schema", "schema")):
        value = getattr(args, flag, None)
        if value is not None:
            overrides.append(f"{key}={value}")
    return load_config(args.env, conf_file=args.conf, overrides=overrides, environ=os.environ)


def runtime_from_args(args: argparse.Namespace) -> Runtime:
    """The session and the configuration with its secrets, as every layer command needs."""
    config = config_from_args(args)
    spark = get_spark(config, environ=os.environ)
    reader = databricks_secret_reader(spark) if running_on_databricks(os.environ) else None
    return prepare_runtime(spark, config, environ=os.environ, secret_reader=reader)


def known_secrets(args: argparse.Namespace) -> set[str]:
    """The secrets of this command's configuration (resolved from the environment as the
    commands do), to mask in what it prints about an error; none when the configuration itself
    is invalid (its error shows no secret) or the command has none."""
    if not hasattr(args, "overrides"):
        return set()
    try:
        config = config_from_args(args)
    except PipelineError:
        return set()
    try:
        return secret_values(with_source_secrets(config, environ=os.environ, secret_reader=None))
    except PipelineError:  # a missing secret: the configuration's own are still known
        return secret_values(config)


def failure_report(error: BaseException, args: argparse.Namespace) -> tuple[int, str]:
    """Why a command failed and its exit code, with the configuration's secrets (and any
    secret-looking `key=value`) masked: a failure of Spark or of a client library may quote a
    JAAS line or a connection string. The package's own errors give their message (code 2),
    an interruption `stopped` (130), anything else the traceback Python would print (1)."""
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED, "stopped"
    if isinstance(error, PipelineError):
        return EXIT_ERROR, scrub(str(error), known_secrets(args))
    return EXIT_FAILURE, scrub("".join(traceback.format_exception(error)), known_secrets(args))
