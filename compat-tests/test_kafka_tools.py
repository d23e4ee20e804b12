"""Kafka's own command-line tools, run unchanged from Apache Kafka 3.9.1's Maven jars
(`kafka_2.13`, `kafka-tools`) against kafka-compat.

`./dev test` resolves their classpath once (compat-tests/kafka-tools/pom.xml, jars in
~/.m2). Each tool runs as the `bin/kafka-*.sh` scripts run it: `java -cp <jars>
<main class> <args>` (kafka-run-class), with Kafka's tools-log4j.properties. Each
test asserts what the tool printed, as an operator reads it.

A JVM start costs ~2 s on this machine, so each test does one operator's task with
as few tool runs as it takes. The tools that move replicas between brokers
(kafka-reassign-partitions, kafka-leader-election) and dynamic broker configs across
brokers run against a 3-broker ZooKeeper cluster (tests/cluster's fixtures).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, ConfigResource

from tests.cluster.cluster_fixtures import cluster_factory_fixture  # noqa: F401
from tests.cluster.conftest import zk_connect, zookeeper  # noqa: F401

TOOLS_DIR = Path(__file__).resolve().parent / "kafka-tools"
CLASSPATH_FILE = TOOLS_DIR / "target" / "classpath.txt"
JAVA = shutil.which("java")
TOOL_TIMEOUT_S = 180  # a hang guard only: each run takes a few seconds

# bin/kafka-*.sh -> the main class kafka-run-class starts (Kafka 3.9).
MAIN = {
    "kafka-topics": "org.apache.kafka.tools.TopicCommand",
    "kafka-console-producer": "kafka.tools.ConsoleProducer",
    "kafka-console-consumer": "org.apache.kafka.tools.consumer.ConsoleConsumer",
    "kafka-consumer-groups": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
    "kafka-configs": "kafka.admin.ConfigCommand",
    "kafka-log-dirs": "org.apache.kafka.tools.LogDirsCommand",
    "kafka-reassign-partitions": "org.apache.kafka.tools.reassign.ReassignPartitionsCommand",
    "kafka-leader-election": "org.apache.kafka.tools.LeaderElectionCommand",
    "kafka-get-offsets": "org.apache.kafka.tools.GetOffsetShell",
    "kafka-delete-records": "org.apache.kafka.tools.DeleteRecordsCommand",
    "kafka-producer-perf-test": "org.apache.kafka.tools.ProducerPerformance",
    "kafka-consumer-perf-test": "org.apache.kafka.tools.ConsumerPerformance",
}

pytestmark = pytest.mark.skipif(JAVA is None, reason="java is not installed: run `./dev test`")


@pytest.fixture(scope="module")
def classpath() -> str:
    assert CLASSPATH_FILE.is_file(), "run `./dev test`: it resolves compat-tests/kafka-tools"
    return CLASSPATH_FILE.read_text().strip()


@pytest.fixture(scope="module")
def kafka(classpath: str) -> Callable[..., str]:
    """kafka(tool, *args, stdin=None, ok=True) -> the tool's stdout; asserts its exit
    status is 0 (ok=True) or not 0 (ok=False)."""

    def run(tool: str, *args: str, stdin: str | None = None, ok: bool = True) -> str:
        cmd = [
            JAVA,
            "-Xshare:auto",
            "-XX:TieredStopAtLevel=1",  # short-lived JVMs start faster without C2
            f"-Dlog4j.configuration=file:{TOOLS_DIR / 'log4j.properties'}",
            "-cp",
            classpath,
            MAIN[tool],
            *args,
        ]
        done = subprocess.run(
            cmd, input=stdin, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S
        )
        report = f"{tool} {' '.join(args)}\n--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr}"
        if ok:
            assert done.returncode == 0, f"exit status {done.returncode}: {report}"
        else:
            assert done.returncode != 0, f"expected a failure: {report}"
            return done.stdout + done.stderr
        return done.stdout

    return run


def unique(prefix: str) -> str:
    return f"{prefix}-{time.monotonic_ns() % 10**9}"


def rows(text: str) -> list[list[str]]:
    """Whitespace-separated columns of each non-empty line."""
    return [line.split() for line in text.splitlines() if line.strip()]


# ---- one broker ----


def test_kafka_topics_create_list_describe_alter_delete(served_broker, kafka):
    bootstrap = ["--bootstrap-server", served_broker.bootstrap]
    topic = unique("tools-topics")
    out = kafka(
        "kafka-topics",
        *bootstrap,
        "--create",
        "--topic",
        topic,
        "--partitions",
        "2",
        "--replication-factor",
        "1",
        "--config",
        "retention.ms=3600000",
        "--config",
        "cleanup.policy=compact",
    )
    assert out.strip() == f"Created topic {topic}."
    assert topic in kafka("kafka-topics", *bootstrap, "--list").split()

    kafka("kafka-topics", *bootstrap, "--alter", "--topic", topic, "--partitions", "3")
    out = kafka("kafka-topics", *bootstrap, "--describe", "--topic", topic)
    lines = out.strip().splitlines()
    assert re.match(
        rf"Topic: {topic}\tTopicId: \S{{22}}\tPartitionCount: 3\tReplicationFactor: 1\t"
        r"Configs: (.*)$",
        lines[0],
    ), out
    configs = dict(kv.split("=", 1) for kv in lines[0].split("Configs: ")[1].split(","))
    assert configs == {"cleanup.policy": "compact", "retention.ms": "3600000"}
    partitions = [line.split("\t")[1:6] for line in lines[1:]]
    assert partitions == [
        [f"Topic: {topic}", f"Partition: {p}", "Leader: 0", "Replicas: 0", "Isr: 0"]
        for p in range(3)
    ]

    kafka("kafka-topics", *bootstrap, "--delete", "--topic", topic)
    deadline = time.monotonic() + 30
    while topic in kafka("kafka-topics", *bootstrap, "--list").split():
        assert time.monotonic() < deadline, "the deleted topic is still listed"
    # Creating it again with a bad config is refused, and the tool says why.
    out = kafka(
        "kafka-topics", *bootstrap, "--create", "--topic", topic, "--config", "retention.ms=x",
        ok=False,
    )
    assert "Invalid value x for configuration retention.ms" in out
