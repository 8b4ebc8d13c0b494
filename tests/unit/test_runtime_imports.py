"""What a Databricks job imports: the runtime only, never the development tools
(`ad_marketing_pipeline.devtools`) nor the libraries of the `tools` extra, which the wheel a job
installs does not bring. Each check imports the modules in a fresh interpreter."""

from __future__ import annotations

import json

from helpers import fresh_python

#: Modules (and packages) a job must never load.
TOOL_MODULES = (
    "ad_marketing_pipeline.devtools",
    "rich",
    "plotly",
    "confluent_kafka",
    "azure.eventhub",
)

#: What the bundle's tasks run below `jobs`: the layers and what they read and write with.
LAYER_MODULES = (
    "ad_marketing_pipeline.pipeline",
    "ad_marketing_pipeline.provisioning",
    "ad_marketing_pipeline.bronze.stream",
    "ad_marketing_pipeline.silver.stream",
    "ad_marketing_pipeline.serving.stream",
    "ad_marketing_pipeline.gold.stream",
    "ad_marketing_pipeline.attribution.stream",
    "ad_marketing_pipeline.sources",
    "ad_marketing_pipeline.config",
    "ad_marketing_pipeline.secrets",
    "ad_marketing_pipeline.spark",
    "ad_marketing_pipeline.ops",
    "ad_marketing_pipeline.sql",
)


def _tool_modules_loaded_by(*modules: str) -> list[str]:
    """The modules of TOOL_MODULES (or below them) in sys.modules after importing `modules`."""
    code = (
        "import importlib, json, sys\n"
        f"for module in {modules!r}:\n"
        "    importlib.import_module(module)\n"
        f"tools = {TOOL_MODULES!r}\n"
        "print(json.dumps(sorted(\n"
        "    name for name in sys.modules\n"
        "    if any(name == tool or name.startswith(tool + '.') for tool in tools)\n"
        ")))\n"
    )
    ran = fresh_python(code)
    assert ran.returncode == 0, ran.stderr
    loaded: list[str] = json.loads(ran.stdout.splitlines()[-1])
    return loaded


def test_the_layers_load_no_development_tool() -> None:
    assert _tool_modules_loaded_by(*LAYER_MODULES) == []


def test_the_job_entry_points_load_no_development_tool() -> None:
    assert _tool_modules_loaded_by("ad_marketing_pipeline.jobs", *LAYER_MODULES) == []
