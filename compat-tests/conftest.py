"""Fixtures for compat-tests: a kafka-compat broker started the way the README starts it.

The broker runs as a separate process, exactly as a user runs it:

    <repo>/dev serve --host 127.0.0.1 --port PORT --data-dir TMPDIR

and third-party clients (kcat, confluent-kafka) talk to it over TCP. Set
``KAFKA_COMPAT_SERVE_CMD`` to a shell-style command prefix to start it some other
way, e.g. ``KAFKA_COMPAT_SERVE_CMD="python -m kafka_compat serve"`` to run without
the ``dev`` virtualenv; ``--host/--port/--data-dir`` are appended to it.
``KAFKA_COMPAT_START_TIMEOUT`` (seconds, default 120: the first ``./dev`` run may
build its virtualenv) bounds the wait for the port to accept connections.

Shutdown is part of the contract: at the end of each module the broker gets SIGTERM
and must exit with status 0.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

REPO = Path(__file__).resolve().parent.parent
SERVE_CMD_ENV = "KAFKA_COMPAT_SERVE_CMD"
START_TIMEOUT_ENV = "KAFKA_COMPAT_START_TIMEOUT"
HOST = "127.0.0.1"
SHUTDOWN_TIMEOUT_S = 20.0


@dataclass
class ServedBroker:
    """A broker process started for a test module."""

    host: str
    port: int
    data_dir: Path
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def bootstrap(self) -> str:
        """``host:port`` for ``bootstrap.servers`` / ``kcat -b``."""
        return f"{self.host}:{self.port}"

    def log_tail(self, max_chars: int = 8000) -> str:
        """The end of the broker's combined stdout/stderr, for failure messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as exc:
            return f"<no broker log: {exc}>"
        return text[-max_chars:]

    def stop(self) -> int | None:
        """SIGTERM the broker; its exit status, or None if it had to be killed."""
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=SHUTDOWN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            _kill(self.proc)
            return None


def serve_command() -> list[str]:
    """The command prefix that starts the broker (before --host/--port/--data-dir)."""
    override = os.environ.get(SERVE_CMD_ENV)
    if override:
        return shlex.split(override)
    return [str(REPO / "dev"), "serve"]


def free_port(host: str = HOST) -> int:
    """A TCP port that was free a moment ago (bind port 0 and let the kernel choose)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _accepts_connections(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def start_broker(data_dir: Path, log_path: Path, overrides: Sequence[str] = ()) -> ServedBroker:
    """Start the broker on a free port and wait until it accepts connections;
    ``overrides``: server.properties settings (``KEY=VALUE``), passed as ``--override``."""
    port = free_port()
    cmd = [*serve_command(), "--host", HOST, "--port", str(port), "--data-dir", str(data_dir)]
    cmd += ["--http-port", "0"]  # no /metrics listener: runs may overlap
    cmd += [arg for setting in overrides for arg in ("--override", setting)]
    timeout = float(os.environ.get(START_TIMEOUT_ENV, "120"))
    log = open(log_path, "wb")  # the child inherits it; we close our copy below
    try:
        proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        log.close()
    broker = ServedBroker(HOST, port, data_dir, proc, log_path)
    deadline = time.monotonic() + timeout
    while not _accepts_connections(HOST, port):
        if proc.poll() is not None:
            pytest.fail(
                f"broker exited with status {proc.returncode} before listening\n"
                f"command: {shlex.join(cmd)}\n--- broker output ---\n{broker.log_tail()}",
                pytrace=False,
            )
        if time.monotonic() > deadline:
            _kill(proc)
            pytest.fail(
                f"broker did not accept connections on {HOST}:{port} within {timeout:.0f}s\n"
                f"command: {shlex.join(cmd)}\n--- broker output ---\n{broker.log_tail()}",
                pytrace=False,
            )
        time.sleep(0.1)
    return broker


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process group we created for the broker (its own session)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


@pytest.fixture(scope="module")
def served_broker(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedBroker]:
    """A broker for this test module, with the module's ``BROKER_OVERRIDES`` (a list of
    ``KEY=VALUE``) if it has some; SIGTERM at the end must be a clean exit (status 0)."""
    base = tmp_path_factory.mktemp("broker")
    data_dir = base / "data"
    data_dir.mkdir()
    overrides = getattr(request.module, "BROKER_OVERRIDES", ())
    broker = start_broker(data_dir, base / "broker.log", overrides)
    try:
        yield broker
    finally:
        was_running = broker.proc.poll() is None
        status = broker.stop()
    assert was_running, f"broker died during the tests (status {status})\n{broker.log_tail()}"
    outcome = f"killed after {SHUTDOWN_TIMEOUT_S:.0f}s" if status is None else f"status {status}"
    assert status == 0, (
        f"broker did not shut down cleanly on SIGTERM ({outcome})\n"
        f"--- broker output ---\n{broker.log_tail()}"
    )


@pytest.fixture
def broker_starter(tmp_path: Path) -> Iterator[Callable[[Path], ServedBroker]]:
    """``start(data_dir)`` -> a fresh broker on that data dir, for restart tests.

    The test stops them itself (``broker.stop()``) to check the exit status; whatever is
    still running at the end is stopped here.
    """
    started: list[ServedBroker] = []

    def start(data_dir: Path) -> ServedBroker:
        broker = start_broker(data_dir, tmp_path / f"broker-{len(started)}.log")
        started.append(broker)
        return broker

    yield start
    for broker in started:
        broker.stop()


@pytest.fixture(scope="module")
def admin(served_broker: ServedBroker) -> AdminClient:
    """A confluent-kafka AdminClient bootstrapped from the module's broker."""
    return AdminClient({"bootstrap.servers": served_broker.bootstrap})


@pytest.fixture(scope="module")
def create_topic(admin: AdminClient) -> Callable[..., None]:
    """``create_topic(name, partitions=1, config=None)``: CreateTopics, raising on error."""

    def create(name: str, partitions: int = 1, config: dict[str, str] | None = None) -> None:
        topic = NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})
        futures = admin.create_topics([topic], request_timeout=30)
        futures[name].result(timeout=60)

    return create


@pytest.fixture
def topic_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Factory of unique, legal topic names derived from the test's name."""

    def make(suffix: str = "") -> str:
        base = request.node.name.replace("[", "-").replace("]", "").replace("/", "-")
        name = "-".join(part for part in (base, suffix, uuid.uuid4().hex[:8]) if part)
        return "".join(c if c.isalnum() or c in "._-" else "-" for c in name)[:200]

    return make


GO_DIR = REPO / "compat-tests" / "go"
# Builds of compat-tests/go's programs: the name of each binary -> its package and the
# import rewrite (old -> new) applied through `go build -overlay`, if any. The old
# Sarama (github.com/Shopify/sarama v1.38.1, pinned in go.mod by tools/tools.go) runs
# the same source as the newest one.
GO_PROGRAMS: dict[str, tuple[str, tuple[str, str] | None]] = {
    "sarama": ("./cmd/sarama", None),
    "sarama-shopify": ("./cmd/sarama", ("github.com/IBM/sarama", "github.com/Shopify/sarama")),
    "franz": ("./cmd/franz", None),
    "kafkago": ("./cmd/kafkago", None),
}


@pytest.fixture(scope="session")
def go_program() -> Callable[[str], Path]:
    """``go_program(name)`` -> a compat-tests/go binary, built once per test session into
    compat-tests/go/build (Go's build cache makes an unchanged rebuild cheap)."""
    built: dict[str, Path] = {}

    def build(name: str) -> Path:
        if name in built:
            return built[name]
        go = shutil.which("go")
        assert go is not None, "go is not installed: run `./dev test`"
        package, rewrite = GO_PROGRAMS[name]
        out = GO_DIR / "build" / name
        cmd = [go, "build", "-o", str(out)]
        if rewrite is not None:
            overlay = {}
            for source in (GO_DIR / package).glob("*.go"):
                rewritten = out.parent / f"overlay-{name}" / source.name
                rewritten.parent.mkdir(parents=True, exist_ok=True)
                rewritten.write_text(
                    source.read_text().replace(f'"{rewrite[0]}"', f'"{rewrite[1]}"')
                )
                overlay[str(source)] = str(rewritten)
            overlay_file = out.parent / f"overlay-{name}.json"
            overlay_file.write_text(json.dumps({"Replace": overlay}))
            cmd.append(f"-overlay={overlay_file}")
        done = subprocess.run(
            [*cmd, package], cwd=GO_DIR, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, f"go build {name} failed:\n{done.stderr}"
        built[name] = out
        return out

    return build


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory):
    """One broker with every kind of listener (PLAINTEXT, SSL with client certificates,
    SASL_PLAINTEXT PLAIN, SASL_SSL SCRAM/OAUTHBEARER, SASL_SSL signed JWTs) and SCRAM
    users, for a module's client matrix over security (tests/security/matrix.py). It runs
    in the test process (it starts in well under a second): per module, so that it does
    not outlive the module's tests."""
    from tests.security.matrix import start_secure_broker

    broker = start_secure_broker(tmp_path_factory.mktemp("secure"))
    try:
        yield broker
    finally:
        broker.stop()
