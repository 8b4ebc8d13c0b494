"""`python -m ad_marketing_pipeline.cli ARGS`: the `ad-pipeline` command without the console
script (the integration tests start the command line this way)."""

from __future__ import annotations

import sys

from ad_marketing_pipeline.cli import main

if __name__ == "__main__":
    sys.exit(main())
