"""cluster/election.py: who leads a partition, and with which ISR.

Pure functions, checked the way Kafka's PartitionLeaderElectionAlgorithmsTest checks
its own: an assignment (the first replica is the preferred one), an ISR, the live
brokers and those shutting down. No ZooKeeper, no broker.
"""

from __future__ import annotations

from kafka_compat.cluster.election import (
    NO_LEADER,
    Election,
    can_lead,
    controlled_shutdown_election,
    leader_imbalance,
    live_isr,
    new_partition_election,
    offline_partition_election,
    preferred_replica_election,
    reassignment_election,
    reassignment_start_election,
)

NOBODY: set[int] = set()


# ---- who may lead ----------------------------------------------------------------


def test_a_replica_can_lead_when_its_broker_is_live_and_not_shutting_down():
    assert can_lead(1, live={1, 2}, shutting_down=NOBODY)
    assert not can_lead(3, live={1, 2}, shutting_down=NOBODY)
    assert not can_lead(1, live={1, 2}, shutting_down={1})
    assert not can_lead(NO_LEADER, live={1, 2}, shutting_down=NOBODY)


# ---- a new partition -------------------------------------------------------------


def test_a_new_partition_is_led_by_its_first_live_replica_with_the_live_replicas_in_sync():
    assert new_partition_election([3, 1, 2], live={1, 2, 3}) == Election(3, [3, 1, 2])
    assert new_partition_election([3, 1, 2], live={1, 2}) == Election(1, [1, 2])


def test_a_new_partition_without_a_live_replica_has_no_leader():
    assert new_partition_election([3, 1], live={2}) == Election(NO_LEADER, [])


# ---- a dead follower ---------------------------------------------------------------


def test_dead_replicas_leave_the_isr_and_the_rest_keep_their_order():
    assert live_isr([2, 1, 3], live={1, 2}) == [2, 1]
    assert live_isr([2, 1], live={1, 2}) == [2, 1]


# ---- offline partition (its leader is gone) --------------------------------------


def test_the_new_leader_is_the_first_live_isr_member_in_assignment_order():
    # Kafka: testOfflinePartitionLeaderElection.
    assert offline_partition_election([2, 4], [2, 4], {4}, NOBODY, False) == Election(4, [4])
    # Assignment order, not ISR order, decides; the ISR keeps its own order.
    elected = offline_partition_election([3, 1, 2], [2, 1, 3], {1, 2}, NOBODY, False)
    assert elected == Election(1, [2, 1])


def test_a_broker_shutting_down_is_not_elected():
    elected = offline_partition_election([1, 2, 3], [1, 2, 3], {2, 3}, {2}, False)
    assert elected == Election(3, [2, 3])


def test_without_a_live_isr_member_there_is_no_leader():
    # Kafka: ...LastIsrOfflineUncleanLeaderElectionDisabled. The live replica 4 is
    # out of sync: electing it could lose acknowledged records.
    assert offline_partition_election([2, 4], [2], {4}, NOBODY, False) is None


def test_an_isr_member_shutting_down_does_not_make_the_election_unclean():
    assert offline_partition_election([2, 4], [2], {2, 4}, {2}, False) is None


def test_unclean_election_elects_the_first_live_replica_alone_in_the_isr():
    # Kafka: ...LastIsrOfflineUncleanLeaderElectionEnabled.
    elected = offline_partition_election([2, 4, 5], [2], {4, 5}, NOBODY, True)
    assert elected == Election(4, [4], unclean=True)


def test_unclean_election_is_not_used_while_an_isr_member_can_lead():
    elected = offline_partition_election([4, 2, 3], [2, 3], {2, 3, 4}, NOBODY, True)
    assert elected == Election(2, [2, 3])
    assert not elected.unclean


def test_unclean_election_needs_a_live_replica():
    assert offline_partition_election([2, 4], [2], NOBODY, NOBODY, True) is None
    assert offline_partition_election([2, 4], [2], {4}, {4}, True) is None


# ---- preferred replica ---------------------------------------------------------------


def test_a_preferred_election_picks_the_first_assigned_replica_and_keeps_the_isr():
    # Kafka: testPreferredReplicaPartitionLeaderElection.
    elected = preferred_replica_election([2, 4], [4, 2], {2, 4}, NOBODY)
    assert elected == Election(2, [4, 2])


def test_a_preferred_replica_out_of_the_isr_is_not_elected():
    # Kafka: ...PreferredReplicaNotInIsr.
    assert preferred_replica_election([2, 4], [4], {2, 4}, NOBODY) is None


def test_a_preferred_replica_that_is_down_or_shutting_down_is_not_elected():
    # Kafka: ...PreferredReplicaDown.
    assert preferred_replica_election([2, 4], [2, 4], {4}, NOBODY) is None
    assert preferred_replica_election([2, 4], [2, 4], {2, 4}, {2}) is None


def test_a_preferred_election_never_picks_another_replica():
    # Replica 4 could lead, but only the preferred replica is a preferred election.
    assert preferred_replica_election([2, 4, 5], [4, 5], {2, 4, 5}, NOBODY) is None


# ---- controlled shutdown ---------------------------------------------------------


def test_controlled_shutdown_moves_leadership_off_the_broker_and_drops_it_from_the_isr():
    # Kafka: testControlledShutdownPartitionLeaderElection.
    elected = controlled_shutdown_election(2, 2, [2, 4], [2, 4], {2, 4}, {2})
    assert elected == Election(4, [4])


def test_controlled_shutdown_elects_in_assignment_order_among_isr_members_not_shutting_down():
    elected = controlled_shutdown_election(1, 1, [1, 3, 2, 4], [1, 2, 3, 4], {1, 2, 3, 4}, {1, 3})
    assert elected == Election(2, [2, 3, 4])


def test_a_follower_shutting_down_leaves_the_isr_and_the_leader_stays():
    elected = controlled_shutdown_election(2, 1, [1, 2, 3], [1, 2, 3], {1, 2, 3}, {2})
    assert elected == Election(1, [1, 3])


def test_the_last_isr_member_shutting_down_keeps_the_partition():
    # Kafka: ...LastIsrShuttingDown; the controller answers it as remaining.
    assert controlled_shutdown_election(2, 2, [2, 4], [2], {2, 4}, {2}) is None


def test_when_the_whole_isr_shuts_down_leadership_cannot_move():
    # Kafka: ...AllIsrSimultaneouslyShutdown.
    assert controlled_shutdown_election(2, 2, [2, 4], [2, 4], {2, 4}, {2, 4}) is None


def test_a_dead_isr_member_cannot_take_over_from_a_broker_shutting_down():
    assert controlled_shutdown_election(2, 2, [2, 4], [2, 4], {2}, {2}) is None


def test_controlled_shutdown_leaves_alone_partitions_the_broker_has_no_part_in():
    # Not a replica; the only replica; a replica neither leading nor in sync.
    assert controlled_shutdown_election(2, 1, [1, 3], [1, 3], {1, 2, 3}, {2}) is None
    assert controlled_shutdown_election(2, 2, [2], [2], {2}, {2}) is None
    assert controlled_shutdown_election(2, 1, [1, 2], [1], {1, 2}, {2}) is None


# ---- reassignment ----------------------------------------------------------------


def test_a_reassignment_starts_with_the_leader_in_place():
    elected = reassignment_start_election([4, 5, 1], 1, [1, 2, 3], dropped=[])
    assert elected == Election(1, [1, 2, 3])


def test_replicas_a_reassignment_drops_leave_the_isr_and_the_lead():
    # Replica 6 was added by a reassignment this one replaces, and is not wanted now.
    elected = reassignment_start_election([2, 1, 5], 6, [6, 1, 2], dropped=[6])
    assert elected == Election(2, [1, 2])


def test_a_reassignment_starting_without_an_in_sync_target_replica_has_no_leader():
    assert reassignment_start_election([4, 5], 6, [6], dropped=[6]) == Election(NO_LEADER, [])


def test_a_reassignment_finishes_only_once_every_target_replica_is_in_sync():
    assert reassignment_election([1, 4], 1, [1, 2, 3], {1, 2, 3, 4}, NOBODY) is None


def test_a_finished_reassignment_keeps_a_leader_in_the_target_and_only_target_replicas_in_sync():
    elected = reassignment_election([4, 1], 1, [1, 2, 4], {1, 2, 4}, NOBODY)
    assert elected == Election(1, [1, 4])


def test_a_leader_leaving_with_the_reassignment_hands_over_to_the_first_target_replica():
    # Kafka: testReassignPartitionLeaderElection (first in the target that can lead).
    elected = reassignment_election([4, 5], 1, [1, 5, 4], {1, 4, 5}, NOBODY)
    assert elected == Election(4, [5, 4])
    elected = reassignment_election([4, 5], 1, [1, 5, 4], {1, 4, 5}, {4})
    assert elected == Election(5, [5, 4])


def test_a_target_leader_that_is_down_is_replaced():
    elected = reassignment_election([4, 5], 4, [4, 5], {5}, NOBODY)
    assert elected == Election(5, [4, 5])


def test_a_reassignment_waits_while_no_target_replica_can_lead():
    # Kafka: testReassignPartitionLeaderElectionWithNoLiveIsr.
    assert reassignment_election([2, 4], 1, [1, 2, 4], {1}, NOBODY) is None


# ---- leader rebalance ------------------------------------------------------------


def _partitions(*rows):
    """(key, assignment, leader, isr) rows with key = ("t", n)."""
    return [(("t", n), assignment, leader, isr) for n, (assignment, leader, isr) in enumerate(rows)]


def test_a_preferred_replica_gets_back_what_it_should_lead_once_over_the_imbalance_ratio():
    partitions = _partitions(
        ([1, 2], 2, [1, 2]),  # led elsewhere, 1 in sync: back to 1
        ([1, 2], 2, [2]),  # led elsewhere, 1 out of sync: stays
        ([1, 2], 1, [1, 2]),  # led by 1 already
        ([2, 1], 2, [1, 2]),  # 2's own
    )
    # Broker 1 should lead 3 partitions and leads 1: 2/3 elsewhere, above 10 %.
    assert leader_imbalance(partitions, {1, 2}, NOBODY, 0.10) == [("t", 0)]


def test_an_imbalance_at_or_below_the_ratio_is_left_alone():
    rows = [([1, 2], 1, [1, 2])] * 9 + [([1, 2], 2, [1, 2])]
    # 1 of 10 led elsewhere: 10 %, not more than 10 %.
    assert leader_imbalance(_partitions(*rows), {1, 2}, NOBODY, 0.10) == []
    rows = [([1, 2], 1, [1, 2])] * 8 + [([1, 2], 2, [1, 2])] * 2
    assert leader_imbalance(_partitions(*rows), {1, 2}, NOBODY, 0.10) == [("t", 8), ("t", 9)]


def test_a_preferred_replica_that_cannot_lead_gets_nothing_back():
    partitions = _partitions(([1, 2], 2, [1, 2]), ([3, 2], 2, [3, 2]))
    assert leader_imbalance(partitions, {2, 3}, NOBODY, 0.10) == [("t", 1)]
    assert leader_imbalance(partitions, {1, 2, 3}, {1, 3}, 0.10) == []


def test_partitions_without_replicas_are_not_rebalanced():
    assert leader_imbalance(_partitions(([], NO_LEADER, [])), {1}, NOBODY, 0.0) == []
