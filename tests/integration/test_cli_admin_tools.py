"""`kafka-compat topics`, `configs`, `offsets` and `groups reset-offsets|delete` against
a real broker, with confluent-kafka seeing what the tools did: the partitions a
topic has after --alter, a config set by the tool, the offset a consumer of a reset
group starts at. Exit codes: 0 done, 1 refused / not found, 2 usage.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType

from kafka_compat import cli

GUARD_S = 60.0


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def produce(bootstrap: str, topic: str, per_partition: dict[int, int]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for partition, count in per_partition.items():
        for i in range(count):
            producer.produce(topic, key=b"k%d" % i, value=b"v%d" % i, partition=partition)
    assert producer.flush(GUARD_S) == 0


def test_topics_create_describe_alter_delete(broker, capsys):
    b = ("--bootstrap-server", broker.bootstrap)
    code, out, _ = run(
        capsys,
        "topics", "--create", "--topic", "orders", "--partitions", "2",
        "--config", "retention.ms=3600000", "--config", "cleanup.policy=compact", *b,
    )  # fmt: skip
    assert (code, out) == (0, "Created topic orders.\n")
    code, _, err = run(capsys, "topics", "--create", "--topic", "orders", *b)
    assert code == 1 and "Topic 'orders' already exists." in err
    assert run(capsys, "topics", "--create", "--topic", "orders", "--if-not-exists", *b)[0] == 0
    assert run(capsys, "topics", "--create", "--topic", "orders-2", *b)[0] == 0

    code, out, _ = run(capsys, "topics", "--list", *b)
    assert code == 0 and out.split() == ["orders", "orders-2"]

    assert run(capsys, "topics", "--alter", "--topic", "orders", "--partitions", "3", *b)[0] == 0
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    described = admin.list_topics("orders", timeout=GUARD_S).topics["orders"]
    assert sorted(described.partitions) == [0, 1, 2]

    # --topic is a regex over whole names: "orders" alone does not match "orders-2".
    code, out, _ = run(capsys, "topics", "--describe", "--topic", "orders", *b)
    lines = out.splitlines()
    assert re.fullmatch(
        r"Topic: orders\tTopicId: \S{22}\tPartitionCount: 3\tReplicationFactor: 1\t"
        r"Configs: cleanup.policy=compact,retention.ms=3600000",
        lines[0],
    ), out
    assert lines[1:] == [
        f"\tTopic: orders\tPartition: {p}\tLeader: 0\tReplicas: 0\tIsr: 0"
        "\tElr: N/A\tLastKnownElr: N/A"
        for p in range(3)
    ]
    code, out, _ = run(capsys, "topics", "--describe", "--topic", "orders.*", *b)
    assert [line.split("\t")[0] for line in out.splitlines() if line.startswith("Topic:")] == [
        "Topic: orders",
        "Topic: orders-2",
    ]
    # One broker: nothing is under-replicated; ISR 1 is min.insync.replicas (1).
    code, out, _ = run(capsys, "topics", "--describe", "--under-replicated-partitions", *b)
    assert (code, out) == (0, "")
    code, out, _ = run(
        capsys, "topics", "--describe", "--topic", "orders", "--at-min-isr-partitions", *b
    )
    assert [line.split("\t")[2] for line in out.splitlines()] == [
        "Partition: 0",
        "Partition: 1",
        "Partition: 2",
    ]

    code, out, _ = run(capsys, "topics", "--describe", "--topic", "orders", "--output", "json", *b)
    (document,) = json.loads(out)["topics"]
    assert document["partition_count"] == 3
    assert document["configs"] == {"cleanup.policy": "compact", "retention.ms": "3600000"}
    assert [p["leader"] for p in document["partitions"]] == [0, 0, 0]
    assert document["min_insync_replicas"] == 1

    assert run(capsys, "topics", "--delete", "--topic", "orders-2", *b)[0] == 0
    deadline = time.monotonic() + GUARD_S
    while "orders-2" in admin.list_topics(timeout=GUARD_S).topics:
        assert time.monotonic() < deadline, "the deleted topic is still there"
        time.sleep(0.05)
    code, _, err = run(capsys, "topics", "--delete", "--topic", "orders-2", *b)
    assert code == 1 and "Topic 'orders-2' does not exist as expected" in err
    assert run(capsys, "topics", "--delete", "--topic", "orders-2", "--if-exists", *b)[0] == 0
    # Usage errors are 2: argparse's own, and flags that do not go together.
    assert run(capsys, "topics", "--alter", "--topic", "orders", *b)[0] == 2
    with pytest.raises(SystemExit) as exited:
        cli.main(["topics", "--list", "--describe", *b])
    assert exited.value.code == 2
    code, _, err = run(
        capsys, "topics", "--create", "--topic", "bad", "--config", "retention.ms=x", *b
    )
    assert code == 1 and "retention.ms" in err


def test_topics_tool_reports_an_unreachable_broker(capsys):
    code, _, err = run(capsys, "topics", "--list", "--bootstrap-server", "127.0.0.1:1")
    assert code == 1 and "cannot connect to 127.0.0.1:1" in err


def test_configs_alter_and_describe_topics_and_brokers(broker, capsys):
    b = ("--bootstrap-server", broker.bootstrap)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("conf", 1, 1)])["conf"].result(GUARD_S)
    on_topic = ("configs", "--entity-type", "topics", "--entity-name", "conf", *b)
    settings = "retention.ms=3600000,cleanup.policy=[compact,delete]"
    code, out, _ = run(capsys, *on_topic, "--alter", "--add-config", settings)
    assert (code, out) == (0, "Completed updating config for topic conf.\n")
    seen = admin.describe_configs([ConfigResource(ResourceType.TOPIC, "conf")])
    configs = next(iter(seen.values())).result(GUARD_S)
    assert configs["retention.ms"].value == "3600000"
    assert configs["cleanup.policy"].value == "compact,delete"

    assert run(capsys, *on_topic, "--alter", "--delete-config", "cleanup.policy")[0] == 0
    code, out, _ = run(capsys, *on_topic, "--describe")
    assert out.splitlines() == [
        "Dynamic configs for topic conf are:",
        "  retention.ms=3600000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:"
        "retention.ms=3600000, DEFAULT_CONFIG:log.retention.hours=168}",
    ]
    code, out, _ = run(capsys, *on_topic, "--describe", "--all", "--output", "json")
    (entity,) = json.loads(out)["entities"]
    by_name = {c["name"]: c for c in entity["configs"]}
    assert by_name["cleanup.policy"]["source"] == "DEFAULT_CONFIG"
    assert by_name["retention.ms"]["value"] == "3600000"

    on_default = ("configs", "--entity-type", "brokers", "--entity-default", *b)
    on_broker = ("configs", "--entity-type", "brokers", "--entity-name", "0", *b)
    code, out, _ = run(capsys, *on_default, "--alter", "--add-config", "log.retention.ms=7200000")
    assert out == "Completed updating default config for brokers in the cluster.\n"
    code, out, _ = run(capsys, *on_broker, "--alter", "--add-config", "log.retention.ms=1800000")
    assert out == "Completed updating config for broker 0.\n"
    code, out, _ = run(capsys, *on_broker, "--describe")
    assert out.splitlines() == [
        "Dynamic configs for broker 0 are:",
        "  log.retention.ms=1800000 sensitive=false synonyms={DYNAMIC_BROKER_CONFIG:"
        "log.retention.ms=1800000, DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=7200000,"
        " DEFAULT_CONFIG:log.retention.hours=168}",
    ]
    code, out, _ = run(capsys, *on_default, "--describe")
    assert out.splitlines()[0] == "Default configs for brokers in the cluster are:"
    # A static key is refused with the broker's message; an unknown topic is not found.
    code, _, err = run(capsys, *on_broker, "--alter", "--add-config", "log.dirs=/elsewhere")
    assert code == 1 and "Cannot update these configs dynamically: Set(log.dirs)" in err
    code, _, err = run(
        capsys, "configs", "--entity-type", "topics", "--entity-name", "nope", "--describe", *b
    )
    assert code == 1 and "nope" in err
    assert run(capsys, *on_topic, "--alter")[0] == 2


def test_offsets_latest_earliest_and_by_time(broker, capsys):
    b = ("--bootstrap-server", broker.bootstrap)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("offs", 2, 1)])["offs"].result(GUARD_S)
    before = int(time.time() * 1000) - 1
    produce(broker.bootstrap, "offs", {0: 5, 1: 2})
    code, out, _ = run(capsys, "offsets", "--topic", "offs", *b)
    assert (code, out.split()) == (0, ["offs:0:5", "offs:1:2"])
    code, out, _ = run(capsys, "offsets", "--topic", "off.", "--time", "earliest", *b)
    assert out.split() == ["offs:0:0", "offs:1:0"]
    code, out, _ = run(capsys, "offsets", "--topic", "offs", "--time", str(before), *b)
    assert out.split() == ["offs:0:0", "offs:1:0"]
    # No record that late: nothing after the last colon, as kafka-get-offsets prints it.
    code, out, _ = run(
        capsys, "offsets", "--topic", "offs", "--partitions", "1", "--time", "99999999999999", *b
    )
    assert out.split() == ["offs:1:"]
    code, out, _ = run(capsys, "offsets", "--topic", "offs", "--output", "json", *b)
    assert json.loads(out)["offsets"] == [
        {"topic": "offs", "partition": 0, "offset": 5},
        {"topic": "offs", "partition": 1, "offset": 2},
    ]
    code, _, err = run(capsys, "offsets", "--topic", "nothing-like-it", *b)
    assert code == 1 and "Could not match any topic-partitions" in err
    assert run(capsys, "offsets", "--time", "yesterday", *b)[0] == 2


def committed(bootstrap: str, group: str, topic: str, partitions: int) -> list[int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        found = consumer.committed(
            [TopicPartition(topic, p) for p in range(partitions)], timeout=GUARD_S
        )
        return [tp.offset for tp in found]
    finally:
        consumer.close()


def test_groups_reset_offsets_then_a_consumer_starts_there(broker_factory, capsys):
    broker = broker_factory(group_initial_rebalance_delay_ms="0")
    b = ("--bootstrap-server", broker.bootstrap)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("events", 2, 1)])["events"].result(GUARD_S)
    produce(broker.bootstrap, "events", {0: 10, 1: 4})
    committer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "g"})
    committer.commit(
        offsets=[TopicPartition("events", 0, 6), TopicPartition("events", 1, 2)],
        asynchronous=False,
    )
    committer.close()

    reset = ("groups", "reset-offsets", "--group", "g", *b)
    # A dry run (the default) prints Kafka's plan and changes nothing.
    code, out, err = run(capsys, *reset, "--topic", "events", "--shift-by", "-2")
    assert code == 0 and "--execute option is missing" in err
    assert [line.split() for line in out.splitlines()] == [
        ["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"],
        ["g", "events", "0", "4"],
        ["g", "events", "1", "0"],
    ]
    assert committed(broker.bootstrap, "g", "events", 2) == [6, 2]
    code, out, _ = run(capsys, *reset, "--all-topics", "--to-latest", "--dry-run")
    assert [line.split()[-1] for line in out.splitlines()[1:]] == ["10", "4"]
    # --to-offset is clamped to each partition's range, as Kafka does.
    code, out, _ = run(
        capsys, *reset, "--topic", "events:0", "--to-offset", "7", "--output", "json"
    )
    assert json.loads(out)["offsets"] == [{"topic": "events", "partition": 0, "offset": 7}]
    code, out, _ = run(
        capsys, *reset, "--topic", "events", "--to-datetime", "2000-01-01T00:00:00.000"
    )
    assert [line.split()[-1] for line in out.splitlines()[1:]] == ["0", "0"]
    code, out, _ = run(capsys, *reset, "--topic", "events", "--by-duration", "P1D")
    assert [line.split()[-1] for line in out.splitlines()[1:]] == ["0", "0"]

    code, out, _ = run(capsys, *reset, "--topic", "events:0", "--to-offset", "3", "--execute")
    assert code == 0
    assert committed(broker.bootstrap, "g", "events", 2) == [3, 2]
    code, out, _ = run(capsys, "groups", "describe", "g", "--output", "json", *b)
    described = json.loads(out)
    assert described["state"] == "Empty"
    assert [(p["partition"], p["committed"], p["log_end_offset"], p["lag"])
            for p in described["partitions"]] == [(0, 3, 10, 7), (1, 2, 4, 2)]  # fmt: skip
    consumer = Consumer(
        {"bootstrap.servers": broker.bootstrap, "group.id": "g", "enable.auto.commit": False}
    )
    consumer.subscribe(["events"])
    first: dict[int, int] = {}
    deadline = time.monotonic() + GUARD_S
    while len(first) < 2:
        assert time.monotonic() < deadline, f"consumed only {first}"
        message = consumer.poll(0.2)
        if message is not None and not message.error():
            first.setdefault(message.partition(), message.offset())
    assert first == {0: 3, 1: 2}

    # While the consumer is a member the group is not empty: Kafka's refusal, exit 1.
    code, _, err = run(capsys, *reset, "--all-topics", "--to-earliest", "--execute")
    assert code == 1
    assert (
        "Assignments can only be reset if the group 'g' is inactive, but the current state is"
        in err
    )
    code, _, err = run(capsys, "groups", "delete", "--group", "g", *b)
    assert code == 1 and "GroupNotEmptyException: The group is not empty." in err
    consumer.close()

    code, out, _ = run(capsys, "groups", "delete", "--group", "g", *b)
    assert (code, out) == (0, "Deletion of requested consumer groups ('g') was successful.\n")
    code, out, _ = run(capsys, "groups", "list", "--output", "json", *b)
    assert "g" not in [g["group"] for g in json.loads(out)["groups"]]
    code, _, err = run(capsys, "groups", "delete", "--group", "g", *b)
    assert code == 1 and "The group id does not exist." in err
    code, _, err = run(capsys, "groups", "describe", "g", *b)
    assert code == 1 and "does not exist" in err
    # Usage: a reset needs a scope and a target.
    with pytest.raises(SystemExit) as exited:
        cli.main(["groups", "reset-offsets", "--group", "g", "--to-earliest", *b])
    assert exited.value.code == 2


def test_users_acls_and_transactions_answer_in_json(broker_factory, capsys):
    broker = broker_factory(
        authorizer_class_name="kafka.security.authorizer.AclAuthorizer",
        super_users="User:ANONYMOUS",
    )
    b = ("--bootstrap-server", broker.bootstrap)
    set_password = ("users", "set-password", "alice", "--password", "secret", "--output", "json")
    code, out, _ = run(capsys, *set_password, *b)
    assert (code, json.loads(out)) == (0, {"user": "alice", "set": "SCRAM-SHA-256"})
    code, out, _ = run(capsys, "users", "list", "--output", "json", *b)
    assert json.loads(out) == {"users": [{"user": "alice", "credentials": {"SCRAM-SHA-256": 4096}}]}
    add = ("acls", "add", "--allow-principal", "User:alice", "--operation", "Read")
    assert run(capsys, *add, "--topic", "t", *b)[0] == 0
    code, out, _ = run(capsys, "acls", "list", "--topic", "t", "--output", "json", *b)
    assert json.loads(out) == {
        "acls": [
            {
                "resource_type": "TOPIC",
                "name": "t",
                "pattern_type": "LITERAL",
                "principal": "User:alice",
                "host": "*",
                "operation": "READ",
                "permission_type": "ALLOW",
            }
        ]
    }
    code, out, _ = run(capsys, "transactions", "list", "--output", "json", *b)
    assert (code, json.loads(out)) == (0, {"transactions": []})
