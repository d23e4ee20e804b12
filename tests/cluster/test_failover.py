"""A 3-broker cluster (real ZooKeeper, broker processes) loses brokers under load.

Topic: replication factor 3, min.insync.replicas=2. An idempotent confluent-kafka
producer with acks=all writes sequence-numbered messages while the leader of a
partition is SIGKILLed, then a second broker, then both are restarted (or, in the
SIGSTOP test, the leader is paused past its ZooKeeper session and resumed). A
consumer afterwards must find every acknowledged message exactly once, in order per
partition: nothing acknowledged is lost in a leader change, and a paused leader that
comes back keeps no divergent tail.
"""

from __future__ import annotations

import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from kafka_compat.tools.connection import AdminTool
from tests.cluster.cluster_fixtures import cluster_factory_fixture  # noqa: F401
from tests.integration.test_crash_recovery import SequenceProducer, read_partitions

PARTITIONS = 3
GUARD_S = 120  # failure guard for waits, not a timing
TOPIC = "replicated"


PRODUCER = {
    "acks": "all",
    "enable.idempotence": True,
    "linger.ms": 5,
    "message.timeout.ms": 120000,
    "reconnect.backoff.ms": 50,
    "reconnect.backoff.max.ms": 500,
    "retry.backoff.ms": 100,
    "topic.metadata.refresh.interval.ms": 1000,
}


def create_topic(bootstrap: str, name: str, partitions: int = PARTITIONS, rf: int = 3, **cfg):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics(
        [NewTopic(name, partitions, rf, config={k.replace("_", "."): v for k, v in cfg.items()})]
    )[name].result(60)


def leader_of(bootstrap: str, topic: str, partition: int) -> int:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + GUARD_S
    while time.monotonic() < deadline:
        meta = admin.list_topics(topic, timeout=10)
        t = meta.topics.get(topic)
        if t is not None and t.error is None and partition in t.partitions:
            leader = t.partitions[partition].leader
            if leader >= 0:
                return leader
        time.sleep(0.2)
    raise AssertionError(f"{topic}-{partition} has no leader")


def controller_of(bootstrap: str) -> int:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    return admin.list_topics(timeout=10).controller_id


def wait_leader_not(bootstrap: str, topic: str, partition: int, old: int) -> int:
    deadline = time.monotonic() + GUARD_S
    while time.monotonic() < deadline:
        leader = leader_of(bootstrap, topic, partition)
        if leader != old:
            return leader
        time.sleep(0.2)
    raise AssertionError(f"{topic}-{partition} is still led by {old}")


def check_exactly_once(producer: SequenceProducer, bootstrap: str) -> None:
    read = read_partitions(bootstrap, TOPIC)
    for partition in range(PARTITIONS):
        values = read[partition]
        assert values == sorted(set(values)), f"partition {partition}: duplicates or disorder"
        missing = producer.acked[partition] - set(values)
        assert not missing, f"partition {partition} lost {len(missing)} acked messages"


def test_acked_messages_survive_killing_the_leader_then_a_second_broker(cluster_factory):
    cluster = cluster_factory(3)
    create_topic(cluster.bootstrap, TOPIC, min_insync_replicas="2")
    producer = SequenceProducer(cluster.bootstrap, TOPIC, PRODUCER, pause_s=0.002)
    producer.thread.start()
    try:
        producer.wait_for_more_acks(2000)
        first = leader_of(cluster.bootstrap, TOPIC, 0)
        cluster.brokers[first].kill()
        wait_leader_not(cluster.bootstrap, TOPIC, 0, first)
        producer.wait_for_more_acks(2000)
        second = leader_of(cluster.bootstrap, TOPIC, 0)
        cluster.brokers[second].kill()
        # One broker left: under min.insync.replicas, acks=all writes wait.
        time.sleep(2)
        cluster.brokers[first].start()
        cluster.brokers[second].start()
        producer.wait_for_more_acks(2000)
    finally:
        producer.finish()
    check_exactly_once(producer, cluster.bootstrap)


def test_a_paused_leader_comes_back_without_a_divergent_tail(cluster_factory):
    cluster = cluster_factory(3)
    create_topic(cluster.bootstrap, TOPIC, min_insync_replicas="2")
    producer = SequenceProducer(cluster.bootstrap, TOPIC, PRODUCER, pause_s=0.002)
    producer.thread.start()
    try:
        producer.wait_for_more_acks(2000)
        paused = leader_of(cluster.bootstrap, TOPIC, 0)
        cluster.brokers[paused].pause()
        wait_leader_not(cluster.bootstrap, TOPIC, 0, paused)
        producer.wait_for_more_acks(2000)
        cluster.brokers[paused].resume()
        producer.wait_for_more_acks(2000)
    finally:
        producer.finish()
    # Its session expired while it was paused: it registered again and caught up. Until
    # the controller told it so, it still answered as the leader with its old high
    # watermark (as a Kafka broker does), so read only once every broker agrees.
    deadline = time.monotonic() + GUARD_S
    while not _every_broker_sees(
        cluster, TOPIC, 0, lambda p: p.leader_id != paused and paused in p.isr_nodes
    ):
        assert time.monotonic() < deadline, "the resumed broker did not rejoin the ISR"
        time.sleep(0.2)
    check_exactly_once(producer, cluster.bootstrap)


def test_controller_failover_topics_still_created_and_leaders_still_move(cluster_factory):
    cluster = cluster_factory(3)
    controller = controller_of(cluster.bootstrap)
    cluster.brokers[controller].kill()
    survivors = ",".join(b.bootstrap for i, b in cluster.brokers.items() if i != controller)
    deadline = time.monotonic() + GUARD_S
    while controller_of(survivors) in (controller, -1):
        assert time.monotonic() < deadline, "no new controller"
        time.sleep(0.2)
    create_topic(survivors, "after-failover", partitions=2, rf=2)
    leader = leader_of(survivors, "after-failover", 0)
    cluster.brokers[leader].kill()
    rest = ",".join(b.bootstrap for b in cluster.brokers.values() if b.alive)
    new_leader = wait_leader_not(rest, "after-failover", 0, leader)
    assert new_leader not in (leader, controller)


def _every_broker_sees(cluster, topic: str, partition: int, check) -> bool:
    """`check(partition metadata)` holds in the Metadata answer of each broker itself."""
    for broker in cluster.brokers.values():
        with AdminTool(broker.bootstrap) as tool:
            (answer,) = [t for t in tool.metadata([topic]).topics if t.name == topic]
            state = [p for p in answer.partitions if p.partition_index == partition]
            if not state or not check(state[0]):
                return False
    return True


def _isr(bootstrap: str, topic: str, partition: int) -> list[int]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    return list(admin.list_topics(topic, timeout=10).topics[topic].partitions[partition].isrs)


def test_only_in_sync_replicas_lead_unless_unclean_election_is_enabled(cluster_factory):
    cluster = cluster_factory(3)
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    topics = [
        NewTopic("clean", 1, replica_assignment=[[1, 2]]),
        NewTopic(
            "unclean",
            1,
            replica_assignment=[[1, 2]],
            config={"unclean.leader.election.enable": "true"},
        ),
    ]
    for future in admin.create_topics(topics).values():
        future.result(60)
    producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
    for topic in ("clean", "unclean"):
        producer.produce(topic, b"before")
    assert producer.flush(GUARD_S) == 0
    # The follower goes; the leader drops it from the ISR after replica.lag.time.max.ms.
    cluster.brokers[2].kill()
    deadline = time.monotonic() + GUARD_S
    while any(_isr(cluster.bootstrap, t, 0) != [1] for t in ("clean", "unclean")):
        assert time.monotonic() < deadline, "ISR did not shrink"
        time.sleep(0.2)
    # Then the leader goes, and the out-of-sync replica comes back.
    cluster.brokers[1].kill()
    cluster.brokers[2].start()
    survivors = ",".join(b.bootstrap for b in cluster.brokers.values() if b.alive)
    assert wait_leader_not(survivors, "unclean", 0, 1) == 2
    meta = AdminClient({"bootstrap.servers": survivors}).list_topics("clean", timeout=10)
    assert meta.topics["clean"].partitions[0].leader == -1  # offline, not unclean
