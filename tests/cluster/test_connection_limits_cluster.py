"""Connection limits on a 3-broker cluster: a cluster-default change made through
one broker (AlterConfigs on the resource "", stored in /config/brokers/<default>)
applies on every broker without a restart, as Kafka's dynamic configs do. Brokers
talk over INTERNAL; the test's clients come from 127.0.0.2 on EXTERNAL."""

from __future__ import annotations

import re
import time

from kafka_compat.tools.connection import Connection
from protocol.errors import ErrorCode
from tests.cluster.cluster_fixtures import cluster_factory_fixture  # noqa: F401
from tests.integration import test_connection_limits as limits

GUARD_S = 30  # failure guard, never a timing
PROPS = {
    "listeners": "INTERNAL://127.0.0.1:0,EXTERNAL://127.0.0.1:0",
    "listener.security.protocol.map": "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT",
    "inter.broker.listener.name": "INTERNAL",
}


def external_port(broker) -> int:
    log = broker.log_tail(200_000)
    return int(re.findall(r"listener EXTERNAL \(PLAINTEXT\) on [\d.]+:(\d+)", log)[-1])


def _served(port: int, count: int) -> list[bool]:
    socks = [limits.open_raw(port, "127.0.0.2") for _ in range(count)]
    try:
        return [limits.ask(s) for s in socks]
    finally:
        for sock in socks:
            sock.close()


def test_a_cluster_default_limit_applies_on_every_broker(cluster_factory):
    cluster = cluster_factory(3, **PROPS)
    external = {i: external_port(b) for i, b in cluster.brokers.items()}
    assert all(_served(port, 3) == [True] * 3 for port in external.values())
    with Connection("127.0.0.1", cluster.brokers[1].port, GUARD_S) as admin:
        code, _ = limits._alter(
            admin,
            ("max.connections.per.ip", "2", limits.SET),
            # The brokers' own connections come from 127.0.0.1.
            ("max.connections.per.ip.overrides", "127.0.0.1:1000", limits.SET),
            entity="",
        )
    assert code == ErrorCode.NONE
    for broker_id, port in external.items():
        deadline = time.monotonic() + GUARD_S
        while (served := _served(port, 3)) != [True, True, False]:
            assert time.monotonic() < deadline, (broker_id, served)
            time.sleep(0.1)
        assert "Rejected connection from 127.0.0.2" in cluster.brokers[broker_id].log_tail(20_000)
    # The brokers still talk to each other (their address is overridden).
    cluster.wait_for_brokers()
