"""assign_replicas: Kafka's replica placement (AdminUtils), rack-unaware and rack-aware."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from kafka_compat.cluster.placement import assign_replicas
from kafka_compat.cluster.store import InvalidPartitions, InvalidReplicationFactor


def test_matches_kafkas_own_expected_assignment():
    # AdminUtilsTest.testReplicaAssignment: brokers 0-4, 10 partitions, RF 3, start 0.
    expected = {
        0: [0, 1, 2],
        1: [1, 2, 3],
        2: [2, 3, 4],
        3: [3, 4, 0],
        4: [4, 0, 1],
        5: [0, 2, 3],
        6: [1, 3, 4],
        7: [2, 4, 0],
        8: [3, 0, 1],
        9: [4, 1, 2],
    }
    assert assign_replicas([0, 1, 2, 3, 4], 10, 3, start_index=0) == expected


def test_brokers_are_taken_in_id_order():
    assert assign_replicas([30, 10, 20], 3, 2, start_index=0) == {
        0: [10, 20],
        1: [20, 30],
        2: [30, 10],
    }


def test_leaders_go_round_robin_and_replicas_are_distinct():
    brokers = [1, 2, 3, 4, 5, 6]
    for seed in range(20):
        assignment = assign_replicas(brokers, 12, 3, rng=random.Random(seed))
        assert sorted(assignment) == list(range(12))
        leaders = Counter(replicas[0] for replicas in assignment.values())
        assert set(leaders.values()) == {2}  # 12 partitions, 6 brokers: two each
        for replicas in assignment.values():
            assert len(set(replicas)) == 3 and set(replicas) <= set(brokers)
        load = Counter(b for replicas in assignment.values() for b in replicas)
        assert set(load.values()) == {6}  # 36 replicas spread evenly


def test_random_start_spreads_first_leaders():
    firsts = {assign_replicas([1, 2, 3], 1, 1, rng=random.Random(s))[0][0] for s in range(50)}
    assert firsts == {1, 2, 3}


def test_added_partitions_continue_the_leaders_round_robin():
    # As Kafka's addPartitions: start at partition 0's first replica, number from the
    # current count (the follower shift starts afresh, as in Kafka).
    first_part = assign_replicas([0, 1, 2, 3], 5, 2, start_index=1)
    assert [r[0] for r in first_part.values()] == [1, 2, 3, 0, 1]
    rest = assign_replicas([0, 1, 2, 3], 3, 2, start_index=1, start_partition=5)
    assert rest == {5: [2, 0], 6: [3, 1], 7: [0, 2]}


def test_an_explicit_shift_moves_the_followers_only():
    shifted = assign_replicas([0, 1, 2, 3], 4, 2, start_index=0, shift=1)
    assert [r[0] for r in shifted.values()] == [0, 1, 2, 3]
    assert shifted == {0: [0, 2], 1: [1, 3], 2: [2, 0], 3: [3, 1]}


def test_single_broker_single_replica():
    assert assign_replicas([7], 3, 1) == {0: [7], 1: [7], 2: [7]}


def test_refuses_impossible_requests_with_kafkas_messages():
    with pytest.raises(InvalidReplicationFactor, match="larger than available brokers: 2"):
        assign_replicas([1, 2], 3, 3)
    with pytest.raises(InvalidReplicationFactor):
        assign_replicas([1, 2], 3, 0)
    with pytest.raises(InvalidPartitions):
        assign_replicas([1, 2], 0, 1)
    with pytest.raises(InvalidReplicationFactor):
        assign_replicas([], 1, 1)


RACKS = {0: "rack1", 1: "rack3", 2: "rack3", 3: "rack2", 4: "rack2", 5: "rack1"}


def test_rack_aware_matches_kafkas_own_expected_assignment():
    # AdminRackAwareTest.testGetRackAlternatedBrokerListAndAssignReplicasToBrokers:
    # brokers taken rack by rack (0, 3, 1, 5, 4, 2), 7 partitions, RF 3, start 0.
    assert assign_replicas(RACKS, 7, 3, start_index=0, racks=RACKS) == {
        0: [0, 3, 1],
        1: [3, 1, 5],
        2: [1, 5, 4],
        3: [5, 4, 2],
        4: [4, 2, 0],
        5: [2, 0, 3],
        6: [0, 4, 2],
    }


@pytest.mark.parametrize("seed", range(20))
def test_rack_aware_spreads_every_partition_over_distinct_racks(seed):
    racks = {0: "a", 1: "b", 2: "b", 3: "c", 4: "c", 5: "a"}
    assignment = assign_replicas(racks, 12, 3, rng=random.Random(seed), racks=racks)
    for replicas in assignment.values():
        assert len({racks[b] for b in replicas}) == 3
    assert Counter(r[0] for r in assignment.values()) == {b: 2 for b in racks}  # leaders
    assert Counter(b for r in assignment.values() for b in r) == {b: 6 for b in racks}


def test_more_replicas_than_racks_use_every_rack():
    racks = {0: "rack1", 1: "rack2", 2: "rack2", 3: "rack3", 4: "rack3", 5: "rack2"}
    for replicas in assign_replicas(racks, 6, 5, racks=racks).values():
        assert len(replicas) == len(set(replicas)) == 5
        assert {racks[b] for b in replicas} == {"rack1", "rack2", "rack3"}


def test_without_a_rack_on_every_broker_placement_is_rack_unaware():
    partial = {0: "a", 1: None, 2: "b"}
    assert assign_replicas(partial, 3, 2, start_index=0, racks=partial) == assign_replicas(
        [0, 1, 2], 3, 2, start_index=0
    )
