"""The `ad-pipeline` console script: runs `cli.main`, or, when a library that only the command
line and the development tools use is not installed, says which extra brings it.

A Databricks job installs the wheel without extras; the command line prints with `rich` and its
commands use `ad_marketing_pipeline.devtools` (confluent-kafka, azure-eventhub, azure-identity)
and the demo's report (plotly), all in the `tools` extra.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

__all__ = ["INSTALL_TOOLS", "TOOL_LIBRARIES", "main", "missing_tool_library"]

#: The libraries of the `tools` extra, by the module each provides.
TOOL_LIBRARIES: dict[str, str] = {
    "rich": "rich",
    "plotly": "plotly",
    "confluent_kafka": "confluent-kafka",
    "azure.eventhub": "azure-eventhub",
    "azure.identity": "azure-identity",
}
INSTALL_TOOLS = "pip install 'ad-marketing-pipeline[tools]'"


def missing_tool_library(error: ModuleNotFoundError) -> str | None:
    """The `tools` library whose module `error` failed to import, or None when the missing
    module belongs to something else (`azure` alone counts: azure-eventhub brings it)."""
    name = error.name or ""
    for module, library in TOOL_LIBRARIES.items():
        if name == module or name.startswith(f"{module}.") or module.startswith(f"{name}."):
            return library
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Console script `ad-pipeline`; returns 2 with how to install the `tools` extra when one
    of its libraries is missing."""
    try:
        cli = importlib.import_module("ad_marketing_pipeline.cli")
    except ModuleNotFoundError as error:
        missing = missing_tool_library(error)
        if missing is None:
            raise
        print(
            f"ad-pipeline needs the package's `tools` extra ({', '.join(TOOL_LIBRARIES.values())})"
            f" and {missing} is not installed; install the extra with:\n    {INSTALL_TOOLS}",
            file=sys.stderr,
        )
        return 2
    code: int = cli.main(argv)
    return code
