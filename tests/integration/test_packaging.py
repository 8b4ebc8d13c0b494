"""The wheel a Databricks job installs: built by `poetry build`, with the console script and the
package's resources."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
POETRY = REPO_ROOT / ".venv" / "bin" / "poetry"


@pytest.mark.slow
def test_poetry_builds_the_wheel(tmp_path: Path) -> None:
    built = subprocess.run(
        [str(POETRY), "build", "--format", "wheel", "--output", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    [wheel] = tmp_path.glob("ad_marketing_pipeline-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        metadata = next(n for n in names if n.endswith("METADATA"))
        scripts = archive.read(entry_points).decode().replace(" ", "")
        assert "ad-pipeline=ad_marketing_pipeline.cli:main" in scripts
        requirements = archive.read(metadata).decode()
    assert "ad_marketing_pipeline/resources/log4j2.properties" in names
    assert "ad_marketing_pipeline/sources/eventhubs.py" in names
    for dependency in ("pydantic", "confluent-kafka", "azure-eventhub", "plotly"):
        assert f"Requires-Dist: {dependency}" in requirements
    # Spark and Delta only through the `local` extra: Databricks Runtime brings its own.
    for dependency in ("pyspark", "delta-spark"):
        [line] = [
            x for x in requirements.splitlines() if x.startswith(f"Requires-Dist: {dependency}")
        ]
        assert line.endswith('extra == "local"'), line
