"""How the local Kafka broker runs: the jars it needs, its `java` command line, and the two files
it reads at start (server.properties for one combined broker + controller node on 127.0.0.1,
and a log4j2.xml that sends the broker log to a file)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from xml.sax.saxutils import quoteattr

from ad_marketing_pipeline.errors import SetupError

__all__ = [
    "REQUIRED_JARS",
    "check_prerequisites",
    "java_command",
    "server_properties",
    "write_log4j_config",
    "write_properties",
]

#: Jar name prefixes that must be in ``jars_dir``; each maps to what it provides.
REQUIRED_JARS: dict[str, str] = {
    "kafka_2.13-": "the broker (kafka.Kafka, kafka.tools.StorageTool)",
    "kafka-clients-": "the Kafka client library",
    "kafka-storage-": "the storage layer",
    "kafka-raft-": "the KRaft quorum",
    "scala-library-": "the Scala runtime",
    "log4j-core-": "log4j2 (the broker log)",
    "log4j-slf4j2-impl-": "the slf4j 2 to log4j2 bridge",
    "slf4j-api-": "slf4j 2",
}


def check_prerequisites(java: str, jars_dir: Path) -> str:
    """Return the java executable; raise SetupError naming everything that is missing."""
    problems: list[str] = []
    executable = shutil.which(java)
    if executable is None:
        problems.append(f"Java was not found ({java!r} is not on PATH); install Java 17 or newer")
    if not jars_dir.is_dir():
        problems.append(f"the Kafka jars folder {jars_dir} does not exist")
    else:
        names = [p.name for p in jars_dir.glob("*.jar")]
        missing = [
            f"{prefix}*.jar ({what})"
            for prefix, what in REQUIRED_JARS.items()
            if not any(n.startswith(prefix) for n in names)
        ]
        if missing:
            problems.append(f"the Kafka jars folder {jars_dir} lacks " + ", ".join(missing))
    if problems or executable is None:
        raise SetupError(
            "The local Kafka broker cannot start: "
            + "; ".join(problems)
            + ". Run `make jars` to download the broker jars from Maven Central."
        )
    return executable


def _escape_property(value: str) -> str:
    """Escape a value for a java.util.Properties file."""
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def server_properties(*, port: int, controller_port: int, data_dir: Path) -> dict[str, str]:
    """server.properties of one combined broker + controller node, PLAINTEXT on `port`."""
    return {
        "process.roles": "broker,controller",
        "node.id": "1",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": (
            f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}"
        ),
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        # Dynamic KRaft quorum (KIP-853): works with `kafka-storage format --standalone`.
        "controller.quorum.bootstrap.servers": f"127.0.0.1:{controller_port}",
        "log.dirs": str(data_dir),
        "num.partitions": "3",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "auto.create.topics.enable": "false",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "3",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "3",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "log.retention.hours": "24",
        "log.segment.bytes": str(64 * 1024 * 1024),
    }


def write_properties(path: Path, props: dict[str, str]) -> None:
    """Write a broker's server.properties."""
    lines = ["# Written by ad_marketing_pipeline.devtools.local_kafka.LocalKafkaBroker"]
    lines += [f"{key}={_escape_property(value)}" for key, value in props.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_log4j_config(path: Path, server_log: Path) -> None:
    """Write a log4j2 config that sends every broker log line to `server_log`, none to stdout."""
    log_file = quoteattr(str(server_log))
    path.write_text(
        f"""<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders>
    <File name="server" fileName={log_file} append="true">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </File>
  </Appenders>
  <Loggers>
    <Logger name="kafka" level="INFO"/>
    <Logger name="org.apache.kafka" level="INFO"/>
    <Logger name="state.change.logger" level="WARN"/>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Root level="WARN">
      <AppenderRef ref="server"/>
    </Root>
  </Loggers>
</Configuration>
""",
        encoding="utf-8",
    )


def java_command(
    java: str,
    heap: str,
    main: str,
    *args: str,
    jars_dir: Path,
    log4j_file: Path,
    logs_dir: Path,
    system_properties: dict[str, str] | None = None,
) -> list[str]:
    """Return a ``java -cp '<jars_dir>/*' <main> <args>`` command line (with extra
    ``-Dkey=value`` system properties)."""
    return [
        java,
        f"-Xmx{heap}",
        "-Xms64m",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        "-Dlog4j2.shutdownHookEnabled=false",
        f"-Dlog4j2.configurationFile={log4j_file}",
        f"-Dkafka.logs.dir={logs_dir}",
        *(f"-D{key}={value}" for key, value in (system_properties or {}).items()),
        "-cp",
        f"{jars_dir.resolve()}{os.sep}*",
        main,
        *args,
    ]
