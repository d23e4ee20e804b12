"""ACLs in a 3-broker ZooKeeper cluster (real ZooKeeper, broker processes).

An ACL created through one broker is kept in Kafka's znodes and JSON
(/kafka-acl/Topic/<name>, a /kafka-acl-changes notification) and every broker
enforces it as soon as ZooKeeper's watch arrives; its removal likewise. The brokers
keep replicating with the authorizer on (allow.everyone.if.no.acl.found: no ACL on
the cluster resource, so their CLUSTER_ACTION is allowed, as in Kafka).
"""

from __future__ import annotations

import json
import time

from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)
from kazoo.client import KazooClient

from kafka_compat.tools.connection import Connection
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode
from tests.cluster.cluster_fixtures import cluster_factory_fixture  # noqa: F401
from tests.cluster.test_failover import GUARD_S, create_topic

TOPIC = "guarded"
M = messages.request_type(ApiKey.METADATA)
DENY_DESCRIBE = AclBinding(
    ResourceType.TOPIC,
    TOPIC,
    ResourcePatternType.LITERAL,
    "User:ANONYMOUS",
    "*",
    AclOperation.DESCRIBE,
    AclPermissionType.DENY,
)


def topic_error(broker) -> int:
    """What this broker's Metadata answers for TOPIC."""
    with Connection("127.0.0.1", broker.port, 30.0) as conn:
        answer = conn.request(ApiKey.METADATA, M(topics=[M.MetadataRequestTopic(name=TOPIC)]), 9)
    (topic,) = answer.topics
    return topic.error_code


def wait_all(cluster, expected: int) -> float:
    """Poll every broker until each answers `expected`; the seconds it took."""
    start = time.monotonic()
    for broker in cluster.brokers.values():
        while topic_error(broker) != expected:
            assert time.monotonic() - start < GUARD_S, f"broker {broker.broker_id} lags"
            time.sleep(0.02)
    return time.monotonic() - start


def test_an_acl_made_through_one_broker_is_enforced_by_all(cluster_factory):
    cluster = cluster_factory(
        authorizer_class_name="kafka.security.authorizer.AclAuthorizer",
        allow_everyone_if_no_acl_found="true",
    )
    create_topic(cluster.bootstrap, TOPIC, partitions=3, rf=3)
    wait_all(cluster, ErrorCode.NONE)
    first = cluster.brokers[1]
    admin = AdminClient({"bootstrap.servers": first.bootstrap})
    admin.create_acls([DENY_DESCRIBE])[DENY_DESCRIBE].result(GUARD_S)
    took = wait_all(cluster, ErrorCode.TOPIC_AUTHORIZATION_FAILED)
    print(f"enforced by every broker after {took:.3f}s")

    zk = KazooClient(hosts=cluster.zk_connect)
    zk.start()
    try:
        data, _ = zk.get(f"/kafka-acl/Topic/{TOPIC}")
        assert json.loads(data) == {
            "version": 1,
            "acls": [
                {
                    "principal": "User:ANONYMOUS",
                    "permissionType": "Deny",
                    "operation": "Describe",
                    "host": "*",
                }
            ],
        }
        notes = zk.get_children("/kafka-acl-changes")
        assert any(n.startswith("acl_changes_") for n in notes)
    finally:
        zk.stop()

    # Another broker answers DescribeAcls the same, and removes it for everyone.
    other = AdminClient({"bootstrap.servers": cluster.brokers[3].bootstrap})
    described = other.describe_acls(
        AclBindingFilter(
            ResourceType.ANY,
            None,
            ResourcePatternType.ANY,
            None,
            None,
            AclOperation.ANY,
            AclPermissionType.ANY,
        )
    ).result(GUARD_S)
    assert [(b.name, b.operation) for b in described] == [(TOPIC, AclOperation.DESCRIBE)]
    wanted = AclBindingFilter(
        ResourceType.TOPIC,
        TOPIC,
        ResourcePatternType.LITERAL,
        None,
        None,
        AclOperation.ANY,
        AclPermissionType.ANY,
    )
    other.delete_acls([wanted])[wanted].result(GUARD_S)
    wait_all(cluster, ErrorCode.NONE)

    # Replication went on under the authorizer: every partition has its full ISR.
    with Connection("127.0.0.1", first.port, 30.0) as conn:
        answer = conn.request(ApiKey.METADATA, M(topics=[M.MetadataRequestTopic(name=TOPIC)]), 9)
    assert all(len(p.isr_nodes) == 3 for p in answer.topics[0].partitions)
