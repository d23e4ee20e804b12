"""Several log dirs (JBOD) on a real broker over TCP: partitions spread over the dirs,
DescribeLogDirs listing each, AlterReplicaLogDirs moving a partition while a
confluent-kafka producer writes (every acknowledged record still there after the move
and after a restart), and a failed dir taking only its own partitions offline.

confluent-kafka's AdminClient has no describe_log_dirs / alter_replica_log_dirs, so
those two go through the project's codec (kafka_compat.cluster.client), as
kafka-log-dirs.sh and kafka-reassign-partitions.sh send them.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import trio
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaAdminClient, TopicPartitionReplica
from kafka.errors import LogDirNotFoundError, NoError

import kafka_compat.replica_alter_log_dirs as mover
import storage.segment
from kafka_compat.cluster.client import BrokerClient
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

GUARD_S = 60
DescribeRequest = messages.request_type(ApiKey.DESCRIBE_LOG_DIRS)
AlterRequest = messages.request_type(ApiKey.ALTER_REPLICA_LOG_DIRS)
STORAGE_ERROR = ErrorCode.KAFKA_STORAGE_ERROR


def _send(port: int, key: int, version: int, request):
    async def go():
        async with BrokerClient("127.0.0.1", port, "jbod-test") as client:
            with trio.fail_after(GUARD_S):
                return await client.send(key, version, request)

    return trio.run(go)


def describe(broker, version: int = 4, topics=None) -> dict[str, tuple[int, dict]]:
    """log dir -> (error, {(topic, partition, is_future): (size, lag)})."""
    response = _send(broker.port, ApiKey.DESCRIBE_LOG_DIRS, version, DescribeRequest(topics=topics))
    return {
        r.log_dir: (
            r.error_code,
            {
                (t.name, p.partition_index, p.is_future_key): (p.partition_size, p.offset_lag)
                for t in r.topics
                for p in t.partitions
            },
        )
        for r in response.results
    }


def alter(broker, moves: dict[str, list[tuple[str, int]]], version: int = 2) -> dict:
    dirs = []
    for path, partitions in moves.items():
        by_topic: dict[str, list[int]] = {}
        for topic, index in partitions:
            by_topic.setdefault(topic, []).append(index)
        dirs.append(
            AlterRequest.AlterReplicaLogDir(
                path=path,
                topics=[
                    AlterRequest.AlterReplicaLogDirTopic(name=t, partitions=p)
                    for t, p in by_topic.items()
                ],
            )
        )
    response = _send(broker.port, ApiKey.ALTER_REPLICA_LOG_DIRS, version, AlterRequest(dirs=dirs))
    return {
        (t.topic_name, p.partition_index): p.error_code
        for t in response.results
        for p in t.partitions
    }


def create_topics(bootstrap: str, **partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, n) for name, n in partitions.items()])
    for future in futures.values():
        future.result(GUARD_S)


def consume(bootstrap: str, topic: str, partition: int = 0) -> list[bytes]:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False}
    )
    try:
        low, end = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
        consumer.assign([TopicPartition(topic, partition, low)])
        values: list[bytes] = []
        deadline = time.monotonic() + GUARD_S
        while low + len(values) < end and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=10_000, timeout=1):
                assert message.error() is None, message.error()
                values.append(message.value())
        return values
    finally:
        consumer.close()


def wait_until(condition, what: str):
    deadline = time.monotonic() + GUARD_S
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def jbod(broker_factory, tmp_path):
    """A broker with three log dirs; `jbod.dirs` their absolute paths."""
    dirs = [str(tmp_path / f"disk-{n}") for n in "abc"]
    handle = broker_factory(log_dirs=",".join(dirs))
    handle.dirs = dirs
    return handle


def test_partitions_spread_over_the_dirs_and_each_dir_is_described(jbod):
    create_topics(jbod.bootstrap, spread=6)
    producer = Producer({"bootstrap.servers": jbod.bootstrap, "linger.ms": 0})
    for p in range(6):
        producer.produce("spread", value=b"x" * 100, partition=p)
    assert producer.flush(GUARD_S) == 0
    for version in (0, 1, 4):
        described = describe(jbod, version)
        assert list(described) == jbod.dirs, version  # every dir, in log.dirs order
        for path in jbod.dirs:
            error, partitions = described[path]
            assert error == ErrorCode.NONE
            assert len(partitions) == 2, (version, path, partitions)  # 6 over 3 dirs
            for (topic, index, future), (size, lag) in partitions.items():
                assert topic == "spread" and not future and lag == 0 and size > 100
                assert os.path.isdir(os.path.join(path, f"spread-{index}"))
            assert os.path.exists(os.path.join(path, "meta.properties"))
    metas = {open(os.path.join(p, "meta.properties")).read().split("\n", 2)[2] for p in jbod.dirs}
    assert len(metas) == 1  # the same broker.id and cluster.id in each


def test_alter_replica_log_dirs_errors(jbod):
    create_topics(jbod.bootstrap, here=1)
    not_found = alter(jbod, {"/no/such/dir": [("here", 0)]})
    assert not_found == {("here", 0): ErrorCode.LOG_DIR_NOT_FOUND}
    assert alter(jbod, {jbod.dirs[2]: [("later", 0)]}, version=0) == {
        ("later", 0): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    }
    # Kafka remembers the dir asked for a partition not created yet: it goes there.
    create_topics(jbod.bootstrap, later=1)
    _, partitions = describe(jbod)[jbod.dirs[2]]
    assert ("later", 0, False) in partitions
    # Already there: nothing to do.
    assert alter(jbod, {jbod.dirs[2]: [("later", 0)]}, version=1) == {("later", 0): 0}


def test_a_partition_moves_while_a_producer_writes_and_nothing_is_lost(jbod, monkeypatch):
    create_topics(jbod.bootstrap, moving=1)
    [source] = [p for p, (_, parts) in describe(jbod).items() if ("moving", 0, False) in parts]
    destination = next(p for p in jbod.dirs if p != source)
    # Hold the swap until the test has seen the future replica (the copy goes on).
    gate = threading.Event()
    real_step = mover.copy_step
    monkeypatch.setattr(
        mover, "copy_step", lambda c, f, n=mover.COPY_BYTES: real_step(c, f, n) and gate.is_set()
    )
    monkeypatch.setattr(mover, "COPY_BYTES", 64 * 1024)

    acked: list[bytes] = []
    failed: list = []
    stop = threading.Event()

    def on_delivery(error, message):
        if error is None:
            acked.append(message.value())
        else:
            failed.append(error)

    def produce() -> None:
        producer = Producer(
            {
                "bootstrap.servers": jbod.bootstrap,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 2,
            }
        )
        i = 0
        while not stop.is_set():
            producer.produce("moving", value=b"%08d" % i + b"." * 200, on_delivery=on_delivery)
            i += 1
            producer.poll(0)
            if i % 500 == 0:
                producer.flush(GUARD_S)
        assert producer.flush(GUARD_S) == 0

    writer = threading.Thread(target=produce)
    writer.start()
    try:
        wait_until(lambda: len(acked) > 20_000, "records written before the move")
        assert alter(jbod, {destination: [("moving", 0)]}) == {("moving", 0): 0}
        # DescribeLogDirs shows the future replica in the destination (IsFutureKey).
        future = wait_until(
            lambda: describe(jbod)[destination][1].get(("moving", 0, True)), "the future log"
        )
        size, lag = future
        assert lag >= 0
        assert ("moving", 0, False) in describe(jbod)[source][1]
        acked_before = len(acked)
        wait_until(lambda: len(acked) > acked_before + 5_000, "records written during the move")
        gate.set()
        wait_until(lambda: ("moving", 0, False) in describe(jbod)[destination][1], "the swap")
        acked_at_swap = len(acked)
        wait_until(lambda: len(acked) > acked_at_swap + 5_000, "records written after the move")
    finally:
        stop.set()
        writer.join(GUARD_S)
    assert not failed
    described = describe(jbod)
    assert ("moving", 0, False) not in described[source][1]
    assert not [k for k in described[destination][1] if k[2]]  # no future log left
    assert not os.path.exists(os.path.join(source, "moving-0"))

    def check() -> None:
        values = consume(jbod.bootstrap, "moving")
        assert len(values) == len(acked) and set(values) == set(acked)
        numbers = [int(v[:8]) for v in values]
        assert numbers == sorted(numbers)  # in order, no gap, no duplicate
        assert numbers == list(range(len(numbers)))

    check()
    jbod.restart()
    assert ("moving", 0, False) in describe(jbod)[destination][1]
    check()


class FailingDisk:
    """Segment writes under a directory fail with EIO from `fail()` on."""

    def __init__(self, monkeypatch, path: str):
        self.path = path + os.sep
        self.failing = False
        real = storage.segment._pwrite

        def pwrite(fd, data, position):
            if self.failing and os.readlink(f"/proc/self/fd/{fd}").startswith(self.path):
                raise OSError(errno.EIO, "simulated I/O error")
            return real(fd, data, position)

        monkeypatch.setattr(storage.segment, "_pwrite", pwrite)


def _place(broker, topic: str) -> str:
    return next(p for p, (_, parts) in describe(broker).items() if (topic, 0, False) in parts)


def test_a_failed_dir_takes_only_its_partitions_offline(broker_factory, tmp_path, monkeypatch):
    dirs = [str(tmp_path / "disk-a"), str(tmp_path / "disk-b")]
    broker = broker_factory(log_dirs=",".join(dirs))
    create_topics(broker.bootstrap, first=1)
    create_topics(broker.bootstrap, second=1)
    assert {_place(broker, "first"), _place(broker, "second")} == set(dirs)
    doomed_dir = _place(broker, "second")
    producer = Producer({"bootstrap.servers": broker.bootstrap, "message.timeout.ms": 3000})
    for topic in ("first", "second"):
        producer.produce(topic, value=b"before")
    assert producer.flush(GUARD_S) == 0

    disk = FailingDisk(monkeypatch, doomed_dir)
    disk.failing = True
    outcomes: dict[str, object] = {}
    for topic in ("second", "first"):
        producer.produce(
            topic, value=b"after", on_delivery=lambda e, m: outcomes.setdefault(m.topic(), e)
        )
        producer.flush(GUARD_S)
    assert outcomes["first"] is None
    assert outcomes["second"] is not None  # KAFKA_STORAGE_ERROR, retried to the timeout
    described = describe(broker)
    assert described[doomed_dir] == (ErrorCode.KAFKA_STORAGE_ERROR, {})
    healthy = next(p for p in dirs if p != doomed_dir)
    assert described[healthy][0] == ErrorCode.NONE
    assert ("first", 0, False) in described[healthy][1]
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused"})
    try:
        assert consumer.get_watermark_offsets(TopicPartition("first", 0), timeout=10) == (0, 2)
        with pytest.raises(KafkaException) as refused:
            consumer.get_watermark_offsets(TopicPartition("second", 0), timeout=10)
    finally:
        consumer.close()
    assert refused.value.args[0].code() == KafkaError.KAFKA_STORAGE_ERROR
    # Moving into the failed dir, or anything while a dir is offline: refused.
    assert alter(broker, {doomed_dir: [("first", 0)]}) == {("first", 0): STORAGE_ERROR}
    assert alter(broker, {healthy: [("second", 0)]}) == {("second", 0): STORAGE_ERROR}
    # New partitions go to the live dir.
    create_topics(broker.bootstrap, third=1)
    assert _place(broker, "third") == healthy

    # After a restart with the disk repaired, the partition is back with what it had.
    disk.failing = False
    broker.restart()
    assert consume(broker.bootstrap, "second") == [b"before"]
    assert consume(broker.bootstrap, "first") == [b"before", b"after"]


def test_a_dir_unusable_at_start_up_is_offline_and_the_others_serve(broker_factory, tmp_path):
    dirs = [str(tmp_path / "disk-a"), str(tmp_path / "disk-b")]
    broker = broker_factory(log_dirs=",".join(dirs))
    create_topics(broker.bootstrap, first=1)
    create_topics(broker.bootstrap, second=1)
    doomed_dir = _place(broker, "second")
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for topic in ("first", "second"):
        producer.produce(topic, value=b"v")
    assert producer.flush(GUARD_S) == 0
    broker.stop()
    os.rename(doomed_dir, doomed_dir + ".away")
    with open(doomed_dir, "w") as f:
        f.write("a file where the dir was: it cannot be read as one")
    broker.start()
    described = describe(broker)
    assert described[doomed_dir][0] == ErrorCode.KAFKA_STORAGE_ERROR
    assert consume(broker.bootstrap, "first") == [b"v"]
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused"})
    try:
        with pytest.raises(KafkaException) as refused:
            consumer.get_watermark_offsets(TopicPartition("second", 0), timeout=10)
    finally:
        consumer.close()
    assert refused.value.args[0].code() == KafkaError.KAFKA_STORAGE_ERROR
    # Not recreated empty in the live dir.
    assert not os.path.exists(os.path.join(next(p for p in dirs if p != doomed_dir), "second-0"))


def test_a_restart_in_the_middle_of_a_move_resumes_it(jbod, monkeypatch):
    create_topics(jbod.bootstrap, resumed=1)
    producer = Producer({"bootstrap.servers": jbod.bootstrap, "linger.ms": 0})
    for i in range(100):
        producer.produce("resumed", value=b"%d" % i)
    assert producer.flush(GUARD_S) == 0
    source = _place(jbod, "resumed")
    destination = next(p for p in jbod.dirs if p != source)
    gate = threading.Event()
    real_step = mover.copy_step
    monkeypatch.setattr(
        mover, "copy_step", lambda c, f, n=mover.COPY_BYTES: real_step(c, f, n) and gate.is_set()
    )
    assert alter(jbod, {destination: [("resumed", 0)]}) == {("resumed", 0): 0}
    wait_until(
        lambda: (
            describe(jbod)[destination][1].get(("resumed", 0, True))
            == (
                describe(jbod)[source][1][("resumed", 0, False)][0],
                0,
            )
        ),
        "the future log to catch up",
    )
    jbod.restart()
    # The future log is found again and the move goes on.
    assert ("resumed", 0, True) in describe(jbod)[destination][1]
    gate.set()
    wait_until(lambda: _place(jbod, "resumed") == destination, "the move after the restart")
    assert consume(jbod.bootstrap, "resumed") == [b"%d" % i for i in range(100)]


def test_kafka_python_admin_describes_and_moves(jbod):
    """kafka-python's KafkaAdminClient: describe_log_dirs and alter_replica_log_dirs."""
    create_topics(jbod.bootstrap, kp=1)
    source = _place(jbod, "kp")
    destination = next(p for p in jbod.dirs if p != source)
    client = KafkaAdminClient(bootstrap_servers=jbod.bootstrap)
    try:
        [answer] = client.describe_log_dirs()
        assert [d["log_dir"] for d in answer["log_dirs"]] == jbod.dirs
        wanted = TopicPartitionReplica("kp", 0, answer["broker"])
        assert client.alter_replica_log_dirs({wanted: destination}) == {wanted: NoError}
        missing = TopicPartitionReplica("kp", 0, answer["broker"])
        assert client.alter_replica_log_dirs({missing: "/nowhere"}) == {
            missing: LogDirNotFoundError
        }
    finally:
        client.close()
    wait_until(lambda: _place(jbod, "kp") == destination, "the move")


def test_log_dirs_that_disagree_stop_start_up_with_a_clear_message(tmp_path):
    dirs = [tmp_path / "a", tmp_path / "b"]
    for path, cluster_id in zip(dirs, ("one", "two"), strict=True):
        path.mkdir()
        (path / "meta.properties").write_text(f"version=0\nbroker.id=0\ncluster.id={cluster_id}\n")
    done = subprocess.run(
        [sys.executable, "-m", "kafka_compat", "serve", "--port", "0", "--http-port", "0"]
        + ["--override", "log.dirs=" + ",".join(map(str, dirs))],
        capture_output=True,
        text=True,
        timeout=GUARD_S,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 1
    assert "BrokerMetadata is not consistent across log.dirs" in done.stderr
    assert f"{dirs[1]} -> broker.id=0, cluster.id=two" in done.stderr
    assert "Traceback" not in done.stderr
