"""The Databricks Asset Bundle, checked offline: databricks.yml, jobs/*.job.yml, the notebooks
they run, the wheel's entry points and the dashboard. No workspace is needed; the job and
dashboard schemas are the ones of the `databricks-bundles` package."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from databricks.bundles.apps import App
from databricks.bundles.dashboards import Dashboard
from databricks.bundles.jobs import Job, JobDict

from ad_marketing_pipeline.sql import query_names, query_text

REPO_ROOT = Path(__file__).resolve().parents[2]
POETRY = REPO_ROOT / ".venv" / "bin" / "poetry"
NOTEBOOK_HEADER = "# Databricks notebook source"
TARGETS = ("dev", "prod")
ENVS = ("local", "dev", "prod")

# Top-level keys of databricks.yml and of a target, as the bundle's JSON schema defines them.
BUNDLE_KEYS = {
    "artifacts",
    "bundle",
    "experimental",
    "include",
    "permissions",
    "presets",
    "python",
    "resources",
    "run_as",
    "scripts",
    "sync",
    "targets",
    "variables",
    "workspace",
}
TARGET_KEYS = {
    "artifacts",
    "bundle",
    "cluster_id",
    "compute_id",
    "default",
    "git",
    "mode",
    "permissions",
    "presets",
    "resources",
    "run_as",
    "sync",
    "variables",
    "workspace",
}
VARIABLE_KEYS = {"default", "description", "lookup", "type"}
ARTIFACT_KEYS = {"build", "dynamic_version", "executable", "files", "path", "type"}
# `${...}` references the bundle resolves itself, besides variables.
BUILTIN_REFERENCES = {
    "bundle.name",
    "bundle.target",
    "workspace.file_path",
    "workspace.current_user.short_name",
    "workspace.current_user.userName",
}
_REFERENCE = re.compile(r"\$\{([A-Za-z0-9_.\[\]-]+)\}")


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


def _bundle() -> dict[str, Any]:
    return _load(REPO_ROOT / "databricks.yml")


def _job_files() -> list[Path]:
    """The files databricks.yml includes (jobs/*.job.yml, apps/*.app.yml)."""
    bundle = _bundle()
    files = sorted({path for pattern in bundle["include"] for path in REPO_ROOT.glob(pattern)})
    assert files, "databricks.yml includes no job files"
    return files


def _apps() -> dict[str, tuple[Path, dict[str, Any]]]:
    return {
        key: (path, app)
        for path in _job_files()
        for key, app in _load(path)["resources"].get("apps", {}).items()
    }


def _jobs() -> dict[str, tuple[Path, dict[str, Any]]]:
    jobs: dict[str, tuple[Path, dict[str, Any]]] = {}
    for path in _job_files():
        for key, job in _load(path)["resources"].get("jobs", {}).items():
            assert key not in jobs, f"job {key} is defined twice"
            jobs[key] = (path, job)
    return jobs


def _tasks() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path, job in _jobs().values():
        for task in job["tasks"]:
            yield path, task


def _parse_job(job: dict[str, Any]) -> Job:
    """The job as `databricks-bundles` reads it: unknown keys and enum values raise."""
    return Job.from_dict(cast(JobDict, job))


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def _resolved_variables(target: str) -> dict[str, Any]:
    """The variables' values for `target`: its overrides over the defaults, with references
    between variables resolved (the builtin ones stay as they are)."""
    bundle = _bundle()
    values = {name: spec.get("default") for name, spec in bundle["variables"].items()}
    values.update(bundle["targets"][target].get("variables") or {})
    for _ in range(len(values)):
        values = {name: _substitute(value, values) for name, value in values.items()}
    return values


def _substitute(node: Any, variables: dict[str, Any]) -> Any:
    if isinstance(node, str):
        whole = re.fullmatch(r"\$\{var\.([\w-]+)\}", node)
        if whole:
            return variables[whole[1]]
        return re.sub(r"\$\{var\.([\w-]+)\}", lambda m: str(variables[m[1]]), node)
    if isinstance(node, dict):
        return {key: _substitute(value, variables) for key, value in node.items()}
    if isinstance(node, list):
        return [_substitute(item, variables) for item in node]
    return node


# ---------------------------------------------------------------------------------------------
# databricks.yml and the job resources against the bundle schema
# ---------------------------------------------------------------------------------------------


def test_databricks_yml_uses_only_known_keys() -> None:
    bundle = _bundle()
    assert set(bundle) <= BUNDLE_KEYS, set(bundle) - BUNDLE_KEYS
    assert bundle["bundle"]["name"] == "ad_marketing_pipeline"
    assert bundle["include"] == ["jobs/*.yml", "apps/*.yml"]
    for name, spec in bundle["variables"].items():
        assert set(spec) <= VARIABLE_KEYS, (name, set(spec) - VARIABLE_KEYS)
        assert spec.get("description"), f"variable {name} has no description"
    for name, target in bundle["targets"].items():
        assert set(target) <= TARGET_KEYS, (name, set(target) - TARGET_KEYS)
    [artifact] = bundle["artifacts"].values()
    assert set(artifact) <= ARTIFACT_KEYS
    assert artifact["type"] == "whl"
    assert artifact["build"].startswith("poetry build")


def test_every_job_file_is_a_valid_job_resource() -> None:
    jobs = _jobs()
    assert {"ingestion_job", "pipeline_job", "attribution_job", "provision_job"} <= set(jobs)
    assert "maintenance_job" in jobs
    for path in _job_files():
        document = _load(path)
        assert set(document) == {"resources"}, path
        assert set(document["resources"]) == {"apps" if path.parent.name == "apps" else "jobs"}
    for key, (_, job) in jobs.items():
        parsed = _parse_job(job)
        assert parsed.max_concurrent_runs == 1, key
        assert job["email_notifications"]["on_failure"] == "${var.notification_emails}", key
        if "continuous" not in job:
            assert job["timeout_seconds"] > 0, key
            for task in job["tasks"]:
                assert task["timeout_seconds"] > 0, (key, task["task_key"])
                assert task["max_retries"] >= 1, (key, task["task_key"])


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda job: job["tasks"][0].update(max_retrys=3), "Unexpected field 'max_retrys'"),
        (
            lambda job: job["tasks"][0]["python_wheel_task"].update(entrypoint="x"),
            "Unexpected field 'entrypoint'",
        ),
        (lambda job: job["schedule"].update(pause_status="STOPPED"), "not a valid PauseStatus"),
        (lambda job: job["tasks"][1].update(run_if="SOMETIMES"), "not a valid RunIf"),
    ],
    ids=["misspelled task key", "misspelled nested key", "bad enum", "bad task enum"],
)
def test_the_job_schema_rejects_typos_and_bad_enum_values(mutate: Any, message: str) -> None:
    _, job = _jobs()["pipeline_job"]
    broken = copy.deepcopy(job)
    mutate(broken)
    with pytest.raises(ValueError, match=message):
        _parse_job(broken)


def test_the_serving_app_resource_is_valid_and_runs_the_package() -> None:
    apps = _apps()
    assert set(apps) == {"serving_app"}
    path, app = apps["serving_app"]
    for target in TARGETS:
        resolved = _substitute(app, _resolved_variables(target))
        App.from_dict(resolved)
        assert not [text for text in _strings(resolved) if "${var." in text]
    source = (path.parent / app["source_code_path"]).resolve()
    assert source == REPO_ROOT
    requirements = (source / "requirements.txt").read_text()
    for needed in ("fastapi", "uvicorn", "deltalake", "databricks-sql-connector", "plotly"):
        assert needed in requirements
    command = app["config"]["command"]
    assert command[:3] == ["python", "-m", "ad_marketing_pipeline.app"]
    env = {entry["name"]: entry for entry in app["config"]["env"]}
    assert (source / env["PYTHONPATH"]["value"] / "ad_marketing_pipeline/app/__main__.py").is_file()
    resources = {resource["name"]: resource for resource in app["resources"]}
    assert env["DATABRICKS_WAREHOUSE_ID"]["value_from"] == "sql-warehouse"
    assert resources["sql-warehouse"]["sql_warehouse"]["id"] == "${var.warehouse_id}"
    assert (
        resources[env["EVENTHUBS_CLIENT_SECRET"]["value_from"]]["secret"]["key"]
        == (_load(REPO_ROOT / "conf/prod.yml")["source"]["auth"]["secret_key"])
    )
    assert {entry["level"] for entry in app["permissions"]} <= {"CAN_MANAGE", "CAN_USE"}
    for env_name in ("dev", "prod"):
        assert _load(REPO_ROOT / f"conf/{env_name}.yml")["app"]["reader"] == "warehouse"


def test_the_dashboard_resource_is_valid_and_its_file_exists() -> None:
    for dashboard in _bundle()["resources"]["dashboards"].values():
        Dashboard.from_dict(dashboard)
        assert (REPO_ROOT / dashboard["file_path"]).is_file()
        assert dashboard["dataset_catalog"] == "${var.catalog}"
        assert dashboard["dataset_schema"] == "${var.schema}"


# ---------------------------------------------------------------------------------------------
# Variables and targets
# ---------------------------------------------------------------------------------------------


def test_every_referenced_variable_is_defined() -> None:
    defined = set(_bundle()["variables"])
    documents = [_bundle(), *(_load(path) for path in _job_files())]
    references = {
        reference for text in _strings(documents) for reference in _REFERENCE.findall(text)
    }
    used = {reference.removeprefix("var.") for reference in references if reference[:4] == "var."}
    assert used, "no ${var.x} reference found"
    assert used <= defined, used - defined
    assert references - {f"var.{name}" for name in used} <= BUILTIN_REFERENCES


@pytest.mark.parametrize("target", TARGETS)
def test_targets_resolve_every_variable_and_job(target: str) -> None:
    variables = _resolved_variables(target)
    unresolved = {name: value for name, value in variables.items() if value is None}
    assert not unresolved, f"target {target} leaves variables without a value: {unresolved}"
    assert not [v for v in _strings(variables) if "${var." in v]
    assert variables["checkpoint_root"].startswith(f"/Volumes/{variables['catalog']}/")
    for key, (_, job) in _jobs().items():
        resolved = _substitute(job, variables)
        assert not [text for text in _strings(resolved) if "${var." in text], key
        _parse_job(resolved)
        assert resolved["email_notifications"]["on_failure"], f"{key} notifies no one"


def test_dev_is_the_default_development_target_and_prod_runs_as_a_service_principal() -> None:
    targets = _bundle()["targets"]
    assert set(targets) == set(TARGETS)
    assert targets["dev"]["mode"] == "development"
    assert targets["dev"]["default"] is True
    assert targets["dev"]["variables"]["schema"] == "${workspace.current_user.short_name}"
    prod = targets["prod"]
    assert prod["mode"] == "production"
    assert prod["workspace"]["root_path"].startswith("/Workspace/")
    assert prod["run_as"] == {"service_principal_name": "${var.service_principal}"}
    assert {entry["level"] for entry in prod["permissions"]} <= {
        "CAN_MANAGE",
        "CAN_RUN",
        "CAN_VIEW",
    }


def test_conf_files_have_the_same_keys() -> None:
    def keys(node: Any, prefix: str = "") -> set[str]:
        if not isinstance(node, dict):
            return set()
        found = set()
        for key, value in node.items():
            found.add(prefix + key)
            if key != "source":  # the source's keys depend on its kind
                found |= keys(value, f"{prefix}{key}.")
        return found

    local, dev, prod = (keys(_load(REPO_ROOT / "conf" / f"{env}.yml")) for env in ENVS)
    assert local == dev == prod


# ---------------------------------------------------------------------------------------------
# What the tasks run: notebooks and the wheel's entry points
# ---------------------------------------------------------------------------------------------


def test_every_notebook_task_points_at_a_databricks_source_notebook() -> None:
    notebook_tasks = [(path, task) for path, task in _tasks() if "notebook_task" in task]
    assert notebook_tasks
    for path, task in notebook_tasks:
        notebook = (path.parent / task["notebook_task"]["notebook_path"]).resolve()
        assert notebook.is_file(), notebook
        assert notebook.read_text(encoding="utf-8").startswith(NOTEBOOK_HEADER), notebook


def test_every_notebook_is_in_databricks_source_format() -> None:
    notebooks = sorted((REPO_ROOT / "notebooks").rglob("*.py"))
    assert len(notebooks) >= 6
    for notebook in notebooks:
        text = notebook.read_text(encoding="utf-8")
        assert text.startswith(NOTEBOOK_HEADER + "\n"), notebook
        assert "# COMMAND ----------" in text, notebook
        assert "dbutils.widgets" in text, notebook


def test_wheel_tasks_install_the_built_wheel() -> None:
    for path, job in _jobs().values():
        environments = {
            environment["environment_key"]: environment["spec"]
            for environment in job.get("environments", [])
        }
        for task in job["tasks"]:
            if "environment_key" in task:
                wheels = environments[task["environment_key"]]["dependencies"]
            else:
                wheels = [library["whl"] for library in task["libraries"]]
            assert wheels == ["../dist/*.whl"], (path, task["task_key"])
            assert (path.parent / "../dist").resolve() == REPO_ROOT / "dist"


@pytest.mark.slow
def test_the_artifact_build_provides_every_wheel_task_entry_point(tmp_path: Path) -> None:
    [artifact] = _bundle()["artifacts"].values()
    command = [str(POETRY), *artifact["build"].split()[1:], "--output", str(tmp_path)]
    built = subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert built.returncode == 0, built.stderr
    [wheel] = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points_file = next(name for name in names if name.endswith("entry_points.txt"))
        entry_points = archive.read(entry_points_file).decode()
    scripts: dict[str, str] = {}
    for line in entry_points.splitlines():
        name, separator, target = line.partition("=")
        if separator:
            scripts[name.strip()] = target.strip()
    wheel_tasks = [task["python_wheel_task"] for _, task in _tasks() if "python_wheel_task" in task]
    assert wheel_tasks
    for task in wheel_tasks:
        assert wheel.name.startswith(task["package_name"] + "-")
        assert task["entry_point"] in scripts, task["entry_point"]
        module, function = scripts[task["entry_point"]].split(":")
        assert module == "ad_marketing_pipeline.jobs", function
    for name in query_names():
        assert f"ad_marketing_pipeline/sql/{name}.sql" in names


# ---------------------------------------------------------------------------------------------
# The dashboard
# ---------------------------------------------------------------------------------------------


def test_dashboard_datasets_are_the_shipped_queries() -> None:
    [resource] = _bundle()["resources"]["dashboards"].values()
    dashboard = json.loads((REPO_ROOT / resource["file_path"]).read_text(encoding="utf-8"))
    shipped = {name: query_text(name) for name in query_names()}
    datasets = {dataset["name"]: dataset for dataset in dashboard["datasets"]}
    assert set(datasets) == set(shipped)
    for name, dataset in datasets.items():
        assert "".join(dataset["queryLines"]) == shipped[name], name
    widgets = [item["widget"] for page in dashboard["pages"] for item in page["layout"]]
    used = {query["query"]["datasetName"] for widget in widgets for query in widget["queries"]}
    assert used == set(datasets)
