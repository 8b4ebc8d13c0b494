"""Reading the configuration: `conf/<env>.yml` (or `--conf FILE`), then environment variables
`AD_PIPELINE__<SECTION>__<KEY>=value`, then `--set key=value` flags, validated into one
`PipelineConfig`."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ad_marketing_pipeline.config.errors import config_error_from
from ad_marketing_pipeline.config.pipeline import PipelineConfig, join_path
from ad_marketing_pipeline.config.sections import PathsConfig
from ad_marketing_pipeline.errors import ConfigError

ENV_PREFIX = "AD_PIPELINE__"
CONF_DIR_VARIABLE = "AD_PIPELINE_CONF_DIR"


def _set_dotted(data: dict[str, Any], dotted_key: str, value: Any) -> None:
    parts = [part for part in dotted_key.split(".") if part]
    if not parts:
        raise ConfigError(f"override {dotted_key!r} has no key")
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def _yaml_problem(error: yaml.YAMLError) -> str:
    """What PyYAML found wrong and where, without the snippet of the text it quotes (the line
    may hold a secret)."""
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        what = ", ".join(part for part in (error.context, error.problem) if part)
        return f"{what} (line {mark.line + 1}, column {mark.column + 1})"
    return type(error).__name__


def _parse_scalar(key: str, text: str) -> Any:
    try:
        return yaml.safe_load(text) if text.strip() else text
    except yaml.YAMLError as error:
        # The value is not repeated: it may be a secret (the user has it at hand anyway).
        raise ConfigError(
            f"{key}: the value is not a valid YAML scalar: {_yaml_problem(error)}; quote it"
        ) from None


def parse_override(assignment: str) -> tuple[str, Any]:
    """`key.path=value` as (key path, YAML-typed value)."""
    key, separator, text = assignment.partition("=")
    if not separator or not key.strip():
        # Only the leading key-like part is shown: what follows may be a value (a secret).
        shown = re.match(r"[\w.-]*", assignment.strip())
        start = shown.group() if shown else ""
        raise ConfigError(
            f"override {start!r}{'...' if start != assignment.strip() else ''} must look like "
            "section.key=value"
        )
    return key.strip(), _parse_scalar(key.strip(), text)


def _environment_overrides(environ: Mapping[str, str]) -> list[tuple[str, Any]]:
    overrides = []
    for name in sorted(environ):
        if name.startswith(ENV_PREFIX):
            key = ".".join(part.lower() for part in name[len(ENV_PREFIX) :].split("__"))
            overrides.append((key, _parse_scalar(name, environ[name])))
    return overrides


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"configuration file {path} does not exist (pass --conf FILE, or --env NAME with "
            f"conf/NAME.yml in the working directory or in ${CONF_DIR_VARIABLE})"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {_yaml_problem(error)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of sections, not {type(data).__name__}")
    return data


def resolve_conf_file(
    env: str, conf_file: str | Path | None, environ: Mapping[str, str], cwd: Path
) -> Path:
    """The YAML file to read: `--conf` if given, else conf/<env>.yml."""
    if conf_file is not None:
        return Path(conf_file)
    if not re.fullmatch(r"[A-Za-z0-9_-]+", env):
        raise ConfigError(f"env {env!r} must be a plain name such as local, dev or prod")
    conf_dir = Path(environ.get(CONF_DIR_VARIABLE, cwd / "conf"))
    return conf_dir / f"{env}.yml"


def load_config(
    env: str = "local",
    *,
    conf_file: str | Path | None = None,
    overrides: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> PipelineConfig:
    """Read conf/<env>.yml (or `conf_file`), apply environment and flag overrides, validate."""
    environ = environ or {}
    cwd = cwd or Path.cwd()
    path = resolve_conf_file(env, conf_file, environ, cwd)
    if conf_file is None and env == "local" and not path.exists():
        # Outside a checkout: the built-in defaults are what conf/local.yml lists.
        data: dict[str, Any] = {}
    else:
        data = _read_yaml(path)
    data.setdefault("env", env)
    for key, value in _environment_overrides(environ):
        _set_dotted(data, key, value)
    for assignment in overrides:
        _set_dotted(data, *parse_override(assignment))
    source = data.get("source")
    if isinstance(source, dict):
        source.setdefault("kind", "files")  # the default source, as in conf/local.yml
    paths = data.get("paths")
    if isinstance(paths, dict) and isinstance(paths.get("root"), str):
        paths["root"] = join_path(str(cwd), paths["root"])
    elif paths is None or isinstance(paths, dict):
        data.setdefault("paths", {}).setdefault("root", join_path(str(cwd), PathsConfig().root))
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as error:
        raise config_error_from(error, data, str(path)) from None
