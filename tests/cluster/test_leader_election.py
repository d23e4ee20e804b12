"""Leadership goes back to preferred replicas: on request (ElectLeaders, as
kafka-leader-election.sh and AdminClient.elect_leaders send it) and by the
controller's auto leader rebalance. Real ZooKeeper, 3 broker processes."""

from __future__ import annotations

import time

from confluent_kafka import ElectionType, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from tests.cluster.cluster_fixtures import cluster_factory_fixture  # noqa: F401
from tests.cluster.test_failover import GUARD_S, _isr, create_topic, leader_of, wait_leader_not

TOPIC = "balanced"


def _move_leadership_away(cluster, partition: int) -> int:
    """Kill the leader of `partition` (its preferred replica), wait for a new leader,
    restart it and wait until it is back in the ISR. Returns the preferred replica."""
    preferred = leader_of(cluster.bootstrap, TOPIC, partition)
    cluster.brokers[preferred].kill()
    survivors = ",".join(b.bootstrap for b in cluster.brokers.values() if b.alive)
    wait_leader_not(survivors, TOPIC, partition, preferred)
    cluster.brokers[preferred].start()
    deadline = time.monotonic() + GUARD_S
    while preferred not in _isr(cluster.bootstrap, TOPIC, partition):
        assert time.monotonic() < deadline, "the restarted broker did not rejoin the ISR"
        time.sleep(0.2)
    return preferred


def _elect(bootstrap: str, election: ElectionType, *partitions: tuple[str, int]) -> dict:
    """partition -> KafkaError code (or None) of one ElectLeaders call."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    wanted = [TopicPartition(t, p) for t, p in partitions]
    results = admin.elect_leaders(election, wanted).result(GUARD_S)
    codes = {}
    for tp, error in results.items():
        if isinstance(error, KafkaException):
            error = error.args[0]
        codes[(tp.topic, tp.partition)] = None if error is None else error.code()
    return codes


def test_elect_leaders_moves_leadership_back_to_the_preferred_replica(cluster_factory):
    cluster = cluster_factory(3, auto_leader_rebalance_enable="false")
    create_topic(cluster.bootstrap, TOPIC, partitions=3)
    preferred = _move_leadership_away(cluster, 0)
    assert leader_of(cluster.bootstrap, TOPIC, 0) != preferred  # no rebalance by itself
    assert _elect(cluster.bootstrap, ElectionType.PREFERRED, (TOPIC, 0)) == {(TOPIC, 0): None}
    deadline = time.monotonic() + GUARD_S
    while leader_of(cluster.bootstrap, TOPIC, 0) != preferred:
        assert time.monotonic() < deadline, "leadership did not move to the preferred replica"
        time.sleep(0.2)
    # Again: nothing to do. A partition that does not exist: unknown. Unclean
    # election where the leader is live: not needed either.
    assert _elect(cluster.bootstrap, ElectionType.PREFERRED, (TOPIC, 0), (TOPIC, 7)) == {
        (TOPIC, 0): KafkaError.ELECTION_NOT_NEEDED,
        (TOPIC, 7): KafkaError.UNKNOWN_TOPIC_OR_PART,
    }
    assert _elect(cluster.bootstrap, ElectionType.UNCLEAN, (TOPIC, 1)) == {
        (TOPIC, 1): KafkaError.ELECTION_NOT_NEEDED
    }
    # The preferred replica is down: it cannot be elected.
    cluster.brokers[preferred].kill()
    survivors = ",".join(b.bootstrap for b in cluster.brokers.values() if b.alive)
    wait_leader_not(survivors, TOPIC, 0, preferred)
    assert _elect(survivors, ElectionType.PREFERRED, (TOPIC, 0)) == {
        (TOPIC, 0): KafkaError.PREFERRED_LEADER_NOT_AVAILABLE
    }


def test_the_controller_rebalances_leadership_by_itself(cluster_factory):
    cluster = cluster_factory(3, leader_imbalance_check_interval_seconds="1")
    create_topic(cluster.bootstrap, TOPIC, partitions=3)
    leaders = {p: leader_of(cluster.bootstrap, TOPIC, p) for p in range(3)}
    assert len(set(leaders.values())) == 3  # one partition led by each broker
    preferred = _move_leadership_away(cluster, 0)
    deadline = time.monotonic() + GUARD_S
    while {p: leader_of(cluster.bootstrap, TOPIC, p) for p in range(3)} != leaders:
        assert time.monotonic() < deadline, "leadership was not rebalanced"
        time.sleep(0.2)
    assert leaders[0] == preferred
