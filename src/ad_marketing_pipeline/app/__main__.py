"""`python -m ad_marketing_pipeline.app --env prod`: the Databricks App's command (app.yaml). It
listens on DATABRICKS_APP_PORT on all interfaces when Databricks Apps set it."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ad_marketing_pipeline.app.server import run_app
from ad_marketing_pipeline.config import load_config
from ad_marketing_pipeline.errors import PipelineError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ad_marketing_pipeline.app")
    parser.add_argument("--env", default=os.environ.get("AD_PIPELINE_ENV", "local"))
    parser.add_argument("--conf", help="read this YAML file instead of conf/ENV.yml")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    args = parser.parse_args(argv)
    try:
        config = load_config(
            args.env, conf_file=args.conf, overrides=args.overrides, environ=os.environ
        )
        run_app(config, os.environ, host=args.host, port=args.port)
    except PipelineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
