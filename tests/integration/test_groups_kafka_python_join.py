"""A group of kafka-python consumers started one after another settles as on Kafka:
with Kafka's defaults (group.initial.rebalance.delay.ms 3000, kafka-python's own
timeouts), four members of one group own every partition of the topic between them,
each partition exactly once, and the group is Stable, within seconds."""

from __future__ import annotations

import threading
import time

import pytest
from confluent_kafka import ConsumerGroupState
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaConsumer

PARTITIONS = 8
MEMBERS = 4
GUARD_S = 15.0  # failure guard: Kafka settles such a group in about 5 s


class Member(threading.Thread):
    """One KafkaConsumer polling in its own thread; `assignment` is what it owns."""

    def __init__(self, bootstrap: str, group: str, topic: str):
        super().__init__(daemon=True)
        self.bootstrap, self.group, self.topic = bootstrap, group, topic
        self.assignment: frozenset[int] = frozenset()
        self.running = True
        self.started = threading.Event()

    def run(self) -> None:
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=self.group)
        try:
            consumer.subscribe([self.topic])
            self.started.set()
            while self.running:
                consumer.poll(timeout_ms=100)
                self.assignment = frozenset(tp.partition for tp in consumer.assignment())
        finally:
            consumer.close()


@pytest.mark.parametrize("gap_s", [0.0, 1.0])
def test_four_members_started_one_after_another_settle(broker, gap_s):
    """Kafka's delayed initial rebalance gathers them in one generation (about 6 s:
    each arrival within the 3 s delay extends it once more)."""
    topic, group = "joined", "four"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(10)
    members = [Member(broker.bootstrap, group, topic) for _ in range(MEMBERS)]
    try:
        deadline = time.monotonic() + GUARD_S
        for member in members:  # one after another, as a deployment starts them
            member.start()
            assert member.started.wait(GUARD_S)
            time.sleep(gap_s)  # the pace of a deployment, not synchronisation

        def settled() -> bool:
            owned = [m.assignment for m in members]
            if any(not a for a in owned) or sum(map(len, owned)) != PARTITIONS:
                return False
            if frozenset().union(*owned) != frozenset(range(PARTITIONS)):
                return False
            described = admin.describe_consumer_groups([group])[group].result(10)
            return (
                described.state == ConsumerGroupState.STABLE and len(described.members) == MEMBERS
            )

        while not settled():
            assert time.monotonic() < deadline, [sorted(m.assignment) for m in members]
            time.sleep(0.1)
    finally:
        for member in members:
            member.running = False
        for member in members:
            member.join(GUARD_S)
