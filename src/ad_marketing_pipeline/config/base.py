"""What every configuration model shares: frozen, no unknown keys, and a repr that masks the
secrets of free-form maps; and `Identifier`, the type of table and schema names."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from ad_marketing_pipeline.config.secret_patterns import MASK, _holds_secret, is_secret_key

_IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"

Identifier = Annotated[str, Field(pattern=_IDENTIFIER)]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        """As pydantic's, with the secret-looking values of free-form maps (`source.options`,
        `spark.conf`) masked, as `SecretStr` fields are: a printed or logged config shows no
        secret."""
        for name, value in super().__repr_args__():
            if not isinstance(value, dict):
                yield name, value
                continue
            yield (
                name,
                {
                    key: MASK if is_secret_key(str(key)) or _holds_secret(str(item)) else item
                    for key, item in value.items()
                },
            )
