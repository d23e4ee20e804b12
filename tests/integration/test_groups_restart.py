"""Committed offsets and group state survive a broker restart.

A static member (group.instance.id) consumes part of a topic, commits, and closes;
static members do not leave on close, so the group is still Stable with that member
when the broker stops. After the restart the broker has reloaded __consumer_offsets:
the group, its member, assignment and offsets are described as before, and the
consumer started again resumes exactly at its committed offsets. Simple consumers
(no membership, generation -1) keep their offsets and metadata strings too.
"""

from __future__ import annotations

import time

from confluent_kafka import (
    Consumer,
    ConsumerGroupState,
    ConsumerGroupTopicPartitions,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaConsumer, OffsetAndMetadata
from kafka import TopicPartition as KpTopicPartition

GUARD_S = 60.0
TOPIC = "restart-topic"
PARTITIONS = 2
GROUP = "restart-group"


def produce(bootstrap: str, per_partition: int, start: int = 0) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for p in range(PARTITIONS):
        for i in range(start, start + per_partition):
            producer.produce(TOPIC, value=f"{p}-{i}".encode(), partition=p)
    assert producer.flush(GUARD_S) == 0


def static_member(bootstrap: str) -> Consumer:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": GROUP,
            "group.instance.id": "instance-1",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 30000,
        }
    )
    consumer.subscribe([TOPIC])
    return consumer


def consume(consumer: Consumer, n: int) -> list[tuple[int, int]]:
    """(partition, offset) of the next n records."""
    got: list[tuple[int, int]] = []
    deadline = time.monotonic() + GUARD_S
    while len(got) < n:
        assert time.monotonic() < deadline, f"consumed {len(got)} of {n}"
        for message in consumer.consume(num_messages=n - len(got), timeout=0.5):
            assert message.error() is None, message.error()
            got.append((message.partition(), message.offset()))
    return got


def describe(admin: AdminClient):
    return admin.describe_consumer_groups([GROUP])[GROUP].result(GUARD_S)


def committed(admin: AdminClient) -> dict[int, int]:
    request = ConsumerGroupTopicPartitions(GROUP)
    result = admin.list_consumer_group_offsets([request])[GROUP].result(GUARD_S)
    return {tp.partition: tp.offset for tp in result.topic_partitions if tp.topic == TOPIC}


def test_consumer_resumes_at_its_committed_offsets_after_a_broker_restart(broker_factory):
    broker = broker_factory(group_initial_rebalance_delay_ms="0")
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])[TOPIC].result(GUARD_S)
    produce(broker.bootstrap, 50)

    consumer = static_member(broker.bootstrap)
    seen = consume(consumer, 60)
    positions = {}
    for partition, offset in seen:
        positions[partition] = max(positions.get(partition, 0), offset + 1)
    consumer.commit(
        offsets=[TopicPartition(TOPIC, p, o) for p, o in positions.items()], asynchronous=False
    )
    consumer.close()  # a static member does not leave the group
    before = describe(admin)
    assert before.state == ConsumerGroupState.STABLE
    assert committed(admin) == positions

    broker.restart()
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    after = describe(admin)
    assert after.state == ConsumerGroupState.STABLE
    assert after.partition_assignor == before.partition_assignor == "range"
    assert [(m.member_id, m.group_instance_id) for m in after.members] == [
        (m.member_id, m.group_instance_id) for m in before.members
    ]
    assert after.members[0].group_instance_id == "instance-1"
    assert sorted(tp.partition for tp in after.members[0].assignment.topic_partitions) == [0, 1]
    assert committed(admin) == positions

    produce(broker.bootstrap, 10, start=50)
    consumer = static_member(broker.bootstrap)
    try:
        rest = consume(consumer, 2 * 60 - sum(positions.values()))
    finally:
        consumer.close()
    # Exactly the records after the committed offsets, none before, none missing.
    for p in range(PARTITIONS):
        assert sorted(o for q, o in rest if q == p) == list(range(positions.get(p, 0), 60))


def test_simple_consumer_offsets_and_metadata_survive_a_restart(broker_factory):
    broker = broker_factory()
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])[TOPIC].result(GUARD_S)
    tp0, tp1 = KpTopicPartition(TOPIC, 0), KpTopicPartition(TOPIC, 1)

    # kafka-python: assign() and commit, no group membership (generation -1).
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id="simple-kp")
    consumer.assign([tp0, tp1])
    consumer.commit({tp0: OffsetAndMetadata(7, "kafka-python state", -1)})
    consumer.close()
    # librdkafka checks that commit metadata comes back from OffsetFetch.
    rd = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "simple-rd"})
    rd.commit(offsets=[TopicPartition(TOPIC, 1, 11, metadata="rdkafka state")], asynchronous=False)
    rd.close()

    broker.restart()

    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id="simple-kp")
    try:
        assert consumer.committed(tp0, metadata=True)[:2] == (7, "kafka-python state")
        assert consumer.committed(tp1) is None
    finally:
        consumer.close()
    rd = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "simple-rd"})
    try:
        (tp,) = rd.committed([TopicPartition(TOPIC, 1)], timeout=GUARD_S)
        assert (tp.offset, tp.metadata) == (11, "rdkafka state")
    finally:
        rd.close()
