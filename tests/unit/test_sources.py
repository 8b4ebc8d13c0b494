"""Source option builders (Kafka, Event Hubs) and secret resolution; no broker needed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from pydantic import SecretStr

from ad_marketing_pipeline.config import (
    EventHubsConnectionString,
    EventHubsServicePrincipal,
    EventHubsSource,
    KafkaSource,
    PipelineConfig,
    redacted_dump,
)
from ad_marketing_pipeline.errors import ConfigError
from ad_marketing_pipeline.secrets import with_source_secrets
from ad_marketing_pipeline.sources.eventhubs import eventhubs_kafka_options, namespace_host
from ad_marketing_pipeline.sources.files import NO_MAX_FILE_AGE, landing_file_options
from ad_marketing_pipeline.sources.kafka import kafka_options

CONNECTION_STRING = (
    "Endpoint=sb://ads-ns.servicebus.windows.net/;SharedAccessKeyName=listen;"
    "SharedAccessKey=S3CRET-KEY="
)
CLIENT_SECRET = "client-S3CRET"


def eventhubs_config(auth: dict[str, Any], **source: Any) -> PipelineConfig:
    return PipelineConfig.model_validate(
        {
            "env": "test",
            "schema": "ads",
            "source": {
                "kind": "eventhubs",
                "namespace": "ads-ns",
                "event_hub": "ad-events",
                "auth": auth,
                **source,
            },
        }
    )


def resolved(config: PipelineConfig, environ: Mapping[str, str]) -> EventHubsSource:
    source = with_source_secrets(config, environ=environ, secret_reader=None).source
    assert isinstance(source, EventHubsSource)
    return source


COMMON_EVENTHUBS_OPTIONS = {
    "kafka.bootstrap.servers": "ads-ns.servicebus.windows.net:9093",
    "subscribe": "ad-events",
    "groupIdPrefix": "$Default",
    "kafka.security.protocol": "SASL_SSL",
    "kafka.request.timeout.ms": "60000",
    "kafka.session.timeout.ms": "30000",
    "kafka.metadata.max.age.ms": "180000",
    "kafka.connections.max.idle.ms": "180000",
    "startingOffsets": "earliest",
    "failOnDataLoss": "true",
    "includeHeaders": "true",
}


@pytest.mark.parametrize(("shaded", "prefix"), [(False, ""), (True, "kafkashaded.")])
def test_connection_string_options(shaded: bool, prefix: str) -> None:
    config = eventhubs_config({"mode": "connection_string"})
    source = resolved(config, {"EVENTHUBS_CONNECTION_STRING": CONNECTION_STRING})

    options = eventhubs_kafka_options(source, shaded=shaded)

    assert options == {
        **COMMON_EVENTHUBS_OPTIONS,
        "kafka.sasl.mechanism": "PLAIN",
        "kafka.sasl.jaas.config": (
            f"{prefix}org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'username="$ConnectionString" password="{CONNECTION_STRING}";'
        ),
    }


@pytest.mark.parametrize(("shaded", "prefix"), [(False, ""), (True, "kafkashaded.")])
def test_service_principal_options(shaded: bool, prefix: str) -> None:
    config = eventhubs_config(
        {"mode": "service_principal", "tenant_id": "tenant-1", "client_id": "app-1"},
        max_offsets_per_trigger=5000,
        starting_offsets="latest",
    )
    source = resolved(config, {"EVENTHUBS_CLIENT_SECRET": CLIENT_SECRET})

    options = eventhubs_kafka_options(source, shaded=shaded)

    assert options == {
        **COMMON_EVENTHUBS_OPTIONS,
        "startingOffsets": "latest",
        "maxOffsetsPerTrigger": "5000",
        "kafka.sasl.mechanism": "OAUTHBEARER",
        "kafka.sasl.jaas.config": (
            f"{prefix}org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule "
            f'required clientId="app-1" clientSecret="{CLIENT_SECRET}" '
            'scope="https://ads-ns.servicebus.windows.net/.default" ssl.protocol="SSL";'
        ),
        "kafka.sasl.oauthbearer.token.endpoint.url": (
            "https://login.microsoftonline.com/tenant-1/oauth2/v2.0/token"
        ),
        "kafka.sasl.login.callback.handler.class": (
            f"{prefix}org.apache.kafka.common.security.oauthbearer.secured."
            "OAuthBearerLoginCallbackHandler"
        ),
    }


def test_namespace_may_be_a_host_name() -> None:
    assert namespace_host("ads-ns") == "ads-ns.servicebus.windows.net"
    assert namespace_host("ads-ns.servicebus.chinacloudapi.cn") == (
        "ads-ns.servicebus.chinacloudapi.cn"
    )


@pytest.mark.parametrize(
    ("auth", "environ", "secret"),
    [
        (
            {"mode": "connection_string"},
            {"EVENTHUBS_CONNECTION_STRING": CONNECTION_STRING},
            "S3CRET-KEY",
        ),
        (
            {"mode": "service_principal", "tenant_id": "t", "client_id": "c"},
            {"EVENTHUBS_CLIENT_SECRET": CLIENT_SECRET},
            CLIENT_SECRET,
        ),
    ],
)
def test_secret_is_redacted_in_every_string_form_of_the_config(
    auth: dict[str, Any], environ: dict[str, str], secret: str
) -> None:
    config = with_source_secrets(eventhubs_config(auth), environ=environ, secret_reader=None)
    printed = [
        str(config),
        repr(config),
        f"{config}",
        config.model_dump_json(),
        str(config.model_dump()),
        str(redacted_dump(config)),
        str(config.source),
        repr(config.source),
    ]
    for text in printed:
        assert secret not in text


@pytest.mark.parametrize(
    ("auth", "setting", "env_var"),
    [
        (
            {"mode": "connection_string"},
            "source.auth.connection_string",
            "EVENTHUBS_CONNECTION_STRING",
        ),
        (
            {"mode": "service_principal", "tenant_id": "t", "client_id": "c"},
            "source.auth.client_secret",
            "EVENTHUBS_CLIENT_SECRET",
        ),
    ],
)
def test_missing_secret_is_a_clear_config_error(
    auth: dict[str, Any], setting: str, env_var: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        with_source_secrets(eventhubs_config(auth), environ={}, secret_reader=None)
    assert setting in str(raised.value)
    assert env_var in str(raised.value)


class FakeSecretScope:
    """Stands in for `dbutils.secrets` (Databricks only)."""

    def __init__(self, secrets: dict[tuple[str, str], str]) -> None:
        self.secrets = secrets

    def get(self, scope: str, key: str) -> str:
        try:
            return self.secrets[(scope, key)]
        except KeyError:
            raise RuntimeError(
                f"Secret does not exist with scope: {scope} and key: {key}"
            ) from None


def test_secret_comes_from_the_secret_scope_on_databricks() -> None:
    config = eventhubs_config({"mode": "connection_string", "secret_scope": "ads"})
    scope = FakeSecretScope({("ads", "eventhubs-connection-string"): CONNECTION_STRING})

    source = with_source_secrets(config, environ={}, secret_reader=scope).source

    assert isinstance(source, EventHubsSource)
    assert isinstance(source.auth, EventHubsConnectionString)
    assert source.auth.connection_string == SecretStr(CONNECTION_STRING)


def test_absent_scope_secret_names_scope_and_key() -> None:
    config = eventhubs_config(
        {"mode": "service_principal", "tenant_id": "t", "client_id": "c", "secret_scope": "ads"}
    )
    with pytest.raises(ConfigError, match="'eventhubs-client-secret' from secret scope 'ads'"):
        with_source_secrets(config, environ={}, secret_reader=FakeSecretScope({}))


def test_secret_given_in_config_wins() -> None:
    config = eventhubs_config(
        {"mode": "service_principal", "tenant_id": "t", "client_id": "c", "client_secret": "x"}
    )
    source = with_source_secrets(config, environ={}, secret_reader=None).source
    assert isinstance(source, EventHubsSource)
    assert isinstance(source.auth, EventHubsServicePrincipal)
    assert source.auth.client_secret == SecretStr("x")


def test_kafka_options_with_topics_pattern_and_sasl() -> None:
    plain = KafkaSource(kind="kafka", bootstrap_servers="b:9092", topics=["a", "b"])
    assert kafka_options(plain) == {
        "kafka.bootstrap.servers": "b:9092",
        "kafka.security.protocol": "PLAINTEXT",
        "subscribe": "a,b",
        "startingOffsets": "earliest",
        "failOnDataLoss": "true",
        "includeHeaders": "true",
    }
    pattern = KafkaSource(
        kind="kafka",
        bootstrap_servers="b:9092",
        topic_pattern="ads-.*",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="svc",
        sasl_password=SecretStr('pa"ss'),
        options={"client.id": "pipeline", "kafka.fetch.max.bytes": "1048576"},
    )
    options = kafka_options(pattern)
    assert options["subscribePattern"] == "ads-.*"
    assert "subscribe" not in options
    assert options["kafka.sasl.mechanism"] == "SCRAM-SHA-512"
    assert options["kafka.sasl.jaas.config"] == (
        'org.apache.kafka.common.security.scram.ScramLoginModule required username="svc" '
        'password="pa\\"ss";'
    )
    assert options["kafka.client.id"] == "pipeline"
    assert options["kafka.fetch.max.bytes"] == "1048576"


def test_kafka_config_needs_one_subscription() -> None:
    with pytest.raises(ValueError, match="exactly one of topics"):
        KafkaSource(kind="kafka", bootstrap_servers="b", topics=["a"], topic_pattern="a.*")


def test_every_landing_file_is_read_once_whatever_its_modification_time_or_name() -> None:
    local = landing_file_options(
        file_pattern="*.jsonl", max_files_per_trigger=2, use_auto_loader=False
    )
    assert local == {
        "wholetext": "true",
        "pathGlobFilter": "*.jsonl",
        "maxFileAge": NO_MAX_FILE_AGE,
        "maxFilesPerTrigger": "2",
    }
    auto_loader = landing_file_options(
        file_pattern="*.jsonl", max_files_per_trigger=None, use_auto_loader=True
    )
    assert auto_loader["cloudFiles.useIncrementalListing"] == "false"
    assert auto_loader["cloudFiles.includeExistingFiles"] == "true"
    assert not any("maxfileage" in key.lower() or "modified" in key.lower() for key in auto_loader)


def test_a_stand_in_endpoint_token_url_and_ca_are_the_only_overrides() -> None:
    config = eventhubs_config(
        {
            "mode": "service_principal",
            "tenant_id": "tenant-1",
            "client_id": "app-1",
            "token_endpoint": "http://127.0.0.1:8080/tenant-1/oauth2/v2.0/token",
        },
        bootstrap_servers="localhost:19093",
        ssl_ca_file="/tmp/ca.pem",
        options={"sasl.login.refresh.buffer.seconds": "5"},
    )
    source = resolved(config, {"EVENTHUBS_CLIENT_SECRET": CLIENT_SECRET})

    options = eventhubs_kafka_options(source, shaded=False)

    assert options["kafka.bootstrap.servers"] == "localhost:19093"
    assert options["kafka.ssl.truststore.type"] == "PEM"
    assert options["kafka.ssl.truststore.location"] == "/tmp/ca.pem"
    assert options["kafka.sasl.oauthbearer.token.endpoint.url"] == (
        "http://127.0.0.1:8080/tenant-1/oauth2/v2.0/token"
    )
    assert options["kafka.sasl.login.refresh.buffer.seconds"] == "5"
    # The scope is still the namespace's, as on Azure.
    assert (
        'scope="https://ads-ns.servicebus.windows.net/.default"'
        in (options["kafka.sasl.jaas.config"])
    )


def test_a_connection_string_as_the_endpoint_is_refused_without_showing_it() -> None:
    config = eventhubs_config({"mode": "connection_string"}, bootstrap_servers=CONNECTION_STRING)
    source = resolved(config, {"EVENTHUBS_CONNECTION_STRING": CONNECTION_STRING})

    with pytest.raises(ConfigError) as raised:
        eventhubs_kafka_options(source, shaded=False)

    assert "S3CRET" not in str(raised.value)
