"""Who leads a partition, and with which ISR (Kafka's PartitionLeaderElectionAlgorithms).

Pure functions of a partition's assignment (its replicas, in order: the first is the
preferred leader), its ISR, the live brokers and those shutting down. No I/O and no
state: the controller (cluster/controller.py) decides when an election is needed,
calls these, and writes what they return (with a bumped leader epoch) to the store.

- A new partition: the first live replica leads; the live replicas are the ISR.
- A dead follower leaves the ISR; the leader stays.
- Offline partition (its leader is gone): the first ISR member in assignment order
  that can lead; else, only with unclean election allowed, the first replica that
  can lead, alone in the ISR. None when no replica may lead: the partition is then
  offline (leader -1) and its ISR stays, so that only a replica that was in sync can
  lead again.
- Preferred replica: the first assigned replica, when it is live and in the ISR.
- Controlled shutdown: the broker leaves every ISR; where it leads, the first live
  ISR member that is not shutting down takes over.
- Reassignment: when it starts, the replicas it drops leave the ISR (and the lead,
  for a target replica in the ISR); when every target replica is in the ISR, the
  leaving ones go too and leadership moves into the target.
- Leader rebalance: the partitions whose preferred replica should lead them again.

A replica "can lead" when its broker is live and not shutting down.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

PREFERRED_ELECTION, UNCLEAN_ELECTION = 0, 1  # ElectLeaders' ElectionType

NO_LEADER = -1

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Election:
    """The outcome of an election: the leader (NO_LEADER for none) and the new ISR.
    `unclean` when the leader was not in sync (it may lack acknowledged records)."""

    leader: int
    isr: list[int]
    unclean: bool = False


def can_lead(replica: int, live: Collection[int], shutting_down: Collection[int]) -> bool:
    return replica in live and replica not in shutting_down


def new_partition_election(assignment: Sequence[int], live: Collection[int]) -> Election:
    """A partition's first state: the first live replica leads (NO_LEADER when none
    is live), the live replicas are in sync."""
    in_sync = [r for r in assignment if r in live]
    return Election(in_sync[0] if in_sync else NO_LEADER, in_sync)


def live_isr(isr: Sequence[int], live: Collection[int]) -> list[int]:
    """The ISR without the replicas whose broker is gone (a live leader stays in it)."""
    return [r for r in isr if r in live]


def offline_partition_election(
    assignment: Sequence[int],
    isr: Sequence[int],
    live: Collection[int],
    shutting_down: Collection[int],
    unclean_allowed: bool,
) -> Election | None:
    """A leader for a partition whose leader is gone: the first replica in assignment
    order that is in the ISR and can lead, with the live ISR; else, only when unclean
    election is allowed, the first replica that can lead, alone in the ISR. None when
    no replica may lead."""
    in_sync = live_isr(isr, live)
    candidates = [r for r in assignment if r in in_sync and can_lead(r, live, shutting_down)]
    if candidates:
        return Election(candidates[0], in_sync)
    if unclean_allowed:
        candidates = [r for r in assignment if can_lead(r, live, shutting_down)]
        if candidates:
            return Election(candidates[0], [candidates[0]], unclean=True)
    return None


def preferred_replica_election(
    assignment: Sequence[int],
    isr: Sequence[int],
    live: Collection[int],
    shutting_down: Collection[int],
) -> Election | None:
    """The first assigned replica (the preferred leader), with the ISR unchanged, when
    it can lead and is in the ISR; else None. (Whether it leads already is the
    caller's question: then no election is needed.)"""
    preferred = assignment[0]
    if not (can_lead(preferred, live, shutting_down) and preferred in isr):
        return None
    return Election(preferred, list(isr))


def controlled_shutdown_election(
    broker_id: int,
    leader: int,
    assignment: Sequence[int],
    isr: Sequence[int],
    live: Collection[int],
    shutting_down: Collection[int],
) -> Election | None:
    """The partition's state once `broker_id` (among `shutting_down`) stops: it leaves
    the ISR and, where it leads, the first ISR member in assignment order that can
    lead takes over. None when nothing changes: it holds no replica, it is the only
    replica, it is neither leader nor in the ISR, or it leads and no one else can
    (then the partition remains on it)."""
    if broker_id not in assignment or len(assignment) < 2:
        return None
    shrunk = [r for r in isr if r != broker_id]
    if leader == broker_id:
        candidates = [
            r
            for r in assignment
            if r in isr and r != broker_id and can_lead(r, live, shutting_down)
        ]
        if not candidates:
            return None
        return Election(candidates[0], shrunk)
    if broker_id in isr:
        return Election(leader, shrunk)
    return None


def reassignment_start_election(
    target: Sequence[int], leader: int, isr: Sequence[int], dropped: Collection[int]
) -> Election:
    """When a reassignment starts: the replicas it drops (added by a reassignment it
    replaces, and not in its target) leave the ISR; the leader stays if it is still
    in the ISR, else the first target replica in the ISR leads (NO_LEADER if none)."""
    shrunk = [r for r in isr if r not in dropped]
    if leader not in shrunk:
        leader = next((r for r in target if r in shrunk), NO_LEADER)
    return Election(leader, shrunk)


def reassignment_election(
    target: Sequence[int],
    leader: int,
    isr: Sequence[int],
    live: Collection[int],
    shutting_down: Collection[int],
) -> Election | None:
    """A reassignment's end, once every target replica is in the ISR: the ISR keeps
    only target replicas; the leader stays if it is in the target and can lead, else
    the first target replica that can lead takes over. None when it cannot finish yet
    (a target replica is not in sync, or none can lead)."""
    if any(r not in isr for r in target):
        return None
    shrunk = [r for r in isr if r in target]
    if leader not in target or not can_lead(leader, live, shutting_down):
        leader = next((r for r in target if can_lead(r, live, shutting_down)), NO_LEADER)
        if leader == NO_LEADER:
            return None
    return Election(leader, shrunk)


def leader_imbalance(
    partitions: Iterable[tuple[K, Sequence[int], int, Sequence[int]]],
    live: Collection[int],
    shutting_down: Collection[int],
    allowed_ratio: float,
) -> list[K]:
    """Kafka's auto leader rebalance, over (key, assignment, leader, isr) per partition:
    a broker that can lead and is the preferred replica of N partitions, more than
    `allowed_ratio` * N of which are led elsewhere, should lead again those of them
    whose ISR it is in. Their keys, grouped by preferred replica."""
    by_preferred: dict[int, list[tuple[K, int, Sequence[int]]]] = {}
    for key, assignment, leader, isr in partitions:
        if assignment:
            by_preferred.setdefault(assignment[0], []).append((key, leader, isr))
    wanted: list[K] = []
    for broker_id, led in by_preferred.items():
        elsewhere = [(key, isr) for key, leader, isr in led if leader != broker_id]
        imbalanced = len(elsewhere) > allowed_ratio * len(led)
        if can_lead(broker_id, live, shutting_down) and imbalanced:
            wanted += [key for key, isr in elsewhere if broker_id in isr]
    return wanted
