"""The pytest plugin's opt-in `kafka_cluster` fixture (ZooKeeper + 3 broker processes),
used by a test file run by pytest in a subprocess, as a user's failover test would."""

from __future__ import annotations

from tests.kafka_compat.test_pytest_plugin import run_pytest, setup_times

FAILOVER_TEST = """
import signal

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient


def test_acked_records_survive_a_broker_kill(kafka_cluster, kafka_topic):
    topic = kafka_topic(partitions=1, replication_factor=3, config={"min.insync.replicas": 2})
    bootstrap = kafka_cluster.bootstrap_servers
    assert len(bootstrap.split(",")) == 3
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for i in range(100):
        producer.produce(topic, str(i).encode())
    assert producer.flush(30) == 0

    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=10)
    leader = metadata.topics[topic].partitions[0].leader
    kafka_cluster.brokers[leader].proc.send_signal(signal.SIGKILL)
    kafka_cluster.brokers[leader].proc.wait(10)

    for i in range(100, 200):
        producer.produce(topic, str(i).encode())
    assert producer.flush(60) == 0
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "g",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    seen = set()
    while len(seen) < 200:
        msg = consumer.poll(30)
        assert msg is not None and msg.error() is None, f"{len(seen)} of 200"
        seen.add(int(msg.value()))
    consumer.close()
"""


def test_kafka_cluster_fixture_runs_a_failover_test(tmp_path):
    done = run_pytest(tmp_path, {"test_failover_user.py": FAILOVER_TEST})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    print("fixture setup:", setup_times(done.stdout))
