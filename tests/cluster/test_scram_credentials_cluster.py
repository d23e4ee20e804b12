"""SCRAM users on a 3-broker ZooKeeper cluster: a credential altered through one
broker is in ZooKeeper in Kafka's format (/config/users/<user>, with a users/<user>
change notification) and every broker answers it from its own store within a
second."""

from __future__ import annotations

import json
import time

import pytest
from kazoo.client import KazooClient

from kafka_compat.tools.connection import Connection, ToolError
from kafka_compat.tools.users import delete_user, describe_users, set_password
from tests.cluster.cluster_fixtures import cluster_factory_fixture  # noqa: F401

GUARD_S = 30  # failure guard, never a timing


def described(broker, user: str) -> dict[str, int] | None:
    with Connection("127.0.0.1", broker.port, 10.0) as conn:
        try:
            return describe_users(conn, [user])[0].credentials
        except ToolError:
            return None


def wait_everywhere(cluster, user: str, expected) -> float:
    """Seconds until every broker's answer for `user` is `expected`."""
    start = time.monotonic()
    for broker in cluster.brokers.values():
        while described(broker, user) != expected:
            assert time.monotonic() - start < GUARD_S, f"broker {broker.broker_id} lags"
            time.sleep(0.02)
    return time.monotonic() - start


def test_a_user_created_through_one_broker_is_seen_by_all(cluster_factory, zk_connect):
    cluster = cluster_factory()
    first = cluster.brokers[1]
    with Connection("127.0.0.1", first.port, 10.0) as conn:
        set_password(conn, "app,team=a", "app-secret", "SCRAM-SHA-256")
        set_password(conn, "app,team=a", "app-secret", "SCRAM-SHA-512", iterations=8192)
    took = wait_everywhere(cluster, "app,team=a", {"SCRAM-SHA-256": 4096, "SCRAM-SHA-512": 8192})
    assert took < 1.0, f"the change reached every broker only after {took:.2f}s"

    zk = KazooClient(hosts=zk_connect)
    zk.start(timeout=GUARD_S)
    try:
        # Kafka's Sanitizer: the znode name is URL-encoded.
        data, _ = zk.get("/config/users/app%2Cteam%3Da")
        node = json.loads(data)
        assert node["version"] == 1
        assert set(node["config"]) == {"SCRAM-SHA-256", "SCRAM-SHA-512"}
        assert node["config"]["SCRAM-SHA-512"].endswith(",iterations=8192")
        assert "app-secret" not in data.decode()
        notes = [
            json.loads(zk.get(f"/config/changes/{c}")[0])
            for c in zk.get_children("/config/changes")
        ]
        assert {"version": 2, "entity_path": "users/app%2Cteam%3Da"} in notes

        # Other keys of the user's znode (quotas, set by Kafka's tools) are kept.
        node["config"]["producer_byte_rate"] = "1024"
        zk.set("/config/users/app%2Cteam%3Da", json.dumps(node).encode())
        with Connection("127.0.0.1", cluster.brokers[3].port, 10.0) as conn:
            delete_user(conn, "app,team=a", "SCRAM-SHA-256")
        wait_everywhere(cluster, "app,team=a", {"SCRAM-SHA-512": 8192})
        config = json.loads(zk.get("/config/users/app%2Cteam%3Da")[0])["config"]
        assert config == {"SCRAM-SHA-512": config["SCRAM-SHA-512"], "producer_byte_rate": "1024"}
    finally:
        zk.stop()
        zk.close()

    # A broker started later loads the users at start-up.
    cluster.brokers[2].stop()
    cluster.brokers[2].start()
    assert described(cluster.brokers[2], "app,team=a") == {"SCRAM-SHA-512": 8192}


def test_delete_through_another_broker_right_after_create(cluster_factory):
    """The credential to delete is looked up in ZooKeeper, not in the deleting broker's
    cache, which may not have heard of the creation yet."""
    cluster = cluster_factory()
    for _ in range(5):
        with Connection("127.0.0.1", cluster.brokers[1].port, 10.0) as conn:
            set_password(conn, "quick", "pw", "SCRAM-SHA-256")
        with Connection("127.0.0.1", cluster.brokers[2].port, 10.0) as conn:
            delete_user(conn, "quick", "SCRAM-SHA-256")
    wait_everywhere(cluster, "quick", None)
    with Connection("127.0.0.1", cluster.brokers[3].port, 10.0) as conn:
        with pytest.raises(ToolError, match="does not exist"):
            delete_user(conn, "quick", "SCRAM-SHA-256")
