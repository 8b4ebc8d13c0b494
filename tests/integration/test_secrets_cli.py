"""The real CLI, in child processes, given one distinctive secret every way a secret comes in:
the secret is in none of its output, none of the files of its run (Delta tables and logs,
checkpoints, Spark's event log) and none of its tables, whether the command succeeds or fails."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ad_marketing_pipeline.config import KafkaSource
from ad_marketing_pipeline.devtools.generator import GeneratorSettings, write_landing_files
from ad_marketing_pipeline.sources.kafka import kafka_options
from ad_marketing_pipeline.spark import register_warehouse_tables
from helpers import REPO_ROOT

pytestmark = pytest.mark.slow

SECRET = "s3cr3t-7f1c9e-DO-NOT-LEAK"
JAAS = (
    "org.apache.kafka.common.security.plain.PlainLoginModule required "
    f'username="u" password="{SECRET}";'
)
CONNECTION_STRING = (
    f"Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey={SECRET}"
)
# Settings that hold the secret in spark.conf: an ADLS account key, a SAS token, an OAuth
# client secret (harmless locally: no Azure file system is read).
SECRET_SPARK_CONF = {
    "spark.hadoop.fs.azure.account.key.acct.dfs.core.windows.net": SECRET,
    "spark.hadoop.fs.azure.sas.container.acct.blob.core.windows.net": SECRET,
    "spark.hadoop.fs.azure.account.oauth2.client.secret.acct.dfs.core.windows.net": SECRET,
}
CLI_TIMEOUT_SECONDS = 180


@dataclass(frozen=True)
class Finished:
    returncode: int
    output: str  # stdout and stderr


def run_cli(*args: str, environ: dict[str, str] | None = None) -> Finished:
    """`python -m ad_marketing_pipeline.cli ARGS` in its own process group; killed (with its
    JVM) and failed if it outlives CLI_TIMEOUT_SECONDS."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("AD_PIPELINE")}
    process = subprocess.Popen(
        [sys.executable, "-m", "ad_marketing_pipeline.cli", *args],
        cwd=REPO_ROOT,
        env={**inherited, **(environ or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=CLI_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"ad-pipeline {' '.join(args)} ran longer than {CLI_TIMEOUT_SECONDS} s")
    output = out.decode(errors="replace") + err.decode(errors="replace")
    return Finished(process.returncode, output)


def write_conf(tmp_path: Path, conf: dict[str, Any]) -> tuple[Path, Path]:
    """conf.yml beside (not under) the run's root folder, so that the root holds only what
    the pipeline writes (and landing files). Spark writes its event log, which records every
    setting and every query plan, under the root. Returns (conf file, root)."""
    root = tmp_path / "root"
    (root / "eventlog").mkdir(parents=True)
    given_spark = conf.get("spark", {})
    spark_conf = {
        "spark.eventLog.enabled": "true",
        "spark.eventLog.dir": str(root / "eventlog"),
        "spark.eventLog.compress": "false",  # searchable as bytes
        **given_spark.get("conf", {}),
    }
    spark = {"master": "local[2]", "shuffle_partitions": 2, **given_spark, "conf": spark_conf}
    data = {
        "paths": {"root": str(root)},
        "schema": f"secrets_{uuid.uuid4().hex[:8]}",
        **conf,
        "spark": spark,
    }
    conf_file = tmp_path / "conf.yml"
    conf_file.write_text(yaml.safe_dump(data))
    return conf_file, root


def files_holding_the_secret(root: Path) -> list[str]:
    return [
        str(path.relative_to(root))
        for path in sorted(root.rglob("*"))
        if path.is_file() and SECRET.encode() in path.read_bytes()
    ]


def tables_holding_the_secret(spark: SparkSession, root: Path, schema: str) -> list[str]:
    """The tables of the run (registered from its warehouse folder) with a row holding the
    secret in any column, nested ones included."""
    tables = register_warehouse_tables(spark, str(root / "warehouse"), schema)
    assert tables, "the run created no table"
    holding = []
    for table in tables:
        frame = spark.table(f"`{schema}`.`{table}`")
        as_text = F.to_json(F.struct(*[F.col(f"`{name}`") for name in frame.columns]))
        if frame.where(as_text.contains(SECRET)).limit(1).count():
            holding.append(table)
    return holding


def closed_local_port() -> int:
    """A local port nothing listens on (taken, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# ---------------------------------------------------------------------------------------------
# `config`, and configuration errors
# ---------------------------------------------------------------------------------------------

KAFKA_FLAGS = [
    "--set",
    "source.kind=kafka",
    "--set",
    "source.bootstrap_servers=x:9092",
    "--set",
    "source.topics=[t]",
    "--set",
    "source.security_protocol=SASL_SSL",
    "--set",
    "source.sasl_username=u",
]


def test_config_prints_no_secret(tmp_path: Path) -> None:
    source = {
        "kind": "kafka",
        "bootstrap_servers": "x:9092",
        "topics": ["t"],
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "PLAIN",
        "sasl_username": "u",
        "options": {
            "kafka.sasl.jaas.config": JAAS,
            "kafka.ssl.keystore.password": SECRET,
            "kafka.ssl.key.pasword": SECRET,  # misspelled
        },
    }
    conf_file, _ = write_conf(tmp_path, {"source": source, "spark": {"conf": SECRET_SPARK_CONF}})
    finished = run_cli(
        "config",
        "--conf",
        str(conf_file),
        environ={"AD_PIPELINE__SOURCE__SASL_PASSWORD": SECRET},
    )
    assert finished.returncode == 0, finished.output
    assert SECRET not in finished.output
    shown = json.loads(finished.output[finished.output.index("{") :])
    assert shown["source"]["sasl_password"] == "**********"
    assert shown["source"]["options"]["kafka.sasl.jaas.config"] == "**********"
    assert set(shown["spark"]["conf"].values()) >= {"**********"}


@pytest.mark.parametrize(
    ("conf", "flags", "environ"),
    [
        # Issue 15, item 6: a model-level error, whose location is the whole source mapping.
        ({}, KAFKA_FLAGS, {"AD_PIPELINE__SOURCE__SASL_PASSWORD": SECRET}),
        ({}, [*KAFKA_FLAGS, "--set", f"source.sasl_password={SECRET}"], {}),
        ({}, [*KAFKA_FLAGS, "--set", f"source.sasl_password=[{SECRET}"], {}),
        ({}, [*KAFKA_FLAGS, "--set", f"source.sasl_pasword={SECRET}"], {}),
        ({}, KAFKA_FLAGS, {"AD_PIPELINE__SOURCE__SASL_PASWORD": SECRET}),
        ({"spark": {"conf": {"spark.hadoop.fs.azure.account.key.a": [SECRET]}}}, [], {}),
        (
            {
                "source": {
                    "kind": "eventhubs",
                    "namespace": "ns",
                    "event_hub": "h",
                    "auth": CONNECTION_STRING,
                }
            },
            [],
            {},
        ),
    ],
)
def test_configuration_errors_print_no_secret(
    tmp_path: Path, conf: dict[str, Any], flags: list[str], environ: dict[str, str]
) -> None:
    conf_file, _ = write_conf(tmp_path, conf)
    finished = run_cli("config", "--conf", str(conf_file), *flags, environ=environ)
    assert finished.returncode == 2, finished.output
    assert "error:" in finished.output
    assert SECRET not in finished.output


def test_a_yaml_error_on_the_secret_s_line_prints_no_secret(tmp_path: Path) -> None:
    conf_file = tmp_path / "conf.yml"
    conf_file.write_text(f"source:\n  kind: kafka\n  sasl_password: {SECRET}: x\n")
    finished = run_cli("config", "--conf", str(conf_file))
    assert finished.returncode == 2, finished.output
    assert "not valid YAML" in finished.output
    assert SECRET not in finished.output


# ---------------------------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------------------------


def test_a_run_keeps_a_spark_conf_secret_out_of_output_files_and_tables(
    spark: SparkSession, tmp_path: Path
) -> None:
    conf_file, root = write_conf(tmp_path, {"spark": {"conf": SECRET_SPARK_CONF}})
    write_landing_files(GeneratorSettings(events=300, advertisers=3, days=2), root / "landing")
    finished = run_cli("run", "--layers", "bronze", "--trigger", "once", "--conf", str(conf_file))
    assert finished.returncode == 0, finished.output[-3000:]
    assert SECRET not in finished.output
    assert list((root / "eventlog").iterdir()), "Spark wrote no event log"
    assert files_holding_the_secret(root) == []
    schema = yaml.safe_load(conf_file.read_text())["schema"]
    assert tables_holding_the_secret(spark, root, schema) == []


def test_a_failing_kafka_run_keeps_its_secrets_out_of_output_files_and_tables(
    spark: SparkSession, tmp_path: Path
) -> None:
    """SASL to a local port nothing listens on: the stream fails once the client's short
    timeouts run out, with the password (from its environment variable), a secret Kafka option
    and spark.conf secrets in play."""
    source = {
        "kind": "kafka",
        "bootstrap_servers": f"127.0.0.1:{closed_local_port()}",
        "topics": ["ad-events"],
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "PLAIN",
        "sasl_username": "u",
        "sasl_password_env": "SECRETS_TEST_SASL_PASSWORD",
        "options": {
            "kafka.ssl.truststore.password": SECRET,
            "kafka.default.api.timeout.ms": "3000",
            "kafka.request.timeout.ms": "2000",
            "kafka.socket.connection.setup.timeout.ms": "500",
            "kafka.socket.connection.setup.timeout.max.ms": "1000",
        },
    }
    conf_file, root = write_conf(tmp_path, {"source": source, "spark": {"conf": SECRET_SPARK_CONF}})
    finished = run_cli(
        "run",
        "--layers",
        "bronze",
        "--trigger",
        "once",
        "--conf",
        str(conf_file),
        environ={"SECRETS_TEST_SASL_PASSWORD": SECRET},
    )
    assert finished.returncode != 0, finished.output[-3000:]
    assert "bronze" in finished.output or "Kafka" in finished.output
    assert SECRET not in finished.output
    assert files_holding_the_secret(root) == []
    schema = yaml.safe_load(conf_file.read_text())["schema"]
    assert tables_holding_the_secret(spark, root, schema) == []


# ---------------------------------------------------------------------------------------------
# Spark's own listings of a Kafka source's options
# ---------------------------------------------------------------------------------------------


def test_a_kafka_source_s_plan_shows_no_secret(
    spark: SparkSession, capsys: pytest.CaptureFixture[str]
) -> None:
    """The suite's session is built like every local one (spark.build_local_session)."""
    source = KafkaSource(
        kind="kafka",
        bootstrap_servers="127.0.0.1:1",
        topics=["t"],
        security_protocol="SASL_SSL",
        sasl_mechanism="PLAIN",
        sasl_username="u",
        sasl_password=SecretStr(SECRET),
        options={"ssl.keystore.password": SECRET, "odd.setting": CONNECTION_STRING},
    )
    frame = spark.readStream.format("kafka").options(**kafka_options(source)).load()
    frame.explain(extended=True)
    shown = capsys.readouterr().out
    assert "kafka.bootstrap.servers" in shown
    assert SECRET not in shown
    assert SECRET not in str(frame._jdf.queryExecution())
