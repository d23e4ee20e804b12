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
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KafkaTopicPartition
from kafka.protocol.consumer import FetchRequest, FetchResponse
from kafka.protocol.producer import ProduceRequest, ProduceResponse
from kafka.record.legacy_records import LegacyRecordBatchBuilder

from protocol.legacy_records import _xxh32_short
from protocol.records import compress
from tests.integration.test_fetch_semantics import RawConnection
from tests.integration.test_produce_validation import create_topic

NONE = 0
CORRUPT_MESSAGE = 2
UNSUPPORTED_VERSION = 35
UNSUPPORTED_COMPRESSION_TYPE = 76
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
    answers = produce_full(conn, topic, records_by_partition, version)
    return {i: (p.error_code, p.base_offset) for i, p in answers.items()}


def produce_full(conn, topic: str, records_by_partition: dict[int, bytes], version: int):
    """{partition: its PartitionProduceResponse} of one Produce at `version`."""
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
    return {p.index: p for p in topic_response.partition_responses}


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


# -- Fetch v0-3: down-conversion -----------------------------------------------------------


@pytest.mark.parametrize(
    ("api_version", "magic"),
    [((0, 9), 0), ((0, 10, 1), 1), ((0, 11), 2), (None, 2)],
    ids=["0.9", "0.10.1", "0.11", "negotiated"],
)
def test_kafka_python_old_protocol_round_trip(broker, api_version, magic):
    """kafka-python pinned to an old broker version sends Produce v1/v2 (magic 0/1) and
    Fetch v1/v3, which read back what it wrote (down-converted v2 batches); pinned to
    0.11 it sends Produce v3 / Fetch v4-5 (record batches), unpinned what it negotiates."""
    topic = f"kafka-python-{magic}-{'-'.join(map(str, api_version or ['new']))}"
    create_topic(broker.bootstrap, topic, 1)
    producer = KafkaProducer(
        bootstrap_servers=broker.bootstrap, api_version=api_version, compression_type="gzip"
    )
    sent = [(b"k%d" % i if i % 4 else None, b"value-%d" % i) for i in range(50)]
    for key, value in sent:
        producer.send(topic, key=key, value=value, partition=0, timestamp_ms=TS if magic else None)
    producer.flush(30)
    producer.close(30)
    got = kafka_python_consume(broker.bootstrap, topic, api_version, len(sent))
    assert [(m.offset, m.key, m.value) for m in got] == [(i, k, v) for i, (k, v) in enumerate(sent)]
    if magic >= 1:
        assert {m.timestamp for m in got} == {TS}
        assert {m.timestamp_type for m in got} == {0}


def kafka_python_consume(bootstrap: str, topic: str, api_version, count: int):
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, api_version=api_version, enable_auto_commit=False
    )
    consumer.assign([KafkaTopicPartition(topic, 0)])
    consumer.seek_to_beginning()
    out = []
    deadline = time.monotonic() + 60
    try:
        while len(out) < count and time.monotonic() < deadline:
            for messages in consumer.poll(timeout_ms=1000).values():
                out.extend(messages)
    finally:
        consumer.close()
    return out


def test_down_conversion_drops_transaction_markers(broker):
    """A transactional producer's batches and commit markers, read with Fetch v3
    (magic 1): the data records at their offsets, no marker."""
    topic = "legacy-txn"
    create_topic(broker.bootstrap, topic, 1)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": "legacy-t"})
    producer.init_transactions(30)
    for round_ in range(2):
        producer.begin_transaction()
        for i in range(3):
            producer.produce(topic, key=b"k", value=b"t%d-%d" % (round_, i), partition=0)
        producer.commit_transaction(30)
    got = kafka_python_consume(broker.bootstrap, topic, (0, 10, 1), 6)
    # Offsets 3 and 7 hold the commit markers: skipped, not delivered.
    assert [(m.offset, m.value) for m in got] == [
        (0, b"t0-0"),
        (1, b"t0-1"),
        (2, b"t0-2"),
        (4, b"t1-0"),
        (5, b"t1-1"),
        (6, b"t1-2"),
    ]


def fetch(conn, topic: str, version: int, offset: int = 0):
    """One Fetch of partition 0 from `offset`: (error code, records)."""
    F = FetchRequest
    request = F(
        replica_id=-1,
        max_wait_ms=500,
        min_bytes=1,
        max_bytes=1 << 20,
        topics=[
            F.FetchTopic(
                topic=topic,
                partitions=[
                    F.FetchTopic.FetchPartition(
                        partition=0, fetch_offset=offset, partition_max_bytes=1 << 20
                    )
                ],
            )
        ],
    )
    response = conn.request(request, FetchResponse, version)
    [topic_response] = response.responses
    [part] = topic_response.partitions
    return part.error_code, part.records


@pytest.mark.parametrize("enabled", ["true", "false"])
def test_message_downconversion_enable(broker, enabled):
    topic = f"downconversion-{enabled}"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics(
        [
            NewTopic(
                topic,
                num_partitions=1,
                replication_factor=1,
                config={"message.downconversion.enable": enabled},
            )
        ]
    )[topic].result(timeout=60)
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    producer.produce(topic, key=b"k", value=b"v", partition=0, timestamp=TS)
    producer.flush(30)
    conn = RawConnection(broker.bootstrap)
    try:
        for version in (0, 1, 2, 3):
            error, records = fetch(conn, topic, version)
            if enabled == "true":
                assert error == NONE
                magic = 0 if version < 2 else 1
                assert records[16] == magic, version
                assert records[-1:] == b"v"
            else:
                assert (error, bytes(records or b"")) == (UNSUPPORTED_VERSION, b""), version
    finally:
        conn.close()


@pytest.mark.parametrize("fallback", ["0.9.0", "0.10.0"])
@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4"])
def test_confluent_kafka_without_api_versions(broker, fallback, codec):
    """librdkafka told the broker is 0.9.0 / 0.10.0 (no ApiVersions request) produces
    with Produce v1/v2 (magic 0/1; lz4 under magic 0 with the KAFKA-3160 checksum) and
    consumes with Fetch v1/v2."""
    topic = f"librdkafka-{fallback}-{codec}".replace(".", "_")
    create_topic(broker.bootstrap, topic, 1)
    old = {
        "bootstrap.servers": broker.bootstrap,
        "api.version.request": False,
        "broker.version.fallback": fallback,
    }
    producer = Producer({**old, "compression.codec": codec, "linger.ms": 5})
    failures = []
    sent = [(b"k%d" % i if i % 5 else None, b"value-%d" % i) for i in range(200)]
    for key, value in sent:
        producer.produce(
            topic,
            key=key,
            value=value,
            partition=0,
            timestamp=TS,
            on_delivery=lambda e, m: e and failures.append(e),
        )
    assert producer.flush(30) == 0
    assert failures == []
    consumer = Consumer({**old, "group.id": f"g-{topic}", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    got = []
    deadline = time.monotonic() + 60
    try:
        while len(got) < len(sent) and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None or message.error():
                continue
            got.append((message.offset(), message.key(), message.value(), message.timestamp()))
    finally:
        consumer.close()
    assert [(o, k, v) for o, k, v, _ in got] == [(i, k, v) for i, (k, v) in enumerate(sent)]
    if fallback == "0.10.0":
        assert {ts for _, _, _, ts in got} == {(1, TS)}


def test_down_converted_fetch_starts_at_the_fetch_offset(broker):
    """Kafka's down-conversion leaves out the records of the first batch below the
    fetch offset: magic 1 messages from offset 3 of a 5-record batch."""
    topic = "legacy-fetch-offset"
    create_topic(broker.bootstrap, topic, 1)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 100})
    for i in range(5):
        producer.produce(topic, value=b"v%d" % i, partition=0, timestamp=TS)
    producer.flush(30)
    conn = RawConnection(broker.bootstrap)
    try:
        error, records = fetch(conn, topic, 3, offset=3)
    finally:
        conn.close()
    assert error == NONE
    offsets = []
    pos = 0
    while pos < len(records):
        offset, size = struct.unpack_from(">qi", records, pos)
        assert records[pos + 16] == 1  # magic 1
        offsets.append(offset)
        pos += 12 + size
    assert offsets == [3, 4]


def test_broker_wide_log_message_downconversion_enable_false(broker_factory):
    """The broker default (log.message.downconversion.enable) applies to topics without
    their own setting; a topic override wins."""
    broker = broker_factory(log_message_downconversion_enable="false")
    create_topic(broker.bootstrap, "no-downconversion", 1)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics(
        [NewTopic("downconversion-on", 1, 1, config={"message.downconversion.enable": "true"})]
    )["downconversion-on"].result(timeout=60)
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for topic in ("no-downconversion", "downconversion-on"):
        producer.produce(topic, value=b"v", partition=0)
    producer.flush(30)
    conn = RawConnection(broker.bootstrap)
    try:
        assert fetch(conn, "no-downconversion", 1)[0] == UNSUPPORTED_VERSION
        assert fetch(conn, "downconversion-on", 1)[0] == NONE
    finally:
        conn.close()


def test_a_zstd_topic_refuses_fetches_older_than_zstd(broker):
    """Kafka 3.9: a consumer's Fetch below v10 gets UNSUPPORTED_COMPRESSION_TYPE for a
    topic whose compression.type is zstd (such a client cannot read zstd batches);
    from v10 on it reads."""
    topic = "zstd-topic"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1, config={"compression.type": "zstd"})])[topic].result(
        timeout=60
    )
    producer = Producer({"bootstrap.servers": broker.bootstrap, "compression.codec": "zstd"})
    producer.produce(topic, value=b"v", partition=0)
    assert producer.flush(30) == 0
    conn = RawConnection(broker.bootstrap)
    try:
        for version in (1, 3, 4, 9):
            error, records = fetch(conn, topic, version)
            assert (error, bytes(records or b"")) == (UNSUPPORTED_COMPRESSION_TYPE, b""), version
        error, records = fetch(conn, topic, 10)
        assert error == NONE and records
    finally:
        conn.close()


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4"])
def test_down_conversion_keeps_the_batch_codec(broker, codec):
    """A compressed v2 batch reaches Fetch v0-3 as one wrapper message of the same
    codec, as Kafka recompresses (magic 1: inner offsets relative to the wrapper's
    last; magic 0: absolute), except lz4 under magic 0 (plain messages)."""
    from protocol.legacy_records import _messages
    from protocol.records import decompress

    topic = f"keep-{codec}"
    create_topic(broker.bootstrap, topic, 1)
    producer = Producer(
        {"bootstrap.servers": broker.bootstrap, "compression.codec": codec, "linger.ms": 50}
    )
    pad = b"x" * 500  # compressible: librdkafka sends a batch uncompressed otherwise
    for i in range(5):
        producer.produce(topic, value=b"v%d" % i + pad, partition=0)
    assert producer.flush(30) == 0
    conn = RawConnection(broker.bootstrap)
    try:
        codec_id = {"gzip": 1, "snappy": 2, "lz4": 3}[codec]
        for version, magic in ((1, 0), (2, 1)):
            error, records = fetch(conn, topic, version, offset=2)
            assert error == NONE
            got = []
            for offset, got_magic, attributes, _, key, value in _messages(records):
                if codec == "lz4" and magic == 0:
                    # Readers disagree on magic 0 LZ4's header checksum: plain messages.
                    assert (got_magic, attributes & 0x07) == (0, 0)
                    got.append((offset, value))
                    continue
                assert (got_magic, attributes & 0x07, key) == (magic, codec_id, None)
                inner = list(_messages(decompress(codec_id, value), magic))
                last = inner[-1][0]
                for m in inner:  # magic 1: relative to the wrapper's (last) offset
                    got.append((offset - (last - m[0]) if magic == 1 else m[0], m[5]))
                assert got[-1][0] == offset  # the wrapper carries its last offset
            assert got == [(2, b"v2" + pad), (3, b"v3" + pad), (4, b"v4" + pad)], magic
    finally:
        conn.close()
