"""Fixtures that start real brokers in-process, on ephemeral ports.

Each broker runs its own `trio.run` in a background thread, so tests are plain
functions that use blocking clients (confluent-kafka, kafka-python) over TCP.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trio

from kafka_compat.broker import Broker
from kafka_compat.config import BrokerConfig

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
        started = threading.Event()
        failure: list[BaseException] = []

        async def run() -> None:
            token = trio.lowlevel.current_trio_token()
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
        self._cancel()
        self._thread.join(START_TIMEOUT)
        if self._thread.is_alive():
            raise RuntimeError("broker did not stop")
        self._thread = None

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
