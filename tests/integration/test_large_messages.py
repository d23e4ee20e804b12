"""Record size limits: message.max.bytes (broker) and max.message.bytes (topic).

The producers raise their own size limits so that the broker is the one that decides:
a 5 MB record is refused with MESSAGE_TOO_LARGE (error 10) under the broker default
(message.max.bytes=1048588), the connection stays usable, and the same record is
accepted and read back intact from a topic created with max.message.bytes=6000000.
"""

from __future__ import annotations

import hashlib
import random
import time

import kafka.errors
import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KpTopicPartition

BIG = 5 * 1024 * 1024
CLIENT_LIMIT = 20 * 1024 * 1024
GUARD_S = 60.0


def big_value() -> bytes:
    # Incompressible, reproducible.
    return random.Random(5).randbytes(BIG)


def create_topic(bootstrap: str, topic: str, config: dict[str, str] | None = None) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=1, replication_factor=1, config=config or {})],
        operation_timeout=30,
    )
    futures[topic].result(timeout=60)


def confluent_producer(bootstrap: str) -> Producer:
    return Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "compression.type": "none",
            "message.max.bytes": CLIENT_LIMIT,
            "retries": 0,
        }
    )


def confluent_produce_one(producer: Producer, topic: str, key: bytes, value: bytes):
    """Produce one record and return (error or None, offset)."""
    reports: list = []
    producer.produce(
        topic,
        key=key,
        value=value,
        headers=[("sha256", hashlib.sha256(value).digest())],
        on_delivery=lambda err, msg: reports.append((err, msg.offset())),
    )
    assert producer.flush(60) == 0, "record still undelivered after flush"
    assert len(reports) == 1
    return reports[0]


def confluent_read(bootstrap: str, topic: str, count: int) -> list:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"{topic}-reader",
            "enable.auto.commit": False,
            "auto.offset.reset": "error",
            "fetch.max.bytes": CLIENT_LIMIT,
            "max.partition.fetch.bytes": CLIENT_LIMIT,
            "receive.message.max.bytes": 2 * CLIENT_LIMIT,
        }
    )
    got: list = []
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        deadline = time.monotonic() + GUARD_S
        while len(got) < count and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=10, timeout=1.0):
                assert msg.error() is None, f"consume error: {msg.error()}"
                got.append((msg.offset(), msg.key(), msg.value(), msg.headers()))
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        assert (low, high) == (0, count), f"watermarks {(low, high)}, expected (0, {count})"
    finally:
        consumer.close()
    return got


def test_record_over_message_max_bytes_is_refused_with_message_too_large(broker):
    topic = "default-limit"
    create_topic(broker.bootstrap, topic)
    producer = confluent_producer(broker.bootstrap)

    err, _ = confluent_produce_one(producer, topic, b"big", big_value())
    assert err is not None, "a 5 MB record was accepted under message.max.bytes=1048588"
    assert err.code() == KafkaError.MSG_SIZE_TOO_LARGE, f"expected MESSAGE_TOO_LARGE, got {err}"

    # The refusal is per request: the same producer goes on working.
    err, offset = confluent_produce_one(producer, topic, b"small", b"fits")
    assert err is None, f"small record after the refusal failed: {err}"
    assert offset == 0, "the refused record must not have taken an offset"

    assert confluent_read(broker.bootstrap, topic, 1) == [
        (0, b"small", b"fits", [("sha256", hashlib.sha256(b"fits").digest())])
    ]


def test_kafka_python_sees_message_size_too_large_from_the_broker(broker):
    topic = "default-limit-kp"
    create_topic(broker.bootstrap, topic)
    producer = KafkaProducer(
        bootstrap_servers=broker.bootstrap,
        acks="all",
        max_request_size=CLIENT_LIMIT,
        retries=0,
        # Without idempotence a refused batch leaves no sequence gap behind.
        enable_idempotence=False,
    )
    try:
        with pytest.raises(kafka.errors.MessageSizeTooLargeError):
            producer.send(topic, key=b"big", value=big_value()).get(timeout=60)
        md = producer.send(topic, key=b"small", value=b"fits").get(timeout=60)
        assert (md.partition, md.offset) == (0, 0)
    finally:
        producer.close(timeout=30)


def test_topic_max_message_bytes_admits_a_5mb_record_read_back_intact(broker):
    topic = "big-records"
    create_topic(broker.bootstrap, topic, {"max.message.bytes": "6000000"})
    value = big_value()
    digest = hashlib.sha256(value).digest()

    producer = confluent_producer(broker.bootstrap)
    err, offset = confluent_produce_one(producer, topic, b"big", value)
    assert err is None, f"5 MB record refused by a topic with max.message.bytes=6000000: {err}"
    assert offset == 0
    err, offset = confluent_produce_one(producer, topic, b"after", b"small")
    assert (err, offset) == (None, 1)

    got = confluent_read(broker.bootstrap, topic, 2)
    assert [(o, k) for o, k, _, _ in got] == [(0, b"big"), (1, b"after")]
    assert hashlib.sha256(got[0][2]).digest() == digest, "5 MB value corrupted (confluent)"
    assert len(got[0][2]) == BIG
    assert got[0][3] == [("sha256", digest)]
    assert got[1][2] == b"small"

    consumer = KafkaConsumer(
        bootstrap_servers=broker.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_bytes=CLIENT_LIMIT,
        max_partition_fetch_bytes=CLIENT_LIMIT,
        receive_message_max_bytes=2 * CLIENT_LIMIT,
    )
    try:
        tp = KpTopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek(tp, 0)
        records: list = []
        deadline = time.monotonic() + GUARD_S
        while len(records) < 2 and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=1_000).values():
                records.extend(batch)
    finally:
        consumer.close()
    assert [(r.offset, r.key) for r in records] == [(0, b"big"), (1, b"after")]
    assert hashlib.sha256(records[0].value).digest() == digest, "5 MB value corrupted (kp)"
    assert records[1].value == b"small"
