"""DeleteRecords moves the log start offset; consumers and ListOffsets follow it."""

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def _produce(bootstrap: str, topic: str, count: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for i in range(count):
        producer.produce(topic, value=str(i).encode(), partition=0)
        producer.flush(10)  # one batch per message: offsets inside batches are not the point
    assert producer.flush(10) == 0


def _read_all(bootstrap: str, topic: str) -> list[tuple[int, bytes]]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "unused",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])  # below the start: reset to earliest
        got = []
        for _ in range(10):  # a failure guard, not a timing
            if len(got) == 6:
                break
            for message in consumer.consume(num_messages=6 - len(got), timeout=10):
                assert message.error() is None, message.error()
                got.append((message.offset(), message.value()))
        return got
    finally:
        consumer.close()


def test_delete_records_moves_the_log_start_offset_and_survives_restart(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("trimmed", 1)])["trimmed"].result(10)
    _produce(broker.bootstrap, "trimmed", 10)

    (result,) = admin.delete_records([TopicPartition("trimmed", 0, 4)]).values()
    assert result.result(10).low_watermark == 4

    assert _read_all(broker.bootstrap, "trimmed") == [(i, str(i).encode()) for i in range(4, 10)]
    broker.restart()
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused"})
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition("trimmed", 0), timeout=10)
    finally:
        consumer.close()
    assert (low, high) == (4, 10)


def test_delete_records_past_the_high_watermark_is_refused(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("short", 1)])["short"].result(10)
    _produce(broker.bootstrap, "short", 3)
    (result,) = admin.delete_records([TopicPartition("short", 0, 7)]).values()
    error = result.exception(10)
    assert error is not None and error.args[0].name() == "OFFSET_OUT_OF_RANGE"
