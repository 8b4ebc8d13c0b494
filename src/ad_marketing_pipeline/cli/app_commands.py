"""`ad-pipeline serve`: the serving app on the configured Gold tables (see `app`)."""

from __future__ import annotations

import argparse
import os

from ad_marketing_pipeline.app.server import run_app
from ad_marketing_pipeline.cli.output import console
from ad_marketing_pipeline.invocation import config_from_args

__all__ = ["cmd_serve"]


def cmd_serve(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    host = args.host or config.app.host
    port = args.port if args.port is not None else config.app.port
    console.print(f"serving app: http://{host}:{port}/ (API docs: /docs); Ctrl-C stops it")
    run_app(config, os.environ, host=host, port=port)
    return 0
