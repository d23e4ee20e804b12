"""Client quotas on a 3-broker ZooKeeper cluster: a quota altered through one broker
is in ZooKeeper in Kafka's layout (/config/clients/<c>, /config/users/<u>/clients/<c>,
with config change notifications), every broker describes it, and another broker
applies it to its own clients; the controller mutation quota is each broker's own."""

from __future__ import annotations

import json
import time

from kazoo.client import KazooClient

from kafka_compat.tools.connection import Connection
from kafka_compat.tools.quotas import alter_quotas, describe_quotas
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode
from tests.cluster.cluster_fixtures import cluster_factory_fixture  # noqa: F401

GUARD_S = 30  # failure guard, never a timing
MetadataRequest = messages.request_type(ApiKey.METADATA)


def describe_all(broker) -> list[dict]:
    with Connection("127.0.0.1", broker.port, 10.0) as conn:
        return describe_quotas(conn, [])


def throttle_ms(broker, client_id: str) -> int:
    """The largest throttle_time_ms of a few Metadata requests from `client_id`."""
    with Connection("127.0.0.1", broker.port, 10.0, client_id=client_id) as conn:
        return max(
            conn.request(ApiKey.METADATA, MetadataRequest(topics=[])).throttle_time_ms
            for _ in range(3)
        )


def test_a_quota_set_through_one_broker_is_applied_by_the_others(cluster_factory, zk_connect):
    cluster = cluster_factory()
    first, third = cluster.brokers[1], cluster.brokers[3]
    assert throttle_ms(third, "greedy") == 0
    with Connection("127.0.0.1", first.port, 10.0) as conn:
        # A tiny request_percentage: the first request is over it, and its throttle
        # is capped at one quota window (1 s), as Kafka's request quota is.
        alter_quotas(conn, [("client-id", "greedy")], {"request_percentage": 0.0001}, [])
        alter_quotas(
            conn, [("user", None), ("client-id", "app/1")], {"producer_byte_rate": 1024.0}, []
        )
    expected = [
        {"entity": {"client-id": "greedy"}, "values": {"request_percentage": 0.0001}},
        {"entity": {"user": None, "client-id": "app/1"}, "values": {"producer_byte_rate": 1024.0}},
    ]
    start = time.monotonic()
    for broker in cluster.brokers.values():
        while sorted(map(json.dumps, describe_all(broker))) != sorted(map(json.dumps, expected)):
            assert time.monotonic() - start < GUARD_S, f"broker {broker.broker_id} lags"
            time.sleep(0.02)
    took = time.monotonic() - start
    assert took < 1.0, f"the change reached every broker only after {took:.2f}s"
    assert throttle_ms(third, "greedy") == 1000
    assert throttle_ms(third, "modest") == 0

    zk = KazooClient(hosts=zk_connect)
    zk.start(timeout=GUARD_S)
    try:
        node = json.loads(zk.get("/config/clients/greedy")[0])
        assert node == {"version": 1, "config": {"request_percentage": "0.0001"}}
        node = json.loads(zk.get("/config/users/<default>/clients/app%2F1")[0])
        assert node == {"version": 1, "config": {"producer_byte_rate": "1024"}}
        notes = [
            json.loads(zk.get(f"/config/changes/{c}")[0])
            for c in zk.get_children("/config/changes")
        ]
        assert {"version": 2, "entity_path": "clients/greedy"} in notes
        assert {"version": 2, "entity_path": "users/<default>/clients/app%2F1"} in notes
        # Written by Kafka's own tools (or by hand) and notified: applied too.
        zk.create(
            "/config/clients/byhand",
            json.dumps({"version": 1, "config": {"request_percentage": "0.0001"}}).encode(),
            makepath=True,
        )
        zk.create(
            "/config/changes/config_change_",
            json.dumps({"version": 2, "entity_path": "clients/byhand"}).encode(),
            sequence=True,
        )
    finally:
        zk.stop()
        zk.close()
    deadline = time.monotonic() + GUARD_S
    while throttle_ms(third, "byhand") == 0:
        assert time.monotonic() < deadline, "the notified quota was not applied"

    # Removed through another broker: no longer applied.
    with Connection("127.0.0.1", cluster.brokers[2].port, 10.0) as conn:
        alter_quotas(conn, [("client-id", "greedy")], {}, ["request_percentage"])
        alter_quotas(conn, [("user", None), ("client-id", "app/1")], {}, ["producer_byte_rate"])
    deadline = time.monotonic() + GUARD_S
    while throttle_ms(third, "greedy") != 0:
        assert time.monotonic() < deadline, "the removed quota is still applied"
    # Emptied entities leave no znodes behind (Kafka's tryCleanQuotaNodes).
    zk = KazooClient(hosts=zk_connect)
    zk.start(timeout=GUARD_S)
    try:
        assert zk.exists("/config/clients/greedy") is None
        assert zk.exists("/config/users/<default>") is None
    finally:
        zk.stop()
        zk.close()

    # A broker started later loads the quotas at start-up.
    third.stop()
    third.start()
    assert throttle_ms(third, "byhand") == 1000


def create_topics(broker, client_id: str, partitions: dict[str, int]) -> dict[str, int]:
    """CreateTopics v7 through `broker` as `client_id`: {topic: error code}."""
    Request = messages.request_type(ApiKey.CREATE_TOPICS)
    topics = [
        Request.CreatableTopic(
            name=name, num_partitions=count, replication_factor=1, assignments=[], configs=[]
        )
        for name, count in partitions.items()
    ]
    with Connection("127.0.0.1", broker.port, GUARD_S, client_id=client_id) as conn:
        answer = conn.request(
            ApiKey.CREATE_TOPICS,
            Request(topics=topics, timeout_ms=GUARD_S * 1000, validate_only=False),
        )
    return {t.name: t.error_code for t in answer.topics}


def test_each_broker_applies_the_controller_mutation_quota_to_its_own_requests(
    cluster_factory,
) -> None:
    # As Kafka's ZooKeeper-mode brokers (ZkAdminManager): whichever broker receives a
    # CreateTopics counts it against its own bucket (here 2/s x 5 windows = 10).
    cluster = cluster_factory(controller_quota_window_num="5")
    with Connection("127.0.0.1", cluster.brokers[1].port, 10.0) as conn:
        alter_quotas(conn, [("client-id", "limited")], {"controller_mutation_rate": 2.0}, [])
    expected = [{"entity": {"client-id": "limited"}, "values": {"controller_mutation_rate": 2.0}}]
    deadline = time.monotonic() + GUARD_S
    for broker in cluster.brokers.values():
        while describe_all(broker) != expected:
            assert time.monotonic() < deadline, f"broker {broker.broker_id} lags"
            time.sleep(0.02)
    second, third = cluster.brokers[2], cluster.brokers[3]
    errors = create_topics(second, "limited", {"m1": 10, "m2": 10, "m3": 1})
    assert errors == {"m1": 0, "m2": 0, "m3": ErrorCode.THROTTLING_QUOTA_EXCEEDED}
    assert create_topics(third, "limited", {"m3": 1}) == {"m3": 0}  # its bucket is full
    assert create_topics(second, "other", {"m4": 30}) == {"m4": 0}
