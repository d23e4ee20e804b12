"""100,000 keyed records through the broker with real clients, checked record by record.

Both clients (confluent-kafka/librdkafka and kafka-python) produce to a 3-partition
topic with acks=all, with and without idempotence; the broker is restarted between
produce and consume (same data dir, same port), then everything is read back by
partition assignment (no consumer group) and compared field by field: count, offsets
consecutive from 0 per partition, order, key, value, headers, timestamps, and that
each key always landed on one partition, the one the delivery report named.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass

from confluent_kafka import (
    TIMESTAMP_CREATE_TIME,
    Consumer,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KpTopicPartition
from kafka.admin import KafkaAdminClient
from kafka.admin import NewTopic as KpNewTopic

N_RECORDS = 100_000
PARTITIONS = 3
N_KEYS = 1_000
# Every EXPLICIT_TS_EVERY-th record carries a timestamp set by the producer (far in the
# past, so it cannot be mistaken for one the client filled in).
EXPLICIT_TS_EVERY = 10
EXPLICIT_TS_BASE = 1_500_000_000_000
FILLER = b"." * 40
CONSUME_GUARD_S = 180.0
# Give up early when nothing new arrives for this long (a failure guard, not a measure).
STALL_GUARD_S = 30.0
# CreateTime filled in by the client: between the test's start and end, with slack for
# clock granularity. This bounds a timestamp, not a duration.
CLOCK_SLACK_MS = 5_000


def key_of(seq: int) -> bytes:
    return f"key-{seq % N_KEYS:04d}".encode()


def value_of(seq: int) -> bytes:
    return b"value-%08d-" % seq + FILLER


def seq_of(value: bytes) -> int:
    return int(value[6:14])


def headers_of(seq: int) -> list[tuple[str, bytes]]:
    return [("seq", str(seq).encode()), ("origin", b"kafka-compat-\x00\xfftest")]


def explicit_ts_of(seq: int) -> int | None:
    return EXPLICIT_TS_BASE + seq if seq % EXPLICIT_TS_EVERY == 0 else None


@dataclass(slots=True)
class Received:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    create_time: bool
    timestamp: int


class ProgressGuard:
    """Stops a consume loop after CONSUME_GUARD_S, or STALL_GUARD_S without progress."""

    def __init__(self) -> None:
        now = time.monotonic()
        self.deadline = now + CONSUME_GUARD_S
        self.last_progress = now
        self.last_count = -1

    def keep_going(self, count: int) -> bool:
        now = time.monotonic()
        if count != self.last_count:
            self.last_count, self.last_progress = count, now
        return now < self.deadline and now - self.last_progress < STALL_GUARD_S


def expected_log_end_offsets(delivered: dict[int, tuple[int, int]]) -> dict[int, int]:
    """Per partition, one past the highest acknowledged offset."""
    ends = dict.fromkeys(range(PARTITIONS), 0)
    for partition, offset in delivered.values():
        ends[partition] = max(ends[partition], offset + 1)
    return ends


def assert_all_records_back(
    received: list[Received],
    delivered: dict[int, tuple[int, int]],
    t_start_ms: int,
    t_end_ms: int,
) -> None:
    """Every produced record came back once, in order, intact, where it was acknowledged."""
    assert len(received) == N_RECORDS, f"consumed {len(received)} records, produced {N_RECORDS}"
    assert len(delivered) == N_RECORDS

    by_partition: dict[int, list[Received]] = defaultdict(list)
    for r in received:
        by_partition[r.partition].append(r)
    assert sorted(by_partition) == list(range(PARTITIONS)), "every partition should get keys"

    partitions_of_key: dict[bytes, set[int]] = defaultdict(set)
    seen: set[int] = set()
    for partition, records in by_partition.items():
        offsets = [r.offset for r in records]
        assert offsets == list(range(len(records))), (
            f"partition {partition}: offsets not consecutive from 0 "
            f"(first {offsets[:5]}, last {offsets[-5:]})"
        )
        last_seq = -1
        for r in records:
            assert r.value is not None
            seq = seq_of(r.value)
            assert seq > last_seq, f"p{partition} offset {r.offset}: seq {seq} after {last_seq}"
            last_seq = seq
            assert seq not in seen, f"seq {seq} consumed twice"
            seen.add(seq)
            assert r.value == value_of(seq)
            assert r.key == key_of(seq)
            assert r.headers == headers_of(seq), f"seq {seq}: headers {r.headers!r}"
            assert r.create_time, f"seq {seq}: timestamp type is not CreateTime"
            explicit = explicit_ts_of(seq)
            if explicit is not None:
                assert r.timestamp == explicit, f"seq {seq}: timestamp {r.timestamp} != {explicit}"
            else:
                assert t_start_ms - CLOCK_SLACK_MS <= r.timestamp <= t_end_ms + CLOCK_SLACK_MS, (
                    f"seq {seq}: CreateTime {r.timestamp} outside the produce window"
                )
            assert delivered[seq] == (partition, r.offset), (
                f"seq {seq}: acknowledged at {delivered[seq]}, read at {(partition, r.offset)}"
            )
            partitions_of_key[r.key].add(partition)
    assert len(seen) == N_RECORDS
    split = {k: p for k, p in partitions_of_key.items() if len(p) != 1}
    assert not split, f"keys spread over several partitions: {list(split.items())[:5]}"


# -- confluent-kafka ---------------------------------------------------------------------


def confluent_create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=1)], operation_timeout=30
    )
    futures[topic].result(timeout=60)


def confluent_produce_all(bootstrap: str, topic: str, extra: dict) -> dict[int, tuple[int, int]]:
    delivered: dict[int, tuple[int, int]] = {}
    errors: list[str] = []

    def on_delivery(err, msg) -> None:
        if err is not None:
            errors.append(f"{err} (value {msg.value()[:14]!r})")
        else:
            delivered[seq_of(msg.value())] = (msg.partition(), msg.offset())

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "linger.ms": 10,
            "batch.size": 1_000_000,
            "queue.buffering.max.messages": 500_000,
            "compression.type": "none",
            **extra,
        }
    )
    for seq in range(N_RECORDS):
        kwargs = {}
        ts = explicit_ts_of(seq)
        if ts is not None:
            kwargs["timestamp"] = ts
        while True:
            try:
                producer.produce(
                    topic,
                    key=key_of(seq),
                    value=value_of(seq),
                    headers=headers_of(seq),
                    on_delivery=on_delivery,
                    **kwargs,
                )
                break
            except BufferError:
                producer.poll(0.05)
        if seq % 5_000 == 0:
            producer.poll(0)
    assert producer.flush(120) == 0, "records still undelivered after flush"
    assert not errors, f"{len(errors)} delivery errors, first: {errors[:3]}"
    return delivered


def confluent_consume_all(
    bootstrap: str, topic: str, expected_ends: dict[int, int]
) -> list[Received]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"{topic}-reader",
            "enable.auto.commit": False,
            # A bad offset answer from the broker must surface, not be papered over.
            "auto.offset.reset": "error",
            "enable.partition.eof": False,
        }
    )
    try:
        # After the restart the log ends where the acknowledgements said it would.
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30, cached=False)
            for p in range(PARTITIONS)
        }
        assert ends == {p: (0, end) for p, end in expected_ends.items()}, (
            f"watermarks after restart {ends}, acknowledged {expected_ends}"
        )
        consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        received: list[Received] = []
        guard = ProgressGuard()
        while len(received) < N_RECORDS and guard.keep_going(len(received)):
            for msg in consumer.consume(num_messages=10_000, timeout=1.0):
                err = msg.error()
                assert err is None, f"consume error: {err}"
                ts_type, ts = msg.timestamp()
                received.append(
                    Received(
                        msg.partition(),
                        msg.offset(),
                        msg.key(),
                        msg.value(),
                        list(msg.headers() or []),
                        ts_type == TIMESTAMP_CREATE_TIME,
                        ts,
                    )
                )
        # Nothing beyond what was produced.
        extra = consumer.consume(num_messages=10, timeout=0.5)
        assert [m for m in extra if m.error() is None] == [], "more records than produced"
        return received
    finally:
        consumer.close()


def run_confluent_round_trip(broker, topic: str, producer_extra: dict) -> None:
    confluent_create_topic(broker.bootstrap, topic, PARTITIONS)
    t_start = int(time.time() * 1000)
    delivered = confluent_produce_all(broker.bootstrap, topic, producer_extra)
    t_end = int(time.time() * 1000)
    broker.stop()
    broker.start()
    received = confluent_consume_all(broker.bootstrap, topic, expected_log_end_offsets(delivered))
    assert_all_records_back(received, delivered, t_start, t_end)


def test_confluent_100k_keyed_records_survive_restart_intact(broker):
    run_confluent_round_trip(broker, "confluent-100k", {})


def test_confluent_idempotent_100k_keyed_records_survive_restart_intact(broker):
    run_confluent_round_trip(broker, "confluent-idem-100k", {"enable.idempotence": True})


# -- kafka-python ------------------------------------------------------------------------


def kafka_python_create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30_000)
    try:
        admin.create_topics(
            [KpNewTopic(name=topic, num_partitions=partitions, replication_factor=1)],
            timeout_ms=30_000,
        )
    finally:
        admin.close()


def kafka_python_produce_all(
    bootstrap: str, topic: str, idempotent: bool
) -> dict[int, tuple[int, int]]:
    delivered: dict[int, tuple[int, int]] = {}
    errors: list[str] = []

    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=idempotent,
        linger_ms=10,
        batch_size=512 * 1024,
        compression_type=None,
    )
    try:
        for seq in range(N_RECORDS):

            def ok(md, seq=seq) -> None:
                delivered[seq] = (md.partition, md.offset)

            def failed(exc, seq=seq) -> None:
                errors.append(f"seq {seq}: {exc!r}")

            producer.send(
                topic,
                key=key_of(seq),
                value=value_of(seq),
                headers=headers_of(seq),
                timestamp_ms=explicit_ts_of(seq),
            ).add_callback(ok).add_errback(failed)
        producer.flush(timeout=120)
    finally:
        producer.close(timeout=30)
    assert not errors, f"{len(errors)} delivery errors, first: {errors[:3]}"
    return delivered


def kafka_python_consume_all(
    bootstrap: str, topic: str, expected_ends: dict[int, int]
) -> list[Received]:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=20_000,
        fetch_max_bytes=16 * 1024 * 1024,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    try:
        tps = [KpTopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        assert consumer.beginning_offsets(tps) == {tp: 0 for tp in tps}
        ends = {tp.partition: end for tp, end in consumer.end_offsets(tps).items()}
        assert ends == expected_ends, f"log ends after restart {ends}, acknowledged {expected_ends}"
        consumer.seek_to_beginning()
        received: list[Received] = []
        guard = ProgressGuard()
        while len(received) < N_RECORDS and guard.keep_going(len(received)):
            for tp, records in consumer.poll(timeout_ms=1_000).items():
                for rec in records:
                    received.append(
                        Received(
                            tp.partition,
                            rec.offset,
                            rec.key,
                            rec.value,
                            list(rec.headers),
                            rec.timestamp_type == 0,
                            rec.timestamp,
                        )
                    )
        extra = consumer.poll(timeout_ms=500)
        assert not any(extra.values()), "more records than produced"
        return received
    finally:
        consumer.close()


def run_kafka_python_round_trip(broker, topic: str, idempotent: bool) -> None:
    kafka_python_create_topic(broker.bootstrap, topic, PARTITIONS)
    t_start = int(time.time() * 1000)
    delivered = kafka_python_produce_all(broker.bootstrap, topic, idempotent)
    t_end = int(time.time() * 1000)
    broker.stop()
    broker.start()
    received = kafka_python_consume_all(
        broker.bootstrap, topic, expected_log_end_offsets(delivered)
    )
    assert_all_records_back(received, delivered, t_start, t_end)


def test_kafka_python_100k_keyed_records_survive_restart_intact(broker):
    run_kafka_python_round_trip(broker, "kafka-python-100k", idempotent=False)


def test_kafka_python_idempotent_100k_keyed_records_survive_restart_intact(broker):
    run_kafka_python_round_trip(broker, "kafka-python-idem-100k", idempotent=True)
