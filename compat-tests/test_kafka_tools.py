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

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, Producer, TopicCollection
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, ResourceType

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
    "kafka-acls": "kafka.admin.AclCommand",
    "kafka-dump-log": "kafka.tools.DumpLogSegments",
}

pytestmark = pytest.mark.skipif(JAVA is None, reason="java is not installed: run `./dev test`")


@pytest.fixture(scope="module")
def classpath() -> str:
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
        "kafka-topics",
        *bootstrap,
        "--create",
        "--topic",
        topic,
        "--config",
        "retention.ms=x",
        ok=False,
    )
    assert "Invalid value x for configuration retention.ms" in out


def test_console_producer_consumer_and_consumer_groups(served_broker, kafka):
    bootstrap = ["--bootstrap-server", served_broker.bootstrap]
    topic, group = unique("tools-console"), unique("tools-group")
    kafka("kafka-topics", *bootstrap, "--create", "--topic", topic, "--partitions", "2")
    lines = [f"k{i}:value {i}" for i in range(6)]
    kafka(
        "kafka-console-producer",
        *bootstrap,
        "--topic",
        topic,
        "--property",
        "parse.key=true",
        "--property",
        "key.separator=:",
        "--producer-property",
        "acks=all",
        stdin="\n".join(lines) + "\n",
    )
    out = kafka(
        "kafka-console-consumer",
        *bootstrap,
        "--topic",
        topic,
        "--group",
        group,
        "--from-beginning",
        "--max-messages",
        "6",
        "--property",
        "print.key=true",
        "--property",
        "print.partition=true",
        "--property",
        "key.separator=|",
        "--consumer-property",
        "auto.commit.interval.ms=100",
    )
    # Partition:<p>|<key>|<value>, key.separator between the fields.
    got = [line.split("|", 1) for line in out.strip().splitlines()]
    assert sorted(key_value for _, key_value in got) == sorted(
        line.replace(":", "|", 1) for line in lines
    )
    by_partition: dict[str, int] = {}
    for partition, _ in got:
        by_partition[partition] = by_partition.get(partition, 0) + 1
    assert set(by_partition) <= {"Partition:0", "Partition:1"}

    # The consumer closed after committing what it printed: the group is empty, lag 0.
    assert group in kafka("kafka-consumer-groups", *bootstrap, "--list").split()
    out = kafka("kafka-consumer-groups", *bootstrap, "--describe", "--group", group)
    header, *table = rows(out)
    assert header[:6] == [
        "GROUP",
        "TOPIC",
        "PARTITION",
        "CURRENT-OFFSET",
        "LOG-END-OFFSET",
        "LAG",
    ]
    described = {int(r[2]): r for r in table}
    assert set(described) == {0, 1}
    for partition, r in described.items():
        count = by_partition.get(f"Partition:{partition}", 0)
        assert r[:6] == [group, topic, str(partition), str(count), str(count), "0"], out
        assert r[6:] == ["-", "-", "-"]  # no active member

    out = kafka(
        "kafka-consumer-groups",
        *bootstrap,
        "--reset-offsets",
        "--group",
        group,
        "--topic",
        topic,
        "--to-earliest",
        "--execute",
    )
    # Kafka 3.9 prints this table without line breaks: read it 4 columns at a time.
    cells = out.split()
    header, *table = (cells[i : i + 4] for i in range(0, len(cells), 4))
    assert header == ["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"]
    assert sorted(table) == [[group, topic, "0", "0"], [group, topic, "1", "0"]]
    out = kafka("kafka-consumer-groups", *bootstrap, "--describe", "--group", group)
    lags = {int(r[2]): (r[3], r[5]) for r in rows(out)[1:]}
    assert lags == {p: ("0", str(by_partition.get(f"Partition:{p}", 0))) for p in (0, 1)}

    out = kafka("kafka-consumer-groups", *bootstrap, "--delete", "--group", group)
    assert f"Deletion of requested consumer groups ('{group}') was successful." in out
    assert group not in kafka("kafka-consumer-groups", *bootstrap, "--list").split()


def described_configs(out: str) -> dict[str, tuple[str, str]]:
    """kafka-configs --describe lines `  name=value sensitive=false synonyms={...}`:
    {name: (value, synonyms)}."""
    found = {}
    for line in out.splitlines():
        match = re.match(r"  (\S+?)=(.*) sensitive=(?:true|false) synonyms=\{(.*)\}$", line)
        if match:
            found[match[1]] = (match[2], match[3])
    return found


def test_kafka_configs_topics_and_brokers(served_broker, kafka):
    bootstrap = ["--bootstrap-server", served_broker.bootstrap]
    topic = unique("tools-configs")
    kafka("kafka-topics", *bootstrap, "--create", "--topic", topic)
    configs = ["kafka-configs", *bootstrap]
    on_topic = [*configs, "--entity-type", "topics", "--entity-name", topic]
    out = kafka(
        *on_topic, "--alter", "--add-config", "retention.ms=3600000,cleanup.policy=[compact,delete]"
    )
    assert out.strip() == f"Completed updating config for topic {topic}."
    kafka(*on_topic, "--alter", "--delete-config", "cleanup.policy")
    out = kafka(*on_topic, "--describe")
    assert out.splitlines()[0] == f"Dynamic configs for topic {topic} are:"
    assert described_configs(out) == {
        "retention.ms": (
            "3600000",
            "DYNAMIC_TOPIC_CONFIG:retention.ms=3600000, DEFAULT_CONFIG:log.retention.hours=168",
        )
    }

    # Dynamic broker configs: this broker's and the cluster default, Kafka's precedence.
    on_broker = [*configs, "--entity-type", "brokers", "--entity-name", "0"]
    on_default = [*configs, "--entity-type", "brokers", "--entity-default"]
    out = kafka(
        *on_default,
        "--alter",
        "--add-config",
        "log.retention.ms=7200000,log.cleaner.backoff.ms=5000",
    )
    assert out.strip() == "Completed updating default config for brokers in the cluster."
    out = kafka(
        *on_broker,
        "--alter",
        "--add-config",
        "log.retention.ms=1800000,sasl.kerberos.min.time.before.relogin=58000",
    )
    assert out.strip() == "Completed updating config for broker 0."
    out = kafka(*on_broker, "--describe")
    assert out.splitlines()[0] == "Dynamic configs for broker 0 are:"
    assert described_configs(out) == {
        "log.retention.ms": (
            "1800000",
            "DYNAMIC_BROKER_CONFIG:log.retention.ms=1800000, "
            "DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=7200000, "
            "DEFAULT_CONFIG:log.retention.hours=168",
        ),
        "sasl.kerberos.min.time.before.relogin": (
            "58000",
            "DYNAMIC_BROKER_CONFIG:sasl.kerberos.min.time.before.relogin=58000, "
            "DEFAULT_CONFIG:sasl.kerberos.min.time.before.relogin=60000",
        ),
    }
    out = kafka(*on_default, "--describe")
    assert out.splitlines()[0] == "Default configs for brokers in the cluster are:"
    assert {k: v for k, (v, _) in described_configs(out).items()} == {
        "log.cleaner.backoff.ms": "5000",
        "log.retention.ms": "7200000",
    }
    # The topic's own override wins; without it, the broker's dynamic value.
    kafka(*on_topic, "--alter", "--delete-config", "retention.ms")
    out = kafka(*on_topic, "--describe", "--all")
    assert described_configs(out)["retention.ms"][0] == "1800000"
    # A static key is refused, named; nothing changes.
    out = kafka(*on_broker, "--alter", "--add-config", "log.dirs=/elsewhere", ok=False)
    assert "InvalidRequestException: Cannot update these configs dynamically: Set(log.dirs)" in out
    # --delete-config puts the cluster default back in charge.
    kafka(
        *on_broker,
        "--alter",
        "--delete-config",
        "log.retention.ms,sasl.kerberos.min.time.before.relogin",
    )
    out = kafka(*on_topic, "--describe", "--all")
    assert described_configs(out)["retention.ms"][0] == "7200000"
    kafka(*on_default, "--alter", "--delete-config", "log.retention.ms,log.cleaner.backoff.ms")

    # Log levels (KIP-412): the broker's loggers, changed at run time.
    loggers = [*configs, "--entity-type", "broker-loggers", "--entity-name", "0"]
    kafka(*loggers, "--alter", "--add-config", "kafka_compat.broker=DEBUG")
    levels = {k: v for k, (v, _) in described_configs(kafka(*loggers, "--describe")).items()}
    assert levels["kafka_compat.broker"] == "DEBUG"
    assert levels["root"] in ("INFO", "WARN")
    out = kafka(*loggers, "--alter", "--delete-config", "root", ok=False)
    assert "Removing the log level of the root logger is not allowed" in out


def test_kafka_configs_connection_limits(served_broker, kafka):
    """Connection limits set with kafka-configs at the cluster default (a list value in
    brackets, a per-listener key) apply at once; Kafka's refusal of a zero limit."""
    from tests.integration import test_connection_limits as limits

    on_default = [
        "kafka-configs",
        "--bootstrap-server",
        served_broker.bootstrap,
        "--entity-type",
        "brokers",
        "--entity-default",
    ]
    keys = {
        "max.connections.per.ip": "2",
        "max.connections.per.ip.overrides": "127.0.0.1:1000,localhost:1000",
        "listener.name.plaintext.max.connection.creation.rate": "1000",
    }
    out = kafka(
        *on_default,
        "--alter",
        "--add-config",
        "max.connections.per.ip=2,max.connections.per.ip.overrides=[127.0.0.1:1000,localhost:1000],"
        "listener.name.plaintext.max.connection.creation.rate=1000",
    )
    assert out.strip() == "Completed updating default config for brokers in the cluster."
    try:
        shown = described_configs(kafka(*on_default, "--describe"))
        assert {k: v for k, (v, _) in shown.items() if k in keys} == keys
        # 127.0.0.2 is over its limit of 2; 127.0.0.1 (the tools, the test) is not.
        port = int(served_broker.bootstrap.rsplit(":", 1)[1])
        socks = [limits.open_raw(port, "127.0.0.2") for _ in range(3)]
        assert [limits.ask(s) for s in socks] == [True, True, False]
        for sock in socks:
            sock.close()
        out = kafka(
            *on_default,
            "--alter",
            "--add-config",
            "listener.name.plaintext.max.connections=0",
            ok=False,
        )
        assert "InvalidRequestException: Invalid max.connections 0" in out
    finally:
        kafka(*on_default, "--alter", "--delete-config", ",".join(keys))


def produce(bootstrap: str, topic: str, count: int, partition: int = 0) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i in range(count):
        producer.produce(topic, value=f"v{i}".encode(), key=f"k{i}".encode(), partition=partition)
    assert producer.flush(30) == 0


def test_get_offsets_delete_records_and_log_dirs(served_broker, kafka, tmp_path):
    bootstrap = ["--bootstrap-server", served_broker.bootstrap]
    topic = unique("tools-offsets")
    kafka("kafka-topics", *bootstrap, "--create", "--topic", topic, "--partitions", "2")
    produce(served_broker.bootstrap, topic, 10, partition=0)
    produce(served_broker.bootstrap, topic, 4, partition=1)

    out = kafka("kafka-get-offsets", *bootstrap, "--topic", topic)
    assert out.split() == [f"{topic}:0:10", f"{topic}:1:4"]

    offsets = tmp_path / "offsets.json"
    offsets.write_text(
        json.dumps({"version": 1, "partitions": [{"topic": topic, "partition": 0, "offset": 7}]})
    )
    out = kafka("kafka-delete-records", *bootstrap, "--offset-json-file", str(offsets))
    assert "Records delete operation completed:" in out
    assert f"partition: {topic}-0\tlow_watermark: 7" in out

    out = kafka("kafka-get-offsets", *bootstrap, "--topic", topic, "--time", "earliest")
    assert out.split() == [f"{topic}:0:7", f"{topic}:1:0"]

    out = kafka("kafka-log-dirs", *bootstrap, "--describe", "--topic-list", topic)
    assert "Received log directory information from brokers 0" in out
    described = json.loads(out.strip().splitlines()[-1])
    assert described["version"] == 1
    [broker] = described["brokers"]
    assert broker["broker"] == 0
    [log_dir] = broker["logDirs"]
    assert log_dir["error"] is None
    assert Path(log_dir["logDir"]).resolve() == served_broker.data_dir.resolve()
    partitions = {p["partition"]: p for p in log_dir["partitions"]}
    assert set(partitions) == {f"{topic}-0", f"{topic}-1"}
    for p in partitions.values():
        assert p["size"] > 0 and p["offsetLag"] == 0 and p["isFuture"] is False


def test_producer_and_consumer_perf_test(served_broker, kafka):
    topic = unique("tools-perf")
    records = 20000
    out = kafka(
        "kafka-producer-perf-test",
        "--topic",
        topic,
        "--num-records",
        str(records),
        "--record-size",
        "100",
        "--throughput",
        "-1",
        "--producer-props",
        f"bootstrap.servers={served_broker.bootstrap}",
        "acks=all",
        "compression.type=lz4",
    )
    summary = out.strip().splitlines()[-1]
    assert re.match(rf"{records} records sent, [\d.]+ records/sec", summary), out

    out = kafka(
        "kafka-consumer-perf-test",
        "--bootstrap-server",
        served_broker.bootstrap,
        "--topic",
        topic,
        "--messages",
        str(records),
        "--timeout",
        "60000",
    )
    header, values = (line.split(", ") for line in out.strip().splitlines()[-2:])
    result = dict(zip(header, values, strict=True))
    assert int(result["data.consumed.in.nMsg"]) == records
    assert float(result["data.consumed.in.MB"]) == pytest.approx(records * 100 / 2**20, 0.01)


# ---- a 3-broker cluster (ZooKeeper) ----


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def replicas_and_leaders(admin: AdminClient, topic: str) -> dict[int, tuple[list[int], int]]:
    described = admin.describe_topics(TopicCollection([topic]))[topic].result(timeout=30)
    return {
        p.id: ([r.id for r in p.replicas], p.leader.id if p.leader else -1)
        for p in described.partitions
    }


def test_reassign_partitions_and_leader_election_in_a_cluster(cluster_factory, kafka, tmp_path):
    cluster = cluster_factory(3)
    bootstrap = ["--bootstrap-server", cluster.bootstrap]
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    topic = unique("tools-reassign")
    kafka(
        "kafka-topics", *bootstrap, "--create", "--topic", topic, "--replica-assignment", "1:2,2:3"
    )
    wait_for(
        lambda: replicas_and_leaders(admin, topic) == {0: ([1, 2], 1), 1: ([2, 3], 2)},
        "the topic's leaders",
    )

    # --generate: the current assignment, as the tool reads it from the cluster.
    to_move = tmp_path / "topics.json"
    to_move.write_text(json.dumps({"version": 1, "topics": [{"topic": topic}]}))
    out = kafka(
        "kafka-reassign-partitions",
        *bootstrap,
        "--generate",
        "--topics-to-move-json-file",
        str(to_move),
        "--broker-list",
        "1,2,3",
    )
    lines = out.strip().splitlines()
    current = json.loads(lines[lines.index("Current partition replica assignment") + 1])
    assert [(p["partition"], p["replicas"]) for p in current["partitions"]] == [
        (0, [1, 2]),
        (1, [2, 3]),
    ]

    # --execute: partition 0 keeps its replicas in another order (the leader stays: it
    # is still a replica), partition 1 moves a replica from broker 2 to broker 1.
    plan = tmp_path / "plan.json"
    plan.write_text(
        json.dumps(
            {
                "version": 1,
                "partitions": [
                    {"topic": topic, "partition": 0, "replicas": [2, 1]},
                    {"topic": topic, "partition": 1, "replicas": [3, 1]},
                ],
            }
        )
    )
    out = kafka(
        "kafka-reassign-partitions",
        *bootstrap,
        "--execute",
        "--reassignment-json-file",
        str(plan),
        "--throttle",
        "50000000",
    )
    assert f"Successfully started partition reassignments for {topic}-0,{topic}-1" in out
    # The throttle is set (broker and topic configs; accepted, not applied) ...
    assert "The inter-broker throttle limit was set to 50000000 B/s" in out
    wait_for(
        lambda: (
            {p: r for p, (r, _) in replicas_and_leaders(admin, topic).items()}
            == {0: [2, 1], 1: [3, 1]}
        ),
        "the reassignment",
    )
    out = kafka(
        "kafka-reassign-partitions", *bootstrap, "--verify", "--reassignment-json-file", str(plan)
    )
    assert f"Reassignment of partition {topic}-0 is completed." in out
    assert f"Reassignment of partition {topic}-1 is completed." in out
    # ... and cleared by --verify once the reassignment is done.
    assert "Clearing broker-level throttles on brokers 1,2,3" in out
    assert f"Clearing topic-level throttles on topic {topic}" in out
    leaders = {p: leader for p, (_, leader) in replicas_and_leaders(admin, topic).items()}
    assert leaders[0] == 1  # not the preferred replica (2) any more

    out = kafka(
        "kafka-leader-election",
        *bootstrap,
        "--election-type",
        "preferred",
        "--topic",
        topic,
        "--partition",
        "0",
    )
    assert f"Successfully completed leader election (PREFERRED) for partitions {topic}-0" in out
    wait_for(lambda: replicas_and_leaders(admin, topic)[0] == ([2, 1], 2), "the new leader")
    # Every partition has its preferred leader now: nothing to elect.
    out = kafka(
        "kafka-leader-election",
        *bootstrap,
        "--election-type",
        "preferred",
        "--all-topic-partitions",
    )
    assert "Valid replica already elected for partitions" in out


def broker_config(admin: AdminClient, broker_id: int, name: str) -> tuple[str, int]:
    """(value, source) of one of a broker's configs, as that broker describes it."""
    resource = ConfigResource(ResourceType.BROKER, str(broker_id))
    entry = admin.describe_configs([resource], request_timeout=30)[resource].result(timeout=30)[
        name
    ]
    return entry.value, entry.source


def test_kafka_configs_brokers_in_a_cluster(cluster_factory, kafka):
    cluster = cluster_factory(3)
    configs = ["kafka-configs", "--bootstrap-server", cluster.bootstrap, "--entity-type", "brokers"]
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    topic = unique("tools-cluster-configs")
    kafka(
        "kafka-topics",
        "--bootstrap-server",
        cluster.bootstrap,
        "--create",
        "--topic",
        topic,
        "--replica-assignment",
        "3:1",
    )

    # The cluster default reaches every broker (ZooKeeper's change notification) ...
    kafka(*configs, "--entity-default", "--alter", "--add-config", "message.max.bytes=2000")
    default = ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value
    for broker_id in (1, 2, 3):
        wait_for(
            lambda b=broker_id: broker_config(admin, b, "message.max.bytes") == ("2000", default),
            f"broker {broker_id} to take the cluster default",
        )
    # ... which applies it: broker 3 leads the topic and refuses a larger batch.
    producer = Producer({"bootstrap.servers": cluster.bootstrap})
    outcome: list = []
    producer.produce(topic, b"x" * 10000, on_delivery=lambda err, _msg: outcome.append(err))
    producer.flush(30)
    assert outcome[0] is not None and outcome[0].code() == KafkaError.MSG_SIZE_TOO_LARGE

    # A per-broker value: that broker only.
    kafka(*configs, "--entity-name", "2", "--alter", "--add-config", "message.max.bytes=5000")
    own = ConfigSource.DYNAMIC_BROKER_CONFIG.value
    assert broker_config(admin, 2, "message.max.bytes") == ("5000", own)
    out = kafka(*configs, "--entity-name", "2", "--describe")
    assert "  message.max.bytes=5000 sensitive=false synonyms={DYNAMIC_BROKER_CONFIG:" in out
    assert broker_config(admin, 1, "message.max.bytes") == ("2000", default)
    # A broker started later reads both levels from ZooKeeper.
    cluster.brokers[2].stop()
    cluster.brokers[2].start()
    cluster.wait_for_brokers()
    assert broker_config(admin, 2, "message.max.bytes") == ("5000", own)


def test_kafka_acls_add_list_remove_in_a_cluster(cluster_factory, kafka):
    """kafka-acls.sh against a ZooKeeper cluster with Kafka's authorizer: ACLs added
    through one broker are listed by another (kept in ZooKeeper), then removed."""
    cluster = cluster_factory(
        size=2,
        authorizer_class_name="kafka.security.authorizer.AclAuthorizer",
        allow_everyone_if_no_acl_found="true",
    )
    first, second = (["--bootstrap-server", b.bootstrap] for b in cluster.brokers.values())
    out = kafka(
        "kafka-acls",
        *first,
        "--add",
        "--allow-principal",
        "User:alice",
        "--operation",
        "Read",
        "--operation",
        "Describe",
        "--topic",
        "orders",
        "--group",
        "app-",
        "--resource-pattern-type",
        "prefixed",
    )
    assert "Adding ACLs for resource `ResourcePattern(resourceType=TOPIC, name=orders, " in out
    match = ["--resource-pattern-type", "match"]
    out = kafka("kafka-acls", *second, "--list", "--topic", "orders-eu", *match)
    assert "resourceType=TOPIC, name=orders, patternType=PREFIXED" in out
    assert "(principal=User:alice, host=*, operation=READ, permissionType=ALLOW)" in out
    assert "(principal=User:alice, host=*, operation=DESCRIBE, permissionType=ALLOW)" in out
    alice_reads = ["--allow-principal", "User:alice", "--operation", "Read"]
    prefixed = ["--resource-pattern-type", "prefixed"]
    kafka("kafka-acls", *second, "--remove", "--force", *alice_reads, "--group", "app-", *prefixed)
    out = kafka("kafka-acls", *first, "--list", "--principal", "User:alice")
    assert "name=app-, patternType=PREFIXED" in out
    assert out.count("operation=READ") == 1  # the topic's; the group keeps DESCRIBE


# ---- kafka-compat's own tools print what Kafka's print ----


def ours(*argv: str) -> str:
    """`kafka-compat <argv>` in-process: its stdout; asserts exit status 0."""
    import contextlib
    import io

    from kafka_compat import cli

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(list(argv)) == 0, argv
    return out.getvalue()


def test_kafka_compat_tools_print_what_kafkas_tools_print(served_broker, kafka):
    bootstrap = ["--bootstrap-server", served_broker.bootstrap]
    topic, group = unique("cli-parity"), unique("cli-parity-group")
    ours("topics", "--create", "--topic", topic, "--partitions", "2", "--config",
         "retention.ms=3600000", *bootstrap)  # fmt: skip
    producer = Producer({"bootstrap.servers": served_broker.bootstrap, "enable.idempotence": True})
    for i in range(5):
        producer.produce(topic, key=b"k%d" % i, value=b"v%d" % i, partition=i % 2,
                         headers=[("h", b"x")])  # fmt: skip
        producer.flush(30)
    producer.produce(topic, key=None, value=None, partition=0)
    assert producer.flush(30) == 0

    describe = ["--describe", "--topic", topic, *bootstrap]
    assert ours("topics", *describe) == kafka("kafka-topics", *describe)
    configs = ["--entity-type", "topics", "--entity-name", topic, "--describe", *bootstrap]
    assert ours("configs", *configs) == kafka("kafka-configs", *configs)
    for time_spec in ("-1", "-2"):
        offsets = ["--topic", topic, "--time", time_spec, *bootstrap]
        assert ours("offsets", *offsets) == kafka("kafka-get-offsets", *offsets)

    ours("consume", "--topic", topic, "--group", group, "--from-beginning", "--max-messages",
         "6", *bootstrap)  # fmt: skip
    reset = ["--group", group, "--topic", topic, "--shift-by", "-1", "--dry-run", *bootstrap]
    # Kafka prints its plan in hash order (and without line breaks): compare rows as sets.
    theirs = kafka("kafka-consumer-groups", "--reset-offsets", *reset).split()
    mine = ours("groups", "--reset-offsets", *reset).split()  # Kafka's own argv
    assert mine[:4] == theirs[:4] == ["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"]

    def rows_of(cells: list[str]) -> list[list[str]]:
        return sorted(cells[i : i + 4] for i in range(4, len(cells), 4))

    assert rows_of(mine) == rows_of(theirs)

    # The same segment, read by kafka-dump-log and by ours: the same batch and record lines.
    segment = served_broker.data_dir / f"{topic}-0" / "00000000000000000000.log"
    dump = ["--files", str(segment), "--print-data-log"]
    assert ours("dump-log", *dump).splitlines() == kafka("kafka-dump-log", *dump).splitlines()
    # The group's offset commits in __consumer_offsets, with --offsets-decoder.
    from kafka_compat.groups.records import partition_for

    offsets_dir = served_broker.data_dir / f"__consumer_offsets-{partition_for(group, 50)}"
    dump = ["--files", str(offsets_dir / "00000000000000000000.log"), "--offsets-decoder"]

    def commits(text: str) -> list[str]:
        return [line for line in text.splitlines() if f'"group":"{group}","topic"' in line]

    mine = commits(ours("dump-log", *dump))
    assert mine and mine == commits(kafka("kafka-dump-log", *dump))


def test_kafka_configs_client_quotas(served_broker, kafka):
    """kafka-configs --entity-type users/clients/ips: AlterClientQuotas and
    DescribeClientQuotas, with Kafka's output."""
    configs = ["kafka-configs", "--bootstrap-server", served_broker.bootstrap]
    client = [*configs, "--entity-type", "clients", "--entity-name", "tools-quota"]
    out = kafka(*client, "--alter", "--add-config", "producer_byte_rate=1024,request_percentage=50")
    assert out.strip() == "Completed updating config for client tools-quota."
    default_user_client = [
        *configs,
        *("--entity-type", "users", "--entity-default"),
        *("--entity-type", "clients", "--entity-name", "tools-quota"),
    ]
    kafka(*default_user_client, "--alter", "--add-config", "consumer_byte_rate=2048")
    ip = [*configs, "--entity-type", "ips", "--entity-name", "127.0.0.1"]
    out = kafka(*ip, "--alter", "--add-config", "connection_creation_rate=10")
    assert out.strip() == "Completed updating config for ip 127.0.0.1."
    assert kafka(*client, "--describe").strip() == (
        "Quota configs for client-id 'tools-quota' are producer_byte_rate=1024.0, "
        "request_percentage=50.0"
    )
    out = kafka(*configs, "--entity-type", "users", "--entity-type", "clients", "--describe")
    assert out.strip() == (
        "Quota configs for the default user-principal, client-id 'tools-quota' are "
        "consumer_byte_rate=2048.0"
    )
    out = kafka(*configs, "--entity-type", "ips", "--describe")
    assert out.strip() == "Quota configs for ip '127.0.0.1' are connection_creation_rate=10.0"
    kafka(*client, "--alter", "--delete-config", "request_percentage")
    assert kafka(*client, "--describe").strip() == (
        "Quota configs for client-id 'tools-quota' are producer_byte_rate=1024.0"
    )


# ---- over TLS and SASL (tests/security/matrix.py's broker), with --command-config ----


def command_config(secure_broker, tmp_path: Path, mode: str, **login: str) -> list[str]:
    """--bootstrap-server and --command-config (a client.properties) for the mode."""
    from tests.security.matrix import MODES, Mode

    mode_ = MODES[mode]
    if login:
        mode_ = Mode(mode_.name, mode_.listener, mode_.protocol, mode_.mechanism, **login)
    props = secure_broker.java(mode_)
    path = tmp_path / f"{mode}-{login.get('username', 'default')}.properties"
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    return ["--bootstrap-server", props["bootstrap.servers"], "--command-config", str(path)]


def produce_one(conf: dict, topic: str, value: bytes) -> KafkaError | None:
    """One record with confluent-kafka: the delivery error, or None."""
    delivered: list[KafkaError | None] = []
    producer = Producer({**conf, "linger.ms": 0, "message.timeout.ms": 10000})
    producer.produce(topic, value, on_delivery=lambda err, _msg: delivered.append(err))
    assert producer.flush(30) == 0
    return delivered[0]


def test_kafka_configs_scram_users_and_kafka_acls_over_sasl_ssl(secure_broker, kafka, tmp_path):
    """An operator on SASL_SSL as the super user (SCRAM-SHA-512): kafka-configs creates a
    SCRAM user who then logs in, describes it; kafka-acls guards a topic for that user."""
    admin = command_config(
        secure_broker,
        tmp_path,
        "SASL_SSL-SCRAM-SHA-512",
        username="admin",
        password="admin-scram",
    )
    user = unique("carol")
    users = ["--entity-type", "users", "--entity-name", user]
    scram = "SCRAM-SHA-256=[iterations=8192,password=carol-pw]"
    out = kafka("kafka-configs", *admin, "--alter", *users, "--add-config", scram)
    assert f"Completed updating config for user {user}." in out

    from tests.security.matrix import MODES

    carol = secure_broker.librdkafka(
        MODES["SASL_SSL-SCRAM-SHA-256"], **{"sasl.username": user, "sasl.password": "carol-pw"}
    )
    topic = unique("guarded")
    assert produce_one(carol, topic, b"before any ACL") is None

    # An ACL on the topic: carol may write, alice (no ACL of hers) no longer.
    out = kafka(
        "kafka-acls",
        *admin,
        "--add",
        "--allow-principal",
        f"User:{user}",
        "--operation",
        "Write",
        "--operation",
        "Describe",
        "--topic",
        topic,
    )
    assert f"Adding ACLs for resource `ResourcePattern(resourceType=TOPIC, name={topic}, " in out
    out = kafka("kafka-acls", *admin, "--list", "--topic", topic)
    assert f"(principal=User:{user}, host=*, operation=WRITE, permissionType=ALLOW)" in out
    assert produce_one(carol, topic, b"allowed") is None
    alice = secure_broker.librdkafka(MODES["SASL_SSL-SCRAM-SHA-512"])
    denied = produce_one(alice, topic, b"denied")
    assert denied is not None and denied.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_kafka_configs_describe_scram_users_over_sasl_ssl(secure_broker, kafka, tmp_path):
    admin = command_config(
        secure_broker,
        tmp_path,
        "SASL_SSL-SCRAM-SHA-512",
        username="admin",
        password="admin-scram",
    )
    user = unique("dave")
    users = ["--entity-type", "users", "--entity-name", user]
    scram = "SCRAM-SHA-512=[iterations=4096,password=dave-pw]"
    kafka("kafka-configs", *admin, "--alter", *users, "--add-config", scram)
    out = kafka("kafka-configs", *admin, "--describe", *users)
    expected = (
        f"SCRAM credential configs for user-principal '{user}' are SCRAM-SHA-512=iterations=4096"
    )
    assert expected in out


def test_kafka_topics_over_ssl_with_a_client_certificate(secure_broker, kafka, tmp_path):
    ssl = command_config(secure_broker, tmp_path, "SSL-client-cert")
    topic = unique("over-ssl")
    kafka("kafka-topics", *ssl, "--create", "--topic", topic, "--partitions", "2")
    assert topic in kafka("kafka-topics", *ssl, "--list").split()

    # The certificate's principal is what ACLs name: denied Write, its producer is refused.
    from tests.security.certs import CLIENT_SUBJECT
    from tests.security.matrix import MODES

    admin = command_config(
        secure_broker,
        tmp_path,
        "SASL_SSL-SCRAM-SHA-512",
        username="admin",
        password="admin-scram",
    )
    principal = f"User:{CLIENT_SUBJECT}"
    out = kafka(
        "kafka-acls", *admin, "--add", "--deny-principal", principal, "--operation", "Write",
        "--topic", topic,
    )  # fmt: skip
    assert f"(principal={principal}, host=*, operation=WRITE, permissionType=DENY)" in out
    refused = produce_one(secure_broker.librdkafka(MODES["SSL-client-cert"]), topic, b"x")
    assert refused is not None and refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
