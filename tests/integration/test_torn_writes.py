"""After an unclean stop the broker cuts torn or corrupt tails and serves the rest.

The broker is stopped, the clean-shutdown marker removed (as if the process had
died), and a segment damaged the way a power cut damages it; the broker must
start, truncate at the first bad batch or rebuild the indexes, and keep serving.
"""

from __future__ import annotations

import os

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

TOPIC = "damaged"


def produce_batches(bootstrap: str, count: int, first: int = 0) -> None:
    """One batch per message (flush after each); message i has timestamp 1,000,000 + i."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for i in range(first, first + count):
        producer.produce(TOPIC, value=f"m{i}".encode(), partition=0, timestamp=1_000_000 + i)
        assert producer.flush(10) == 0


def read_values(bootstrap: str) -> list[tuple[int, str]]:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False}
    )
    try:
        _, end = consumer.get_watermark_offsets(TopicPartition(TOPIC, 0), timeout=10)
        consumer.assign([TopicPartition(TOPIC, 0, 0)])
        got: list[tuple[int, str]] = []
        for _ in range(20):  # failure guard
            if len(got) >= end:
                break
            for message in consumer.consume(num_messages=end - len(got), timeout=5):
                assert message.error() is None, message.error()
                got.append((message.offset(), message.value().decode()))
        return got
    finally:
        consumer.close()


def crash_and_damage(broker, damage) -> None:
    broker.stop()
    (broker.data_dir / ".kafka_cleanshutdown").unlink()  # as if the process had died
    segment = broker.data_dir / f"{TOPIC}-0" / "00000000000000000000.log"
    damage(segment)
    broker.start()


def setup_topic(broker, count: int = 10) -> None:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(TOPIC, 1)])[TOPIC].result(10)
    produce_batches(broker.bootstrap, count)


def batch_positions(segment) -> list[int]:
    data = segment.read_bytes()
    positions, position = [], 0
    while position < len(data):
        positions.append(position)
        position += 12 + int.from_bytes(data[position + 8 : position + 12], "big")
    return positions


def test_segment_cut_mid_batch_is_truncated_to_the_last_whole_batch(broker):
    setup_topic(broker)

    def cut(segment):
        os.truncate(segment, segment.stat().st_size - 10)

    crash_and_damage(broker, cut)
    assert read_values(broker.bootstrap) == [(i, f"m{i}") for i in range(9)]
    produce_batches(broker.bootstrap, 1, first=9)  # the log goes on from the cut
    assert read_values(broker.bootstrap) == [(i, f"m{i}") for i in range(10)]


def test_flipped_byte_cuts_the_log_at_the_corrupt_batch(broker):
    setup_topic(broker)

    def flip(segment):
        position = batch_positions(segment)[6] + 40  # inside batch 6's CRC-covered part
        with open(segment, "r+b") as f:
            f.seek(position)
            byte = f.read(1)
            f.seek(position)
            f.write(bytes([byte[0] ^ 0xFF]))

    crash_and_damage(broker, flip)
    assert read_values(broker.bootstrap) == [(i, f"m{i}") for i in range(6)]


def test_garbage_after_the_last_batch_is_cut(broker):
    setup_topic(broker)

    def append_garbage(segment):
        with open(segment, "ab") as f:
            f.write(os.urandom(300))

    crash_and_damage(broker, append_garbage)
    assert read_values(broker.bootstrap) == [(i, f"m{i}") for i in range(10)]


def test_deleted_indexes_are_rebuilt_and_lookups_still_work(broker):
    setup_topic(broker)

    def delete_indexes(segment):
        segment.with_suffix(".index").unlink()
        segment.with_suffix(".timeindex").unlink()

    crash_and_damage(broker, delete_indexes)
    assert read_values(broker.bootstrap) == [(i, f"m{i}") for i in range(10)]
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused"})
    try:
        (found,) = consumer.offsets_for_times([TopicPartition(TOPIC, 0, 1_000_004)], timeout=10)
    finally:
        consumer.close()
    assert found.offset == 4
    segment_dir = broker.data_dir / f"{TOPIC}-0"
    assert (segment_dir / "00000000000000000000.index").exists()
    assert (segment_dir / "00000000000000000000.timeindex").exists()


def test_an_unreadable_log_is_reported_offline_and_the_rest_is_served(broker):
    setup_topic(broker)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("healthy", 1)])["healthy"].result(10)

    def make_unreadable(segment):
        segment.unlink()
        segment.mkdir()  # reading it fails with an I/O error, as a dying disk would

    crash_and_damage(broker, make_unreadable)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "message.timeout.ms": 3000})
    outcomes = {}
    for topic in (TOPIC, "healthy"):
        producer.produce(
            topic, value=b"x", partition=0, on_delivery=lambda e, m: outcomes.update({m.topic(): e})
        )
    producer.flush(10)
    assert outcomes["healthy"] is None
    assert outcomes[TOPIC] is not None  # KAFKA_STORAGE_ERROR is retriable: retried to timeout
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused"})
    try:
        assert consumer.get_watermark_offsets(TopicPartition("healthy", 0), timeout=10) == (0, 1)
        with pytest.raises(KafkaException) as refused:
            consumer.get_watermark_offsets(TopicPartition(TOPIC, 0), timeout=10)
    finally:
        consumer.close()
    assert refused.value.args[0].code() == KafkaError.KAFKA_STORAGE_ERROR
