"""The import contracts of pyproject.toml's `[tool.importlinter]` (import-linter, `lint-imports`):
the layers of the data flow, transforms that import no I/O, and a runtime that imports nothing of
the `tools` extra. Each check runs import-linter in a fresh interpreter on the package the tests
import (`PACKAGE_SOURCE`), and a broken contract fails with import-linter's report."""

from __future__ import annotations

import os
import pkgutil
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any, cast

import pytest

from helpers import PACKAGE_SOURCE, REPO_ROOT

PACKAGE = "ad_marketing_pipeline"
CONFIG = REPO_ROOT / "pyproject.toml"

#: Top-level modules a job never imports: the command line, the demo, its report, dev tools,
#: the serving app.
TOOL_SIDE = {"cli", "cli_entry", "demo", "report", "devtools", "app"}
#: The layer packages, and their modules that are not transforms (the I/O around them).
LAYER_PACKAGES = ("bronze", "silver", "gold", "serving", "attribution")
NOT_TRANSFORMS = {
    "stream",  # the layer's stream
    "tables",  # its table specs
    "spend_refresh",  # Gold's reads, recomputations and MERGEs around planning.py
    "facts_refresh",
    "advertiser_pairs",  # the advertiser pairs tables, read and added to
    "click_lookup",  # Gold's searches of Silver for refunded clicks
    "mart_refresh",  # attribution's daily sums and marts, recomputed and MERGEd
}

VIOLATION = re.compile(r"(\S+) is not allowed to import (\S+):")
SUMMARY = re.compile(r"Contracts: \d+ kept, \d+ broken\.")


def lint_imports(source: Path, *contract_ids: str) -> subprocess.CompletedProcess[str]:
    """`lint-imports` on the package under `source`, with the contracts of pyproject.toml (all of
    them, or those of `contract_ids`)."""
    limits = [arg for contract_id in contract_ids for arg in ("--contract", contract_id)]
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "from importlinter.cli import lint_imports_command; lint_imports_command()",
            "--no-cache",
            "--no-logo",
            *limits,
            str(CONFIG),
        ],
        cwd=source,
        env={**os.environ, "PYTHONPATH": str(source)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def report(ran: subprocess.CompletedProcess[str]) -> str:
    """import-linter's output with its whitespace collapsed (it wraps at the terminal width)."""
    return " ".join((ran.stdout + ran.stderr).split())


def contract(contract_id: str) -> dict[str, Any]:
    settings = tomllib.loads(CONFIG.read_text())["tool"]["importlinter"]
    (found,) = (c for c in settings["contracts"] if c["id"] == contract_id)
    return cast(dict[str, Any], found)


def submodules(package: str) -> set[str]:
    """The modules and packages directly inside `package` (a dotted name below PACKAGE)."""
    folder = PACKAGE_SOURCE.joinpath(*package.split("."))
    return {info.name for info in pkgutil.iter_modules([str(folder)])}


@pytest.mark.parametrize(
    "contract_id",
    [
        "layers",
        "pure-transforms",
        "runtime-without-tools",
    ],
)
def test_the_package_keeps_the_import_contract(contract_id: str) -> None:
    ran = lint_imports(PACKAGE_SOURCE, contract_id)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "1 kept, 0 broken" in report(ran)


def test_every_transform_module_is_under_the_pure_transforms_contract() -> None:
    """A new module in a layer package is a transform unless it is the layer's stream or its
    table specs: it has to be named in the contract (or this test told otherwise)."""
    named = set(contract("pure-transforms")["source_modules"])
    transforms = {
        f"{PACKAGE}.{layer}.{module}"
        for layer in LAYER_PACKAGES
        for module in submodules(f"{PACKAGE}.{layer}") - NOT_TRANSFORMS
    }
    assert transforms | {f"{PACKAGE}.contract"} == named


def test_the_runtime_contract_covers_every_module_but_the_tool_side() -> None:
    named = set(contract("runtime-without-tools")["source_modules"])
    assert {f"{PACKAGE}.{module}" for module in submodules(PACKAGE) - TOOL_SIDE} == named


@pytest.mark.parametrize(
    ("contract_id", "module", "added", "expected"),
    [
        pytest.param(
            "pure-transforms",
            "silver/transforms.py",
            "from ad_marketing_pipeline.io import local_frame",
            "ad_marketing_pipeline.silver.transforms is not allowed to import"
            " ad_marketing_pipeline.io",
            id="silver.transforms->io",
        ),
        pytest.param(
            "pure-transforms",
            "attribution/markov.py",
            "from ad_marketing_pipeline.gold import stream",
            "ad_marketing_pipeline.attribution.markov is not allowed to import"
            " ad_marketing_pipeline.gold.stream",
            id="attribution.markov->gold.stream",
        ),
        pytest.param(
            "pure-transforms",
            "contract/grammar.py",
            "from delta.tables import DeltaTable",
            "ad_marketing_pipeline.contract is not allowed to import delta",
            id="contract->delta",
        ),
        pytest.param(
            "layers",
            "bronze/transforms.py",
            "from ad_marketing_pipeline import pipeline",
            "ad_marketing_pipeline.bronze is not allowed to import ad_marketing_pipeline.pipeline",
            id="bronze->pipeline",
        ),
        pytest.param(
            "layers",
            "gold/facts.py",
            "from ad_marketing_pipeline.serving.transforms import fold_batch",
            "ad_marketing_pipeline.gold is not allowed to import ad_marketing_pipeline.serving",
            id="gold->serving",
        ),
        pytest.param(
            "layers",
            "tables.py",
            "from ad_marketing_pipeline.io import local_frame",
            "ad_marketing_pipeline.tables is not allowed to import ad_marketing_pipeline.io",
            id="tables->io",
        ),
        pytest.param(
            "layers",
            "newcomer.py",
            "VALUE = 1",
            "The following modules are not listed as layers: - ad_marketing_pipeline.newcomer",
            id="unplaced-module",
        ),
        pytest.param(
            "runtime-without-tools",
            "io.py",
            "import rich",
            "ad_marketing_pipeline.io is not allowed to import rich",
            id="io->rich",
        ),
        pytest.param(
            "runtime-without-tools",
            "sources/eventhubs.py",
            "from azure.eventhub import EventData",
            "ad_marketing_pipeline.sources is not allowed to import azure",
            id="sources->azure",
        ),
        pytest.param(
            "runtime-without-tools",
            "jobs.py",
            "from ad_marketing_pipeline.devtools.producer import send_to_kafka",
            "ad_marketing_pipeline.jobs is not allowed to import ad_marketing_pipeline.devtools",
            id="jobs->devtools",
        ),
    ],
)
def test_a_forbidden_import_breaks_the_contract(
    tmp_path: Path, contract_id: str, module: str, added: str, expected: str
) -> None:
    """The real contracts on a copy of the package with one import added to one module (or a
    new module, for the layers' exhaustiveness)."""
    copy = tmp_path / "src" / PACKAGE
    shutil.copytree(PACKAGE_SOURCE / PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    with (copy / module).open("a") as source:
        source.write(f"\n{added}  # added by test_layering\n")

    ran = lint_imports(tmp_path / "src", contract_id)

    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "0 kept, 1 broken" in report(ran)
    assert expected in report(ran), ran.stdout
