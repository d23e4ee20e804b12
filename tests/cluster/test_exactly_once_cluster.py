"""Exactly-once in a 3-broker cluster (RF 3, min ISR 2): the transactional copier of
tests/integration/test_exactly_once.py runs while the broker that coordinates its
transactional id is SIGKILLed (the leader of its `__transaction_state` partition
moves, and the new coordinator finishes what it finds), then the leader of an output
partition. A read_committed consumer finds every input exactly once, in order per key."""

from __future__ import annotations

import time

from kafka_compat.tools.transactions import TransactionTool
from tests.cluster.cluster_fixtures import cluster_factory_fixture  # noqa: F401
from tests.cluster.test_failover import create_topic, leader_of, wait_leader_not
from tests.integration.test_exactly_once import (
    GUARD_S,
    PARTITIONS,
    Copier,
    committed_up_to_end,
    produce_input,
    read_committed_output,
)

TRANSACTIONAL_ID = "eos-cluster-copier"


def coordinator_of(bootstrap: str, transactional_id: str) -> int:
    with TransactionTool(bootstrap, GUARD_S) as tool:
        return tool.describe_transaction(transactional_id).coordinator


def test_exactly_once_while_the_coordinator_and_a_leader_are_killed(cluster_factory):
    cluster = cluster_factory(3, group_initial_rebalance_delay_ms=0)
    for topic in ("eos-in", "eos-out"):
        create_topic(cluster.bootstrap, topic, PARTITIONS, 3, min_insync_replicas="2")
    expected = produce_input(cluster.bootstrap, "eos-in")
    copier = Copier(cluster.bootstrap, "eos-in", "eos-out", TRANSACTIONAL_ID)
    copier.thread.start()
    try:
        copier.wait_for_more_commits(3)
        coordinator = coordinator_of(cluster.bootstrap, TRANSACTIONAL_ID)
        cluster.brokers[coordinator].kill()
        copier.wait_for_more_commits(3)
        assert coordinator_of(cluster.bootstrap, TRANSACTIONAL_ID) != coordinator
        cluster.brokers[coordinator].start()
        leader = leader_of(cluster.bootstrap, "eos-out", 0)
        cluster.brokers[leader].kill()
        wait_leader_not(cluster.bootstrap, "eos-out", 0, leader)
        copier.wait_for_more_commits(3)
        cluster.brokers[leader].start()
        deadline = time.monotonic() + GUARD_S
        while not committed_up_to_end(cluster.bootstrap, "eos-in"):
            assert time.monotonic() < deadline, f"the copier did not finish: {copier.errors[-5:]}"
            time.sleep(0.5)
    finally:
        copier.finish()
    assert read_committed_output(cluster.bootstrap, "eos-out") == expected
