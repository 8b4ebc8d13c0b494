"""Where the events come from: JSON-lines files in the landing folder, an Apache Kafka topic,
or Azure Event Hubs (through its Kafka endpoint). `SourceConfig` is their union, told apart by
`kind`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, PositiveInt, SecretStr, model_validator

from ad_marketing_pipeline.config.base import _Frozen


class FilesSource(_Frozen):
    """JSON-lines files dropped in the landing folder (Auto Loader on Databricks)."""

    kind: Literal["files"] = "files"
    path: str | None = Field(default=None, description="defaults to paths.landing")
    file_pattern: str = "*.jsonl"
    max_files_per_trigger: PositiveInt | None = None


KafkaSecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
KafkaSaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


# The local broker of `make kafka` / `ad-pipeline kafka-broker`, and the topic the CLI uses
# with it when the configuration names no Kafka source (`run --source kafka`,
# `generate --to kafka`).
LOCAL_KAFKA_BOOTSTRAP = "127.0.0.1:9092"
LOCAL_KAFKA_TOPIC = "ad-events"


class KafkaSource(_Frozen):
    """An Apache Kafka topic (or topics, or a pattern)."""

    kind: Literal["kafka"]
    bootstrap_servers: Annotated[str, Field(min_length=1)]
    topics: list[str] = Field(default_factory=list)
    topic_pattern: str | None = None
    starting_offsets: str = "earliest"
    max_offsets_per_trigger: PositiveInt | None = None
    fail_on_data_loss: bool = True
    security_protocol: KafkaSecurityProtocol = "PLAINTEXT"
    sasl_mechanism: KafkaSaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    sasl_password_env: str = "KAFKA_SASL_PASSWORD"
    options: dict[str, str] = Field(default_factory=dict, description="extra kafka.* options")

    @model_validator(mode="after")
    def _one_subscription(self) -> KafkaSource:
        if bool(self.topics) == bool(self.topic_pattern):
            raise ValueError("set exactly one of topics (a list) or topic_pattern (a regex)")
        if self.security_protocol.startswith("SASL") and not (
            self.sasl_mechanism and self.sasl_username
        ):
            raise ValueError(
                f"security_protocol {self.security_protocol} needs sasl_mechanism and "
                "sasl_username (the password comes from sasl_password or its env variable)"
            )
        return self


class EventHubsConnectionString(_Frozen):
    """Event Hubs auth with a connection string (SASL PLAIN, user `$ConnectionString`)."""

    mode: Literal["connection_string"]
    connection_string: SecretStr | None = None
    secret_scope: str | None = None
    secret_key: str = "eventhubs-connection-string"
    env_var: str = "EVENTHUBS_CONNECTION_STRING"


class EventHubsServicePrincipal(_Frozen):
    """Event Hubs auth as an Entra ID service principal (OAUTHBEARER, client credentials)."""

    mode: Literal["service_principal"]
    tenant_id: Annotated[str, Field(min_length=1)]
    client_id: Annotated[str, Field(min_length=1)]
    client_secret: SecretStr | None = None
    secret_scope: str | None = None
    secret_key: str = "eventhubs-client-secret"
    env_var: str = "EVENTHUBS_CLIENT_SECRET"
    token_endpoint: str | None = Field(
        default=None,
        description="OAuth 2.0 token endpoint of the client-credentials flow; default: Entra "
        "ID's for tenant_id (https://login.microsoftonline.com/<tenant_id>/oauth2/v2.0/token). "
        "Set it only for a stand-in (the local secured broker's token service) or a sovereign "
        "cloud",
    )


EventHubsAuth = Annotated[
    EventHubsConnectionString | EventHubsServicePrincipal, Field(discriminator="mode")
]


class EventHubsSource(_Frozen):
    """Azure Event Hubs read through its Kafka-compatible endpoint (port 9093)."""

    kind: Literal["eventhubs"]
    namespace: Annotated[str, Field(min_length=1, description="name or host name")]
    event_hub: Annotated[str, Field(min_length=1)]
    consumer_group: str = "$Default"
    auth: EventHubsAuth
    bootstrap_servers: str | None = Field(
        default=None,
        description="host:port of the Kafka endpoint to connect to; default: the namespace's "
        "(<namespace host>:9093). Set it only for a stand-in such as the local secured broker "
        "(`ad-pipeline kafka-broker --secured`) or a private endpoint's host name",
    )
    ssl_ca_file: str | None = Field(
        default=None,
        description="PEM file of the CA certificates to trust for the endpoint's TLS "
        "certificate, instead of the JVM's default trust store; Azure's endpoints chain to a "
        "public CA and need none",
    )
    options: dict[str, str] = Field(
        default_factory=dict,
        description="extra kafka.* client options (e.g. sasl.login.refresh.buffer.seconds)",
    )
    starting_offsets: str = "earliest"
    max_offsets_per_trigger: PositiveInt | None = None
    fail_on_data_loss: bool = True
    # Kafka client settings Microsoft recommends for Event Hubs' Kafka endpoint.
    request_timeout_ms: PositiveInt = 60_000
    session_timeout_ms: PositiveInt = 30_000
    metadata_max_age_ms: PositiveInt = 180_000
    connections_max_idle_ms: PositiveInt = 180_000


SourceConfig = Annotated[FilesSource | KafkaSource | EventHubsSource, Field(discriminator="kind")]
