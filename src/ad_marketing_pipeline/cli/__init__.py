"""`ad-pipeline`: the command line. It parses flags and configuration once, then calls the
package's entry points; every command takes `--env/--conf/--set` the same way.

The modules: `parser` (the commands, flags and help texts), `pipeline_commands` (sql, provision,
run, demo, status, config), `tool_commands` (generate, kafka-broker: the development tools) and
`output` (what is printed, with rich). This module maps command names to their functions and
runs one (`main`), reporting a failure with its secrets masked (`report_failure`);
`python -m ad_marketing_pipeline.cli` runs `main` too (`__main__`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from rich.markup import escape

from ad_marketing_pipeline.cli.app_commands import cmd_serve
from ad_marketing_pipeline.cli.output import (
    console,
    describe_seconds,
    print_demo_summary,
    results_console,
)
from ad_marketing_pipeline.cli.parser import build_parser
from ad_marketing_pipeline.cli.pipeline_commands import (
    cmd_config,
    cmd_demo,
    cmd_provision,
    cmd_run,
    cmd_sql,
    cmd_status,
)
from ad_marketing_pipeline.cli.tool_commands import cmd_generate, cmd_kafka_broker
from ad_marketing_pipeline.invocation import EXIT_ERROR, failure_report

__all__ = [
    "COMMANDS",
    "build_parser",
    "cmd_config",
    "cmd_demo",
    "cmd_generate",
    "cmd_kafka_broker",
    "cmd_provision",
    "cmd_run",
    "cmd_serve",
    "cmd_sql",
    "cmd_status",
    "console",
    "describe_seconds",
    "main",
    "print_demo_summary",
    "report_failure",
    "results_console",
]

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "generate": cmd_generate,
    "run": cmd_run,
    "sql": cmd_sql,
    "provision": cmd_provision,
    "demo": cmd_demo,
    "serve": cmd_serve,
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
