"""Transactions in a 3-broker cluster: the coordinator sends its markers to partition
leaders on other brokers, and when the coordinator's broker dies the new leader of
its __transaction_state partition takes over the transactional id from the
replicated log. Real ZooKeeper, 3 broker processes."""

from __future__ import annotations

from confluent_kafka import Consumer, Producer, TopicPartition

from protocol import messages
from protocol.api_keys import ApiKey
from tests.cluster.cluster_fixtures import Cluster, cluster_factory_fixture  # noqa: F401
from tests.cluster.test_failover import GUARD_S, create_topic, leader_of
from tests.integration.test_transactions import describe, send, wait_until

TOPIC = "spread"
PARTITIONS = 3
TXN_PROPS = {
    "transaction_state_log_num_partitions": "5",
    "transaction_state_log_replication_factor": "3",
    "transaction_state_log_min_isr": "2",
}


def find_coordinator(cluster: Cluster, transactional_id: str) -> int:
    """The broker id of the transactional id's coordinator, asked of any live broker."""
    found = []

    def answered() -> bool:
        for broker in cluster.brokers.values():
            if not broker.alive:
                continue
            request = messages.request_type(ApiKey.FIND_COORDINATOR)(
                key_type=1, coordinator_keys=[transactional_id]
            )
            (c,) = send(broker.port, ApiKey.FIND_COORDINATOR, 4, request).coordinators
            if c.error_code == 0 and cluster.brokers[c.node_id].alive:
                found[:] = [c.node_id]
                return True
        return False

    wait_until(answered, f"no live coordinator for {transactional_id}")
    return found[0]


def high_watermarks(bootstrap: str) -> list[int]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "watermarks",
            "isolation.level": "read_uncommitted",
        }
    )
    try:
        return [
            consumer.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=GUARD_S)[1]
            for p in range(PARTITIONS)
        ]
    finally:
        consumer.close()


def records_per_partition(bootstrap: str) -> list[int]:
    """How many records (control batches aside) each partition holds, read_uncommitted."""
    counts = [0] * PARTITIONS
    ends = high_watermarks(bootstrap)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "counter",
            "enable.auto.commit": False,
            "isolation.level": "read_uncommitted",
        }
    )
    consumer.assign([TopicPartition(TOPIC, p, 0) for p in range(PARTITIONS)])
    try:
        wait_until(
            lambda: (
                _consume_some(consumer, counts)
                and all(
                    consumer.position([TopicPartition(TOPIC, p)])[0].offset >= ends[p]
                    for p in range(PARTITIONS)
                )
            ),
            lambda: f"did not read to the ends {ends}: {counts}",
        )
    finally:
        consumer.close()
    return counts


def _consume_some(consumer: Consumer, counts: list[int]) -> bool:
    for message in consumer.consume(100, 0.2):
        if not message.error():
            counts[message.partition()] += 1
    return True


def commit_one_each(bootstrap: str, transactional_id: str, records: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": transactional_id})
    producer.init_transactions(GUARD_S)
    producer.begin_transaction()
    for partition in range(PARTITIONS):
        for i in range(records):
            producer.produce(TOPIC, value=b"%d" % i, partition=partition)
    producer.commit_transaction(GUARD_S)


def test_markers_reach_leaders_on_other_brokers_and_a_new_coordinator_takes_over(
    cluster_factory,
):
    cluster = cluster_factory(3, **TXN_PROPS)
    create_topic(cluster.bootstrap, TOPIC, partitions=PARTITIONS, rf=3)
    leaders = {leader_of(cluster.bootstrap, TOPIC, p) for p in range(PARTITIONS)}
    assert len(leaders) > 1  # some markers must cross to another broker

    commit_one_each(cluster.bootstrap, "spread-txn", 5)
    coordinator = find_coordinator(cluster, "spread-txn")
    port = cluster.brokers[coordinator].port
    wait_until(
        lambda: describe(port, "spread-txn").transaction_state == "CompleteCommit",
        "the commit never completed",
    )
    # Five records and a COMMIT marker on every partition, wherever its leader is
    # (a marker retried after a leader change may be there twice, as with Kafka).
    assert records_per_partition(cluster.bootstrap) == [5] * PARTITIONS
    assert all(end >= 6 for end in high_watermarks(cluster.bootstrap))
    before = describe(port, "spread-txn")

    cluster.brokers[coordinator].kill()
    survivors = ",".join(b.bootstrap for b in cluster.brokers.values() if b.alive)
    commit_one_each(survivors, "spread-txn", 2)
    successor = find_coordinator(cluster, "spread-txn")
    assert successor != coordinator
    after = describe(cluster.brokers[successor].port, "spread-txn")
    # The new coordinator knew the id: same producer id, the epoch bumped once more.
    assert (after.producer_id, after.producer_epoch) == (
        before.producer_id,
        before.producer_epoch + 1,
    )
    wait_until(
        lambda: (
            describe(cluster.brokers[successor].port, "spread-txn").transaction_state
            == "CompleteCommit"
        ),
        "the second commit never completed",
    )
    assert records_per_partition(survivors) == [7] * PARTITIONS
    assert all(end >= 9 for end in high_watermarks(survivors))


def test_markers_follow_a_partition_leader_that_moved_during_the_transaction(cluster_factory):
    cluster = cluster_factory(3, **TXN_PROPS)
    create_topic(cluster.bootstrap, TOPIC, partitions=PARTITIONS, rf=3, min_insync_replicas="2")
    producer = Producer(
        {"bootstrap.servers": cluster.bootstrap, "transactional.id": "moved", "acks": "all"}
    )
    producer.init_transactions(GUARD_S)
    coordinator = find_coordinator(cluster, "moved")
    leaders = {leader_of(cluster.bootstrap, TOPIC, p) for p in range(PARTITIONS)}
    # Three partitions over three brokers: at least one is led elsewhere.
    victim = min(leaders - {coordinator})
    producer.begin_transaction()
    for partition in range(PARTITIONS):
        producer.produce(TOPIC, value=b"before the move", partition=partition)
    producer.flush(GUARD_S)
    cluster.brokers[victim].kill()
    # The marker for the dead leader's partitions goes to their new leader.
    producer.commit_transaction(GUARD_S)
    port = cluster.brokers[coordinator].port
    wait_until(
        lambda: describe(port, "moved").transaction_state == "CompleteCommit",
        "the commit never completed",
    )
    survivors = ",".join(b.bootstrap for b in cluster.brokers.values() if b.alive)
    # The record and its COMMIT marker (twice if a retried append landed twice).
    assert records_per_partition(survivors) == [1] * PARTITIONS
    assert all(end >= 2 for end in high_watermarks(survivors))
