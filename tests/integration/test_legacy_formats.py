"""Message formats v0/v1 (magic 0 and 1): Produce v0-2 converted to v2 on append.

Message sets are built by kafka-python's LegacyRecordBatchBuilder (not our encoder),
sent over TCP with Produce v0-2, and read back by a modern consumer (confluent-kafka,
Fetch v4+), which sees the converted v2 batches.
"""

from __future__ import annotations

import struct
import time
import zlib

import pytest
from confluent_kafka import Consumer, TopicPartition
from kafka.protocol.producer import ProduceRequest, ProduceResponse
from kafka.record.legacy_records import LegacyRecordBatchBuilder

from protocol.legacy_records import _xxh32_short
from protocol.records import compress
from tests.integration.test_fetch_semantics import RawConnection
from tests.integration.test_produce_validation import create_topic

NONE = 0
CORRUPT_MESSAGE = 2
INVALID_RECORD = 87
TS = 1_700_000_000_000
GZIP, SNAPPY, LZ4 = 1, 2, 3


def message_set(magic: int, codec: int, n: int, tag: bytes = b"m") -> bytes:
    if magic == 0 and codec == LZ4:
        return kafka_3160_lz4(message_set(0, 0, n, tag))
    builder = LegacyRecordBatchBuilder(magic, codec, 1 << 20)
    for i in range(n):
        key = None if i % 3 == 2 else tag + b"-k%d" % i
        builder.append(i, TS + i if magic else None, key, tag + b"-v%d" % i)
    return bytes(builder.build())


def kafka_3160_lz4(inner: bytes) -> bytes:
    """A magic 0 LZ4 wrapper as Kafka 0.8-0.9 wrote it: the frame's header checksum
    hashes the frame magic too (kafka-python needs the xxhash module for this)."""
    frame = bytearray(compress(LZ4, inner))
    frame[6] = (_xxh32_short(bytes(frame[:6])) >> 8) & 0xFF  # no content size: HC at 6
    body = bytes((0, LZ4)) + struct.pack(">i", -1) + struct.pack(">i", len(frame)) + frame
    return struct.pack(">qiI", 0, len(body) + 4, zlib.crc32(body)) + body


def produce(conn, topic: str, records_by_partition: dict[int, bytes], version: int):
    P = ProduceRequest
    request = P(
        transactional_id=None,
        acks=1,
        timeout_ms=10_000,
        topic_data=[
            P.TopicProduceData(
                name=topic,
                partition_data=[
                    P.TopicProduceData.PartitionProduceData(index=i, records=r)
                    for i, r in records_by_partition.items()
                ],
            )
        ],
    )
    [topic_response] = conn.request(request, ProduceResponse, version).responses
    return {p.index: (p.error_code, p.base_offset) for p in topic_response.partition_responses}


def consume_all(bootstrap: str, topic: str, partition: int, count: int):
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"g-{topic}", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(topic, partition, 0)])
    out = []
    deadline = time.monotonic() + 60
    try:
        while len(out) < count and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None or message.error():
                continue
            out.append((message.offset(), message.key(), message.value(), message.timestamp()))
    finally:
        consumer.close()
    return out


@pytest.mark.parametrize("magic", [0, 1])
def test_produce_v0_2_message_sets_are_stored_as_v2(broker, magic):
    conn = RawConnection(broker.bootstrap)
    topic = f"legacy-magic{magic}"
    create_topic(broker.bootstrap, topic, 1)
    expected = []
    offset = 0
    try:
        for version in (0, 1, 2):
            for codec in (0, GZIP, SNAPPY, LZ4):
                tag = b"v%dc%d" % (version, codec)
                answer = produce(conn, topic, {0: message_set(magic, codec, 3, tag)}, version)
                assert answer == {0: (NONE, offset)}, (version, codec)
                for i in range(3):
                    key = None if i == 2 else tag + b"-k%d" % i
                    expected.append((offset + i, key, tag + b"-v%d" % i, TS + i))
                offset += 3
    finally:
        conn.close()
    got = consume_all(broker.bootstrap, topic, 0, len(expected))
    assert [(o, k, v) for o, k, v, _ in got] == [(o, k, v) for o, k, v, _ in expected]
    for (_, _, _, (ts_type, ts)), (_, _, _, want) in zip(got, expected, strict=True):
        if magic == 1:
            assert (ts_type, ts) == (1, want)  # CreateTime, the producer's
        else:
            assert ts == -1 or ts_type == 0  # magic 0 has no timestamp


def test_old_format_crc_is_checked_and_other_partitions_go_on(broker):
    topic = "legacy-crc"
    create_topic(broker.bootstrap, topic, 2)
    good = message_set(1, 0, 2)
    bad = bytearray(good)
    bad[-1] ^= 0xFF  # the last value byte: the CRC32 no longer matches
    conn = RawConnection(broker.bootstrap)
    try:
        assert produce(conn, topic, {0: bytes(bad), 1: good}, 2) == {
            0: (CORRUPT_MESSAGE, -1),
            1: (NONE, 0),
        }
        # Produce v3+ takes format v2 only.
        assert produce(conn, topic, {0: good}, 3) == {0: (INVALID_RECORD, -1)}
        assert produce(conn, topic, {0: good}, 2) == {0: (NONE, 0)}
    finally:
        conn.close()


def test_magic_0_lz4_with_the_kafka_3160_header_checksum(broker):
    """Kafka 0.8-0.9 (and kafka-python for magic 0) hash the frame magic into the LZ4
    header checksum; the broker reads it anyway."""
    topic = "legacy-lz4-magic0"
    create_topic(broker.bootstrap, topic, 1)
    records = message_set(0, LZ4, 4)
    conn = RawConnection(broker.bootstrap)
    try:
        assert produce(conn, topic, {0: records}, 0) == {0: (NONE, 0)}
    finally:
        conn.close()
    got = consume_all(broker.bootstrap, topic, 0, 4)
    assert [v for _, _, v, _ in got] == [b"m-v%d" % i for i in range(4)]
