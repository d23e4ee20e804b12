"""Explicit replica assignments (CreateTopics, CreatePartitions) keep each partition's
replicas in the order given, and the first is the leader, in a cluster as on one node
(librdkafka's admin tests check the order)."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

from tests.cluster.cluster_fixtures import cluster_factory_fixture  # noqa: F401

GUARD_S = 30


def wait_for_assignment(admin: AdminClient, topic: str, expected: list[list[int]]) -> dict:
    """Metadata's partitions of `topic` once it lists them all with leaders elected."""
    deadline = time.monotonic() + GUARD_S
    while True:
        partitions = admin.list_topics(topic, timeout=10).topics[topic].partitions
        if len(partitions) == len(expected) and all(p.leader >= 0 for p in partitions.values()):
            return partitions
        assert time.monotonic() < deadline, f"{topic}: partitions {partitions}"
        time.sleep(0.1)


def test_replicas_keep_the_given_order_and_the_first_leads(cluster_factory):
    cluster = cluster_factory(3)  # brokers 1, 2, 3
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    created = [[3, 1, 2], [2, 3, 1], [1, 3, 2], [3, 2, 1]]
    admin.create_topics([NewTopic("ordered", len(created), replica_assignment=created)])[
        "ordered"
    ].result(GUARD_S)
    partitions = wait_for_assignment(admin, "ordered", created)
    assert [partitions[p].replicas for p in range(len(created))] == created
    assert [partitions[p].leader for p in range(len(created))] == [r[0] for r in created]

    added = [[2, 1, 3], [3, 1, 2]]
    admin.create_partitions([NewPartitions("ordered", 6, replica_assignment=added)])[
        "ordered"
    ].result(GUARD_S)
    everything = created + added
    partitions = wait_for_assignment(admin, "ordered", everything)
    assert [partitions[p].replicas for p in range(6)] == everything
    assert [partitions[p].leader for p in range(6)] == [r[0] for r in everything]


def test_a_broker_named_twice_is_refused(cluster_factory):
    cluster = cluster_factory(3)
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    future = admin.create_topics([NewTopic("twice", 1, replica_assignment=[[1, 1, 2]])])["twice"]
    with pytest.raises(KafkaException) as refused:
        future.result(GUARD_S)
    assert refused.value.args[0].code() == KafkaError.INVALID_REPLICA_ASSIGNMENT

    admin.create_topics([NewTopic("grown", 1, replica_assignment=[[1, 2]])])["grown"].result(
        GUARD_S
    )
    future = admin.create_partitions([NewPartitions("grown", 2, replica_assignment=[[3, 3]])])
    with pytest.raises(KafkaException) as refused:
        future["grown"].result(GUARD_S)
    assert refused.value.args[0].code() == KafkaError.INVALID_REPLICA_ASSIGNMENT
    assert len(admin.list_topics("grown", timeout=10).topics["grown"].partitions) == 1

    # A different replication factor than partition 0's is refused, with Kafka's message.
    future = admin.create_partitions([NewPartitions("grown", 3, replica_assignment=[[3], [2, 3]])])
    with pytest.raises(KafkaException) as refused:
        future["grown"].result(GUARD_S)
    error = refused.value.args[0]
    assert error.code() == KafkaError.INVALID_REPLICA_ASSIGNMENT
    assert "partition 0 has 2 while partitions [1] have replication factors [1]" in error.str()
    assert len(admin.list_topics("grown", timeout=10).topics["grown"].partitions) == 1
