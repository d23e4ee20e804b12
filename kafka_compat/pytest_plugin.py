"""pytest fixtures for tests that need Kafka (installed with the package: the
`pytest11` entry point loads this module).

- `kafka_broker` (session): an embedded single-node broker on a free port with a
  temporary data dir; `.bootstrap_servers`. Under pytest-xdist each worker process
  has its own session, so each gets its own broker.
- `kafka_topic` (function): a factory; `kafka_topic(partitions=3, config={...})`
  creates a fresh topic named after the test and returns its name once every
  partition has a leader.
- `kafka_cluster` (session, opt-in: only tests that ask for it start it): Debian's
  ZooKeeper and three broker processes; `.bootstrap_servers`, `.brokers` (each with
  `.proc` to stop or kill), `.zookeeper_connect`.

Broker settings for the session: `--kafka-broker-config key=value` (repeatable).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from kafka_compat.devcluster import DevCluster
    from kafka_compat.testing import EmbeddedBroker

# The broker is imported by the fixtures, not here: every pytest run in an environment
# with kafka-compat installed loads this module, and most never ask for a broker.
CLUSTER_BROKERS = 3


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("kafka-compat").addoption(
        "--kafka-broker-config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a server.properties setting for the kafka_broker fixture (repeatable)",
    )


@pytest.fixture(scope="session")
def kafka_broker(pytestconfig: pytest.Config) -> Iterator[EmbeddedBroker]:
    from kafka_compat.testing import EmbeddedBroker

    settings = {}
    for item in pytestconfig.getoption("kafka_broker_config"):
        key, sep, value = item.partition("=")
        if not sep:
            raise pytest.UsageError(f"--kafka-broker-config expects KEY=VALUE, got {item!r}")
        settings[key.strip()] = value.strip()
    with EmbeddedBroker(config=settings) as broker:
        yield broker


@pytest.fixture
def kafka_topic(request: pytest.FixtureRequest) -> Callable[..., str]:
    """`kafka_topic(partitions=1, config=None, name=None, replication_factor=-1) -> str`:
    a new topic on the session's broker (on `kafka_cluster` when the test uses it; -1:
    the broker's default replication factor)."""
    from kafka_compat.testing import topic_name
    from kafka_compat.tools.topics import TopicsTool

    if "kafka_cluster" in request.fixturenames:
        bootstrap = request.getfixturevalue("kafka_cluster").bootstrap_servers
    else:
        bootstrap = request.getfixturevalue("kafka_broker").bootstrap_servers

    def create(
        partitions: int = 1,
        config: dict[str, Any] | None = None,
        name: str | None = None,
        replication_factor: int = -1,
    ) -> str:
        name = name or topic_name(request.node.name)
        with TopicsTool(bootstrap) as tool:
            settings = {k: str(v) for k, v in (config or {}).items()}
            tool.create(name, partitions, replication_factor, settings)
        return name

    return create


@pytest.fixture(scope="session")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    from kafka_compat.devcluster import DevCluster, free_port

    cluster = DevCluster(
        CLUSTER_BROKERS,
        _free_port_run(CLUSTER_BROKERS),
        tmp_path_factory.mktemp("kafka-cluster"),
        zookeeper_port=free_port(),
        # A killed broker's leadership moves after its ZooKeeper session expires:
        # 6 s (Kafka's own integration tests use 6 s too) instead of 18 s.
        overrides=["group.initial.rebalance.delay.ms=0", "zookeeper.session.timeout.ms=6000"],
        out=lambda line: None,
    )
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def _free_port_run(count: int) -> int:
    """The first of `count` consecutive free ports (DevCluster numbers brokers' ports)."""
    for _ in range(100):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            base = sock.getsockname()[1]
        if all(_is_free(base + i) for i in range(1, count)):
            return base
    raise RuntimeError(f"no {count} consecutive free ports on 127.0.0.1")


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True
