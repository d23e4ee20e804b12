"""A KIP-848 consumer group in a ZooKeeper cluster: when its coordinator's broker is
killed, the new leader of the group's `__consumer_offsets` partition replays the
group's records, and the running member carries on at its epoch with its partitions
and committed offsets. Real ZooKeeper, 3 broker processes, librdkafka with
`group.protocol=consumer`."""

from __future__ import annotations

import time

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient

from tests.cluster.cluster_fixtures import cluster_factory_fixture  # noqa: F401
from tests.cluster.test_failover import GUARD_S, create_topic


def _poll_until(consumer: Consumer, values: list[int], count: int) -> None:
    deadline = time.monotonic() + GUARD_S
    while len(values) < count:
        assert time.monotonic() < deadline, f"consumed {len(values)} of {count}"
        message = consumer.poll(0.5)
        if message is None or message.error():
            continue
        values.append(int(message.value()))
        try:
            consumer.commit(message=message, asynchronous=False)
        except KafkaException:
            pass  # the coordinator is moving: the next commit carries this one too


def test_a_kip848_group_moves_with_its_offsets_partition(cluster_factory):
    cluster = cluster_factory(
        3,
        group_consumer_heartbeat_interval_ms="500",
        group_consumer_session_timeout_ms="20000",
    )
    create_topic(cluster.bootstrap, "moving-group", partitions=2)
    producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
    for i in range(50):
        producer.produce("moving-group", str(i).encode(), partition=i % 2)
    assert producer.flush(GUARD_S) == 0
    consumer = Consumer(
        {
            "bootstrap.servers": cluster.bootstrap,
            "group.id": "moving",
            "group.protocol": "consumer",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe(["moving-group"])
    values: list[int] = []
    try:
        _poll_until(consumer, values, 50)
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
        before = admin.describe_consumer_groups(["moving"])["moving"].result(GUARD_S)
        assert len(before.members) == 1
        member_id = before.members[0].member_id
        cluster.brokers[before.coordinator.id].kill()
        rest = ",".join(b.bootstrap for b in cluster.brokers.values() if b.alive)
        survivors = Producer({"bootstrap.servers": rest, "acks": "all"})
        for i in range(50, 100):
            survivors.produce("moving-group", str(i).encode(), partition=i % 2)
        assert survivors.flush(GUARD_S) == 0
        # The same member keeps consuming: no record lost, none read twice.
        _poll_until(consumer, values, 100)
        assert sorted(values) == list(range(100))
        admin = AdminClient({"bootstrap.servers": rest})
        after = admin.describe_consumer_groups(["moving"])["moving"].result(GUARD_S)
        assert after.coordinator.id != before.coordinator.id
        assert [m.member_id for m in after.members] == [member_id]
    finally:
        consumer.close()
