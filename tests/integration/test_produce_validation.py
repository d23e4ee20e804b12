"""Produce requests that Kafka refuses per partition, built by hand and sent over TCP.

Kafka's ProduceRequest.validateRecords (and, for the batch count, LogValidator): from
Produce v3 on a partition's records are exactly one record batch, else INVALID_RECORD;
a zstd batch before Produce v7 gets UNSUPPORTED_COMPRESSION_TYPE (zstd is checked
first). A refused partition answers base offset -1 and nothing of it is stored; the
other partitions of the same request are appended as usual.

Requests are encoded by kafka-python's protocol classes (not our codec), batches by
protocol.records.build_batch.
"""

from __future__ import annotations

from confluent_kafka.admin import AdminClient, NewTopic
from kafka.protocol.producer import ProduceRequest, ProduceResponse

from protocol.records import (
    COMPRESSION_GZIP,
    COMPRESSION_NONE,
    COMPRESSION_ZSTD,
    build_batch,
)
from tests.integration.test_fetch_semantics import RawConnection

NONE = 0
UNSUPPORTED_COMPRESSION_TYPE = 76
INVALID_RECORD = 87
TS = 1_700_000_000_000


def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=1)], operation_timeout=30
    )
    futures[topic].result(timeout=60)


def batch(n: int, compression: int = COMPRESSION_NONE, tag: bytes = b"r") -> bytes:
    return build_batch(
        [(tag + b"-%d" % i, b"value-%d" % i, (), TS + i) for i in range(n)],
        compression=compression,
    )


def produce(
    conn: RawConnection, topic: str, records_by_partition: dict[int, bytes], version: int
) -> dict[int, tuple[int, int]]:
    """One Produce request (acks=1); {partition: (error code, base offset)}."""
    P = ProduceRequest
    request = P(
        transactional_id=None,
        acks=1,
        timeout_ms=10_000,
        topic_data=[
            P.TopicProduceData(
                name=topic,
                partition_data=[
                    P.TopicProduceData.PartitionProduceData(index=index, records=records)
                    for index, records in records_by_partition.items()
                ],
            )
        ],
    )
    response = conn.request(request, ProduceResponse, version)
    [topic_response] = response.responses
    assert topic_response.name == topic
    return {p.index: (p.error_code, p.base_offset) for p in topic_response.partition_responses}


def test_two_batches_for_one_partition_are_refused_as_invalid_record(broker):
    conn = RawConnection(broker.bootstrap)
    try:
        for version in (3, 7, 9, 11):
            for codec in (COMPRESSION_NONE, COMPRESSION_GZIP):
                topic = f"two-batches-v{version}-codec{codec}"
                create_topic(broker.bootstrap, topic, 2)
                answer = produce(
                    conn,
                    topic,
                    {0: batch(2, codec, b"a") + batch(3, codec, b"b"), 1: batch(2, codec)},
                    version,
                )
                case = f"v{version} codec {codec}"
                assert answer[0] == (INVALID_RECORD, -1), case
                assert answer[1] == (NONE, 0), f"{case}: the other partition is appended"
                # Nothing of the refused records was stored: the next batch starts at 0.
                assert produce(conn, topic, {0: batch(1, codec)}, version) == {0: (NONE, 0)}, case
    finally:
        conn.close()


def test_three_batches_with_an_idempotent_producer_are_refused(broker):
    conn = RawConnection(broker.bootstrap)
    try:
        topic = "three-idempotent-batches"
        create_topic(broker.bootstrap, topic, 1)
        batches = b"".join(
            build_batch(
                [(b"k", b"v-%d" % seq, (), TS)],
                producer_id=1000,
                producer_epoch=0,
                base_sequence=seq,
            )
            for seq in range(3)
        )
        assert produce(conn, topic, {0: batches}, 9) == {0: (INVALID_RECORD, -1)}
        assert produce(conn, topic, {0: batch(1)}, 9) == {0: (NONE, 0)}
    finally:
        conn.close()


def test_zstd_before_produce_v7_is_unsupported_compression_type(broker):
    conn = RawConnection(broker.bootstrap)
    try:
        for version in (3, 4, 5, 6):
            topic = f"zstd-v{version}"
            create_topic(broker.bootstrap, topic, 2)
            answer = produce(
                conn,
                topic,
                {0: batch(3, COMPRESSION_ZSTD), 1: batch(3, COMPRESSION_GZIP)},
                version,
            )
            assert answer[0] == (UNSUPPORTED_COMPRESSION_TYPE, -1), f"v{version}"
            assert answer[1] == (NONE, 0), f"v{version}: the other partition is appended"
            # Kafka checks the codec before the batch count.
            two = batch(1, COMPRESSION_ZSTD) + batch(1, COMPRESSION_ZSTD)
            assert produce(conn, topic, {0: two}, version) == {
                0: (UNSUPPORTED_COMPRESSION_TYPE, -1)
            }, f"v{version}"
            # From v7 on zstd is accepted, and the refused batches left nothing behind.
            assert produce(conn, topic, {0: batch(3, COMPRESSION_ZSTD)}, 7) == {0: (NONE, 0)}
    finally:
        conn.close()


def test_zstd_from_produce_v7_on_is_accepted(broker):
    conn = RawConnection(broker.bootstrap)
    try:
        topic = "zstd-accepted"
        create_topic(broker.bootstrap, topic, 1)
        offset = 0
        for version in (7, 8, 9, 10, 11):
            answer = produce(conn, topic, {0: batch(2, COMPRESSION_ZSTD)}, version)
            assert answer == {0: (NONE, offset)}, f"v{version}"
            offset += 2
    finally:
        conn.close()


def test_empty_records_are_refused_as_invalid_record(broker):
    create_topic(broker.bootstrap, "empty-records", 1)
    conn = RawConnection(broker.bootstrap)
    try:
        assert produce(conn, "empty-records", {0: b""}, 9) == {0: (INVALID_RECORD, -1)}
    finally:
        conn.close()


def test_acks_0_with_an_error_closes_the_connection(broker):
    """The client gets no answer to learn from; Kafka closes the connection so that it
    reconnects and refreshes its metadata. Without an error the connection stays."""
    create_topic(broker.bootstrap, "acks-zero", 1)
    P = ProduceRequest

    def acks_0(partition: int):
        data = P.TopicProduceData.PartitionProduceData(index=partition, records=batch(1))
        return P(
            transactional_id=None,
            acks=0,
            timeout_ms=10_000,
            topic_data=[P.TopicProduceData(name="acks-zero", partition_data=[data])],
        )

    conn = RawConnection(broker.bootstrap)
    try:
        conn.send(acks_0(0), 9)
        assert produce(conn, "acks-zero", {0: batch(1)}, 9) == {0: (NONE, 1)}  # still open
        conn.send(acks_0(5), 9)  # no such partition
        assert conn.sock.recv(1) == b""  # closed by the broker
    finally:
        conn.close()
