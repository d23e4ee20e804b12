"""Fetch and ListOffsets as clients rely on them.

Some checks need to see the wire: a small raw client (kafka-python's protocol classes
over a plain socket) produces one known batch and fetches at chosen offsets; the rest
uses confluent-kafka and kafka-python as applications do.

- A fetch that starts inside a batch returns the whole batch; clients skip the records
  below their position.
- A fetch parked on min_bytes/max_wait returns once enough data is produced.
- An offset beyond the log end is OFFSET_OUT_OF_RANGE, and auto.offset.reset
  (earliest/latest) moves the consumer accordingly.
- ListOffsets: watermarks, and offsets_for_times = first offset whose timestamp is at or
  after the one asked for, inside batches as well as at their edges; -1 past the end.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from dataclasses import dataclass

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaConsumer
from kafka import TopicPartition as KpTopicPartition
from kafka.protocol.consumer import FetchRequest, FetchResponse
from kafka.protocol.producer import ProduceRequest, ProduceResponse
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

GUARD_S = 30.0
TS_BASE = 1_600_000_000_000
OFFSET_OUT_OF_RANGE = 1
# Fetch v4: first with isolation level and record batches; v11: last before flexible;
# v12: flexible, still by topic name.
FETCH_VERSIONS = [4, 11, 12]


# -- raw client --------------------------------------------------------------------------


class RawConnection:
    """One socket, requests encoded by kafka-python's protocol classes, answered in order."""

    def __init__(self, bootstrap: str, timeout: float = GUARD_S) -> None:
        host, port = bootstrap.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.correlation_id = 0

    def close(self) -> None:
        self.sock.close()

    def _recv_exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError(f"broker closed the connection after {len(buf)}/{n} bytes")
            buf += chunk
        return bytes(buf)

    def send(self, request, version: int) -> int:
        self.correlation_id += 1
        request.with_header(correlation_id=self.correlation_id, client_id="raw-test")
        self.sock.sendall(request.encode(version=version, header=True, framed=True))
        return self.correlation_id

    def receive(self, response_cls, version: int, correlation_id: int):
        (size,) = struct.unpack(">i", self._recv_exact(4))
        response = response_cls.decode(self._recv_exact(size), version=version, header=True)
        assert response.header.correlation_id == correlation_id
        return response

    def request(self, request, response_cls, version: int):
        return self.receive(response_cls, version, self.send(request, version))


def build_batch(base_ts: int, count: int, key_prefix: bytes = b"k") -> bytes:
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=0,
        is_transactional=False,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=1 << 20,
    )
    for i in range(count):
        builder.append(
            i,
            timestamp=base_ts + i,
            key=key_prefix + b"%d" % i,
            value=b"value-%d" % i,
            headers=[("i", b"%d" % i)],
        )
    return bytes(builder.build())


def raw_produce(conn: RawConnection, topic: str, batch: bytes) -> int:
    """Produce one batch (Produce v8, acks=-1); return its base offset."""
    P = ProduceRequest
    request = P(
        transactional_id=None,
        acks=-1,
        timeout_ms=10_000,
        topic_data=[
            P.TopicProduceData(
                name=topic,
                partition_data=[P.TopicProduceData.PartitionProduceData(index=0, records=batch)],
            )
        ],
    )
    response = conn.request(request, ProduceResponse, 8)
    part = response.responses[0].partition_responses[0]
    assert part.error_code == 0, f"produce error {part.error_code}"
    return part.base_offset


def fetch_request(topic: str, offset: int, max_wait_ms: int = 500, min_bytes: int = 1):
    F = FetchRequest
    return F(
        replica_id=-1,
        max_wait_ms=max_wait_ms,
        min_bytes=min_bytes,
        max_bytes=1 << 20,
        isolation_level=0,
        session_id=0,
        session_epoch=-1,
        topics=[
            F.FetchTopic(
                topic=topic,
                partitions=[
                    F.FetchTopic.FetchPartition(
                        partition=0,
                        current_leader_epoch=-1,
                        fetch_offset=offset,
                        log_start_offset=-1,
                        partition_max_bytes=1 << 20,
                    )
                ],
            )
        ],
        forgotten_topics_data=[],
        rack_id="",
    )


def only_partition(response):
    assert len(response.responses) == 1
    assert len(response.responses[0].partitions) == 1
    return response.responses[0].partitions[0]


@dataclass(slots=True)
class Batch:
    base_offset: int
    last_offset: int
    records: list  # kafka.record.default_records.DefaultRecord


def split_batches(records: bytes) -> list[Batch]:
    """Whole batches in a fetch response's records (a trailing partial batch is dropped)."""
    batches = []
    pos = 0
    while pos + 12 <= len(records):
        (length,) = struct.unpack_from(">i", records, pos + 8)
        end = pos + 12 + length
        if end > len(records):
            break
        batch = DefaultRecordBatch(bytes(records[pos:end]))
        assert batch.validate_crc(), f"CRC mismatch in batch at {batch.base_offset}"
        batches.append(Batch(batch.base_offset, batch.last_offset, list(batch)))
        pos = end
    return batches


# -- helpers for the real clients --------------------------------------------------------


def create_topic(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=1, replication_factor=1)], operation_timeout=30
    )
    futures[topic].result(timeout=60)


def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes, int | None]]) -> None:
    """Produce (key, value, timestamp or None) with confluent-kafka; fail on any error."""
    errors: list[str] = []
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for key, value, ts in records:
        kwargs = {"timestamp": ts} if ts is not None else {}
        producer.produce(
            topic,
            key=key,
            value=value,
            on_delivery=lambda err, msg: errors.append(str(err)) if err else None,
            **kwargs,
        )
    assert producer.flush(GUARD_S) == 0
    assert not errors, f"delivery errors: {errors}"


def confluent_consumer(bootstrap: str, **extra) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "fetch-semantics",
            "enable.auto.commit": False,
            **extra,
        }
    )


def consume_until(consumer: Consumer, count: int, guard_s: float = GUARD_S) -> list:
    got: list = []
    deadline = time.monotonic() + guard_s
    while len(got) < count and time.monotonic() < deadline:
        for msg in consumer.consume(num_messages=count - len(got), timeout=0.5):
            assert msg.error() is None, f"consume error: {msg.error()}"
            got.append(msg)
    return got


# -- a fetch inside a batch ---------------------------------------------------------------


@pytest.mark.parametrize("version", FETCH_VERSIONS)
def test_fetch_inside_a_batch_returns_the_whole_batch(broker, version):
    topic = f"inside-batch-v{version}"
    create_topic(broker.bootstrap, topic)
    conn = RawConnection(broker.bootstrap)
    try:
        assert raw_produce(conn, topic, build_batch(TS_BASE, 10)) == 0
        assert raw_produce(conn, topic, build_batch(TS_BASE + 100, 5, b"second-")) == 10

        part = only_partition(conn.request(fetch_request(topic, 5), FetchResponse, version))
        assert part.error_code == 0
        assert part.high_watermark == 15
        batches = split_batches(part.records)
        assert batches, "no batch returned for an offset inside the log"
        first = batches[0]
        assert (first.base_offset, first.last_offset) == (0, 9), (
            "the fetch must start at the batch holding offset 5, not split it"
        )
        assert [r.offset for r in first.records] == list(range(10))
        assert [r.value for r in first.records] == [b"value-%d" % i for i in range(10)]
        if len(batches) > 1:
            assert (batches[1].base_offset, batches[1].last_offset) == (10, 14)

        # Inside the second batch: the first batch is no longer sent.
        part = only_partition(conn.request(fetch_request(topic, 12), FetchResponse, version))
        assert part.error_code == 0
        batches = split_batches(part.records)
        assert [(b.base_offset, b.last_offset) for b in batches] == [(10, 14)]
        assert [r.key for r in batches[0].records] == [b"second-%d" % i for i in range(5)]
    finally:
        conn.close()


def test_fetch_at_log_end_returns_empty_records(broker):
    topic = "at-log-end"
    create_topic(broker.bootstrap, topic)
    conn = RawConnection(broker.bootstrap)
    try:
        raw_produce(conn, topic, build_batch(TS_BASE, 3))
        for version in FETCH_VERSIONS:
            part = only_partition(conn.request(fetch_request(topic, 3), FetchResponse, version))
            assert part.error_code == 0
            assert part.high_watermark == 3
            # Never null: librdkafka rejects "MessageSetSize -1" on v12+.
            assert part.records == b"", f"v{version}: records {part.records!r}"
    finally:
        conn.close()


def test_consumer_positioned_inside_a_batch_gets_records_from_that_offset_on(broker):
    topic = "position-inside-batch"
    create_topic(broker.bootstrap, topic)
    conn = RawConnection(broker.bootstrap)
    try:
        raw_produce(conn, topic, build_batch(TS_BASE, 10))
    finally:
        conn.close()

    consumer = confluent_consumer(broker.bootstrap, **{"auto.offset.reset": "error"})
    try:
        consumer.assign([TopicPartition(topic, 0, 6)])
        got = consume_until(consumer, 4)
        assert [(m.offset(), m.key(), m.value()) for m in got] == [
            (i, b"k%d" % i, b"value-%d" % i) for i in range(6, 10)
        ]
        assert [m.timestamp()[1] for m in got] == [TS_BASE + i for i in range(6, 10)]
    finally:
        consumer.close()

    kp = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None, enable_auto_commit=False)
    try:
        tp = KpTopicPartition(topic, 0)
        kp.assign([tp])
        kp.seek(tp, 3)
        records: list = []
        deadline = time.monotonic() + GUARD_S
        while len(records) < 7 and time.monotonic() < deadline:
            for batch in kp.poll(timeout_ms=500).values():
                records.extend(batch)
        assert [(r.offset, r.value) for r in records] == [
            (i, b"value-%d" % i) for i in range(3, 10)
        ]
    finally:
        kp.close()


# -- waiting fetches ---------------------------------------------------------------------


def test_parked_fetch_returns_when_a_record_is_produced(broker):
    topic = "parked-fetch"
    create_topic(broker.bootstrap, topic)
    conn = RawConnection(broker.bootstrap)
    try:
        # max_wait far beyond the guard: only a produce can complete this fetch in time.
        correlation_id = conn.send(fetch_request(topic, 0, max_wait_ms=120_000), 12)
        producer_done = threading.Event()

        def produce_soon() -> None:
            # The fetch is already on the wire; give the broker a moment to park it.
            time.sleep(0.5)
            produce(broker.bootstrap, topic, [(b"wake", b"up", None)])
            producer_done.set()

        threading.Thread(target=produce_soon, daemon=True).start()
        part = only_partition(conn.receive(FetchResponse, 12, correlation_id))
        assert part.error_code == 0
        values = [r.value for b in split_batches(part.records) for r in b.records]
        if values == []:
            # The fetch was answered before the produce landed (the broker may answer an
            # empty fetch at once); the record must then be there on the next fetch.
            assert producer_done.wait(GUARD_S)
            part = only_partition(conn.request(fetch_request(topic, 0), FetchResponse, 12))
            values = [r.value for b in split_batches(part.records) for r in b.records]
        assert values == [b"up"]
    finally:
        conn.close()


def test_fetch_waiting_for_min_bytes_returns_once_enough_is_produced(broker):
    topic = "min-bytes"
    create_topic(broker.bootstrap, topic)
    consumer = confluent_consumer(
        broker.bootstrap,
        **{
            "fetch.wait.max.ms": 120_000,
            "socket.timeout.ms": 300_000,
            "fetch.min.bytes": 50_000,
            "auto.offset.reset": "error",
        },
    )
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        assert consume_until(consumer, 1, guard_s=1.0) == []
        payload = [(b"%03d" % i, b"%03d" % i + b"x" * 1_000, None) for i in range(100)]
        produce(broker.bootstrap, topic, payload)
        # 100 kB >= fetch.min.bytes: the waiting fetch completes long before its max wait.
        got = consume_until(consumer, 100)
        assert [(m.offset(), m.key(), m.value()) for m in got] == [
            (i, k, v) for i, (k, v, _) in enumerate(payload)
        ]
    finally:
        consumer.close()


def test_fetch_below_min_bytes_returns_what_there_is_when_max_wait_expires(broker):
    topic = "max-wait"
    create_topic(broker.bootstrap, topic)
    produce(broker.bootstrap, topic, [(b"tiny", b"1", None)])
    consumer = confluent_consumer(
        broker.bootstrap,
        **{"fetch.wait.max.ms": 1_000, "fetch.min.bytes": 1_000_000, "auto.offset.reset": "error"},
    )
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        got = consume_until(consumer, 1)
        assert [(m.offset(), m.key(), m.value()) for m in got] == [(0, b"tiny", b"1")]
    finally:
        consumer.close()


# -- offsets out of range ----------------------------------------------------------------


def test_fetch_beyond_log_end_is_offset_out_of_range(broker):
    topic = "out-of-range-raw"
    create_topic(broker.bootstrap, topic)
    conn = RawConnection(broker.bootstrap)
    try:
        raw_produce(conn, topic, build_batch(TS_BASE, 10))
        for version in FETCH_VERSIONS:
            part = only_partition(conn.request(fetch_request(topic, 1_000), FetchResponse, version))
            assert part.error_code == OFFSET_OUT_OF_RANGE, f"v{version}: error {part.error_code}"
            assert not part.records
    finally:
        conn.close()


def test_out_of_range_offset_resets_to_earliest(broker):
    topic = "reset-earliest"
    create_topic(broker.bootstrap, topic)
    produce(broker.bootstrap, topic, [(b"k%d" % i, b"v%d" % i, None) for i in range(10)])

    consumer = confluent_consumer(broker.bootstrap, **{"auto.offset.reset": "earliest"})
    try:
        consumer.assign([TopicPartition(topic, 0, 1_000)])
        got = consume_until(consumer, 10)
        assert [(m.offset(), m.value()) for m in got] == [(i, b"v%d" % i) for i in range(10)]
    finally:
        consumer.close()

    kp = KafkaConsumer(
        bootstrap_servers=broker.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    try:
        tp = KpTopicPartition(topic, 0)
        kp.assign([tp])
        kp.seek(tp, 1_000)
        records: list = []
        deadline = time.monotonic() + GUARD_S
        while len(records) < 10 and time.monotonic() < deadline:
            for batch in kp.poll(timeout_ms=500).values():
                records.extend(batch)
        assert [(r.offset, r.value) for r in records] == [(i, b"v%d" % i) for i in range(10)]
    finally:
        kp.close()


def test_out_of_range_offset_resets_to_latest(broker):
    topic = "reset-latest"
    create_topic(broker.bootstrap, topic)
    produce(broker.bootstrap, topic, [(b"old", b"old-%d" % i, None) for i in range(10)])

    consumer = confluent_consumer(broker.bootstrap, **{"auto.offset.reset": "latest"})
    try:
        consumer.assign([TopicPartition(topic, 0, 1_000)])
        # The reset happens in the background; records produced before it are skipped,
        # so keep producing one at a time until one arrives, then check which it is.
        got: list = []
        deadline = time.monotonic() + GUARD_S
        n = 0
        while not got and time.monotonic() < deadline:
            produce(broker.bootstrap, topic, [(b"new", b"new-%d" % n, None)])
            n += 1
            got = consume_until(consumer, 1, guard_s=1.0)
        assert got, "nothing consumed after reset to latest"
        first = got[0]
        assert first.offset() >= 10, f"reset to latest read old record at {first.offset()}"
        assert first.value() == b"new-%d" % (first.offset() - 10)
    finally:
        consumer.close()


# -- ListOffsets -------------------------------------------------------------------------


def test_offsets_for_times_and_watermarks_match_produced_timestamps(broker):
    topic = "list-offsets"
    create_topic(broker.bootstrap, topic)
    conn = RawConnection(broker.bootstrap)
    try:
        # Three batches, offsets 0-3, 4-6, 7-9; timestamps TS_BASE + 1000 * offset.
        offset = 0
        for size in (4, 3, 3):
            builder = DefaultRecordBatchBuilder(
                magic=2,
                compression_type=0,
                is_transactional=False,
                producer_id=-1,
                producer_epoch=-1,
                base_sequence=-1,
                batch_size=1 << 20,
            )
            for i in range(size):
                builder.append(
                    i,
                    timestamp=TS_BASE + 1000 * (offset + i),
                    key=None,
                    value=b"%d" % (offset + i),
                    headers=[],
                )
            assert raw_produce(conn, topic, bytes(builder.build())) == offset
            offset += size
    finally:
        conn.close()

    # target timestamp -> expected offset (first with timestamp >= target)
    cases = {
        TS_BASE - 1: 0,
        TS_BASE: 0,
        TS_BASE + 1: 1,
        TS_BASE + 2_000: 2,  # inside the first batch
        TS_BASE + 3_500: 4,  # between batches
        TS_BASE + 5_000: 5,  # inside the second batch
        TS_BASE + 8_999: 9,  # inside the last batch
        TS_BASE + 9_000: 9,
        TS_BASE + 9_001: -1,  # after the last record: no offset
    }
    tp = TopicPartition(topic, 0)
    consumer = confluent_consumer(broker.bootstrap)
    try:
        assert consumer.get_watermark_offsets(tp, timeout=10, cached=False) == (0, 10)
        for ts, expected in cases.items():
            (answer,) = consumer.offsets_for_times([TopicPartition(topic, 0, ts)], timeout=10)
            assert answer.error is None, f"ts {ts}: {answer.error}"
            assert answer.offset == expected, f"ts {ts - TS_BASE:+}: {answer.offset} != {expected}"
    finally:
        consumer.close()

    kp = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None)
    try:
        ktp = KpTopicPartition(topic, 0)
        assert kp.beginning_offsets([ktp]) == {ktp: 0}
        assert kp.end_offsets([ktp]) == {ktp: 10}
        for ts, expected in cases.items():
            answer = kp.offsets_for_times({ktp: ts})[ktp]
            if expected == -1:
                assert answer is None, f"ts {ts - TS_BASE:+}: {answer}"
            else:
                assert answer is not None, f"ts {ts - TS_BASE:+}: no answer"
                assert (answer.offset, answer.timestamp) == (expected, TS_BASE + 1000 * expected)
    finally:
        kp.close()
