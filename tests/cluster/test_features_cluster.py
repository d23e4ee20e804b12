"""Finalized features and KIP-951 leader hints in a ZooKeeper cluster (real ZooKeeper,
broker processes), as Kafka 3.9 in ZooKeeper mode.

- The controller creates /feature ({"version":2,"status":1,"features":{}}); every
  broker reports its features (none) and epoch (the znode's version) in ApiVersions.
- A feature finalized in /feature by someone else shows on every broker; the
  controller's UpdateFeatures refuses a downgrade without SAFE_DOWNGRADE, the same
  level, a SAFE_DOWNGRADE above the level and an unsupported level, deletes it on
  request, and answers once its broker reports the new epoch. Other brokers answer
  NOT_CONTROLLER.
- Fetch v16 at a broker that holds no replica answers NOT_LEADER_OR_FOLLOWER with the
  leader and its epoch, and the leader's endpoint (KIP-951); v12 without them.
"""

from __future__ import annotations

import json
import time

from kazoo.client import KazooClient

from kafka_compat.tools.connection import Connection
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode
from tests.cluster.cluster_fixtures import cluster_factory_fixture  # noqa: F401
from tests.cluster.test_failover import GUARD_S, controller_of, create_topic, leader_of

AV = messages.request_type(ApiKey.API_VERSIONS)
UF = messages.request_type(ApiKey.UPDATE_FEATURES)
F = messages.request_type(ApiKey.FETCH)
M = messages.request_type(ApiKey.METADATA)


def connect(broker) -> Connection:
    return Connection("127.0.0.1", broker.port, 30.0)


def features_of(broker) -> tuple[dict[str, int], int]:
    with connect(broker) as conn:
        request = AV(client_software_name="apache-kafka-java", client_software_version="3.9.1")
        answer = conn.request(ApiKey.API_VERSIONS, request, 3)
    assert answer.supported_features == []
    finalized = {f.name: f.max_version_level for f in answer.finalized_features}
    return finalized, answer.finalized_features_epoch


def wait_features(cluster, expected: tuple[dict[str, int], int]) -> None:
    deadline = time.monotonic() + GUARD_S
    for broker in cluster.brokers.values():
        while (found := features_of(broker)) != expected:
            assert time.monotonic() < deadline, f"broker {broker.broker_id}: {found}"
            time.sleep(0.1)


def update(broker, feature: str, level: int, upgrade_type: int) -> tuple[int, str | None]:
    with connect(broker) as conn:
        answer = conn.request(
            ApiKey.UPDATE_FEATURES,
            UF(
                timeout_ms=30_000,
                feature_updates=[
                    UF.FeatureUpdateKey(
                        feature=feature, max_version_level=level, upgrade_type=upgrade_type
                    )
                ],
            ),
            1,
        )
    if answer.error_code != ErrorCode.NONE:
        return answer.error_code, answer.error_message
    [result] = answer.results
    assert result.feature == feature
    return result.error_code, result.error_message


def test_the_controller_keeps_finalized_features_in_the_feature_znode(cluster_factory):
    cluster = cluster_factory(size=2)
    zk = KazooClient(hosts=cluster.zk_connect)
    zk.start(timeout=30)
    try:
        wait_features(cluster, ({}, 0))
        data, stat = zk.get("/feature")
        assert json.loads(data) == {"features": {}, "version": 2, "status": 1}

        controller = cluster.brokers[controller_of(cluster.bootstrap)]
        other = next(b for b in cluster.brokers.values() if b is not controller)
        assert update(other, "x.version", 0, 2)[0] == ErrorCode.NOT_CONTROLLER

        # Finalized by someone else (another broker version, an operator).
        zk.set(
            "/feature",
            json.dumps(
                {"features": {"x.version": {"max_version_level": 2}}, "version": 2, "status": 1}
            ).encode(),
            version=stat.version,
        )
        wait_features(cluster, ({"x.version": 2}, 1))

        assert update(controller, "x.version", 1, 1) == (
            ErrorCode.INVALID_REQUEST,
            "Can not downgrade finalized feature from existing versionLevel:2 to provided"
            " versionLevel:1 without setting the downgradeType to SAFE in the request.",
        )
        assert update(controller, "x.version", 2, 1) == (
            ErrorCode.INVALID_REQUEST,
            "Can not upgrade a finalized feature from existing versionLevel:2 to the same value.",
        )
        assert update(controller, "x.version", 3, 2) == (
            ErrorCode.INVALID_REQUEST,
            "When the downgradeType is set to SAFE in the request, the provided"
            " versionLevel:3 can not be greater than existing versionLevel:2.",
        )
        assert update(controller, "x.version", 3, 1) == (
            ErrorCode.INVALID_REQUEST,
            "Could not apply finalized feature update because the provided feature"
            " is not supported.",
        )
        assert features_of(controller) == ({"x.version": 2}, 1)

        assert update(controller, "x.version", 0, 2) == (ErrorCode.NONE, "NONE")  # as Kafka
        assert features_of(controller) == ({}, 2)  # answered once its copy had it
        wait_features(cluster, ({}, 2))
        assert json.loads(zk.get("/feature")[0])["features"] == {}
    finally:
        zk.stop()
        zk.close()


def test_fetch_v16_names_the_leader_on_not_leader_or_follower(cluster_factory):
    cluster = cluster_factory(size=2)
    create_topic(cluster.bootstrap, "hint", partitions=1, rf=1)
    leader = leader_of(cluster.bootstrap, "hint", 0)
    other = next(b for i, b in cluster.brokers.items() if i != leader)
    with connect(other) as conn:
        deadline = time.monotonic() + GUARD_S
        while True:
            meta = conn.request(ApiKey.METADATA, M(topics=[M.MetadataRequestTopic(name="hint")]))
            [topic] = meta.topics
            if topic.error_code == ErrorCode.NONE and topic.partitions:
                break
            assert time.monotonic() < deadline, "no metadata for the topic"
            time.sleep(0.1)
        epoch = topic.partitions[0].leader_epoch

        def fetch(version: int):
            part = F.FetchPartition(partition=0, fetch_offset=0, partition_max_bytes=1 << 20)
            named = {"topic_id": topic.topic_id} if version >= 13 else {"topic": "hint"}
            request = F(
                replica_id=-1,
                max_wait_ms=0,
                min_bytes=1,
                max_bytes=1 << 20,
                session_epoch=-1,
                topics=[F.FetchTopic(partitions=[part], **named)],
                rack_id="",
            )
            return conn.request(ApiKey.FETCH, request, version)

        answer = fetch(16)
        [data] = answer.responses[0].partitions
        assert data.error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER
        assert (data.current_leader.leader_id, data.current_leader.leader_epoch) == (
            leader,
            epoch,
        )
        assert [(n.node_id, n.host, n.port) for n in answer.node_endpoints] == [
            (leader, "127.0.0.1", cluster.brokers[leader].port)
        ]

        old = fetch(12)
        [data] = old.responses[0].partitions
        assert data.error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER
        assert data.current_leader is None
