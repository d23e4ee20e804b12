"""Fixtures that start real brokers in-process, on ephemeral ports.

Each broker runs its own `trio.run` in a background thread (kafka_compat.testing's
EmbeddedBroker), so tests are plain functions that use blocking clients
(confluent-kafka, kafka-python) over TCP.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kafka_compat import log_tasks
from kafka_compat.testing import EmbeddedBroker
from tests.listening import wait_listening

START_TIMEOUT = 60


class BrokerHandle(EmbeddedBroker):
    """kafka_compat.testing's EmbeddedBroker as this suite uses it: a data dir the test
    owns (kept, like the port, across stop and start), Kafka's own defaults (no test
    defaults), and a check at stop that no background task failed while it ran."""

    def __init__(self, data_dir: Path, props: dict[str, str]):
        super().__init__(data_dir, config=props, test_defaults=False)
        self._task_failures_at_start: int | None = None

    @property
    def bootstrap(self) -> str:
        return self.bootstrap_servers

    def start(self) -> BrokerHandle:
        self._task_failures_at_start = log_tasks.failure_count
        try:
            return super().start()
        except BaseException:
            self._task_failures_at_start = None
            raise

    def stop(self) -> None:
        failures_at_start, self._task_failures_at_start = self._task_failures_at_start, None
        super().stop()
        # A background task that failed (logged, restarted) is a bug the test must show.
        if failures_at_start is not None:
            assert log_tasks.failure_count == failures_at_start, (
                "a background task failed: see the log"
            )

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def broker_factory(tmp_path: Path) -> Iterator[Callable[..., BrokerHandle]]:
    """broker_factory(**props) starts a broker; keys use '_' for '.'."""
    handles: list[BrokerHandle] = []

    def start(**props: str) -> BrokerHandle:
        data_dir = tmp_path / f"broker-{len(handles)}"
        handle = BrokerHandle(data_dir, {k.replace("_", "."): str(v) for k, v in props.items()})
        handles.append(handle)
        handle.start()
        return handle

    yield start
    for handle in handles:
        handle.stop()


@pytest.fixture
def broker(broker_factory: Callable[..., BrokerHandle]) -> BrokerHandle:
    return broker_factory()


class BrokerProcess:
    """A broker in its own process (`python -m kafka_compat serve`), for crash tests:
    `kill()` is SIGKILL, the way a power cut or the OOM killer stops it."""

    def __init__(self, data_dir: Path, port: int, props: dict[str, str]):
        self.data_dir = data_dir
        self.port = port
        self.props = props
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.with_name(data_dir.name + ".log")

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [sys.executable, "-m", "kafka_compat", "serve", "--port", str(self.port)]
        command += ["--data-dir", str(self.data_dir), "--http-port", "0"]
        for key, value in self.props.items():
            command += ["--override", f"{key}={value}"]
        with open(self.log_path, "ab") as log_file:
            since = log_file.tell()
            self.proc = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
        self.port = wait_listening(self.proc, self.log_path, since)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(START_TIMEOUT)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(START_TIMEOUT)


@pytest.fixture
def broker_process_factory(tmp_path: Path) -> Iterator[Callable[..., BrokerProcess]]:
    """broker_process_factory(**props) -> a started BrokerProcess; keys use '_' for '.'."""
    processes: list[BrokerProcess] = []

    def start(**props: str) -> BrokerProcess:
        data_dir = tmp_path / f"process-broker-{len(processes)}"
        process = BrokerProcess(
            data_dir, 0, {k.replace("_", "."): str(v) for k, v in props.items()}
        )
        processes.append(process)
        process.start()
        return process

    yield start
    for process in processes:
        if process.proc is not None and process.proc.poll() is None:
            process.kill()
