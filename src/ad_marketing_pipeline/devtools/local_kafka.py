"""A real single-node Apache Kafka broker in KRaft mode, run from the Maven Central jars.

No ZooKeeper and no Docker: `make jars` copies the broker and its runtime dependencies into
``.jars/kafka`` and :class:`LocalKafkaBroker` starts it with ``java -cp '<jars_dir>/*'``.
It serves the integration tests and the local demo (see :func:`serve`). What the broker runs
from (jars, command line, server.properties, log4j2.xml) is in `kafka_config`, the admin
requests it answers (readiness, topics) in `kafka_admin`.
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
from collections.abc import Callable
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Self

from ad_marketing_pipeline.devtools.kafka_admin import admin_client, create_topic, metadata_problem
from ad_marketing_pipeline.devtools.kafka_config import (
    REQUIRED_JARS,
    check_prerequisites,
    java_command,
    server_properties,
    write_log4j_config,
    write_properties,
)
from ad_marketing_pipeline.errors import SetupError

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient

__all__ = ["REQUIRED_JARS", "LocalKafkaBroker", "find_free_port", "serve", "serve_broker"]

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
        java = check_prerequisites(self.java, self.jars_dir)
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
        write_properties(self.properties_file, self._server_properties())
        write_log4j_config(self.log4j_file, self.server_log)
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

    @property
    def admin_bootstrap_servers(self) -> str:
        """Where this process's own admin requests (readiness, topics) go: the client
        listener here; a secured broker's plaintext internal listener."""
        return self.bootstrap_servers

    def create_topic(self, name: str, partitions: int = 3, timeout: float = 30.0) -> None:
        """Create a topic (replication factor 1) and wait until every partition has a leader."""
        admin = admin_client(self.admin_bootstrap_servers)
        create_topic(admin, name, partitions, timeout, server_log=self.server_log)

    # -- internals --------------------------------------------------------------------------

    def _server_properties(self) -> dict[str, str]:
        """server.properties of this broker (a subclass adds listeners and security)."""
        return server_properties(
            port=self.port, controller_port=self.controller_port, data_dir=self.data_dir
        )

    def _system_properties(self) -> dict[str, str]:
        """Extra JVM system properties of the broker (none here)."""
        return {}

    def _java_command(self, java: str, heap: str, main: str, *args: str) -> list[str]:
        """Return a ``java -cp '<jars_dir>/*' <main> <args>`` command line for this broker."""
        return java_command(
            java,
            heap,
            main,
            *args,
            jars_dir=self.jars_dir,
            log4j_file=self.log4j_file,
            logs_dir=self.logs_dir,
            system_properties=self._system_properties(),
        )

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
                admin = admin_client(self.admin_bootstrap_servers)
            problem = metadata_problem(admin)
            if problem is None:
                return
            last_error = problem
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
    broker = LocalKafkaBroker(jars_dir, work_dir, port, keep_data=keep_data)
    serve_broker(broker, lambda: [f"bootstrap servers: {broker.bootstrap_servers}"])


def serve_broker(broker: LocalKafkaBroker, describe: Callable[[], list[str]]) -> None:
    """Start `broker`, print what `describe` says about it once it is up, block until Ctrl-C
    (or SIGTERM), stop it."""
    handled = (signal.SIGINT, signal.SIGTERM)
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.getsignal(sig) for sig in handled} if in_main_thread else {}
    for sig in previous:
        signal.signal(sig, _raise_keyboard_interrupt)
    try:
        broker.start()
        print(f"Kafka broker (KRaft, pid {broker.pid}) ready in {broker.startup_seconds:.1f} s")
        for line in describe():
            print(line)
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
