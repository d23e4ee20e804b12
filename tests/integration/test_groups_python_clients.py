"""kafka-python and aiokafka consumer groups against the broker.

For each client, two members of one group: A joins alone and owns every partition, B
joins and the partitions are split (each owned by exactly one member), B leaves and A
owns them all again. Records written between the steps are all consumed, and the
offsets committed after processing reach the end of every partition.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer
from aiokafka import ConsumerRebalanceListener as AioListener
from aiokafka.errors import KafkaError as AioKafkaError
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import ConsumerRebalanceListener, KafkaConsumer
from kafka.errors import KafkaError

PARTITIONS = 4
GUARD_S = 60.0
BROKER_PROPS = {"group_initial_rebalance_delay_ms": "0", "group_min_session_timeout_ms": "1000"}
CONSUMER = {
    "auto_offset_reset": "earliest",
    "enable_auto_commit": False,
    "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 500,
    # kafka-python can compute its first assignment before the topic's metadata
    # arrived ("No partition metadata"); a short max age lets it rejoin promptly.
    "metadata_max_age_ms": 1000,
}


class Ownership:
    """Who owns which partition, from the members' rebalance listeners."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.owners: dict[int, set[str]] = {p: set() for p in range(PARTITIONS)}
        self.violations: list[str] = []
        self.consumed: set[int] = set()

    def assigned(self, member: str, partitions) -> None:
        with self.lock:
            for p in partitions:
                if self.owners[p] - {member}:
                    self.violations.append(f"{member} got {p} held by {self.owners[p]}")
                self.owners[p].add(member)

    def revoked(self, member: str, partitions) -> None:
        with self.lock:
            for p in partitions:
                self.owners[p].discard(member)

    def forget(self, member: str) -> None:
        with self.lock:
            for owners in self.owners.values():
                owners.discard(member)

    def record(self, values) -> None:
        with self.lock:
            self.consumed.update(values)

    def settled(self, *members: str) -> bool:
        with self.lock:
            return all(len(o) == 1 for o in self.owners.values()) and set().union(
                *self.owners.values()
            ) == set(members)

    def __str__(self) -> str:
        return f"owners {self.owners}, violations {self.violations}"


def wait_until(condition: Callable[[], bool], what: Callable[[], str]) -> None:
    deadline = time.monotonic() + GUARD_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(what())
        time.sleep(0.05)


async def wait_until_async(condition: Callable[[], bool], what: Callable[[], str]) -> None:
    deadline = time.monotonic() + GUARD_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(what())
        await asyncio.sleep(0.05)


class Records:
    """Writes numbered records to the topic; all() is every number written so far."""

    def __init__(self, bootstrap: str, topic: str):
        self.topic = topic
        self.producer = Producer({"bootstrap.servers": bootstrap})
        self.next = 0

    def write(self, n: int) -> None:
        for seq in range(self.next, self.next + n):
            self.producer.produce(self.topic, key=str(seq).encode(), value=str(seq).encode())
        self.next += n
        assert self.producer.flush(GUARD_S) == 0

    def all(self) -> set[int]:
        return set(range(self.next))


def prepare(broker, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(GUARD_S)


def assert_committed_to_the_end(bootstrap: str, group: str, topic: str) -> None:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=GUARD_S)[1]
            for p in range(PARTITIONS)
        }
        committed = {tp.partition: tp.offset for tp in consumer.committed(tps, timeout=GUARD_S)}
        assert committed == ends
    finally:
        consumer.close()


# ---- kafka-python ----


class KafkaPythonMember(threading.Thread):
    def __init__(self, name: str, bootstrap: str, group: str, topic: str, view: Ownership):
        super().__init__(name=name, daemon=True)
        self.args = (bootstrap, group, topic)
        self.view = view
        self.stop = threading.Event()
        self.failure: BaseException | None = None

    def run(self) -> None:
        bootstrap, group, topic = self.args
        name, view = self.name, self.view

        class Listener(ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked):
                view.revoked(name, [tp.partition for tp in revoked])

            def on_partitions_assigned(self, assigned):
                view.assigned(name, [tp.partition for tp in assigned])

        try:
            consumer = KafkaConsumer(
                bootstrap_servers=bootstrap, group_id=group, client_id=name, **CONSUMER
            )
            consumer.subscribe([topic], listener=Listener())
            while not self.stop.is_set():
                batches = consumer.poll(timeout_ms=200)
                values = [int(r.value) for records in batches.values() for r in records]
                if values:
                    view.record(values)
                    try:
                        consumer.commit()
                    except KafkaError:
                        pass  # a rebalance began: the next owner consumes these again
            view.forget(name)
            consumer.close()  # leaves the group
        except BaseException as exc:
            self.failure = exc

    def leave(self) -> None:
        self.stop.set()
        self.join(GUARD_S)
        assert not self.is_alive() and self.failure is None, self.failure


def test_kafka_python_group_rebalances_between_two_members(broker_factory):
    broker = broker_factory(**BROKER_PROPS)
    topic, group = "kp-topic", "kp-group"
    prepare(broker, topic)
    records = Records(broker.bootstrap, topic)
    view = Ownership()
    members = [KafkaPythonMember(n, broker.bootstrap, group, topic, view) for n in ("A", "B")]
    a, b = members
    try:
        records.write(200)
        a.start()
        wait_until(lambda: view.settled("A"), lambda: f"A alone: {view}")
        b.start()
        wait_until(lambda: view.settled("A", "B"), lambda: f"A and B: {view}")
        records.write(200)
        wait_until(lambda: records.all() <= view.consumed, lambda: "records missing")
        b.leave()
        wait_until(lambda: view.settled("A"), lambda: f"A after B left: {view}")
        records.write(100)
        wait_until(lambda: records.all() <= view.consumed, lambda: "records missing")
        wait_until(
            lambda: _committed_to_end(broker.bootstrap, group, topic),
            lambda: "offsets not committed",
        )
        a.leave()
    finally:
        for member in members:
            member.stop.set()
            if member.is_alive():
                member.join(GUARD_S)
    assert not view.violations, view.violations


def _committed_to_end(bootstrap: str, group: str, topic: str) -> bool:
    try:
        assert_committed_to_the_end(bootstrap, group, topic)
    except AssertionError:
        return False
    return True


# ---- aiokafka ----


def test_aiokafka_group_rebalances_between_two_members(broker_factory):
    broker = broker_factory(**BROKER_PROPS)
    topic, group = "aio-topic", "aio-group"
    prepare(broker, topic)
    records = Records(broker.bootstrap, topic)
    view = Ownership()

    class Listener(AioListener):
        def __init__(self, name: str):
            self.name = name

        async def on_partitions_revoked(self, revoked):
            view.revoked(self.name, [tp.partition for tp in revoked])

        async def on_partitions_assigned(self, assigned):
            view.assigned(self.name, [tp.partition for tp in assigned])

    async def member(name: str, stop: asyncio.Event) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=broker.bootstrap, group_id=group, client_id=name, **CONSUMER
        )
        consumer.subscribe([topic], listener=Listener(name))
        await consumer.start()
        try:
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=200)
                values = [int(r.value) for batch in batches.values() for r in batch]
                if values:
                    view.record(values)
                    try:
                        await consumer.commit()
                    except AioKafkaError:
                        pass  # a rebalance began: the next owner consumes these again
        finally:
            view.forget(name)
            await consumer.stop()  # leaves the group

    async def scenario() -> None:
        stop_a, stop_b = asyncio.Event(), asyncio.Event()
        records.write(200)
        task_a = asyncio.create_task(member("A", stop_a))
        await wait_until_async(lambda: view.settled("A"), lambda: f"A alone: {view}")
        task_b = asyncio.create_task(member("B", stop_b))
        await wait_until_async(lambda: view.settled("A", "B"), lambda: f"A and B: {view}")
        records.write(200)
        await wait_until_async(lambda: records.all() <= view.consumed, lambda: "records missing")
        stop_b.set()
        await asyncio.wait_for(task_b, GUARD_S)
        await wait_until_async(lambda: view.settled("A"), lambda: f"A after B left: {view}")
        records.write(100)
        await wait_until_async(lambda: records.all() <= view.consumed, lambda: "records missing")
        await wait_until_async(
            lambda: _committed_to_end(broker.bootstrap, group, topic),
            lambda: "offsets not committed",
        )
        stop_a.set()
        await asyncio.wait_for(task_a, GUARD_S)

    asyncio.run(scenario())
    assert not view.violations, view.violations
