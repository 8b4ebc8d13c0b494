"""Invalid configuration as a `ConfigError`: pydantic's validation errors translated into the
user's key paths, each with its bad value and what is allowed, and never showing a secret."""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from ad_marketing_pipeline.config.pipeline import PipelineConfig
from ad_marketing_pipeline.config.redaction import _masked, _secrets_in
from ad_marketing_pipeline.config.secret_patterns import MASK, is_secret_key, scrub
from ad_marketing_pipeline.errors import ConfigError


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
