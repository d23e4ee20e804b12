"""The pytest plugin exactly as the README shows it, run by pytest in a subprocess
(the plugin comes from the installed package's `pytest11` entry point), and the
embedded broker it builds on, from sync, asyncio and Trio code."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import trio
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from kafka_compat.testing import EmbeddedBroker

ROOT = Path(__file__).resolve().parents[2]
GUARD_S = 120


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    marker = text.index("<!-- pytest-plugin-example -->")
    block = re.search(r"```python\n(.*?)```", text[marker:], re.S)
    return block.group(1)


def run_pytest(tmp_path: Path, files: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    for name, body in files.items():
        (tmp_path / name).write_text(body)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--durations=0",
         "--durations-min=0", *args, str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=GUARD_S,
    )  # fmt: skip


def setup_times(output: str) -> dict[str, float]:
    """--durations lines: `0.21s setup    test_x.py::test_y` -> {test_y: 0.21}."""
    return {
        m.group(2): float(m.group(1))
        for m in re.finditer(r"^([\d.]+)s setup\s+\S+::(\S+)", output, re.M)
    }


def test_the_readme_example_passes_as_written(tmp_path):
    done = run_pytest(tmp_path, {"test_readme.py": readme_example()})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    # What the fixtures add (the session's broker start plus a topic): printed, not limited.
    print("fixture setup:", setup_times(done.stdout))


def test_each_test_gets_its_own_topic_and_configs_apply(tmp_path):
    body = """
import time

from confluent_kafka.admin import AdminClient, ConfigResource

SEEN = []

def test_one(kafka_broker, kafka_topic):
    SEEN.append(kafka_topic(partitions=4, config={"cleanup.policy": "compact"}))
    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap_servers})
    topic = admin.list_topics(SEEN[-1], timeout=10).topics[SEEN[-1]]
    assert len(topic.partitions) == 4
    (future,) = admin.describe_configs([ConfigResource("TOPIC", SEEN[-1])]).values()
    assert future.result(10)["cleanup.policy"].value == "compact"

def test_two(kafka_topic):
    started = time.perf_counter()
    SEEN.append(kafka_topic())
    print(f"TOPIC_MS={(time.perf_counter() - started) * 1000:.1f}")
    assert SEEN[0] != SEEN[1] and "test_two" in SEEN[1]

def test_three_same_broker(kafka_broker):
    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap_servers})
    assert set(SEEN) <= set(admin.list_topics(timeout=10).topics)
"""
    done = run_pytest(
        tmp_path, {"test_topics.py": body}, "-s", "--kafka-broker-config", "num.partitions=2"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout
    topic_ms = re.search(r"TOPIC_MS=([\d.]+)", done.stdout).group(1)
    # test_one's setup is the session's broker (kafka_topic is a factory); the figures
    # are printed, not limited (benchmarks/fixture.py gives medians).
    broker_s = setup_times(done.stdout)["test_one"]
    print(f"kafka_broker ready: {broker_s * 1000:.0f} ms, a fresh kafka_topic: {topic_ms} ms")


def test_under_xdist_each_worker_has_its_own_broker(tmp_path):
    body = "".join(
        f"def test_{i}(kafka_broker, kafka_topic):\n"
        f"    kafka_topic()\n"
        f"    with open('brokers.txt', 'a') as seen:\n"
        f"        print(kafka_broker.bootstrap_servers, file=seen)\n"
        for i in range(6)
    )
    done = run_pytest(tmp_path, {"test_workers.py": body}, "-n", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "6 passed" in done.stdout
    brokers = (tmp_path / "brokers.txt").read_text().split()
    assert len(brokers) == 6 and len(set(brokers)) == 2, brokers


def test_a_failing_test_fails(tmp_path):
    body = "def test_x(kafka_topic):\n    assert kafka_topic() == 'something else'\n"
    done = run_pytest(tmp_path, {"test_fail.py": body})
    assert done.returncode == 1
    assert "1 failed" in done.stdout


def round_trip(bootstrap: str, topic: str) -> bytes:
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(topic, b"hello")
    assert producer.flush(30) == 0
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "g", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    try:
        msg = consumer.poll(30)
        return msg.value()
    finally:
        consumer.close()


def test_embedded_broker_sync_and_its_data_dir_is_removed():
    with EmbeddedBroker() as broker:
        data_dir = broker.data_dir
        topic = broker.create_topic(partitions=2)
        assert round_trip(broker.bootstrap_servers, topic) == b"hello"
        metadata = AdminClient({"bootstrap.servers": broker.bootstrap_servers}).list_topics(
            timeout=10
        )
        assert len(metadata.topics[topic].partitions) == 2
        # Test defaults: the group's offsets topic has one partition, not Kafka's 50.
        assert len(metadata.topics["__consumer_offsets"].partitions) == 1
        assert data_dir.exists()
    assert not data_dir.exists()


def test_embedded_broker_keeps_a_given_data_dir(tmp_path):
    with EmbeddedBroker(tmp_path / "data") as broker:
        topic = broker.create_topic("kept")
        assert round_trip(broker.bootstrap_servers, topic) == b"hello"
    with EmbeddedBroker(tmp_path / "data") as broker:
        topics = AdminClient({"bootstrap.servers": broker.bootstrap_servers}).list_topics(
            timeout=10
        )
        assert "kept" in topics.topics


def test_embedded_broker_under_asyncio_and_trio():
    async def use() -> bytes:
        async with EmbeddedBroker() as broker:
            topic = broker.create_topic()
            return round_trip(broker.bootstrap_servers, topic)

    assert asyncio.run(use()) == b"hello"
    assert trio.run(use) == b"hello"


def test_embedded_broker_runs_a_call_on_its_own_loop():
    async def on_the_loop(name: str) -> tuple[object, str]:
        return trio.lowlevel.current_trio_token(), name

    with EmbeddedBroker() as broker:
        assert broker.call(on_the_loop, "x") == (broker.trio_token, "x")
        assert broker.broker.bound_port == broker.port


def test_embedded_broker_that_cannot_start_says_why():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        broker = EmbeddedBroker(config={"http.listener": f"127.0.0.1:{port}"})
        with pytest.raises(RuntimeError) as raised:
            broker.start()
    # The cause itself, not the exception groups of Trio's nurseries around it.
    assert str(raised.value).startswith(
        f"the embedded broker did not start: Cannot start the HTTP listener on 127.0.0.1:{port}"
    )
    broker.stop()  # nothing to stop; its temporary data dir is removed
    assert broker.data_dir is None
