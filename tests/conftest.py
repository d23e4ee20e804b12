"""Fixtures that start real brokers in-process, on ephemeral ports.

Each broker runs its own `trio.run` in a background thread, so tests are plain
functions that use blocking clients (confluent-kafka, kafka-python) over TCP.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trio

from kafka_compat import log_tasks
from kafka_compat.broker import Broker
from kafka_compat.config import BrokerConfig
from tests.listening import wait_listening

START_TIMEOUT = 60


class BrokerHandle:
    """A broker in a background thread; stop/start keep the data dir and port."""

    def __init__(self, data_dir: Path, props: dict[str, str]):
        self.data_dir = data_dir
        self.props = props
        self.port = 0
        self.broker: Broker | None = None
        self._thread: threading.Thread | None = None
        self._cancel: Callable[[], None] | None = None
        # The broker's Trio loop: trio.from_thread.run(fn, trio_token=...) runs in it.
        self.trio_token: trio.lowlevel.TrioToken | None = None
        self._failure: list[BaseException] = []
        self._task_failures_at_start = 0

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        config = BrokerConfig(
            {
                "listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
                "log.dirs": str(self.data_dir),
                **self.props,
            }
        )
        self.broker = Broker(config)
        self._task_failures_at_start = log_tasks.failure_count
        started = threading.Event()
        failure = self._failure = []

        async def run() -> None:
            token = self.trio_token = trio.lowlevel.current_trio_token()
            async with trio.open_nursery() as nursery:
                self._cancel = lambda: trio.from_thread.run_sync(
                    nursery.cancel_scope.cancel, trio_token=token
                )
                self.port = await nursery.start(self.broker.serve)
                started.set()

        def thread_main() -> None:
            try:
                trio.run(run)
            except BaseException as exc:  # reported to the test thread
                failure.append(exc)
            finally:
                started.set()

        self._thread = threading.Thread(target=thread_main, name="broker", daemon=True)
        self._thread.start()
        if not started.wait(START_TIMEOUT):
            raise RuntimeError("broker did not start")
        if failure:
            raise failure[0]

    def stop(self) -> None:
        if self._thread is None:
            return
        if not self._thread.is_alive():
            self._thread = None
            raise RuntimeError("the broker died during the test") from self._failure[0]
        self._cancel()
        self._thread.join(START_TIMEOUT)
        if self._thread.is_alive():
            raise RuntimeError("broker did not stop")
        self._thread = None
        # A background task that failed (logged, restarted) is a bug the test must show.
        assert log_tasks.failure_count == self._task_failures_at_start, (
            "a background task failed: see the log"
        )

    def call(self, async_fn, *args):
        """Run `await async_fn(*args)` on the broker's own Trio loop (from a thread that
        is not it, e.g. `trio.to_thread.run_sync(handle.call, ...)` in an async test):
        for what no client can do yet, such as writing transaction markers."""
        return trio.from_thread.run(async_fn, *args, trio_token=self.trio_token)

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
