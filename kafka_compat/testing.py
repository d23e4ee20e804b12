"""An embedded broker for test suites, with or without pytest.

    from kafka_compat.testing import EmbeddedBroker

    with EmbeddedBroker() as broker:               # or: async with EmbeddedBroker() as broker
        topic = broker.create_topic(partitions=3)
        producer = Producer({"bootstrap.servers": broker.bootstrap_servers})

The broker is a single node with its own Trio event loop in a background thread, a
free port on 127.0.0.1 and a temporary data dir (removed on stop). A thread rather
than the caller's event loop: a test that calls a blocking client from async code
would otherwise stall the broker it is waiting for. `async with` works under asyncio
and Trio alike; only start and stop are awaited.

For what no client can do, a running broker has `.broker` (the `Broker` object) and
`.trio_token` (its loop); `broker.call(async_fn, *args)` runs `await async_fn(*args)`
on that loop from any other thread. `stop()` raises if the broker failed while it ran.

The pytest plugin (kafka_compat/pytest_plugin.py) and kafka-compat's own test suite
(tests/conftest.py) build their fixtures on this.
"""

from __future__ import annotations

import itertools
import re
import shutil
import tempfile
import threading
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import trio

from kafka_compat.broker import Broker
from kafka_compat.config import BrokerConfig
from kafka_compat.tools.topics import TopicsTool

__all__ = ["EmbeddedBroker", "topic_name"]

START_TIMEOUT_S = 60.0
# What a test wants from a single node (Spring's EmbeddedKafka and Testcontainers'
# Kafka set the same): a consumer group starts at once instead of after Kafka's 3 s of
# waiting for members, and the first group or transaction creates its internal topic
# with one partition, not 50 (about 80 ms less on this machine).
TEST_DEFAULTS = {
    "group.initial.rebalance.delay.ms": "0",
    "offsets.topic.num.partitions": "1",
    "transaction.state.log.num.partitions": "1",
}
_names = itertools.count()
T = TypeVar("T")


def topic_name(hint: str = "topic") -> str:
    """A topic name unique in this process, readable in logs: `<hint>-<n>`."""
    cleaned = re.sub(r"[^a-zA-Z0-9._-]+", "-", hint).strip("-.")[:200] or "topic"
    return f"{cleaned}-{next(_names)}"


class EmbeddedBroker:
    """A single-node broker in a background thread; a context manager (sync or async)."""

    def __init__(
        self,
        data_dir: str | Path | None = None,
        *,
        port: int = 0,
        config: Mapping[str, Any] | None = None,
        test_defaults: bool = True,
    ):
        """`data_dir`: kept if given, else a temporary one removed on stop. `port`: 0 for
        a free one (kept across a stop and start). `config`: server.properties keys
        (Kafka's names), as strings or values that print as Kafka would read them.
        `test_defaults=False`: Kafka's own defaults throughout (TEST_DEFAULTS not set)."""
        self._own_dir = data_dir is None
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.port = port
        defaults = TEST_DEFAULTS if test_defaults else {}
        self.config = {**defaults, **{k: str(v) for k, v in (config or {}).items()}}
        # Set by start(): the Broker object and its Trio loop's token.
        self.broker: Broker | None = None
        self.trio_token: trio.lowlevel.TrioToken | None = None
        self._thread: threading.Thread | None = None
        self._cancel: Callable[[], None] | None = None
        self._failure: list[BaseException] = []

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> EmbeddedBroker:
        if self._thread is not None:
            raise RuntimeError("the broker is already running")
        if self.data_dir is None:
            self.data_dir = Path(tempfile.mkdtemp(prefix="kafka-compat-"))
        config = BrokerConfig(
            {
                "listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
                "log.dirs": str(self.data_dir),
                **self.config,
            }
        )
        self.broker = Broker(config)
        started = threading.Event()
        self._failure = []

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
            except BaseException as exc:  # re-raised in the caller's thread
                self._failure.append(exc)
            finally:
                started.set()

        self._thread = threading.Thread(target=thread_main, name="kafka-compat", daemon=True)
        self._thread.start()
        if not started.wait(START_TIMEOUT_S) or self._failure:
            self._thread = None
            failure = self._failure[0] if self._failure else None
            raise RuntimeError(f"the embedded broker did not start: {_cause(failure)}") from (
                failure
            )
        return self

    def stop(self) -> None:
        """Shut down cleanly (a no-op when stopped); a temporary data dir is removed.
        Raises RuntimeError if the broker had stopped by itself (it failed while running:
        the failure is the cause) or does not stop."""
        thread, self._thread = self._thread, None
        try:
            if thread is not None and not thread.is_alive():
                failure = self._failure[0] if self._failure else None
                raise RuntimeError(
                    f"the embedded broker stopped while running: {_cause(failure)}"
                ) from failure
            if thread is not None:
                self._cancel()
                thread.join(START_TIMEOUT_S)
                if thread.is_alive():
                    raise RuntimeError("the embedded broker did not stop")
        finally:
            if self._own_dir and self.data_dir is not None:
                shutil.rmtree(self.data_dir, ignore_errors=True)
                self.data_dir = None

    def call(self, async_fn: Callable[..., Awaitable[T]], *args: object) -> T:
        """`await async_fn(*args)` on the broker's own Trio loop, from a thread that is
        not it (in an async test: `await trio.to_thread.run_sync(broker.call, ...)`):
        for what no client can do, such as writing users' SCRAM credentials."""
        return trio.from_thread.run(async_fn, *args, trio_token=self.trio_token)

    def create_topic(
        self,
        name: str | None = None,
        *,
        partitions: int = 1,
        config: Mapping[str, Any] | None = None,
    ) -> str:
        """Create a topic (a fresh unique name unless given) and return its name once
        every partition has a leader."""
        name = name or topic_name()
        with TopicsTool(self.bootstrap_servers) as tool:
            tool.create(name, partitions, config={k: str(v) for k, v in (config or {}).items()})
        return name

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def __aenter__(self) -> EmbeddedBroker:
        await _in_thread(self.start)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await _in_thread(self.stop)


def _cause(failure: BaseException | None) -> BaseException | None:
    """The one exception inside nested exception groups (Trio's nurseries wrap what a
    task raised), for a message that names it."""
    while isinstance(failure, BaseExceptionGroup) and len(failure.exceptions) == 1:
        failure = failure.exceptions[0]
    return failure


async def _in_thread(fn: Callable[[], object]) -> None:
    """Run a blocking call without blocking the caller's event loop (asyncio or Trio)."""
    import sniffio  # trio's own dependency

    if sniffio.current_async_library() == "trio":
        await trio.to_thread.run_sync(fn)
    else:
        import asyncio

        await asyncio.get_running_loop().run_in_executor(None, fn)
