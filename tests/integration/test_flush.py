"""flush.messages / flush.ms: the flusher fsyncs in the background and the recovery
point (recovery-point-offset-checkpoint) follows, so recovery has less to re-read."""

import time

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

GUARD_S = 30  # failure guard, not a timing


def recovery_points(data_dir) -> dict[tuple[str, int], int]:
    path = data_dir / "recovery-point-offset-checkpoint"
    if not path.exists():
        return {}
    lines = path.read_text().splitlines()[2:]
    return {(t, int(p)): int(o) for t, p, o in (line.split() for line in lines)}


@pytest.mark.parametrize("config", [{"flush.messages": "1"}, {"flush.ms": "10"}])
def test_flushed_offsets_reach_the_recovery_point_checkpoint(broker_factory, config):
    broker = broker_factory(log_flush_offset_checkpoint_interval_ms="50")
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("durable", 1, config=config)])["durable"].result(10)
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(5):
        producer.produce("durable", value=b"%d" % i, partition=0)
    assert producer.flush(10) == 0

    deadline = time.monotonic() + GUARD_S
    while recovery_points(broker.data_dir).get(("durable", 0)) != 5:
        assert time.monotonic() < deadline, recovery_points(broker.data_dir)
        time.sleep(0.05)


def test_without_flush_settings_the_recovery_point_stays_behind(broker_factory):
    broker = broker_factory(log_flush_offset_checkpoint_interval_ms="50")
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("lazy", 1)])["lazy"].result(10)
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    producer.produce("lazy", value=b"x", partition=0)
    assert producer.flush(10) == 0
    # Kafka's default: the page cache, no fsync per message; a checkpoint is written...
    deadline = time.monotonic() + GUARD_S
    while ("lazy", 0) not in recovery_points(broker.data_dir):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # ...but recovery would re-check the unflushed batch after a crash.
    assert recovery_points(broker.data_dir)[("lazy", 0)] == 0
