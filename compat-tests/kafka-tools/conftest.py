"""Fixtures for the tests of Kafka's own command-line tools, run unchanged from Apache
Kafka 3.9.1's Maven jars (`kafka_2.13`, `kafka-tools`) against kafka-compat.

`./dev test` resolves their classpath once (this folder's pom.xml, jars in ~/.m2). Each
tool runs as the `bin/kafka-*.sh` scripts run it: `java -cp <jars> <main class> <args>`
(kafka-run-class), with Kafka's tools-log4j.properties (log4j.properties here). Each
test asserts what the tool printed, as an operator reads it.

A JVM start costs ~2 s on this machine, so each test does one operator's task with
as few tool runs as it takes. The tools that move replicas between brokers
(kafka-reassign-partitions, kafka-leader-election) and dynamic broker configs across
brokers run against a 3-broker ZooKeeper cluster (tests/cluster's fixtures).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cluster.cluster_fixtures import cluster_factory_fixture  # noqa: F401
from tests.cluster.conftest import zk_connect, zookeeper  # noqa: F401

TOOLS_DIR = Path(__file__).resolve().parent
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
    "kafka-acls": "kafka.admin.AclCommand",
    "kafka-delegation-tokens": "org.apache.kafka.tools.DelegationTokenCommand",
    "kafka-dump-log": "kafka.tools.DumpLogSegments",
}


@pytest.fixture(scope="module")
def classpath() -> str:
    # ./dev test installs a JDK and resolves the jars: a missing one fails, never skips.
    assert JAVA is not None, "java is not installed: run `./dev test`"
    assert (CLASSPATH_FILE.parent / ".built").is_file(), (
        "run `./dev test`: it resolves compat-tests/kafka-tools"
    )
    return CLASSPATH_FILE.read_text().strip()


@pytest.fixture(scope="module")
def kafka(classpath: str) -> Callable[..., str]:
    """kafka(tool, *args, stdin=None, ok=True) -> the tool's stdout; asserts its exit
    status is 0 (ok=True) or not 0 (ok=False)."""

    # JVM start-up dominates: the first run records the classes it loaded in a CDS
    # archive (per classpath and JDK), the later ones map it (about half the start-up).
    key = hashlib.sha1(f"{os.path.realpath(JAVA)}:{classpath}".encode()).hexdigest()[:12]
    archive = CLASSPATH_FILE.parent / f"tools-{key}.jsa"

    def run(tool: str, *args: str, stdin: str | None = None, ok: bool = True) -> str:
        share = "SharedArchiveFile" if archive.is_file() else "ArchiveClassesAtExit"
        cmd = [
            JAVA,
            f"-XX:{share}={archive}",
            "-Xlog:disable",  # the JVM's own warnings (CDS) go to stderr, not stdout
            "-Xlog:all=warning:stderr",
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
        report = (
            f"{tool} {' '.join(args)}\n--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr}"
        )
        if ok:
            assert done.returncode == 0, f"exit status {done.returncode}: {report}"
        else:
            assert done.returncode != 0, f"expected a failure: {report}"
            return done.stdout + done.stderr
        return done.stdout

    return run


@pytest.fixture
def unique() -> Callable[[str], str]:
    """unique(prefix) -> a name no other test run used (topics, groups, users)."""
    return lambda prefix: f"{prefix}-{time.monotonic_ns() % 10**9}"


@pytest.fixture
def wait_for() -> Callable[..., None]:
    """wait_for(condition, what, timeout=60): polls condition() until it holds."""

    def wait(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.2)

    return wait
