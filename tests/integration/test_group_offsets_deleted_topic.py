"""A deleted topic's committed offsets leave the groups (Kafka's onPartitionsDeleted).

Kafka Streams' reset tool deletes an application's repartition and changelog topics, and
the application creates them again under the same names; a consumer group that kept the
old topic's offsets would start the new, empty topic past its end and skip the first
records written to it. Kafka removes them when the topic goes (tombstones in
__consumer_offsets), and an Empty group left without offsets with them.
"""

from __future__ import annotations

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

GUARD_S = 60.0
TOPIC = "recreated"
GROUP = "app"


def committed_offsets(admin: AdminClient, group: str) -> dict[tuple[str, int], int]:
    request = [ConsumerGroupTopicPartitions(group)]
    listed = admin.list_consumer_group_offsets(request)[group].result(GUARD_S)
    return {(tp.topic, tp.partition): tp.offset for tp in listed.topic_partitions}


def create(admin: AdminClient, name: str) -> None:
    admin.create_topics([NewTopic(name, 2, 1)])[name].result(GUARD_S)


def test_deleting_a_topic_removes_its_committed_offsets(broker_factory):
    broker = broker_factory(group_initial_rebalance_delay_ms="0")
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    create(admin, TOPIC)
    create(admin, "kept")
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": GROUP})
    commits = [
        TopicPartition(TOPIC, 0, 5),
        TopicPartition(TOPIC, 1, 7),
        TopicPartition("kept", 0, 3),
    ]
    consumer.commit(offsets=commits, asynchronous=False)
    consumer.close()
    assert committed_offsets(admin, GROUP) == {(TOPIC, 0): 5, (TOPIC, 1): 7, ("kept", 0): 3}

    admin.delete_topics([TOPIC])[TOPIC].result(GUARD_S)
    # Only the deleted topic's offsets went
    assert committed_offsets(admin, GROUP) == {("kept", 0): 3}

    # The topic created again: the group reads it from the start, not from offset 5
    create(admin, TOPIC)
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(3):
        producer.produce(TOPIC, value=b"v%d" % i, partition=0)
    assert producer.flush(GUARD_S) == 0
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": GROUP,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(TOPIC, 0)])
    seen = []
    while len(seen) < 3:
        msg = consumer.poll(GUARD_S)
        assert msg is not None and msg.error() is None, msg and msg.error()
        seen.append((msg.offset(), msg.value()))
    consumer.close()
    assert seen == [(0, b"v0"), (1, b"v1"), (2, b"v2")]

    # The tombstones are in __consumer_offsets: a restart does not bring the offsets back
    broker.restart()
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    assert committed_offsets(admin, GROUP) == {("kept", 0): 3}


def test_an_empty_group_left_without_offsets_is_removed(broker_factory):
    broker = broker_factory()
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    create(admin, TOPIC)
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": GROUP})
    consumer.commit(offsets=[TopicPartition(TOPIC, 0, 1)], asynchronous=False)
    consumer.close()
    assert GROUP in {g.group_id for g in admin.list_consumer_groups().result(GUARD_S).valid}

    admin.delete_topics([TOPIC])[TOPIC].result(GUARD_S)
    assert GROUP not in {g.group_id for g in admin.list_consumer_groups().result(GUARD_S).valid}
