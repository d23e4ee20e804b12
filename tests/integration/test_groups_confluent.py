"""confluent-kafka (librdkafka) consumer groups through joins, a leave and a crash.

Three consumers share one group while a producer keeps writing: A joins, B joins,
C (a separate process) joins, B leaves (close), C is killed with SIGKILL so that only
its session timeout tells the broker, and a new B joins again. Each rebalance must
end with every partition owned by exactly one live member, and no member may be
handed a partition another member still holds. Members commit after processing, so
every acknowledged record is consumed at least once, and the group's committed
offsets reach the end of every partition. Run once with the eager `range` assignor
and once with `cooperative-sticky` (incremental rebalancing).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

TOPIC = "group-topic"
PARTITIONS = 6
GUARD_S = 60.0
CRASH_SESSION_MS = 3000
BROKER_PROPS = {"group_initial_rebalance_delay_ms": "0", "group_min_session_timeout_ms": "1000"}


def wait_until(condition: Callable[[], bool], what: Callable[[], str] | str) -> None:
    """Poll `condition` until true; the guard only turns a hang into a failure."""
    deadline = time.monotonic() + GUARD_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(what() if callable(what) else what)
        time.sleep(0.05)


def member_config(bootstrap: str, group: str, strategy: str, session_ms: int = 6000) -> dict:
    return {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": session_ms,
        "heartbeat.interval.ms": 500,
        "max.poll.interval.ms": 30000,
        "partition.assignment.strategy": strategy,
    }


class GroupView:
    """Who owns which partition, from the members' own rebalance callbacks."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.owners: dict[int, set[str]] = {p: set() for p in range(PARTITIONS)}
        self.violations: list[str] = []
        self.consumed: set[int] = set()
        self.assignments = 0

    def assigned(self, member: str, partitions: list[int]) -> None:
        with self.lock:
            self.assignments += 1
            for p in partitions:
                others = self.owners[p] - {member}
                if others:
                    self.violations.append(f"{member} got partition {p} still held by {others}")
                self.owners[p].add(member)

    def revoked(self, member: str, partitions: list[int]) -> None:
        with self.lock:
            for p in partitions:
                self.owners[p].discard(member)

    def forget(self, member: str) -> None:
        """The member stopped consuming for good (closed, or killed)."""
        with self.lock:
            for owners in self.owners.values():
                owners.discard(member)

    def record(self, values: list[int]) -> None:
        with self.lock:
            self.consumed.update(values)

    def settled(self, members: set[str]) -> bool:
        with self.lock:
            return all(len(o) == 1 for o in self.owners.values()) and set().union(
                *self.owners.values()
            ) == set(members)

    def describe(self) -> str:
        with self.lock:
            return f"owners {self.owners}, violations {self.violations}"


class Writer(threading.Thread):
    """Produces increasing sequence numbers until stopped; remembers what was acked."""

    def __init__(self, bootstrap: str):
        super().__init__(name="writer", daemon=True)
        self.bootstrap = bootstrap
        self.stop = threading.Event()
        self.acked: set[int] = set()
        self.errors: list[str] = []

    def _delivered(self, err, msg) -> None:
        if err is None:
            self.acked.add(int(msg.value()))
        else:
            self.errors.append(str(err))

    def run(self) -> None:
        producer = Producer(
            {
                "bootstrap.servers": self.bootstrap,
                "linger.ms": 5,
                "acks": "all",
                "on_delivery": self._delivered,
            }
        )
        seq = 0
        while not self.stop.is_set():
            producer.produce(TOPIC, key=str(seq).encode(), value=str(seq).encode())
            producer.poll(0)
            seq += 1
            if seq % 50 == 0:
                time.sleep(0.05)  # pace: about a thousand records a second
        producer.flush(GUARD_S)


class Member(threading.Thread):
    """An in-process consumer: process (record), then commit, then poll again."""

    def __init__(self, name: str, config: dict, view: GroupView):
        super().__init__(name=name, daemon=True)
        self.config = config
        self.view = view
        self.stop = threading.Event()
        self.failure: BaseException | None = None

    def run(self) -> None:
        name, view = self.name, self.view
        try:
            consumer = Consumer(self.config)
            consumer.subscribe(
                [TOPIC],
                on_assign=lambda c, ps: view.assigned(name, [p.partition for p in ps]),
                on_revoke=lambda c, ps: view.revoked(name, [p.partition for p in ps]),
                on_lost=lambda c, ps: view.revoked(name, [p.partition for p in ps]),
            )
            uncommitted = False
            while not self.stop.is_set():
                messages = consumer.consume(num_messages=500, timeout=0.2)
                values = [int(m.value()) for m in messages if m.error() is None]
                if values:
                    view.record(values)
                    uncommitted = True
                if uncommitted:
                    uncommitted = not self._commit(consumer)
            self._commit(consumer)
            view.forget(name)  # no more processing from here on
            consumer.close()  # leaves the group
        except BaseException as exc:  # reported by the test thread
            self.failure = exc

    @staticmethod
    def _commit(consumer: Consumer) -> bool:
        """Commit the positions reached; False if that has to be tried again."""
        try:
            consumer.commit(asynchronous=False)
        except KafkaException as exc:
            # A rebalance began (the records come again to their next owner, or the
            # commit succeeds on the next try), or there is nothing new to commit.
            return exc.args[0].code() == KafkaError._NO_OFFSET
        return True

    def leave(self) -> None:
        self.stop.set()
        self.join(GUARD_S)
        assert not self.is_alive(), f"{self.name} did not close"
        assert self.failure is None, self.failure


# The member that crashes runs in its own process, reporting on stdout what it was
# assigned (A), revoked (R) and processed (M) before committing.
CRASHING_MEMBER = r"""
import sys
from confluent_kafka import Consumer, KafkaException
bootstrap, group, topic, strategy, session_ms = sys.argv[1:6]

def say(kind, items):
    print(kind, ",".join(str(i) for i in items), flush=True)

consumer = Consumer({
    "bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
    "enable.auto.commit": False, "session.timeout.ms": int(session_ms),
    "heartbeat.interval.ms": 500, "max.poll.interval.ms": 30000,
    "partition.assignment.strategy": strategy,
})
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


class CrashingMember:
    """A member in its own process (`script` and its arguments), SIGKILLed by the test;
    it prints A/R/M lines (assigned, revoked, consumed) that feed the view."""

    def __init__(self, name: str, view: GroupView, script: str, *args: str):
        self.name = name
        self.view = view
        self.proc = subprocess.Popen(
            [sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True
        )
        self.reader = threading.Thread(target=self._read, name=f"{name}-reader", daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            kind, _, rest = line.strip().partition(" ")
            items = [int(x) for x in rest.split(",") if x]
            if kind == "A":
                self.view.assigned(self.name, items)
            elif kind == "R":
                self.view.revoked(self.name, items)
            elif kind == "M":
                self.view.record(items)

    def crash(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(GUARD_S)
        self.reader.join(GUARD_S)  # what it reported before dying still counts
        self.view.forget(self.name)

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(GUARD_S)


def committed_offsets(bootstrap: str, group: str) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        wanted = [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
        return {tp.partition: tp.offset for tp in consumer.committed(wanted, timeout=GUARD_S)}
    finally:
        consumer.close()


def end_offsets(bootstrap: str) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "watermarks"})
    try:
        return {
            p: consumer.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=GUARD_S)[1]
            for p in range(PARTITIONS)
        }
    finally:
        consumer.close()


@pytest.mark.parametrize("strategy", ["range", "cooperative-sticky"])
def test_members_join_leave_and_crash_while_a_producer_writes(broker_factory, strategy):
    broker = broker_factory(**BROKER_PROPS)
    bootstrap = broker.bootstrap
    group = f"group-{strategy}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])[TOPIC].result(GUARD_S)
    view = GroupView()
    writer = Writer(bootstrap)
    writer.start()
    members: dict[str, Member] = {}
    crashing = None

    def start(name: str) -> None:
        members[name] = Member(name, member_config(bootstrap, group, strategy), view)
        members[name].start()

    def settle(*names: str) -> None:
        wait_until(
            lambda: view.settled(set(names)),
            lambda: f"group did not settle on {names}: {view.describe()}",
        )
        assert not view.violations, view.violations

    try:
        start("A")
        settle("A")
        start("B")
        settle("A", "B")
        crashing = CrashingMember(
            "C", view, CRASHING_MEMBER, bootstrap, group, TOPIC, strategy, str(CRASH_SESSION_MS)
        )
        settle("A", "B", "C")
        members.pop("B").leave()
        settle("A", "C")
        crashing.crash()  # only the session timeout tells the broker
        settle("A")
        start("B2")
        settle("A", "B2")

        writer.stop.set()
        writer.join(GUARD_S)
        assert not writer.errors, writer.errors[:5]
        assert len(writer.acked) > 0
        wait_until(
            lambda: writer.acked <= view.consumed,
            lambda: f"{len(writer.acked - view.consumed)} acked records never consumed",
        )
        ends = end_offsets(bootstrap)
        assert sum(ends.values()) == len(writer.acked)
        # Committed after processing: the group's offsets reach every partition's end.
        wait_until(
            lambda: committed_offsets(bootstrap, group) == ends,
            lambda: f"committed {committed_offsets(bootstrap, group)}, ends {ends}",
        )
    finally:
        writer.stop.set()
        for member in members.values():
            member.stop.set()
        for member in members.values():
            member.join(GUARD_S)
        if crashing is not None:
            crashing.cleanup()
    for member in members.values():
        assert member.failure is None, member.failure
    assert not view.violations, view.violations
