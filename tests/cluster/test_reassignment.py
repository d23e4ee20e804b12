"""Partition reassignment (kafka-reassign-partitions.sh's API, KIP-455) moves replicas
between brokers while an idempotent acks=all producer writes: the new replicas catch
up, leadership moves into the target, the old replicas are deleted, and every
acknowledged message is read back exactly once. Real ZooKeeper, 3 broker processes;
kafka-python's admin client (confluent-kafka has no reassignment API)."""

from __future__ import annotations

import time

import trio
from confluent_kafka import Consumer, Producer
from confluent_kafka import TopicPartition as ConfluentTopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaAdminClient, TopicPartition
from kafka.errors import InvalidReplicationAssignmentError, NoReassignmentInProgressError

from kafka_compat.cluster.client import BrokerClient
from protocol import messages
from tests.cluster.cluster_fixtures import cluster_factory_fixture  # noqa: F401
from tests.cluster.test_failover import (
    GUARD_S,
    PRODUCER,
    TOPIC,
    check_exactly_once,
    controller_of,
)
from tests.integration.test_crash_recovery import SequenceProducer

AlterRequest = messages.request_type(45)
ListRequest = messages.request_type(46)
BEFORE = [[1, 2], [2, 1], [1, 2]]
AFTER = [[3, 2], [2, 3], [3, 1]]  # partition 0 and 1 leave broker 1, 0 and 2 gain broker 3


def _replicas(bootstrap: str) -> list[list[int]]:
    meta = AdminClient({"bootstrap.servers": bootstrap}).list_topics(TOPIC, timeout=10)
    partitions = meta.topics[TOPIC].partitions
    return [list(partitions[p].replicas) for p in sorted(partitions)]


def test_partitions_move_to_other_brokers_while_a_producer_writes(cluster_factory):
    cluster = cluster_factory(3)
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    topic = NewTopic(TOPIC, len(BEFORE), replica_assignment=BEFORE)
    admin.create_topics([topic])[TOPIC].result(GUARD_S)
    producer = SequenceProducer(cluster.bootstrap, TOPIC, PRODUCER, pause_s=0.002)
    producer.thread.start()
    reassigner = KafkaAdminClient(bootstrap_servers=cluster.bootstrap)
    try:
        producer.wait_for_more_acks(2000)
        results = reassigner.alter_partition_reassignments(
            {TopicPartition(TOPIC, p): replicas for p, replicas in enumerate(AFTER)}
        )
        assert results == {TopicPartition(TOPIC, p): None for p in range(3)}
        deadline = time.monotonic() + GUARD_S
        while reassigner.list_partition_reassignments() or _replicas(cluster.bootstrap) != AFTER:
            assert time.monotonic() < deadline, "the reassignment did not finish"
            time.sleep(0.2)
        producer.wait_for_more_acks(2000)
    finally:
        producer.finish()
    check_exactly_once(producer, cluster.bootstrap)
    # The replicas that left are deleted; the new ones hold the partitions.
    deadline = time.monotonic() + GUARD_S
    while {f"{TOPIC}-0", f"{TOPIC}-1"} & {p.name for p in cluster.brokers[1].data_dir.iterdir()}:
        assert time.monotonic() < deadline, "broker 1 kept the replicas it gave up"
        time.sleep(0.2)
    assert {f"{TOPIC}-0", f"{TOPIC}-1", f"{TOPIC}-2"} <= {
        p.name for p in cluster.brokers[3].data_dir.iterdir()
    }
    # Nothing left to cancel; a broker that does not exist cannot take a replica.
    partition = TopicPartition(TOPIC, 0)
    assert reassigner.alter_partition_reassignments({partition: None}) == {
        partition: NoReassignmentInProgressError
    }
    assert reassigner.alter_partition_reassignments({partition: [1, 9]}) == {
        partition: InvalidReplicationAssignmentError
    }
    reassigner.close()


async def _reassignment_call(port: int, api_key: int, request):
    async with BrokerClient("127.0.0.1", port, "test") as client:
        with trio.fail_after(GUARD_S):
            return await client.send(api_key, 0, request)


async def test_a_new_controller_finishes_a_reassignment_the_old_one_started(cluster_factory):
    """The request goes straight to the controller over our own client: a paused
    broker would hold up kafka-python's metadata requests."""
    cluster = cluster_factory(3)
    controller = controller_of(cluster.bootstrap)
    paused, other = [b for b in cluster.brokers if b != controller]
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    topic = NewTopic("resumed", 1, replica_assignment=[[controller, other]])
    admin.create_topics([topic])["resumed"].result(GUARD_S)
    producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
    for i in range(100):
        producer.produce("resumed", str(i).encode())
    assert producer.flush(GUARD_S) == 0
    # The new replica cannot catch up while it is paused: the reassignment waits.
    cluster.brokers[paused].pause()
    alter = AlterRequest(
        timeout_ms=30000,
        topics=[
            AlterRequest.ReassignableTopic(
                name="resumed",
                partitions=[
                    AlterRequest.ReassignablePartition(partition_index=0, replicas=[other, paused])
                ],
            )
        ],
    )
    answer = await _reassignment_call(cluster.brokers[controller].port, 45, alter)
    assert answer.error_code == 0 and answer.responses[0].partitions[0].error_code == 0
    running = await _reassignment_call(cluster.brokers[controller].port, 46, ListRequest())
    ongoing = running.topics[0].partitions[0]
    assert (ongoing.replicas, ongoing.adding_replicas, ongoing.removing_replicas) == (
        [other, paused, controller],
        [paused],
        [controller],
    )
    cluster.brokers[controller].kill()
    cluster.brokers[paused].resume()
    deadline = time.monotonic() + GUARD_S
    while True:  # until the new controller (either survivor) has finished it
        answers = [
            await _reassignment_call(cluster.brokers[b].port, 46, ListRequest())
            for b in (other, paused)
        ]
        if any(a.error_code == 0 and not a.topics for a in answers):
            break
        assert time.monotonic() < deadline, "the new controller did not finish it"
        await trio.sleep(0.2)
    # Metadata reaches the other broker by UpdateMetadata, a moment after the end.
    survivors = f"{cluster.brokers[other].bootstrap},{cluster.brokers[paused].bootstrap}"
    survivor_admin = AdminClient({"bootstrap.servers": survivors})
    while True:
        meta = survivor_admin.list_topics("resumed", timeout=10)
        if list(meta.topics["resumed"].partitions[0].replicas) == [other, paused]:
            break
        assert time.monotonic() < deadline, "metadata kept the old replicas"
        await trio.sleep(0.2)
    consumer = Consumer({"bootstrap.servers": survivors, "group.id": "resumed"})
    consumer.assign([ConfluentTopicPartition("resumed", 0, 0)])
    values = []
    while len(values) < 100:
        message = consumer.poll(GUARD_S)
        assert message is not None and message.error() is None
        values.append(int(message.value()))
    consumer.close()
    assert values == list(range(100))
