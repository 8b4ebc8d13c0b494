"""Keeping secrets out of plain data and printed configuration: masking the values of
secret-looking keys, collecting every secret a configuration holds, and the redacted dump that
`ad-pipeline config` prints."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel, SecretStr

from ad_marketing_pipeline.config.pipeline import PipelineConfig
from ad_marketing_pipeline.config.secret_patterns import MASK, _holds_secret, is_secret_key


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
