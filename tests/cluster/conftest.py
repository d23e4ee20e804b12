"""A real ZooKeeper (Debian's package) for the cluster tests.

`zookeeper` is one server for the whole session (tick 500 ms, so sessions may be as
short as 1 s); `zk_connect` gives each test a chroot of its own on it, so tests do
not see each other's brokers, topics or controller. `zookeeper_factory` starts
private servers, for tests that stop and restart ZooKeeper.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kafka_compat.devcluster import ZooKeeperServer

TICK_MS = 500
_chroots = itertools.count()


@pytest.fixture(scope="session")
def zookeeper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZooKeeperServer]:
    server = ZooKeeperServer(tmp_path_factory.mktemp("zookeeper") / "zk", tick_time_ms=TICK_MS)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def zk_connect(zookeeper: ZooKeeperServer) -> str:
    """host:port/<a fresh chroot> on the session's ZooKeeper."""
    return f"{zookeeper.connect}/test-{next(_chroots)}"


@pytest.fixture
def zookeeper_factory(tmp_path: Path) -> Iterator[Callable[[], ZooKeeperServer]]:
    """zookeeper_factory() -> a started private ZooKeeper, stopped after the test."""
    servers: list[ZooKeeperServer] = []

    def start() -> ZooKeeperServer:
        server = ZooKeeperServer(tmp_path / f"zk-{len(servers)}", tick_time_ms=TICK_MS)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.kill()
