"""Secrets: from a Databricks secret scope on Databricks, from environment variables locally.

They are resolved once at the entry point into the typed configuration (as `SecretStr`), so the
rest of the code never reads the environment and a printed configuration shows `**********`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from pydantic import SecretStr

from ad_marketing_pipeline.config import (
    EventHubsConnectionString,
    EventHubsSource,
    KafkaSource,
    PipelineConfig,
)
from ad_marketing_pipeline.errors import ConfigError


class SecretReader(Protocol):
    """What `dbutils.secrets` offers: one secret by scope and key."""

    def get(self, scope: str, key: str) -> str: ...


def resolve_secret(
    setting: str,
    *,
    given: SecretStr | None,
    scope: str | None,
    key: str,
    env_var: str,
    environ: Mapping[str, str],
    secret_reader: SecretReader | None,
) -> SecretStr:
    """The secret from the config, else the secret scope (Databricks), else `env_var`."""
    if given is not None and given.get_secret_value():
        return given
    if secret_reader is not None and scope:
        try:
            return SecretStr(secret_reader.get(scope, key))
        except Exception as error:  # dbutils raises its own exception types
            raise ConfigError(
                f"{setting}: cannot read secret {key!r} from secret scope {scope!r} "
                f"({type(error).__name__}); create it with "
                f"`databricks secrets put-secret {scope} {key}`"
            ) from None
    value = environ.get(env_var, "")
    if value:
        return SecretStr(value)
    where = f"secret {key!r} in secret scope {scope!r} on Databricks, or " if scope else ""
    raise ConfigError(
        f"{setting} is missing: set {where}the environment variable {env_var} "
        f"(or {setting} in the configuration)"
    )


def with_source_secrets(
    config: PipelineConfig, *, environ: Mapping[str, str], secret_reader: SecretReader | None
) -> PipelineConfig:
    """The configuration with the source's secret filled in; a missing secret is a
    `ConfigError` naming where it was looked for."""
    source = config.source
    if isinstance(source, EventHubsSource):
        auth = source.auth
        field = (
            "connection_string" if isinstance(auth, EventHubsConnectionString) else "client_secret"
        )
        secret = resolve_secret(
            f"source.auth.{field}",
            given=getattr(auth, field),
            scope=auth.secret_scope,
            key=auth.secret_key,
            env_var=auth.env_var,
            environ=environ,
            secret_reader=secret_reader,
        )
        new_auth = auth.model_copy(update={field: secret})
        return config.model_copy(update={"source": source.model_copy(update={"auth": new_auth})})
    if isinstance(source, KafkaSource) and source.security_protocol.startswith("SASL"):
        secret = resolve_secret(
            "source.sasl_password",
            given=source.sasl_password,
            scope=None,
            key="kafka-sasl-password",
            env_var=source.sasl_password_env,
            environ=environ,
            secret_reader=secret_reader,
        )
        return config.model_copy(
            update={"source": source.model_copy(update={"sasl_password": secret})}
        )
    return config
