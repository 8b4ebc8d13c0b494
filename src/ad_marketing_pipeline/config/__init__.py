"""Typed configuration of the whole pipeline, parsed once at the entry point.

Sources, lowest precedence first: `conf/<env>.yml` (or `--conf FILE`), environment variables
`AD_PIPELINE__<SECTION>__<KEY>=value` (double underscores between levels), then `--set key=value`
flags. Values are YAML scalars (`--set source.max_offsets_per_trigger=5000`). Invalid
configuration raises `ConfigError` naming the key, the bad value and what is allowed.
"""

from __future__ import annotations

import re
import types
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, SecretStr, ValidationError

from ad_marketing_pipeline.config.base import Identifier
from ad_marketing_pipeline.config.pipeline import PipelineConfig, join_path
from ad_marketing_pipeline.config.secret_patterns import (
    MASK,
    SECRET_KEY_PATTERN,
    SECRET_TEXT_PATTERN,
    _holds_secret,
    is_secret_key,
    scrub,
)
from ad_marketing_pipeline.config.sections import (
    AttributionConfig,
    BudgetPolicy,
    ChannelRule,
    FaultsConfig,
    OpsConfig,
    PathsConfig,
    QualityConfig,
    ServingConfig,
    SparkSettings,
    TableNames,
    TriggerConfig,
    checked_interval,
)
from ad_marketing_pipeline.config.sources import (
    LOCAL_KAFKA_BOOTSTRAP,
    LOCAL_KAFKA_TOPIC,
    EventHubsAuth,
    EventHubsConnectionString,
    EventHubsServicePrincipal,
    EventHubsSource,
    FilesSource,
    KafkaSaslMechanism,
    KafkaSecurityProtocol,
    KafkaSource,
    SourceConfig,
)
from ad_marketing_pipeline.errors import ConfigError

__all__ = [
    "CONF_DIR_VARIABLE",
    "ENV_PREFIX",
    "LOCAL_KAFKA_BOOTSTRAP",
    "LOCAL_KAFKA_TOPIC",
    "MASK",
    "SECRET_KEY_PATTERN",
    "SECRET_TEXT_PATTERN",
    "AttributionConfig",
    "BudgetPolicy",
    "ChannelRule",
    "EventHubsAuth",
    "EventHubsConnectionString",
    "EventHubsServicePrincipal",
    "EventHubsSource",
    "FaultsConfig",
    "FilesSource",
    "Identifier",
    "KafkaSaslMechanism",
    "KafkaSecurityProtocol",
    "KafkaSource",
    "OpsConfig",
    "PathsConfig",
    "PipelineConfig",
    "QualityConfig",
    "ServingConfig",
    "SourceConfig",
    "SparkSettings",
    "TableNames",
    "TriggerConfig",
    "checked_interval",
    "config_error_from",
    "is_secret_key",
    "join_path",
    "load_config",
    "parse_override",
    "redacted_dump",
    "resolve_conf_file",
    "scrub",
    "secret_values",
]

ENV_PREFIX = "AD_PIPELINE__"
CONF_DIR_VARIABLE = "AD_PIPELINE_CONF_DIR"


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


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


def _masked(value: Any) -> Any:
    """`value` with the values of secret-looking keys, at any depth, and secret-looking strings
    masked."""
    if isinstance(value, Mapping):
        return {k: MASK if is_secret_key(str(k)) else _masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(item) for item in value]
    if isinstance(value, str) and _holds_secret(value):
        return MASK
    return value


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _secrets_in(value: Any) -> Iterator[str]:
    """The strings under secret-looking keys in plain data, and secret-looking strings."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item) if is_secret_key(str(key)) else _secrets_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _secrets_in(item)
    elif isinstance(value, str) and _holds_secret(value):
        yield value


def secret_values(model: BaseModel) -> set[str]:
    """Every secret a configuration holds: its `SecretStr` values, and the values of
    secret-looking keys in its free-form maps (`source.options`, `spark.conf`)."""
    found: set[str] = set()
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretStr):
            found.add(value.get_secret_value())
        elif isinstance(value, BaseModel):
            found |= secret_values(value)
        elif isinstance(value, list | tuple):
            for item in value:
                if isinstance(item, BaseModel):
                    found |= secret_values(item)
        elif isinstance(value, Mapping):
            found.update(_secrets_in(value))
    return found - {""}


def _members(annotation: Any) -> list[Any]:
    """The types an annotation allows, with `Annotated` and unions unwrapped."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [member for arg in get_args(annotation) for member in _members(arg)]
    return [annotation]


def _is_tag(model: type[BaseModel], part: int | str) -> bool:
    """Whether `part` is `model`'s tag in a discriminated union (its `kind` or `mode`)."""
    return any(
        get_origin(field.annotation) is Literal and part in get_args(field.annotation)
        for field in model.model_fields.values()
    )


def _in_free_form_map(location: Sequence[int | str]) -> bool:
    """Whether pydantic's error `location` lies inside a free-form map of the configuration
    (`source.options`, `spark.conf`): no model checks the spelling of its keys, so a misspelled
    secret key there looks like any other."""
    annotations: list[Any] = [PipelineConfig]
    for part in location:
        following: list[Any] = []
        for annotation in (member for a in annotations for member in _members(a)):
            origin = get_origin(annotation)
            if origin is dict or annotation is dict:
                return True
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                fields = {f.alias or name: f for name, f in annotation.model_fields.items()}
                field = fields.get(str(part)) or annotation.model_fields.get(str(part))
                if field is not None:
                    following.append(field.annotation)
                elif _is_tag(annotation, part):  # pydantic names the union member it tried
                    following.append(annotation)
            elif origin in (list, tuple) and isinstance(part, int):
                following.extend(get_args(annotation))
        annotations = following
    return False


def _shown(value: Any) -> str:
    """`value` as an error may quote it: a mapping by its keys only (a value under a misspelled
    key may be a secret), strings that look like secrets masked."""
    if isinstance(value, Mapping):
        keys = ", ".join(repr(str(key)) for key in value)
        return f"a mapping with keys {keys}" if keys else "an empty mapping"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_shown(item) for item in value) + "]"
    return repr(_masked(value))


def _child(node: Any, part: int | str) -> tuple[bool, Any]:
    if isinstance(node, dict) and part in node:
        return True, node[part]
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return True, node[part]
    return False, None


def _input_key_path(data: Any, location: Sequence[int | str]) -> tuple[str, Any, bool]:
    """The user's key path for an error location (dropping union tags pydantic inserts), the
    value found there, and whether it was found."""
    parts: list[str] = []
    node: Any = data
    found = True
    for part in location:
        present, child = _child(node, part)
        if present:
            parts.append(str(part))
            node = child
        elif (
            isinstance(node, dict)
            and isinstance(part, str)
            and node.get("kind", node.get("mode")) == part
        ):
            continue  # the discriminator tag of a union member
        else:
            parts.append(str(part))
            found = False
            node = None
    return ".".join(parts), node, found


def _describe(key: str, value: Any, found: bool, location: Sequence[int | str]) -> str:
    """The value at an error's location as the error may show it: never a secret."""
    if not found:
        return "missing"
    if is_secret_key(key):
        return repr(MASK)
    if _in_free_form_map(location) and not isinstance(value, Mapping):
        return f"a value of type {type(value).__name__}, not shown"
    return _shown(value)


def config_error_from(error: ValidationError, data: Mapping[str, Any], origin: str) -> ConfigError:
    """A `ConfigError` naming each bad key, its value and what is allowed. No secret is shown:
    values of secret-looking keys are masked, an unknown key's value is never shown (it may be
    a misspelled secret), nor a free-form map's, and a mapping is shown by its keys."""
    lines = []
    for issue in error.errors():
        location = tuple(issue["loc"])
        if issue["type"] in ("union_tag_invalid", "union_tag_not_found"):
            location += (str(issue.get("ctx", {}).get("discriminator", "")).strip("'"),)
        key, value, found = _input_key_path(data, location)
        if issue["type"] == "extra_forbidden":
            lines.append(
                f"  {key}: unknown key (check the spelling; see conf/local.yml for every key)"
            )
            continue
        message = issue["msg"].removeprefix("Value error, ")
        described = _describe(key, value, found, location)
        lines.append(f"  {key or '<top level>'}: {message} (got {described})")
    # Should a validator's message quote its input, the secrets given are masked there too
    # (strings this short would mask ordinary words of the message instead).
    secrets = {secret for secret in _secrets_in(data) if len(secret) >= 4}
    text = f"invalid configuration from {origin}:\n" + "\n".join(lines)
    return ConfigError(scrub(text, secrets))


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


def redacted_dump(config: PipelineConfig) -> dict[str, Any]:
    """The configuration as plain data for printing; secrets show as '**********': `SecretStr`
    settings, and values of secret-looking keys in free-form maps (`source.options`,
    `spark.conf`)."""
    dumped: dict[str, Any] = config.model_dump(mode="json", by_alias=True)
    return _masked_maps(config, dumped)


def _masked_maps(model: BaseModel, dumped: dict[str, Any]) -> dict[str, Any]:
    """`dumped` (the JSON dump of `model`) with its free-form maps masked."""
    shown = dict(dumped)
    for name, field in type(model).model_fields.items():
        key = field.serialization_alias or field.alias or name
        value = getattr(model, name)
        if key not in shown:
            continue
        if isinstance(value, BaseModel):
            shown[key] = _masked_maps(value, shown[key])
        elif isinstance(value, Mapping):
            shown[key] = _masked(shown[key])
        elif isinstance(value, list | tuple):
            shown[key] = [
                _masked_maps(item, dumped_item) if isinstance(item, BaseModel) else dumped_item
                for item, dumped_item in zip(value, shown[key], strict=True)
            ]
    return shown
