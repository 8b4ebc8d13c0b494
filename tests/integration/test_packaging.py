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
        assert "ad-pipeline=ad_marketing_pipeline.cli_entry:main" in scripts
        requirements = archive.read(metadata).decode()
    assert "ad_marketing_pipeline/resources/log4j2.properties" in names
    assert "ad_marketing_pipeline/sources/eventhubs.py" in names
    assert "ad_marketing_pipeline/devtools/generator.py" in names
    # What a job needs, unconditionally; nothing else without an extra.
    unconditional = sorted(
        line.removeprefix("Requires-Dist: ").split(">")[0].split(" ")[0].lower()
        for line in requirements.splitlines()
        if line.startswith("Requires-Dist: ") and "extra ==" not in line
    )
    assert unconditional == ["pyarrow", "pydantic", "pyyaml"]
    # Spark and Delta only through the `local` extra: Databricks Runtime brings its own. The
    # command line's and the dev tools' libraries only through `tools`.
    # The serving app's only through `app` (plotly: the report's and the dashboard's charts).
    extras = {
        "pyspark": {"local"},
        "delta-spark": {"local"},
        "rich": {"tools"},
        "plotly": {"tools", "app"},
        "confluent-kafka": {"tools"},
        "azure-eventhub": {"tools"},
        "azure-identity": {"tools"},
        "fastapi": {"app"},
        "uvicorn": {"app"},
        "deltalake": {"app"},
        "databricks-sql-connector": {"app"},
    }
    for dependency, wanted in extras.items():
        lines = [
            x for x in requirements.splitlines() if x.startswith(f"Requires-Dist: {dependency}")
        ]
        assert {line.rsplit('extra == "', 1)[-1].rstrip('"') for line in lines} == wanted, lines
    assert "ad_marketing_pipeline/app/dashboard.html" in names
