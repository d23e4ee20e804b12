"""Group administration: confluent-kafka's AdminClient, kafka-python's admin client
and `kafka-compat groups` against one broker.

An active group (one consumer, Stable) with committed offsets behind the log end,
and an idle group of a simple consumer (Empty): they are listed (with a state
filter), described (members, client, host, assignment), their offsets listed and
the lag computed from the watermarks; OffsetDelete refuses topics the active group
consumes; DeleteGroups refuses the active group and deletes the idle one. The CLI
prints the same members, assignments and lag.
"""

from __future__ import annotations

import time

import pytest
from confluent_kafka import (
    Consumer,
    ConsumerGroupState,
    ConsumerGroupTopicPartitions,
    KafkaError,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec
from kafka import TopicPartition as KpTopicPartition
from kafka.admin import KafkaAdminClient, MemberToRemove
from kafka.errors import GroupSubscribedToTopicError, NoError

from kafka_compat import cli

GUARD_S = 60.0
TOPIC = "admin-topic"
PARTITIONS = 3
RECORDS_PER_PARTITION = 10
ACTIVE_COMMITS = {0: 4, 1: 6, 2: 10}
IDLE_COMMITS = {0: 1, 1: 2, 2: 3}


@pytest.fixture
def groups(broker_factory):
    """A broker with an active group (a live consumer) and an idle one."""
    broker = broker_factory(group_initial_rebalance_delay_ms="0")
    bootstrap = broker.bootstrap
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])[TOPIC].result(GUARD_S)
    producer = Producer({"bootstrap.servers": bootstrap})
    for p in range(PARTITIONS):
        for i in range(RECORDS_PER_PARTITION):
            producer.produce(TOPIC, value=b"%d" % i, partition=p)
    assert producer.flush(GUARD_S) == 0

    active = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "active",
            "client.id": "active-client",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    active.subscribe([TOPIC])
    deadline = time.monotonic() + GUARD_S
    while not active.assignment():
        assert time.monotonic() < deadline, "the consumer never got an assignment"
        active.poll(0.1)
    active.commit(
        offsets=[TopicPartition(TOPIC, p, o) for p, o in ACTIVE_COMMITS.items()],
        asynchronous=False,
    )
    idle = Consumer({"bootstrap.servers": bootstrap, "group.id": "idle"})
    idle.commit(
        offsets=[TopicPartition(TOPIC, p, o) for p, o in IDLE_COMMITS.items()],
        asynchronous=False,
    )
    idle.close()
    yield broker, admin
    active.close()


def listed_offsets(admin: AdminClient, group: str) -> dict[int, int]:
    result = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])
    return {tp.partition: tp.offset for tp in result[group].result(GUARD_S).topic_partitions}


def test_admin_client_lists_describes_and_deletes_groups(groups):
    broker, admin = groups
    listing = admin.list_consumer_groups().result(GUARD_S)
    assert {(g.group_id, g.state) for g in listing.valid} == {
        ("active", ConsumerGroupState.STABLE),
        ("idle", ConsumerGroupState.EMPTY),
    }
    stable = admin.list_consumer_groups(states={ConsumerGroupState.STABLE}).result(GUARD_S)
    assert [g.group_id for g in stable.valid] == ["active"]

    described = admin.describe_consumer_groups(["active", "idle"])
    active = described["active"].result(GUARD_S)
    assert (active.state, active.partition_assignor) == (ConsumerGroupState.STABLE, "range")
    (member,) = active.members
    assert (member.client_id, member.host) == ("active-client", "/127.0.0.1")
    assert sorted(tp.partition for tp in member.assignment.topic_partitions) == [0, 1, 2]
    idle = described["idle"].result(GUARD_S)
    assert (idle.state, idle.members) == (ConsumerGroupState.EMPTY, [])

    # Lag = log end offset - committed offset, per partition.
    committed = listed_offsets(admin, "active")
    assert committed == ACTIVE_COMMITS
    ends = admin.list_offsets({TopicPartition(TOPIC, p): OffsetSpec.latest() for p in committed})
    lag = {
        tp.partition: future.result(GUARD_S).offset - committed[tp.partition]
        for tp, future in ends.items()
    }
    assert lag == {p: RECORDS_PER_PARTITION - o for p, o in ACTIVE_COMMITS.items()}
    assert listed_offsets(admin, "idle") == IDLE_COMMITS

    deleted = admin.delete_consumer_groups(["active"])
    with pytest.raises(Exception) as refused:
        deleted["active"].result(GUARD_S)
    assert refused.value.args[0].code() == KafkaError.NON_EMPTY_GROUP
    admin.delete_consumer_groups(["idle"])["idle"].result(GUARD_S)
    listing = admin.list_consumer_groups().result(GUARD_S)
    assert [g.group_id for g in listing.valid] == ["active"]


def test_kafka_python_admin_deletes_offsets_and_removes_static_members(groups):
    broker, _ = groups
    static = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": "static",
            "group.instance.id": "static-1",
            "session.timeout.ms": 30000,
        }
    )
    static.subscribe([TOPIC])
    deadline = time.monotonic() + GUARD_S
    while not static.assignment():
        assert time.monotonic() < deadline, "the static member never got an assignment"
        static.poll(0.1)
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        tp0 = KpTopicPartition(TOPIC, 0)
        # OffsetDelete: the active group consumes the topic, so its offsets stay.
        assert admin.delete_group_offsets("active", [tp0]) == {tp0: GroupSubscribedToTopicError}
        assert admin.delete_group_offsets("idle", [tp0]) == {tp0: NoError}
        idle = admin.list_group_offsets(["idle", "active"])
        assert {tp.partition: o.offset for tp, o in idle["idle"].items()} == {1: 2, 2: 3}
        assert {tp.partition: o.offset for tp, o in idle["active"].items()} == ACTIVE_COMMITS
        assert admin.delete_groups(["active", "nope"]) == {
            "active": "NonEmptyGroupError",
            "nope": "GroupIdNotFoundError",
        }
        # KIP-345: an operator removes a static member by its group.instance.id.
        removed = admin.remove_group_members(
            "static", [MemberToRemove(group_instance_id="static-1")]
        )
        assert removed == {"static-1": NoError}
        described = admin.describe_groups(["static"])["static"]
        assert (described["error"], described["group_state"], described["members"]) == (
            None,
            "Empty",
            [],
        )
    finally:
        admin.close()
        static.close()


def test_groups_cli_lists_and_describes(groups, capsys):
    broker, _ = groups
    assert cli.main(["groups", "list", "--bootstrap-server", broker.bootstrap]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].split() == ["GROUP", "PROTOCOL-TYPE", "STATE"]
    assert sorted(line.split() for line in listing[1:]) == [
        ["active", "consumer", "Stable"],
        ["idle", "-", "Empty"],
    ]

    assert cli.main(["groups", "describe", "active", "--bootstrap-server", broker.bootstrap]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "Group active: state Stable, protocol consumer/range, 1 members"
    members = [line.split() for line in lines if line.startswith("active-client-")]
    assert len(members) == 1
    member_id, instance, client_id, host, count, assignment = members[0]
    assert (instance, client_id, host, count) == ("-", "active-client", "/127.0.0.1", "3")
    assert assignment == ",".join(f"{TOPIC}-{p}" for p in range(PARTITIONS))
    header = next(i for i, line in enumerate(lines) if line.startswith("TOPIC"))
    assert lines[header].split() == [
        "TOPIC",
        "PARTITION",
        "CURRENT-OFFSET",
        "LOG-END-OFFSET",
        "LAG",
        "MEMBER-ID",
    ]
    rows = [line.split() for line in lines[header + 1 :]]
    assert rows == [
        [
            TOPIC,
            str(p),
            str(o),
            str(RECORDS_PER_PARTITION),
            str(RECORDS_PER_PARTITION - o),
            member_id,
        ]
        for p, o in ACTIVE_COMMITS.items()
    ]

    assert cli.main(["groups", "describe", "idle", "--bootstrap-server", broker.bootstrap]) == 0
    out = capsys.readouterr().out
    assert "Consumer group 'idle' has no active members." in out
    assert [TOPIC, "0", "1", "10", "9", "-"] in [line.split() for line in out.splitlines()]

    assert cli.main(["groups", "describe", "nope", "--bootstrap-server", broker.bootstrap]) == 1
    assert "does not exist" in capsys.readouterr().err
