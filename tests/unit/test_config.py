"""Configuration: conf/<env>.yml, overrides, validation errors a person can act on, secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ad_marketing_pipeline.config import (
    EventHubsConnectionString,
    EventHubsSource,
    FilesSource,
    KafkaSource,
    TableKey,
    load_config,
    redacted_dump,
)
from ad_marketing_pipeline.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]
SECRET = "Endpoint=sb://ns/;SharedAccessKeyName=k;SharedAccessKey=TOP-SECRET-VALUE"


def write_conf(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "conf.yml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("env", ["local", "dev", "prod"])
def test_shipped_environments_load(env: str) -> None:
    config = load_config(env, environ={"AD_PIPELINE_CONF_DIR": str(REPO_ROOT / "conf")})
    assert config.env == env
    assert config.schema_name == "ad_marketing"


def test_shipped_environments_have_the_same_keys() -> None:
    def keys(data: dict[str, object], prefix: str = "") -> set[str]:
        found = set()
        for key, value in data.items():
            if key == "source":  # one shape per source kind
                continue
            found.add(prefix + key)
            if isinstance(value, dict):
                found |= keys(value, f"{prefix}{key}.")
        return found

    local, dev, prod = (
        yaml.safe_load((REPO_ROOT / "conf" / f"{env}.yml").read_text())
        for env in ("local", "dev", "prod")
    )
    assert keys(local) == keys(dev) == keys(prod)


def test_local_yml_lists_the_built_in_defaults(tmp_path: Path) -> None:
    shipped = load_config("local", environ={"AD_PIPELINE_CONF_DIR": str(REPO_ROOT / "conf")})
    built_in = load_config("local", environ={"AD_PIPELINE_CONF_DIR": str(tmp_path)})
    assert shipped == built_in


def test_local_defaults_put_every_path_under_the_root(tmp_path: Path) -> None:
    config = load_config(
        "local", environ={"AD_PIPELINE_CONF_DIR": str(REPO_ROOT / "conf")}, cwd=tmp_path
    )
    assert isinstance(config.source, FilesSource)
    assert config.path("warehouse") == f"{tmp_path}/.pipeline/warehouse"
    assert config.landing_path == f"{tmp_path}/.pipeline/landing"
    assert config.checkpoint("bronze_files") == f"{tmp_path}/.pipeline/checkpoints/bronze_files"
    assert config.table(TableKey.BRONZE_EVENTS) == "ad_marketing.bronze_ad_events"


def test_two_roots_never_share_a_path(tmp_path: Path) -> None:
    conf_dir = {"AD_PIPELINE_CONF_DIR": str(REPO_ROOT / "conf")}
    first = load_config("local", environ=conf_dir, overrides=[f"paths.root={tmp_path / 'a'}"])
    second = load_config("local", environ=conf_dir, overrides=[f"paths.root={tmp_path / 'b'}"])
    assert first.path("warehouse") != second.path("warehouse")
    assert first.path("landing") != second.path("landing")
    assert first.checkpoint("bronze") != second.checkpoint("bronze")


def test_catalog_qualifies_table_names(tmp_path: Path) -> None:
    config = load_config(conf_file=write_conf(tmp_path, "catalog: main\nschema: ads\n"))
    assert (
        config.table(TableKey.GOLD_LATEST_SERVING_STATUS) == "main.ads.gold_latest_serving_status"
    )


def test_flags_override_environment_which_overrides_the_file(tmp_path: Path) -> None:
    path = write_conf(tmp_path, "schema: from_file\nbudget: {period: day}\n")
    environ = {"AD_PIPELINE__SCHEMA": "from_env", "AD_PIPELINE__BUDGET__PERIOD": "month"}
    from_env = load_config(conf_file=path, environ=environ)
    assert (from_env.schema_name, from_env.budget.period) == ("from_env", "month")
    from_flag = load_config(conf_file=path, environ=environ, overrides=["schema=from_flag"])
    assert (from_flag.schema_name, from_flag.budget.period) == ("from_flag", "month")


def test_source_kind_defaults_to_files(tmp_path: Path) -> None:
    config = load_config(conf_file=write_conf(tmp_path, "source: {max_files_per_trigger: 2}\n"))
    assert config.source == FilesSource(max_files_per_trigger=2)


def test_override_values_are_typed(tmp_path: Path) -> None:
    path = write_conf(tmp_path, "schema: s\nsource: {kind: kafka, bootstrap_servers: b:9092}\n")
    config = load_config(
        conf_file=path,
        overrides=["source.topics=[a, b]", "source.max_offsets_per_trigger=5000"],
    )
    assert isinstance(config.source, KafkaSource)
    assert config.source.topics == ["a", "b"]
    assert config.source.max_offsets_per_trigger == 5000


@pytest.mark.parametrize(
    ("text", "named_key", "allowed"),
    [
        ("schema: s\nbudgett: {period: day}\n", "budgett", "unknown key"),
        ("schema: s\nbudget: {perid: day}\n", "budget.perid", "unknown key"),
        ("schema: s\nbudget: {period: week}\n", "budget.period", "'day' or 'month'"),
        ("schema: s\nquality: {max_payload_bytes: lots}\n", "quality.max_payload_bytes", "integer"),
        ("schema: s\nsource: {kind: kafka, topics: [t]}\n", "source.bootstrap_servers", "required"),
        ("schema: s\nsource: {kind: pigeon}\n", "source.kind", "'files', 'kafka', 'eventhubs'"),
        ("schema: bad-name\n", "schema", "pattern"),
        ("catalog: 7\n", "catalog", "string"),
        (
            "schema: s\nsource: {kind: eventhubs, namespace: n, event_hub: h, "
            "auth: {mode: service_principal, client_id: c}}\n",
            "source.auth.tenant_id",
            "required",
        ),
        ("schema: s\nbudget: {timezone: Mars/Olympus}\n", "budget.timezone", "IANA time zone"),
        ("schema: s\nserving: {processing_time: often}\n", "serving.processing_time", "interval"),
    ],
)
def test_bad_configuration_names_key_value_and_what_is_allowed(
    tmp_path: Path, text: str, named_key: str, allowed: str
) -> None:
    path = write_conf(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_config(conf_file=path)
    message = str(raised.value)
    assert f"  {named_key}:" in message
    assert allowed in message
    assert str(path) in message


def test_bad_value_is_quoted_in_the_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"budget\.period: .* \(got 'week'\)"):
        load_config(conf_file=write_conf(tmp_path, "schema: s\nbudget: {period: week}\n"))


def test_missing_file_and_malformed_yaml_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("staging", environ={"AD_PIPELINE_CONF_DIR": str(tmp_path)})
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(conf_file=write_conf(tmp_path, "schema: [unclosed\n"))
    with pytest.raises(ConfigError, match="must look like"):
        load_config(conf_file=write_conf(tmp_path, "schema: s\n"), overrides=["no-equals"])


def test_configuration_is_frozen(tmp_path: Path) -> None:
    config = load_config(conf_file=write_conf(tmp_path, "schema: s\n"))
    with pytest.raises(ValueError, match="frozen"):
        attribute = "schema_name"
        setattr(config, attribute, "other")


def test_printed_configuration_shows_no_secret(tmp_path: Path) -> None:
    path = write_conf(
        tmp_path,
        "schema: s\nsource: {kind: eventhubs, namespace: n, event_hub: h, "
        "auth: {mode: connection_string}}\n",
    )
    config = load_config(
        conf_file=path, environ={"AD_PIPELINE__SOURCE__AUTH__CONNECTION_STRING": SECRET}
    )
    assert isinstance(config.source, EventHubsSource)
    assert isinstance(config.source.auth, EventHubsConnectionString)
    assert config.source.auth.connection_string is not None
    assert config.source.auth.connection_string.get_secret_value() == SECRET
    for printed in (
        str(config),
        repr(config),
        config.model_dump_json(),
        str(redacted_dump(config)),
    ):
        assert "TOP-SECRET-VALUE" not in printed
    assert redacted_dump(config)["source"]["auth"]["connection_string"] == "**********"


def test_secret_is_redacted_in_validation_errors(tmp_path: Path) -> None:
    path = write_conf(
        tmp_path,
        "schema: s\nsource: {kind: kafka, bootstrap_servers: b, topics: [t], "
        "sasl_password: [TOP-SECRET-VALUE]}\n",
    )
    with pytest.raises(ConfigError) as raised:
        load_config(conf_file=path)
    assert "source.sasl_password:" in str(raised.value)
    assert "TOP-SECRET-VALUE" not in str(raised.value)
