"""No secret in configuration errors or the printed configuration, whichever way it came in:
a YAML file, an `AD_PIPELINE__...` variable, `--set`, a misspelled key, `source.options`,
`spark.conf`, an Event Hubs connection string or a service principal's secret."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from ad_marketing_pipeline.cli import build_parser
from ad_marketing_pipeline.config import (
    KafkaSource,
    PipelineConfig,
    is_secret_key,
    load_config,
    redacted_dump,
    scrub,
    secret_values,
)
from ad_marketing_pipeline.devtools.producer import kafka_producer_config
from ad_marketing_pipeline.errors import ConfigError
from ad_marketing_pipeline.invocation import known_secrets
from ad_marketing_pipeline.secrets import with_source_secrets
from ad_marketing_pipeline.sources.eventhubs import namespace_host
from ad_marketing_pipeline.sources.kafka import kafka_options

SECRET = "s3cr3t-7f1c9e-DO-NOT-LEAK"
CONNECTION_STRING = (
    f"Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey={SECRET}"
)
JAAS = (
    "org.apache.kafka.common.security.plain.PlainLoginModule required "
    f'username="u" password="{SECRET}";'
)
# A SASL Kafka source that lacks sasl_mechanism: invalid as a whole (a model-level error).
KAFKA_WITHOUT_MECHANISM = {
    "kind": "kafka",
    "bootstrap_servers": "x:9092",
    "topics": ["t"],
    "security_protocol": "SASL_SSL",
    "sasl_username": "u",
}
KAFKA_FLAGS = [
    f"source.{key}={json.dumps(value)}" for key, value in KAFKA_WITHOUT_MECHANISM.items()
]
VALID_KAFKA = {**KAFKA_WITHOUT_MECHANISM, "sasl_mechanism": "PLAIN"}


def eventhubs(auth: Any, **source: Any) -> dict[str, Any]:
    return {"kind": "eventhubs", "namespace": "ns", "event_hub": "h", "auth": auth, **source}


def conf_file(tmp_path: Path, data: dict[str, Any] | str) -> Path:
    path = tmp_path / "conf.yml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump({"schema": "s", **data}))
    return path


def config_error(
    tmp_path: Path,
    data: dict[str, Any] | str,
    *,
    environ: dict[str, str] | None = None,
    overrides: list[str] | None = None,
) -> str:
    with pytest.raises(ConfigError) as raised:
        load_config(
            conf_file=conf_file(tmp_path, data),
            environ=environ,
            overrides=overrides or [],
            cwd=tmp_path,
        )
    return str(raised.value)


# ---------------------------------------------------------------------------------------------
# Configuration errors
# ---------------------------------------------------------------------------------------------


def test_password_from_the_environment_is_not_in_a_model_level_error(tmp_path: Path) -> None:
    """Issue 15, item 6: the error's location is the whole `source` mapping."""
    message = config_error(
        tmp_path,
        {},
        environ={"AD_PIPELINE__SOURCE__SASL_PASSWORD": SECRET},
        overrides=KAFKA_FLAGS,
    )
    assert "source: security_protocol SASL_SSL needs sasl_mechanism" in message
    assert SECRET not in message


def test_password_from_the_yaml_file_is_not_in_a_model_level_error(tmp_path: Path) -> None:
    source = {**KAFKA_WITHOUT_MECHANISM, "sasl_password": SECRET}
    message = config_error(tmp_path, {"source": source})
    assert "needs sasl_mechanism" in message
    assert SECRET not in message


def test_password_from_a_set_flag_is_not_in_a_model_level_error(tmp_path: Path) -> None:
    flags = [*KAFKA_FLAGS, f"source.sasl_password={SECRET}"]
    message = config_error(tmp_path, {}, overrides=flags)
    assert "needs sasl_mechanism" in message
    assert SECRET not in message


@pytest.mark.parametrize(
    ("source", "unknown_key"),
    [
        ({**VALID_KAFKA, "sasl_pasword": SECRET}, "source.sasl_pasword"),
        (eventhubs({"mode": "connection_string", "conection_string": CONNECTION_STRING}), None),
        (
            eventhubs(
                {
                    "mode": "service_principal",
                    "tenant_id": "t",
                    "client_id": "c",
                    "client_secrt": SECRET,
                }
            ),
            "source.auth.client_secrt",
        ),
    ],
)
def test_the_value_of_an_unknown_key_is_never_shown(
    tmp_path: Path, source: dict[str, Any], unknown_key: str | None
) -> None:
    message = config_error(tmp_path, {"source": source})
    assert f"{unknown_key or 'source.auth.conection_string'}: unknown key" in message
    assert SECRET not in message


def test_a_misspelled_key_given_in_the_environment_is_not_shown(tmp_path: Path) -> None:
    message = config_error(
        tmp_path,
        {"source": VALID_KAFKA},
        environ={"AD_PIPELINE__SOURCE__SASL_PASWORD": SECRET},
    )
    assert "source.sasl_pasword: unknown key" in message
    assert SECRET not in message


@pytest.mark.parametrize(
    "options",
    [
        {"kafka.sasl.jaas.config": JAAS},
        {"kafka.ssl.keystore.password": SECRET},
        {"kafka.ssl.key.pasword": SECRET},  # misspelled: still a value no error may show
    ],
)
def test_source_options_are_not_shown_with_a_model_level_error(
    tmp_path: Path, options: dict[str, str]
) -> None:
    message = config_error(tmp_path, {"source": {**KAFKA_WITHOUT_MECHANISM, "options": options}})
    assert "needs sasl_mechanism" in message
    assert SECRET not in message


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("source", "kafka.ssl.key.pasword"),  # misspelled, so nothing says it is a secret
        ("source", "kafka.sasl.jaas.config"),
        ("spark", "spark.hadoop.fs.azure.account.key.acct.dfs.core.windows.net"),
        ("spark", "spark.hadoop.fs.azure.sas.container.acct.blob.core.windows.net"),
        ("spark", "spark.some.setting"),
    ],
)
def test_a_bad_value_in_a_free_form_map_is_not_shown(
    tmp_path: Path, section: str, key: str
) -> None:
    """`source.options` and `spark.conf` hold strings; a list there is an error at that key."""
    if section == "source":
        data: dict[str, Any] = {"source": {**VALID_KAFKA, "options": {key: [SECRET]}}}
    else:
        data = {"spark": {"conf": {key: [SECRET]}}}
    message = config_error(tmp_path, data)
    assert key in message
    assert SECRET not in message


@pytest.mark.parametrize(
    "source",
    [
        eventhubs(CONNECTION_STRING),  # the string where the auth mapping belongs
        eventhubs({"mode": "connection_string"}, event_hub=[CONNECTION_STRING]),
        eventhubs({"mode": "connection_string", "connection_string": [CONNECTION_STRING]}),
        eventhubs(
            {"mode": "connection_string", "connection_string": CONNECTION_STRING}, namespace=""
        ),
        eventhubs(
            {
                "mode": "service_principal",
                "tenant_id": "",
                "client_id": "c",
                "client_secret": SECRET,
            }
        ),
    ],
)
def test_event_hubs_secrets_are_not_in_errors(tmp_path: Path, source: dict[str, Any]) -> None:
    message = config_error(tmp_path, {"source": source})
    assert "source." in message
    assert SECRET not in message


def test_a_mapping_in_an_error_is_shown_by_its_keys(tmp_path: Path) -> None:
    source = {**KAFKA_WITHOUT_MECHANISM, "sasl_password": SECRET}
    message = config_error(tmp_path, {"source": source})
    assert "'sasl_password'" in message
    assert "'bootstrap_servers'" in message


def test_an_ordinary_bad_value_is_still_quoted(tmp_path: Path) -> None:
    message = config_error(tmp_path, {"budget": {"period": "week"}, "source": VALID_KAFKA})
    assert "budget.period:" in message
    assert "(got 'week')" in message


def test_malformed_yaml_with_a_secret_on_the_bad_line(tmp_path: Path) -> None:
    text = f"schema: s\nsource:\n  kind: kafka\n  sasl_password: {SECRET}: oops\n"
    message = config_error(tmp_path, text)
    assert "not valid YAML" in message
    assert "line 4" in message
    assert SECRET not in message


@pytest.mark.parametrize(
    ("environ", "overrides"),
    [
        ({"AD_PIPELINE__SOURCE__SASL_PASSWORD": f"[{SECRET}"}, []),
        ({}, [f"source.sasl_password=[{SECRET}"]),
        ({}, [f"source.sasl_password:{SECRET}"]),
        ({}, [f"source.sasl_password {SECRET}"]),
    ],
)
def test_a_malformed_override_is_not_echoed(
    tmp_path: Path, environ: dict[str, str], overrides: list[str]
) -> None:
    message = config_error(tmp_path, {}, environ=environ, overrides=overrides)
    assert "source.sasl_password" in message or "SOURCE__SASL_PASSWORD" in message
    assert SECRET not in message


# ---------------------------------------------------------------------------------------------
# The printed configuration
# ---------------------------------------------------------------------------------------------

SECRET_OPTIONS = {
    "kafka.sasl.jaas.config": JAAS,
    "kafka.ssl.keystore.password": SECRET,
    "kafka.ssl.truststore.password": SECRET,
    "kafka.ssl.keystore.key": SECRET,
    "kafka.sasl.oauthbearer.client.credentials.client.secret": SECRET,
    "kafka.odd.setting": CONNECTION_STRING,  # an innocent name holding a connection string
    "kafka.ssl.key.pasword": SECRET,  # misspelled: no model checks these keys
}
SECRET_CONF = {
    "spark.hadoop.fs.azure.account.key.acct.dfs.core.windows.net": SECRET,
    "spark.hadoop.fs.azure.sas.container.acct.blob.core.windows.net": SECRET,
    "spark.hadoop.fs.azure.sas.fixed.token.acct.dfs.core.windows.net": SECRET,
    "spark.hadoop.fs.azure.account.oauth2.client.secret.acct.dfs.core.windows.net": SECRET,
    "spark.hadoop.fs.s3a.secret.key": SECRET,
    "spark.some.api_key": SECRET,
    "spark.some.private_key": SECRET,
    "spark.some.credentials": SECRET,
    "spark.some.secrt": SECRET,
}
ORDINARY_OPTIONS = {"kafka.request.timeout.ms": "2000", "kafka.sasl.mechanism": "PLAIN"}
ORDINARY_CONF = {
    "spark.sql.shuffle.partitions": "2",
    "spark.hadoop.fs.azure.account.auth.type": "SAS",
}


def test_printed_configuration_masks_secrets_in_free_form_maps(tmp_path: Path) -> None:
    source = {
        **VALID_KAFKA,
        "sasl_password": SECRET,
        "options": {**SECRET_OPTIONS, **ORDINARY_OPTIONS},
    }
    data = {"source": source, "spark": {"conf": {**SECRET_CONF, **ORDINARY_CONF}}}
    config = load_config(conf_file=conf_file(tmp_path, data), cwd=tmp_path)
    shown = redacted_dump(config)
    assert SECRET not in json.dumps(shown)
    for key in SECRET_OPTIONS:
        assert shown["source"]["options"][key] == "**********"
    for key in SECRET_CONF:
        assert shown["spark"]["conf"][key] == "**********"
    # What holds no secret stays readable.
    assert ORDINARY_OPTIONS.items() <= shown["source"]["options"].items()
    assert ORDINARY_CONF.items() <= shown["spark"]["conf"].items()
    assert shown["source"]["sasl_username"] == "u"
    assert shown["source"]["sasl_password_env"] == "KAFKA_SASL_PASSWORD"


@pytest.mark.parametrize(
    ("auth", "environ"),
    [
        ({"mode": "connection_string"}, {"EVENTHUBS_CONNECTION_STRING": CONNECTION_STRING}),
        (
            {"mode": "service_principal", "tenant_id": "t", "client_id": "c"},
            {"EVENTHUBS_CLIENT_SECRET": SECRET},
        ),
    ],
)
def test_printed_configuration_hides_resolved_event_hubs_secrets(
    tmp_path: Path, auth: dict[str, Any], environ: dict[str, str]
) -> None:
    config = load_config(conf_file=conf_file(tmp_path, {"source": eventhubs(auth)}), cwd=tmp_path)
    resolved = with_source_secrets(config, environ=environ, secret_reader=None)
    assert SECRET not in json.dumps(redacted_dump(resolved))
    assert any(SECRET in value for value in secret_values(resolved))


def test_secret_values_lists_every_secret_of_a_configuration(tmp_path: Path) -> None:
    source = {**VALID_KAFKA, "sasl_password": "pw-1", "options": {**SECRET_OPTIONS}}
    data = {"source": source, "spark": {"conf": {**SECRET_CONF, **ORDINARY_CONF}}}
    values = secret_values(load_config(conf_file=conf_file(tmp_path, data), cwd=tmp_path))
    assert {"pw-1", SECRET, JAAS, CONNECTION_STRING} <= values
    assert not set(ORDINARY_CONF.values()) & values


# ---------------------------------------------------------------------------------------------
# The key pattern and scrubbing text
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "sasl_password",
        "SASL_PASSWORD",
        "kafka.ssl.key.passwd",
        "client_secret",
        "oauth_token",
        "connection_string",
        "connectionString",
        "kafka.sasl.jaas.config",
        "sas_token",
        "spark.hadoop.fs.azure.sas.c.acct.blob.core.windows.net",
        "SharedAccessKey",
        "shared_access_key",
        "credentials",
        "api_key",
        "apiKey",
        "fs.azure.account.key.acct.dfs.core.windows.net",
        "private_key",
        "kafka.ssl.keystore.key",
        "Authorization",
        "spark.hadoop.fs.s3a.access.key",
        # One typo away from a secret word.
        "sasl_pasword",
        "kafka.ssl.key.passwrod",
        "conection_string",
        "client_secrt",
        "oauth_tokn",
    ],
)
def test_secret_looking_keys(name: str) -> None:
    assert is_secret_key(name)


@pytest.mark.parametrize(
    "name",
    [
        "sasl_mechanism",
        "sasl_username",
        "kafka.sasl.mechanism",
        "bootstrap_servers",
        "security_protocol",
        "tenant_id",
        "client_id",
        "kafka.request.timeout.ms",
        "spark.sql.shuffle.partitions",
        "spark.hadoop.fs.azure.account.auth.type",
        "starting_offsets",
        "event_hub",
        "namespace",
        "consumer_group",
        "kafka.session.timeout.ms",
        "spark.driver.extraJavaOptions",
        "kafka.ssl.endpoint.identification.algorithm",
    ],
)
def test_ordinary_keys(name: str) -> None:
    assert not is_secret_key(name)


@pytest.mark.parametrize(
    "text",
    [
        f"failed: {JAAS}",
        f"cannot connect with {CONNECTION_STRING} (timed out)",
        f"HashMap(kafka.ssl.keystore.password -> {SECRET}, subscribe -> t)",
        f"HashMap(kafka.sasl.jaas.config -> {JAAS}, subscribe -> t)",
        f"{{'sasl_password': '{SECRET}', 'kind': 'kafka'}}",
        f'{{"client_secret": "{SECRET}"}}',
        f'clientSecret="{SECRET}" scope="https://ns/.default"',
    ],
)
def test_scrub_masks_secret_assignments_in_free_text(text: str) -> None:
    assert SECRET not in scrub(text)


def test_scrub_masks_known_secrets_and_keeps_the_rest() -> None:
    text = f"the kafka stream failed: could not log in as u with {SECRET}; topic t"
    assert scrub(text, {SECRET, ""}) == (
        "the kafka stream failed: could not log in as u with **********; topic t"
    )


# ---------------------------------------------------------------------------------------------
# A connection string in the wrong setting, and what the CLI masks in errors
# ---------------------------------------------------------------------------------------------


def test_a_connection_string_given_as_the_namespace_is_an_error_that_hides_it() -> None:
    with pytest.raises(ConfigError, match=r"source\.namespace") as raised:
        namespace_host(CONNECTION_STRING)
    assert SECRET not in str(raised.value)


def test_a_connection_string_given_as_bootstrap_servers_is_an_error_that_hides_it() -> None:
    source = KafkaSource(kind="kafka", bootstrap_servers=CONNECTION_STRING, topics=["t"])
    for build in (kafka_options, kafka_producer_config):
        with pytest.raises(ConfigError, match=r"source\.bootstrap_servers") as raised:
            build(source)
        assert SECRET not in str(raised.value)


def test_the_cli_knows_the_secrets_to_mask_in_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The secrets of the command's configuration, the one from the environment included."""
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", SECRET)
    source = {**VALID_KAFKA, "options": {"kafka.x.secret": "abcd"}}
    path = conf_file(tmp_path, {"source": source, "spark": {"conf": {"spark.a.token": "tok-123"}}})
    args = build_parser().parse_args(["run", "--conf", str(path)])
    assert {SECRET, "tok-123", "abcd"} <= known_secrets(args)
    assert known_secrets(build_parser().parse_args(["kafka-broker"])) == set()


def test_the_repr_of_a_config_masks_secrets_in_free_form_maps() -> None:
    config = PipelineConfig.model_validate(
        {
            "env": "test",
            "source": {
                "kind": "kafka",
                "bootstrap_servers": "broker:9092",
                "topics": ["t"],
                "options": {"ssl.keystore.password": SECRET, "sasl.jaas.config": JAAS},
            },
            "spark": {
                "conf": {"spark.hadoop.fs.azure.account.key.acct.dfs.core.windows.net": SECRET}
            },
        }
    )
    for text in (repr(config), str(config), repr(config.source), str(config.spark)):
        assert SECRET not in text
