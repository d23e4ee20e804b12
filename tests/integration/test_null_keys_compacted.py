"""KIP-467: a compacted topic refuses records without a key (INVALID_RECORD), the whole
batch, naming each such record in RecordErrors (Produce v8+)."""

from __future__ import annotations

from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from protocol.records import build_batch
from tests.integration.test_fetch_semantics import RawConnection
from tests.integration.test_legacy_formats import produce_full
from tests.integration.test_produce_validation import produce

NONE = 0
INVALID_RECORD = 87
TS = 1_700_000_000_000


def create(bootstrap: str, topic: str, partitions: int, policy: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics(
        [NewTopic(topic, partitions, 1, config={"cleanup.policy": policy})], operation_timeout=30
    )[topic].result(timeout=60)


def test_record_errors_name_the_null_key_records(broker):
    topic = "kip467"
    create(broker.bootstrap, topic, 2, "compact")
    mixed = build_batch(
        [(b"a", b"1", (), TS), (None, b"2", (), TS), (b"c", b"3", (), TS), (None, b"4", (), TS)]
    )
    keyed = build_batch([(b"a", b"1", (), TS)])
    conn = RawConnection(broker.bootstrap)
    try:
        answer = produce_full(conn, topic, {0: mixed, 1: keyed}, 9)
        refused = answer[0]
        assert (refused.error_code, refused.base_offset) == (INVALID_RECORD, -1)
        message = f"Compacted topic cannot accept message without key in topic partition {topic}-0."
        assert [(e.batch_index, e.batch_index_error_message) for e in refused.record_errors] == [
            (1, message),
            (3, message),
        ]
        assert "2 record errors" in refused.error_message
        assert (answer[1].error_code, answer[1].base_offset) == (NONE, 0)  # unaffected
        # Nothing of the refused batch was stored; before v8 only the error code.
        assert produce(conn, topic, {0: keyed}, 3) == {0: (NONE, 0)}
        assert produce(conn, topic, {0: mixed}, 7) == {0: (INVALID_RECORD, -1)}
    finally:
        conn.close()


def test_null_keys_are_fine_on_a_delete_topic(broker):
    topic = "kip467-delete"
    create(broker.bootstrap, topic, 1, "delete")
    conn = RawConnection(broker.bootstrap)
    try:
        batch = build_batch([(None, b"v", (), TS)])
        assert produce(conn, topic, {0: batch}, 9) == {0: (NONE, 0)}
    finally:
        conn.close()


def test_confluent_kafka_delivery_errors_are_the_null_key_records(broker):
    topic = "kip467-confluent"
    create(broker.bootstrap, topic, 1, "compact")
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
    outcomes: list[KafkaError | None] = []
    keys = [b"k0", None, b"k2", None, None, b"k5"]
    for key in keys:
        # One record per batch: each null key fails alone.
        producer.produce(
            topic, key=key, value=b"v", partition=0, on_delivery=lambda e, m: outcomes.append(e)
        )
        producer.flush(30)
    errors = [e for e in outcomes if e is not None]
    assert len(outcomes) == len(keys)
    assert len(errors) == keys.count(None)
    assert {e.code() for e in errors} == {KafkaError.INVALID_RECORD}
