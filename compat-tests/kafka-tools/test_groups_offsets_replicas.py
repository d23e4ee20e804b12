"""Kafka 3.9.1's tools for data, groups and replicas against kafka-compat: the console
producer and consumer, kafka-consumer-groups, kafka-get-offsets, kafka-delete-records,
kafka-log-dirs, the perf tests, kafka-reassign-partitions and kafka-leader-election (a
3-broker ZooKeeper cluster), and kafka-dump-log beside kafka-compat's own tools. How the
tools run: this folder's conftest.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from confluent_kafka import Producer, TopicCollection
from confluent_kafka.admin import AdminClient


def rows(text: str) -> list[list[str]]:
    """Whitespace-separated columns of each non-empty line."""
    return [line.split() for line in text.splitlines() if line.strip()]


# ---- one broker ----


def test_console_producer_consumer_and_consumer_groups(served_broker, kafka, unique):
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


def produce(bootstrap: str, topic: str, count: int, partition: int = 0) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i in range(count):
        producer.produce(topic, value=f"v{i}".encode(), key=f"k{i}".encode(), partition=partition)
    assert producer.flush(30) == 0


def test_get_offsets_delete_records_and_log_dirs(served_broker, kafka, tmp_path, unique):
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


def test_producer_and_consumer_perf_test(served_broker, kafka, unique):
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


def replicas_and_leaders(admin: AdminClient, topic: str) -> dict[int, tuple[list[int], int]]:
    described = admin.describe_topics(TopicCollection([topic]))[topic].result(timeout=30)
    return {
        p.id: ([r.id for r in p.replicas], p.leader.id if p.leader else -1)
        for p in described.partitions
    }


def test_reassign_partitions_and_leader_election_in_a_cluster(
    cluster_factory, kafka, tmp_path, unique, wait_for
):
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


def test_kafka_compat_tools_print_what_kafkas_tools_print(served_broker, kafka, unique):
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
    from kafka_compat.topics import coordinator_partition

    offsets_dir = served_broker.data_dir / f"__consumer_offsets-{coordinator_partition(group, 50)}"
    dump = ["--files", str(offsets_dir / "00000000000000000000.log"), "--offsets-decoder"]

    def commits(text: str) -> list[str]:
        return [line for line in text.splitlines() if f'"group":"{group}","topic"' in line]

    mine = commits(ours("dump-log", *dump))
    assert mine and mine == commits(kafka("kafka-dump-log", *dump))
