"""Retention deletes old segments and compaction keeps the newest record per key,
as seen by clients: the earliest offset moves, consumers read a valid log."""

from __future__ import annotations

import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
)

GUARD_S = 60  # failure guard for waits on background work, not a timing


def wait_until(condition, what: str):
    deadline = time.monotonic() + GUARD_S
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def watermarks(bootstrap: str, topic: str) -> tuple[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused"})
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False)
    finally:
        consumer.close()


def read_all(bootstrap: str, topic: str) -> list:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "unused",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        consumer.assign([TopicPartition(topic, 0, low)])
        records = []
        for _ in range(200):  # failure guard
            if records and records[-1].offset() >= high - 1 or low == high:
                break
            # Short waits: a compacted log has gaps, so the count left is unknown.
            for message in consumer.consume(num_messages=10000, timeout=0.5):
                assert message.error() is None, message.error()
                records.append(message)
        return records
    finally:
        consumer.close()


def produce(bootstrap: str, topic: str, items) -> None:
    # Batches well under the tests' small segment.bytes (a larger batch is refused).
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "batch.size": 1000})
    errors = []
    for key, value in items:
        producer.produce(
            topic,
            key=key,
            value=value,
            partition=0,
            on_delivery=lambda e, m: e and errors.append(e),
        )
        producer.poll(0)
    assert producer.flush(30) == 0
    assert not errors, errors[:3]


def test_retention_deletes_old_segments_and_moves_the_earliest_offset(broker_factory):
    broker = broker_factory(log_retention_check_interval_ms="100", log_segment_delete_delay_ms="0")
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    configs = {"segment.bytes": "2000", "retention.bytes": "-1"}
    admin.create_topics([NewTopic("aging", 1, config=configs)])["aging"].result(10)
    produce(broker.bootstrap, "aging", ((None, b"v%05d" % i) for i in range(2000)))
    assert watermarks(broker.bootstrap, "aging") == (0, 2000)
    segment_dir = broker.data_dir / "aging-0"
    segments_before = len(list(segment_dir.glob("*.log")))
    assert segments_before > 5

    # Retention applies without a restart: the next check uses the new value.
    resource = ConfigResource(
        "topic",
        "aging",
        incremental_configs=[
            ConfigEntry("retention.bytes", "6000", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    admin.incremental_alter_configs([resource])[resource].result(10)

    low, high = wait_until(
        lambda: (w := watermarks(broker.bootstrap, "aging"))[0] > 0 and w, "retention"
    )
    assert high == 2000
    wait_until(lambda: not list(segment_dir.glob("*.deleted")), "deleted files removed")
    assert len(list(segment_dir.glob("*.log"))) < segments_before
    records = read_all(broker.bootstrap, "aging")
    assert [r.offset() for r in records] == list(range(low, 2000))
    assert [r.value() for r in records] == [b"v%05d" % i for i in range(low, 2000)]


def test_compaction_keeps_the_latest_value_per_key_and_drops_tombstones(broker_factory):
    broker = broker_factory(log_cleaner_backoff_ms="100", log_segment_delete_delay_ms="0")
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    configs = {
        "cleanup.policy": "compact",
        "segment.bytes": "20000",
        "min.cleanable.dirty.ratio": "0.01",
        "delete.retention.ms": "0",
    }
    admin.create_topics([NewTopic("table", 1, config=configs)])["table"].result(10)
    updates = [(b"k%03d" % (i % 100), b"v%05d" % i) for i in range(10_000)]
    tombstones = [(b"k%03d" % k, None) for k in range(90, 100)]
    # Filler on other keys rolls the tombstones' segment so that it can be cleaned.
    filler = [(b"f%03d" % (i % 10), b"x" * 100) for i in range(400)]
    produce(broker.bootstrap, "table", updates + tombstones + filler)
    expected = {b"k%03d" % k: b"v%05d" % (9900 + k) for k in range(90)}

    def compacted():
        records = read_all(broker.bootstrap, "table")
        latest = {r.key(): r.value() for r in records if r.key().startswith(b"k")}
        has_tombstones = any(r.value() is None for r in records)
        return records if latest == expected and not has_tombstones else None

    records = wait_until(compacted, "compaction to keep only the latest values")
    offsets = [r.offset() for r in records]
    assert offsets == sorted(set(offsets))  # a valid log: increasing, gaps allowed
    assert len([r for r in records if r.key().startswith(b"k")]) == 90
    low, high = watermarks(broker.bootstrap, "table")
    assert high == 10_000 + 10 + 400  # offsets are kept, the end does not move
