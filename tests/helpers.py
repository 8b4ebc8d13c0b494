"""Helpers shared by the tests (importable as `helpers`, see pythonpath in pyproject.toml)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from chispa import assert_df_equality
from pyspark.sql import DataFrame
from pyspark.sql.types import MapType

import ad_marketing_pipeline
from ad_marketing_pipeline.config import PipelineConfig


def _sorted_rows(frame: DataFrame) -> DataFrame:
    # Map columns cannot be sorted on in Spark; every other column gives the order.
    keys = [f.name for f in frame.schema.fields if not isinstance(f.dataType, MapType)]
    return frame.orderBy(*keys)


def assert_frames_equal(actual: DataFrame, expected: DataFrame, *, ordered: bool = False) -> None:
    """The one DataFrame comparison of the suite (chispa): same schema, same rows."""
    if not ordered:
        actual, expected = _sorted_rows(actual), _sorted_rows(expected)
    assert_df_equality(actual, expected, ignore_nullable=True, ignore_metadata=True)


# ---------------------------------------------------------------------------------------------
# Test configurations
# ---------------------------------------------------------------------------------------------


def pipeline_config(root: Path | None, schema_prefix: str, **sections: Any) -> PipelineConfig:
    """A local test run's configuration: env `test`, a schema of its own
    (`<schema_prefix>_<10 random hex digits>`), files under `root` (when given), and the given
    sections (`source={...}`, `trigger={...}`, ...) over the defaults.

    Not named `test_*`: imported into a test module, pytest would collect it as a test."""
    return PipelineConfig.model_validate(
        {
            "env": "test",
            "schema": f"{schema_prefix}_{uuid.uuid4().hex[:10]}",
            **({"paths": {"root": str(root)}} if root is not None else {}),
            **sections,
        }
    )


# ---------------------------------------------------------------------------------------------
# The pipeline in a child process (for SIGKILL tests and CLI runs)
# ---------------------------------------------------------------------------------------------

REPO_ROOT = Path(__file__).resolve().parents[1]
#: The folder this package is imported from in the tests (its `src`, not an editable install's).
PACKAGE_SOURCE = Path(ad_marketing_pipeline.__file__).resolve().parents[1]


def fresh_python(code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `python -c code` in a new interpreter that imports this package from
    `PACKAGE_SOURCE`; its stdout and stderr come back as text."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(PACKAGE_SOURCE)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.5)


def write_conf(root: Path, conf: dict[str, Any]) -> Path:
    """A conf file under `root` whose paths.root is `root`."""
    conf_file = root / "conf.yml"
    conf_file.write_text(yaml.safe_dump({"paths": {"root": str(root)}, **conf}))
    return conf_file


def start_cli(root: Path, *args: str) -> subprocess.Popen[bytes]:
    """`python -m ad_marketing_pipeline.cli <args>` in its own process group, logging to
    `root/cli.log`."""
    log = (root / "cli.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "ad_marketing_pipeline.cli", *args],
        cwd=REPO_ROOT,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )


def cli_log(root: Path) -> str:
    return (root / "cli.log").read_text(errors="replace")[-3000:]


def committed_batches(root: Path, query_name: str) -> int:
    commits = root / "checkpoints" / query_name / "commits"
    return len([p for p in commits.glob("*") if p.name.isdigit()]) if commits.is_dir() else 0


def _run_args(root: Path, layers: str) -> tuple[str, ...]:
    return ("run", "--layers", layers, "--trigger", "once", "--conf", str(root / "conf.yml"))


def kill_run_after_batches(
    root: Path, layers: str, query_name: str, *, restart_layers: str | None = None
) -> None:
    """Start `run --layers <layers>` with root/conf.yml, SIGKILL it once `query_name` has
    committed two batches, then run `restart_layers` (default: the same) to the end."""
    process = start_cli(root, *_run_args(root, layers))
    try:
        wait_until(lambda: committed_batches(root, query_name) >= 2, 240, "two batches")
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    restarted = start_cli(root, *_run_args(root, restart_layers or layers))
    assert restarted.wait(400) == 0, cli_log(root)
