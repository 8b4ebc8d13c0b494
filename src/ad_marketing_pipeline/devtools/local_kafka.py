"""A real single-node Apache Kafka broker in KRaft mode, run from the Maven Central jars.

No ZooKeeper and no Docker: `make jars` copies the broker and its runtime dependencies into
``.jars/kafka`` and :class:`LocalKafkaBroker` starts it with ``java -cp '<jars_dir>/*'``.
It serves the integration tests and the local demo (see :func:`serve`).
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path
from types import FrameType, TracebackType
from typing import Self
from xml.sax.saxutils import quoteattr

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from ad_marketing_pipeline.errors import SetupError

__all__ = ["REQUIRED_JARS", "LocalKafkaBroker", "find_free_port", "serve"]

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

_BROKER_MAIN = "kafka.Kafka"
_STORAGE_TOOL_MAIN = "kafka.tools.StorageTool"
_LOG_TAIL_LINES = 25


def find_free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _new_cluster_id() -> str:
    """Return a random KRaft cluster id (a Kafka Uuid: URL-safe base64, no padding)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode("ascii")


def _escape_property(value: str) -> str:
    """Escape a value for a java.util.Properties file."""
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    """Return the last ``lines`` lines of a text file, or a note when it does not exist."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"(no {path})"
    return "\n".join(text.splitlines()[-lines:]) or f"({path} is empty)"


def _error_lines(path: Path, limit: int = 10) -> str:
    """Return the first ERROR/FATAL lines of a broker log, each with the line after it."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    picked: list[str] = []
    for index, line in enumerate(lines):
        if " ERROR " in line or " FATAL " in line:
            picked.append(line)
            following = lines[index + 1] if index + 1 < len(lines) else ""
            if following and not following.startswith("["):
                picked.append(f"    {following.strip()}")
            if len(picked) >= 2 * limit:
                break
    return "\n".join(picked)


def _port_open(port: int) -> bool:
    """Return whether something accepts TCP connections on 127.0.0.1:<port>."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class LocalKafkaBroker:
    """A single-node KRaft Kafka broker (broker and controller in one JVM) on 127.0.0.1.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`. Everything it writes
    (config, data, broker log) stays under ``work_dir``; :meth:`stop` removes the data folder
    unless ``keep_data`` is true.
    """

    def __init__(
        self,
        jars_dir: Path,
        work_dir: Path,
        port: int | None = None,
        *,
        java: str = "java",
        heap: str = "512m",
        startup_timeout: float = 60.0,
        keep_data: bool = False,
    ) -> None:
        """Configure the broker; nothing starts before :meth:`start`."""
        self.jars_dir = Path(jars_dir).absolute()
        self.work_dir = Path(work_dir).absolute()
        self._auto_port = port is None
        self.port = port if port is not None else find_free_port()
        self.controller_port = self._other_free_port()
        self.java = java
        self.heap = heap
        self.startup_timeout = startup_timeout
        self.keep_data = keep_data
        self.cluster_id = _new_cluster_id()
        self.startup_seconds: float | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._stdout_file: Path | None = None

    def _other_free_port(self) -> int:
        """Return a free port that differs from the broker port."""
        while True:
            candidate = find_free_port()
            if candidate != self.port:
                return candidate

    # -- paths ------------------------------------------------------------------------------

    @property
    def bootstrap_servers(self) -> str:
        """The ``bootstrap.servers`` value for clients: ``"127.0.0.1:<port>"``."""
        return f"127.0.0.1:{self.port}"

    @property
    def config_dir(self) -> Path:
        """Folder of server.properties and log4j2.xml."""
        return self.work_dir / "config"

    @property
    def data_dir(self) -> Path:
        """The broker's ``log.dirs`` (topic partitions and the KRaft metadata log)."""
        return self.work_dir / "data"

    @property
    def logs_dir(self) -> Path:
        """Folder of the broker log (``server.log``) and the JVM's stdout/stderr."""
        return self.work_dir / "logs"

    @property
    def properties_file(self) -> Path:
        """The broker's server.properties."""
        return self.config_dir / "server.properties"

    @property
    def log4j_file(self) -> Path:
        """The log4j2 configuration that sends the broker log to :attr:`server_log`."""
        return self.config_dir / "log4j2.xml"

    @property
    def server_log(self) -> Path:
        """The broker log file."""
        return self.logs_dir / "server.log"

    @property
    def is_running(self) -> bool:
        """Whether the broker JVM is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """Process id of the broker JVM, or None when not started."""
        return self._process.pid if self._process is not None else None

    # -- life cycle -------------------------------------------------------------------------

    def __enter__(self) -> Self:
        """Start the broker."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the broker."""
        self.stop()

    def start(self) -> None:
        """Check Java and the jars, write the config, format storage, start and wait for it.

        Storage is formatted afresh (new cluster id) on every start. Raises SetupError when
        something is missing, a port is taken, or the broker dies or stays silent for
        ``startup_timeout`` seconds (with the broker log's errors and tail).
        """
        if self.is_running:
            return
        began = time.monotonic()
        java = self._check_prerequisites()
        if self._auto_port and _port_open(self.port):
            self.port = find_free_port()
        if _port_open(self.controller_port):
            self.controller_port = self._other_free_port()
        for name, port in (("broker", self.port), ("controller", self.controller_port)):
            if _port_open(port):
                raise SetupError(
                    f"The local Kafka {name} port 127.0.0.1:{port} is already in use; "
                    "stop what listens there or choose another port."
                )
        for folder in (self.config_dir, self.data_dir, self.logs_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self._write_properties()
        self._write_log4j_config()
        self._format_storage(java)
        self._launch(java)
        try:
            self._wait_until_ready(began + self.startup_timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after ``timeout``) and remove its data."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            self._signal(process, signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._signal(process, signal.SIGKILL)
                process.wait(timeout=timeout)
        if not self.keep_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def create_topic(self, name: str, partitions: int = 3, timeout: float = 30.0) -> None:
        """Create a topic (replication factor 1) and wait until every partition has a leader."""
        admin = self._admin()
        futures = admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1)],
            operation_timeout=timeout,
        )
        try:
            futures[name].result(timeout=timeout)
        except KafkaException as error:
            raise SetupError(f"Kafka topic {name!r} could not be created: {error}") from error
        deadline = time.monotonic() + timeout
        while True:
            metadata = admin.list_topics(topic=name, timeout=5)
            topic = metadata.topics.get(name)
            if (
                topic is not None
                and topic.error is None
                and len(topic.partitions) == partitions
                and all(p.leader >= 0 and p.error is None for p in topic.partitions.values())
            ):
                return
            if time.monotonic() > deadline:
                raise SetupError(
                    f"Kafka topic {name!r} was created but its {partitions} partitions have no "
                    f"leader after {timeout:.0f} s; see {self.server_log}"
                )
            time.sleep(0.1)

    # -- internals --------------------------------------------------------------------------

    def _check_prerequisites(self) -> str:
        """Return the java executable; raise SetupError naming everything that is missing."""
        problems: list[str] = []
        java = shutil.which(self.java)
        if java is None:
            problems.append(
                f"Java was not found ({self.java!r} is not on PATH); install Java 17 or newer"
            )
        if not self.jars_dir.is_dir():
            problems.append(f"the Kafka jars folder {self.jars_dir} does not exist")
        else:
            names = [p.name for p in self.jars_dir.glob("*.jar")]
            missing = [
                f"{prefix}*.jar ({what})"
                for prefix, what in REQUIRED_JARS.items()
                if not any(n.startswith(prefix) for n in names)
            ]
            if missing:
                problems.append(
                    f"the Kafka jars folder {self.jars_dir} lacks " + ", ".join(missing)
                )
        if problems or java is None:
            raise SetupError(
                "The local Kafka broker cannot start: "
                + "; ".join(problems)
                + ". Run `make jars` to download the broker jars from Maven Central."
            )
        return java

    def _write_properties(self) -> None:
        """Write server.properties for one combined broker + controller node."""
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "listeners": (
                f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}"
            ),
            "advertised.listeners": (
                f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}"
            ),
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            # Dynamic KRaft quorum (KIP-853): works with `kafka-storage format --standalone`.
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{self.controller_port}",
            "log.dirs": str(self.data_dir),
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
        lines = ["# Written by ad_marketing_pipeline.devtools.local_kafka.LocalKafkaBroker"]
        lines += [f"{key}={_escape_property(value)}" for key, value in props.items()]
        self.properties_file.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def _write_log4j_config(self) -> None:
        """Write a log4j2 config that sends every broker log line to server.log, none to stdout."""
        log_file = quoteattr(str(self.server_log))
        self.log4j_file.write_text(
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

    def _java_command(self, java: str, heap: str, main: str, *args: str) -> list[str]:
        """Return a ``java -cp '<jars_dir>/*' <main> <args>`` command line."""
        return [
            java,
            f"-Xmx{heap}",
            "-Xms64m",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            "-Dlog4j2.shutdownHookEnabled=false",
            f"-Dlog4j2.configurationFile={self.log4j_file}",
            f"-Dkafka.logs.dir={self.logs_dir}",
            "-cp",
            f"{self.jars_dir.resolve()}{os.sep}*",
            main,
            *args,
        ]

    def _format_storage(self, java: str) -> None:
        """Format ``log.dirs`` for this cluster id as a standalone KRaft controller."""
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.data_dir.mkdir(parents=True)
        command = self._java_command(
            java,
            "256m",
            _STORAGE_TOOL_MAIN,
            "format",
            # One argument: a cluster id may start with '-', which the tool's argument parser
            # would otherwise read as an option (about 1 start in 64 failed that way).
            f"--cluster-id={self.cluster_id}",
            "-c",
            str(self.properties_file),
            "--standalone",
        )
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=120, check=False
            )
        except subprocess.TimeoutExpired as error:
            raise SetupError(
                f"Formatting the Kafka storage in {self.data_dir} timed out"
            ) from error
        if result.returncode != 0:
            raise SetupError(
                f"Formatting the Kafka storage failed (exit {result.returncode}): "
                f"{' '.join(command)}\n{result.stdout}{result.stderr}\n"
                f"broker log tail:\n{_tail(self.server_log)}"
            )

    def _launch(self, java: str) -> None:
        """Start ``kafka.Kafka`` in its own process group, output to logs/stdout.log."""
        self._stdout_file = self.logs_dir / "stdout.log"
        command = self._java_command(java, self.heap, _BROKER_MAIN, str(self.properties_file))
        with self._stdout_file.open("ab") as out:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.work_dir,
                start_new_session=True,
            )

    def _admin(self) -> AdminClient:
        """Return an AdminClient for this broker."""
        return AdminClient(
            {"bootstrap.servers": self.bootstrap_servers, "socket.timeout.ms": 10_000}
        )

    def _wait_until_ready(self, deadline: float) -> None:
        """Poll until the broker answers a metadata request with itself as a live broker."""
        last_error = "no answer yet"
        admin: AdminClient | None = None
        while time.monotonic() < deadline:
            self._raise_if_dead()
            if not _port_open(self.port):
                time.sleep(0.1)
                continue
            if admin is None:
                admin = self._admin()
            try:
                metadata = admin.list_topics(timeout=2)
            except KafkaException as error:
                last_error = str(error)
                time.sleep(0.2)
                continue
            if metadata.brokers:
                return
            last_error = "the metadata response lists no broker"
            time.sleep(0.2)
        self._raise_if_dead()
        raise SetupError(
            f"The local Kafka broker at {self.bootstrap_servers} did not answer within "
            f"{self.startup_timeout:.0f} s ({last_error}).\n{self.log_tails()}"
        )

    def _raise_if_dead(self) -> None:
        """Raise SetupError with the broker log tail if the broker JVM has exited."""
        if self._process is not None and self._process.poll() is not None:
            code = self._process.returncode
            raise SetupError(
                f"The local Kafka broker exited with code {code} while starting.\n"
                f"{self.log_tails()}"
            )

    def log_tails(self) -> str:
        """Return the tails of the broker log and of the JVM's stdout/stderr."""
        parts = []
        errors = _error_lines(self.server_log)
        if errors:
            parts.append(f"--- errors in {self.server_log} ---\n{errors}")
        parts.append(f"--- tail of {self.server_log} ---\n{_tail(self.server_log)}")
        if self._stdout_file is not None:
            parts.append(f"--- tail of {self._stdout_file} ---\n{_tail(self._stdout_file)}")
        return "\n".join(parts)

    @staticmethod
    def _signal(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        """Send ``sig`` to the broker's process group (it runs in its own session)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    """Signal handler: turn SIGINT/SIGTERM into KeyboardInterrupt so the broker is stopped."""
    raise KeyboardInterrupt


def serve(
    jars_dir: Path,
    work_dir: Path,
    port: int | None = None,
    *,
    keep_data: bool = False,
) -> None:
    """Start a broker, print its bootstrap servers, block until Ctrl-C (or SIGTERM), stop it."""
    handled = (signal.SIGINT, signal.SIGTERM)
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.getsignal(sig) for sig in handled} if in_main_thread else {}
    for sig in previous:
        signal.signal(sig, _raise_keyboard_interrupt)
    broker = LocalKafkaBroker(jars_dir, work_dir, port, keep_data=keep_data)
    try:
        broker.start()
        print(f"Kafka broker (KRaft, pid {broker.pid}) ready in {broker.startup_seconds:.1f} s")
        print(f"bootstrap servers: {broker.bootstrap_servers}")
        print(f"broker log: {broker.server_log}")
        print("Press Ctrl-C to stop.", flush=True)
        while broker.is_running:
            time.sleep(0.5)
        raise SetupError(f"The local Kafka broker exited unexpectedly.\n{broker.log_tails()}")
    except KeyboardInterrupt:
        print("\nStopping the Kafka broker...", flush=True)
    finally:
        broker.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("Kafka broker stopped.", flush=True)
