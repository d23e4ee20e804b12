"""The log keeps what it acknowledged: SIGKILL the broker under load, restart, check.

An idempotent producer (acks=all) keeps sending sequence-numbered messages to three
partitions while the broker process is SIGKILLed and restarted on the same data dir
several times. Afterwards every acknowledged message is there exactly once, in order
per partition: that needs the producer state (last sequences per producer id) to
survive the crash. Without idempotence every acknowledged message is still there,
in order (a retried batch may appear twice).
"""

from __future__ import annotations

import threading
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

PARTITIONS = 3
KILLS = 3
ACKED_BETWEEN_KILLS = 3000
GUARD_S = 120  # failure guard for waits, not a timing


class SequenceProducer:
    """Sends seq 0, 1, 2, ... (partition = seq % 3) from a thread; records the acks."""

    def __init__(self, bootstrap: str, topic: str, config: dict, pause_s: float = 0.0):
        self.topic = topic
        self.pause_s = pause_s  # between runs of 50 messages: a steady load, not a flood
        self.producer = Producer({"bootstrap.servers": bootstrap, **config})
        self.acked: list[set[int]] = [set() for _ in range(PARTITIONS)]
        self.acked_count = 0
        self.errors: list[str] = []
        self.progress = threading.Condition()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _delivered(self, error, message) -> None:
        if error is not None:
            self.errors.append(str(error))
            return
        with self.progress:
            self.acked[message.partition()].add(int(message.value()))
            self.acked_count += 1
            self.progress.notify_all()

    def _run(self) -> None:
        seq = 0
        while not self.stopping.is_set():
            try:
                self.producer.produce(
                    self.topic,
                    value=str(seq).encode(),
                    partition=seq % PARTITIONS,
                    on_delivery=self._delivered,
                )
                seq += 1
            except BufferError:
                self.producer.poll(0.05)
                continue
            if seq % 50 == 0:
                self.producer.poll(0)
                if self.pause_s:
                    time.sleep(self.pause_s)

    def wait_for_more_acks(self, count: int) -> None:
        with self.progress:
            target = self.acked_count + count
            assert self.progress.wait_for(lambda: self.acked_count >= target, GUARD_S), (
                f"only {self.acked_count} acks, wanted {target}; errors {self.errors[-5:]}"
            )

    def finish(self) -> None:
        self.stopping.set()
        self.thread.join(GUARD_S)
        assert self.producer.flush(GUARD_S) == 0


def read_partitions(bootstrap: str, topic: str) -> list[list[int]]:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "crash-check", "enable.auto.commit": False}
    )
    try:
        ends = [
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
            for p in range(PARTITIONS)
        ]
        consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        values: list[list[int]] = [[] for _ in range(PARTITIONS)]
        done = [ends[p] == 0 for p in range(PARTITIONS)]
        for _ in range(1000):  # failure guard
            if all(done):
                break
            for message in consumer.consume(num_messages=10000, timeout=5):
                assert message.error() is None, message.error()
                partition = message.partition()
                values[partition].append(int(message.value()))
                done[partition] = message.offset() + 1 >= ends[partition]
        assert all(done), "did not reach the end of every partition"
        return values
    finally:
        consumer.close()


def run_with_kills(broker_process_factory, config: dict) -> tuple[SequenceProducer, list]:
    broker = broker_process_factory()
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("sequenced", PARTITIONS)])["sequenced"].result(30)
    producer = SequenceProducer(broker.bootstrap, "sequenced", config)
    producer.thread.start()
    for _ in range(KILLS):
        producer.wait_for_more_acks(ACKED_BETWEEN_KILLS)
        broker.kill()
        broker.start()
    producer.wait_for_more_acks(ACKED_BETWEEN_KILLS)
    producer.finish()
    return producer, read_partitions(broker.bootstrap, "sequenced")


PRODUCER_BASE = {
    "acks": "all",
    "linger.ms": 5,
    "message.timeout.ms": 120000,
    "reconnect.backoff.ms": 50,
    "reconnect.backoff.max.ms": 200,
}


def test_idempotent_acked_messages_survive_sigkill_exactly_once_in_order(
    broker_process_factory,
):
    producer, read = run_with_kills(
        broker_process_factory, {**PRODUCER_BASE, "enable.idempotence": True}
    )
    for partition in range(PARTITIONS):
        values = read[partition]
        assert values == sorted(set(values)), f"partition {partition}: duplicates or disorder"
        missing = producer.acked[partition] - set(values)
        assert not missing, f"partition {partition} lost {len(missing)} acked messages"


@pytest.mark.parametrize("in_flight", [1])
def test_acked_messages_survive_sigkill_without_idempotence(broker_process_factory, in_flight):
    producer, read = run_with_kills(
        broker_process_factory,
        {**PRODUCER_BASE, "max.in.flight.requests.per.connection": in_flight},
    )
    for partition in range(PARTITIONS):
        values = read[partition]
        first_seen = list(dict.fromkeys(values))  # a retried batch may appear twice
        assert first_seen == sorted(first_seen), f"partition {partition}: out of order"
        missing = producer.acked[partition] - set(values)
        assert not missing, f"partition {partition} lost {len(missing)} acked messages"
