"""Compressed batches (gzip, snappy, lz4, zstd) from each client, read back by both.

The broker stores a compressed batch as the producer sent it (topic compression.type
defaults to "producer"), so the segment on disk is smaller than the raw payload, and
both clients must decompress what the other client compressed. A topic whose
compression.type names a codec stores every batch in it, whatever the producer used
(`kafka-compat dump-log` shows the codec), and both clients read the records back.

kafka-python needs the codec packages python-snappy, lz4 and zstandard (it does not use
cramjam directly); without them these tests fail and say which package is missing.
"""

from __future__ import annotations

import json
import time

import kafka.codec
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KpTopicPartition

from kafka_compat import cli

CODECS = ["gzip", "snappy", "lz4", "zstd"]
KAFKA_PYTHON_CODEC_PACKAGE = {
    "gzip": (kafka.codec.has_gzip, "gzip (stdlib)"),
    "snappy": (kafka.codec.has_snappy, "python-snappy"),
    "lz4": (kafka.codec.has_lz4, "lz4"),
    "zstd": (kafka.codec.has_zstd, "zstandard"),
}
N_RECORDS = 3_000
SENTENCE = b"the quick brown fox jumps over the lazy dog; "
GUARD_S = 60.0


def expected_records() -> list[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    return [
        (
            f"key-{seq % 37}".encode(),
            b"%06d:" % seq + SENTENCE * (5 + seq % 7),
            [("seq", str(seq).encode())],
        )
        for seq in range(N_RECORDS)
    ]


def require_kafka_python_codec(codec: str) -> None:
    available, package = KAFKA_PYTHON_CODEC_PACKAGE[codec]
    if not available():
        pytest.fail(f"kafka-python cannot use {codec}: install {package}")


def create_topic(bootstrap: str, topic: str, config: dict[str, str] | None = None) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=1, replication_factor=1, config=config or {})],
        operation_timeout=30,
    )
    futures[topic].result(timeout=60)


def produce_with_confluent(bootstrap: str, topic: str, codec: str, records) -> None:
    errors: list[str] = []

    def on_delivery(err, msg) -> None:
        if err is not None:
            errors.append(str(err))

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "compression.type": codec,
            "linger.ms": 20,
            "batch.size": 256 * 1024,
        }
    )
    for key, value, headers in records:
        producer.produce(topic, key=key, value=value, headers=headers, on_delivery=on_delivery)
        producer.poll(0)
    assert producer.flush(60) == 0, "records still undelivered after flush"
    assert not errors, f"delivery errors: {errors[:3]}"


def produce_with_kafka_python(bootstrap: str, topic: str, codec: str, records) -> None:
    require_kafka_python_codec(codec)
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        compression_type=codec,
        linger_ms=20,
        batch_size=256 * 1024,
    )
    try:
        futures = [
            producer.send(topic, key=key, value=value, headers=headers)
            for key, value, headers in records
        ]
        producer.flush(timeout=60)
        for f in futures:
            f.get(timeout=10)  # raises the delivery error, if any
    finally:
        producer.close(timeout=30)


def consume_with_confluent(bootstrap: str, topic: str) -> list[tuple]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"{topic}-confluent",
            "enable.auto.commit": False,
            "auto.offset.reset": "error",
        }
    )
    got: list[tuple] = []
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        deadline = time.monotonic() + GUARD_S
        while len(got) < N_RECORDS and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=5_000, timeout=1.0):
                assert msg.error() is None, f"consume error: {msg.error()}"
                got.append((msg.offset(), msg.key(), msg.value(), list(msg.headers() or [])))
    finally:
        consumer.close()
    return got


def consume_with_kafka_python(bootstrap: str, topic: str, codec: str) -> list[tuple]:
    require_kafka_python_codec(codec)
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=5_000,
    )
    got: list[tuple] = []
    try:
        tp = KpTopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek(tp, 0)
        deadline = time.monotonic() + GUARD_S
        while len(got) < N_RECORDS and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=1_000).values():
                got.extend((r.offset, r.key, r.value, list(r.headers)) for r in records)
    finally:
        consumer.close()
    return got


def assert_exact(got: list[tuple], expected, reader: str) -> None:
    assert len(got) == len(expected), f"{reader} read {len(got)} of {len(expected)} records"
    for (offset, key, value, headers), (seq, (ekey, evalue, eheaders)) in zip(
        got, enumerate(expected), strict=True
    ):
        assert offset == seq, f"{reader}: offset {offset} where {seq} was expected"
        assert (key, value, headers) == (ekey, evalue, eheaders), f"{reader}: record {seq} differs"


def stored_log_bytes(broker, topic: str) -> int:
    segments = list(broker.data_dir.rglob(f"{topic}-0/*.log"))
    assert segments, f"no segment file for {topic}-0 under {broker.data_dir}"
    return sum(p.stat().st_size for p in segments)


PRODUCERS = {"confluent": produce_with_confluent, "kafka-python": produce_with_kafka_python}


@pytest.mark.parametrize("producer_client", list(PRODUCERS))
@pytest.mark.parametrize("codec", CODECS)
def test_compressed_batches_are_stored_as_sent_and_read_back_by_both_clients(
    broker, codec, producer_client
):
    topic = f"compressed-{codec}-{producer_client}"
    create_topic(broker.bootstrap, topic)
    records = expected_records()
    PRODUCERS[producer_client](broker.bootstrap, topic, codec, records)

    assert_exact(consume_with_confluent(broker.bootstrap, topic), records, "confluent")
    assert_exact(consume_with_kafka_python(broker.bootstrap, topic, codec), records, "kafka-python")

    raw_bytes = sum(len(k) + len(v) for k, v, _ in records)
    on_disk = stored_log_bytes(broker, topic)
    assert on_disk < raw_bytes // 4, (
        f"{on_disk} bytes on disk for {raw_bytes} bytes of {codec}-compressible payload: "
        "the batches were not stored compressed"
    )


# (topic compression.type, what the producer sends): every codec is stored from another.
RECOMPRESSED = [("gzip", "none"), ("snappy", "zstd"), ("lz4", "gzip"), ("zstd", "lz4")]


@pytest.mark.parametrize(("topic_codec", "sent"), [*RECOMPRESSED, ("uncompressed", "snappy")])
def test_a_topics_compression_type_is_what_is_stored(broker, capsys, topic_codec, sent):
    topic = f"stored-{topic_codec}-from-{sent}"
    create_topic(broker.bootstrap, topic, {"compression.type": topic_codec})
    records = expected_records()
    produce_with_confluent(broker.bootstrap, topic, sent, records)

    segment = broker.data_dir / f"{topic}-0" / "00000000000000000000.log"
    assert cli.main(["dump-log", "--files", str(segment), "--output", "json"]) == 0
    entries = json.loads(capsys.readouterr().out)["files"][0]["entries"]
    codecs = {e["batch"]["compression"] for e in entries if "batch" in e}
    assert codecs == {"none" if topic_codec == "uncompressed" else topic_codec}

    assert_exact(consume_with_confluent(broker.bootstrap, topic), records, "confluent")
    # kafka-python needs the stored codec's package ("uncompressed": none, gzip is stdlib).
    stored = "gzip" if topic_codec == "uncompressed" else topic_codec
    assert_exact(
        consume_with_kafka_python(broker.bootstrap, topic, stored), records, "kafka-python"
    )
