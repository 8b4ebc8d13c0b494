"""Azure Event Hubs through its Kafka-compatible endpoint (port 9093, SASL_SSL).

Two ways to sign in build the Kafka options:
- a connection string: SASL PLAIN with user `$ConnectionString` and the string as password;
- an Entra ID service principal: OAUTHBEARER with the client-credentials flow against the
  tenant's token endpoint, for the scope `https://<namespace host>/.default`.
On Databricks the Kafka client classes are shaded (`kafkashaded.` prefix); locally they are not.
"""

from __future__ import annotations

from ad_marketing_pipeline.config import (
    EventHubsConnectionString,
    EventHubsServicePrincipal,
    EventHubsSource,
)
from ad_marketing_pipeline.errors import ConfigError
from ad_marketing_pipeline.sources.kafka import (
    checked_bootstrap_servers,
    jaas_string,
    reader_options,
)

EVENTHUBS_DOMAIN = "servicebus.windows.net"
EVENTHUBS_KAFKA_PORT = 9093
ENTRA_TOKEN_ENDPOINT = "https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token"
_PLAIN_LOGIN = "org.apache.kafka.common.security.plain.PlainLoginModule"
_OAUTH_LOGIN = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
_OAUTH_CALLBACK = (
    "org.apache.kafka.common.security.oauthbearer.secured.OAuthBearerLoginCallbackHandler"
)


def namespace_host(namespace: str) -> str:
    """`my-namespace` -> `my-namespace.servicebus.windows.net`; a host name is kept. A
    connection string or URL there is an error that does not repeat it (it holds the key)."""
    if any(mark in namespace for mark in ("=", ";", "/")):
        raise ConfigError(
            "source.namespace must be the Event Hubs namespace's name or host name (e.g. "
            f"my-namespace or my-namespace.{EVENTHUBS_DOMAIN}), not a connection string or URL "
            "(its value is not shown); a connection string goes in "
            "source.auth.connection_string, or its environment variable or secret"
        )
    return namespace if "." in namespace else f"{namespace}.{EVENTHUBS_DOMAIN}"


def _connection_string_options(auth: EventHubsConnectionString, prefix: str) -> dict[str, str]:
    if auth.connection_string is None:
        raise ConfigError(
            "source.auth.connection_string is missing: set the environment variable "
            f"{auth.env_var} locally, or secret {auth.secret_key!r} in the secret scope on "
            "Databricks"
        )
    secret = auth.connection_string.get_secret_value()
    return {
        "kafka.sasl.mechanism": "PLAIN",
        "kafka.sasl.jaas.config": (
            f"{prefix}{_PLAIN_LOGIN} required username={jaas_string('$ConnectionString')} "
            f"password={jaas_string(secret)};"
        ),
    }


def _service_principal_options(
    auth: EventHubsServicePrincipal, host: str, prefix: str
) -> dict[str, str]:
    if auth.client_secret is None:
        raise ConfigError(
            "source.auth.client_secret is missing: set the environment variable "
            f"{auth.env_var} locally, or secret {auth.secret_key!r} in the secret scope on "
            "Databricks"
        )
    secret = auth.client_secret.get_secret_value()
    return {
        "kafka.sasl.mechanism": "OAUTHBEARER",
        "kafka.sasl.jaas.config": (
            f"{prefix}{_OAUTH_LOGIN} required clientId={jaas_string(auth.client_id)} "
            f"clientSecret={jaas_string(secret)} "
            f"scope={jaas_string(f'https://{host}/.default')} ssl.protocol={jaas_string('SSL')};"
        ),
        "kafka.sasl.oauthbearer.token.endpoint.url": auth.token_endpoint
        or ENTRA_TOKEN_ENDPOINT.format(tenant_id=auth.tenant_id),
        "kafka.sasl.login.callback.handler.class": f"{prefix}{_OAUTH_CALLBACK}",
    }


def eventhubs_kafka_options(source: EventHubsSource, *, shaded: bool) -> dict[str, str]:
    """Spark Kafka-source options for an event hub. They hold the secret: pass them to Spark
    only, never print them. `shaded` selects Databricks' `kafkashaded.` class names."""
    host = namespace_host(source.namespace)
    prefix = "kafkashaded." if shaded else ""
    endpoint = source.bootstrap_servers or f"{host}:{EVENTHUBS_KAFKA_PORT}"
    options = {
        "kafka.bootstrap.servers": checked_bootstrap_servers(endpoint),
        "subscribe": source.event_hub,
        "groupIdPrefix": source.consumer_group,
        "kafka.security.protocol": "SASL_SSL",
        # Settings Microsoft recommends for Kafka clients of Event Hubs.
        "kafka.request.timeout.ms": str(source.request_timeout_ms),
        "kafka.session.timeout.ms": str(source.session_timeout_ms),
        "kafka.metadata.max.age.ms": str(source.metadata_max_age_ms),
        "kafka.connections.max.idle.ms": str(source.connections_max_idle_ms),
        **reader_options(
            starting_offsets=source.starting_offsets,
            fail_on_data_loss=source.fail_on_data_loss,
            max_offsets_per_trigger=source.max_offsets_per_trigger,
        ),
    }
    if source.ssl_ca_file:
        # Kafka reads a PEM trust store itself (no JKS to build); the file must exist where
        # the Kafka client runs (the driver and every executor).
        options["kafka.ssl.truststore.type"] = "PEM"
        options["kafka.ssl.truststore.location"] = source.ssl_ca_file
    if isinstance(source.auth, EventHubsConnectionString):
        options.update(_connection_string_options(source.auth, prefix))
    else:
        options.update(_service_principal_options(source.auth, host, prefix))
    for key, value in source.options.items():
        options[key if key.startswith("kafka.") else f"kafka.{key}"] = value
    return options
