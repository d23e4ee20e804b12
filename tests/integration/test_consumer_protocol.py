"""The KIP-848 consumer group protocol with real clients: confluent-kafka (librdkafka)
with `group.protocol=consumer`, beside classic groups.

Members join, leave and are SIGKILLed (a separate process: only the broker's session
timeout, `group.consumer.session.timeout.ms`, tells the group) while a producer
writes; after every change each partition has exactly one live owner, no member is
handed a partition another still holds (revocation before assignment), every
acknowledged record is consumed, and the committed offsets reach the end of every
partition. The group and its offsets survive a broker restart.
"""

from __future__ import annotations

import json

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from tests.integration.test_groups_confluent import (
    GUARD_S,
    PARTITIONS,
    TOPIC,
    CrashingMember,
    GroupView,
    Member,
    Writer,
    committed_offsets,
    end_offsets,
    member_config,
    wait_until,
)

SESSION_MS = 3000
BROKER_PROPS = {
    "group_initial_rebalance_delay_ms": "0",
    "group_min_session_timeout_ms": "1000",
    "group_consumer_heartbeat_interval_ms": "500",
    "group_consumer_session_timeout_ms": str(SESSION_MS),
}


def kip848_config(bootstrap: str, group: str, assignor: str | None = None) -> dict:
    config = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "group.protocol": "consumer",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "max.poll.interval.ms": 30000,
    }
    if assignor is not None:
        config["group.remote.assignor"] = assignor
    return config


# A member in its own process, killed with SIGKILL; it reports on stdout what it was
# assigned (A), revoked (R) and processed (M) before committing.
CRASHING_MEMBER = r"""
import json, sys
from confluent_kafka import Consumer, KafkaException
config, topic = json.loads(sys.argv[1]), sys.argv[2]

def say(kind, items):
    print(kind, ",".join(str(i) for i in items), flush=True)

consumer = Consumer(config)
consumer.subscribe(
    [topic],
    on_assign=lambda c, ps: say("A", [p.partition for p in ps]),
    on_revoke=lambda c, ps: say("R", [p.partition for p in ps]),
    on_lost=lambda c, ps: say("R", [p.partition for p in ps]),
)
while True:
    messages = consumer.consume(num_messages=500, timeout=0.2)
    values = [m.value().decode() for m in messages if m.error() is None]
    if values:
        say("M", values)
        try:
            consumer.commit(asynchronous=False)
        except KafkaException:
            pass
"""


class GroupRun:
    """One group's members (in-process threads and a crashing process)."""

    def __init__(self, group: str, config) -> None:
        self.group = group
        self.config = config  # () -> a member's consumer config
        self.view = GroupView()
        self.members: dict[str, Member] = {}
        self.crashing: CrashingMember | None = None

    def start(self, name: str) -> None:
        self.members[name] = Member(f"{self.group}-{name}", self.config(), self.view)
        self.members[name].start()

    def start_crashing(self, name: str) -> None:
        self.crashing = CrashingMember(
            f"{self.group}-{name}", self.view, CRASHING_MEMBER, json.dumps(self.config()), TOPIC
        )

    def leave(self, name: str) -> None:
        self.members.pop(name).leave()

    def settled(self, names) -> bool:
        return self.view.settled({f"{self.group}-{n}" for n in names})

    def cleanup(self) -> None:
        for member in self.members.values():
            member.stop.set()
        for member in self.members.values():
            member.join(GUARD_S)
        if self.crashing is not None:
            self.crashing.cleanup()


def settle(runs: list[GroupRun], *names: str) -> None:
    for run in runs:
        wait_until(
            lambda run=run: run.settled(names),
            lambda run=run: f"{run.group} did not settle on {names}: {run.view.describe()}",
        )
        assert not run.view.violations, run.view.violations


def create_topic(bootstrap: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])[TOPIC].result(GUARD_S)


def test_kip848_and_classic_groups_consume_everything_through_joins_leaves_and_crashes(
    broker_factory,
):
    """The issue's scenario: one group per protocol on the same topic, in step."""
    broker = broker_factory(**BROKER_PROPS)
    bootstrap = broker.bootstrap
    create_topic(bootstrap)
    runs = [
        GroupRun("kip848", lambda: kip848_config(bootstrap, "kip848")),
        GroupRun(
            "classic",
            lambda: member_config(bootstrap, "classic", "cooperative-sticky", SESSION_MS),
        ),
    ]
    writer = Writer(bootstrap)
    writer.start()
    try:
        for run in runs:
            run.start("A")
        settle(runs, "A")
        for run in runs:
            run.start("B")
        settle(runs, "A", "B")
        for run in runs:
            run.start_crashing("C")
        settle(runs, "A", "B", "C")
        for run in runs:
            run.leave("B")
        settle(runs, "A", "C")
        for run in runs:
            run.crashing.crash()  # only the session timeout tells the broker
        settle(runs, "A")
        for run in runs:
            run.start("B2")
        settle(runs, "A", "B2")

        writer.stop.set()
        writer.join(GUARD_S)
        assert not writer.errors, writer.errors[:5]
        assert len(writer.acked) > 0
        for run in runs:
            wait_until(
                lambda run=run: writer.acked <= run.view.consumed,
                lambda run=run: (
                    f"{run.group}: {len(writer.acked - run.view.consumed)} acked records "
                    "never consumed"
                ),
            )
        ends = end_offsets(bootstrap)
        for run in runs:
            wait_until(
                lambda run=run: committed_offsets(bootstrap, run.group) == ends,
                lambda run=run: (
                    f"{run.group} committed {committed_offsets(bootstrap, run.group)}, ends {ends}"
                ),
            )
        admin = AdminClient({"bootstrap.servers": bootstrap})
        listed = {g.group_id: g for g in admin.list_consumer_groups().result(GUARD_S).valid}
        assert listed["kip848"].type.name == "CONSUMER"
        assert listed["classic"].type.name == "CLASSIC"
    finally:
        writer.stop.set()
        for run in runs:
            run.cleanup()


@pytest.mark.parametrize("assignor", ["uniform", "range"])
def test_three_kip848_consumers_share_a_topic(broker_factory, assignor):
    broker = broker_factory(**BROKER_PROPS)
    bootstrap = broker.bootstrap
    create_topic(bootstrap)
    run = GroupRun(f"three-{assignor}", lambda: kip848_config(bootstrap, run.group, assignor))
    try:
        run.start("A")
        settle([run], "A")
        run.start("B")
        run.start("C")
        settle([run], "A", "B", "C")
        # Balanced: two partitions each, whichever assignor.
        with run.view.lock:
            held = [
                sum(1 for o in run.view.owners.values() if m in o)
                for m in sorted({m for o in run.view.owners.values() for m in o})
            ]
        assert held == [2, 2, 2]
        admin = AdminClient({"bootstrap.servers": bootstrap})
        described = admin.describe_consumer_groups([run.group])[run.group].result(GUARD_S)
        assert len(described.members) == 3
        assert str(described.state.name) == "STABLE"
        run.leave("C")
        settle([run], "A", "B")
    finally:
        run.cleanup()


def test_a_kip848_group_and_its_offsets_survive_a_broker_restart(broker_factory):
    broker = broker_factory(**BROKER_PROPS)
    bootstrap = broker.bootstrap
    create_topic(bootstrap)
    writer = Writer(bootstrap)
    writer.start()
    wait_until(lambda: len(writer.acked) >= 200, "the producer wrote nothing")
    writer.stop.set()
    writer.join(GUARD_S)
    run = GroupRun("restart", lambda: kip848_config(bootstrap, "restart"))
    try:
        run.start("A")
        settle([run], "A")
        wait_until(lambda: writer.acked <= run.view.consumed, "records not consumed")
        ends = end_offsets(bootstrap)
        wait_until(lambda: committed_offsets(bootstrap, "restart") == ends, "not committed")
        run.leave("A")
        broker.restart()
        bootstrap = broker.bootstrap
        assert committed_offsets(bootstrap, "restart") == ends
        admin = AdminClient({"bootstrap.servers": bootstrap})
        listed = {g.group_id: g for g in admin.list_consumer_groups().result(GUARD_S).valid}
        assert listed["restart"].type.name == "CONSUMER"
        # A new member resumes at the committed offsets: after the restart it reads
        # only what is written after it (in each partition, in offset order).
        producer = Producer({"bootstrap.servers": bootstrap})
        for p in range(PARTITIONS):
            producer.produce(TOPIC, value=f"new-{p}".encode(), partition=p)
        producer.flush(GUARD_S)
        fresh = Consumer(kip848_config(bootstrap, "restart"))
        fresh.subscribe([TOPIC])
        received = []

        def read_new() -> bool:
            message = fresh.poll(0.1)
            if message is not None and message.error() is None:
                received.append(message.value().decode())
            return len(received) >= PARTITIONS

        try:
            wait_until(read_new, lambda: f"received {received}")
        finally:
            fresh.close()
        assert sorted(received) == [f"new-{p}" for p in range(PARTITIONS)]
    finally:
        run.cleanup()


def _assignment_of(consumer: Consumer) -> set[tuple[str, int]]:
    consumer.poll(0.1)
    return {(tp.topic, tp.partition) for tp in consumer.assignment()}


def test_a_regex_subscription_follows_the_topics_that_match(broker_factory):
    broker = broker_factory(**BROKER_PROPS)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for name in ("orders-eu", "orders-us", "other"):
        admin.create_topics([NewTopic(name, 2, 1)])[name].result(GUARD_S)
    consumer = Consumer(kip848_config(broker.bootstrap, "regex"))
    consumer.subscribe(["^orders-.*"])  # sent as SubscribedTopicRegex, matched by the broker
    try:
        expected = {(t, p) for t in ("orders-eu", "orders-us") for p in range(2)}
        wait_until(lambda: _assignment_of(consumer) == expected, "regex not resolved")
        admin.create_topics([NewTopic("orders-asia", 1, 1)])["orders-asia"].result(GUARD_S)
        expected.add(("orders-asia", 0))
        wait_until(lambda: _assignment_of(consumer) == expected, "new topic not assigned")
    finally:
        consumer.close()


def test_a_static_member_comes_back_to_its_partitions(broker_factory):
    broker = broker_factory(**BROKER_PROPS)
    bootstrap = broker.bootstrap
    create_topic(bootstrap)
    revoked: list[int] = []

    def static(instance: str, **callbacks) -> Consumer:
        consumer = Consumer({**kip848_config(bootstrap, "static"), "group.instance.id": instance})
        consumer.subscribe([TOPIC], **callbacks)
        return consumer

    a = static("a", on_revoke=lambda c, ps: revoked.extend(p.partition for p in ps))
    b = static("b")
    try:
        wait_until(
            lambda: [len(_assignment_of(a)), len(_assignment_of(b))] == [3, 3],
            lambda: f"not shared: {_assignment_of(a)}, {_assignment_of(b)}",
        )
        revoked.clear()
        held_by_b = _assignment_of(b)
        b.close()  # a static member leaves with epoch -2: it keeps its place
        b = static("b")
        wait_until(
            lambda: [_assignment_of(b), len(_assignment_of(a))] == [held_by_b, 3],
            lambda: f"b did not get {held_by_b} back: {_assignment_of(b)}",
        )
        assert revoked == []  # a kept its partitions throughout
    finally:
        a.close()
        b.close()
