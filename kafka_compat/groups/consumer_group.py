"""A KIP-848 consumer group's state: members, epochs, target and current assignments.

Kafka's ConsumerGroup, ConsumerGroupMember and CurrentAssignmentBuilder as plain
objects without I/O (the ConsumerGroupCoordinator in consumer_coordinator.py drives
them and writes their records). Three epochs make the protocol:

- the group epoch, bumped whenever what the assignor sees changes (a member joins,
  leaves or changes its subscription; a subscribed topic gains partitions);
- the target assignment epoch: the group epoch the target assignment was computed for;
- each member's epoch: the target assignment epoch it has reconciled to.

A member moves to the target one heartbeat at a time (`reconcile`): partitions it
must give up are revoked first (UNREVOKED_PARTITIONS, at its old epoch, until its
heartbeat no longer lists them); only then does it move to the new epoch and get
the partitions that are free. A partition still owned by another member (its
`partition epochs` entry) is withheld (UNRELEASED_PARTITIONS) until released, so a
partition never has two owners.

The group's state: Empty (no members), Assigning (group epoch ahead of the target
assignment), Reconciling (a member not at the target epoch or not stable), Stable.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace

from kafka_compat.groups.assignors import Assignment

LEAVE_GROUP_MEMBER_EPOCH = -1
LEAVE_GROUP_STATIC_MEMBER_EPOCH = -2


class MemberState(enum.IntEnum):
    """Kafka's MemberState, with its record values."""

    STABLE = 0
    UNREVOKED_PARTITIONS = 1
    UNRELEASED_PARTITIONS = 2
    UNKNOWN = 127


class ConsumerGroupState(enum.Enum):
    EMPTY = "Empty"
    ASSIGNING = "Assigning"
    RECONCILING = "Reconciling"
    STABLE = "Stable"
    DEAD = "Dead"

    def __str__(self) -> str:
        return self.value


class FencedMemberEpoch(Exception):
    """The member's epoch is not the coordinator's: it must rejoin with epoch 0."""


def copy_assignment(assignment: Assignment) -> Assignment:
    return {t: set(p) for t, p in assignment.items() if p}


@dataclass(slots=True)
class ConsumerGroupMember:
    """One member (Kafka's ConsumerGroupMember); replaced, never mutated in place by
    reconciliation, so a heartbeat can compare before and after."""

    member_id: str
    member_epoch: int = 0
    previous_member_epoch: int = -1
    state: MemberState = MemberState.STABLE
    instance_id: str | None = None
    rack_id: str | None = None
    rebalance_timeout_ms: int = -1
    client_id: str = ""
    client_host: str = ""
    subscribed_topic_names: tuple[str, ...] = ()
    subscribed_topic_regex: str | None = None
    server_assignor: str | None = None
    assigned: Assignment = field(default_factory=dict)
    pending_revocation: Assignment = field(default_factory=dict)

    def is_reconciled_to(self, target_epoch: int) -> bool:
        return self.state is MemberState.STABLE and self.member_epoch == target_epoch

    def subscription(self) -> tuple:
        """What the assignor depends on (a change bumps the group epoch)."""
        return (self.subscribed_topic_names, self.subscribed_topic_regex)

    def metadata(self) -> tuple:
        """What the member metadata record holds (a change rewrites it)."""
        return (
            self.instance_id,
            self.rack_id,
            self.client_id,
            self.client_host,
            self.subscribed_topic_names,
            self.subscribed_topic_regex,
            self.rebalance_timeout_ms,
            self.server_assignor,
        )

    def current_assignment(self) -> tuple:
        """What the current assignment record holds."""
        return (
            self.member_epoch,
            self.previous_member_epoch,
            self.state,
            self.assigned,
            self.pending_revocation,
        )


class ConsumerGroup:
    """One KIP-848 group (Kafka's ConsumerGroup), without offsets (the classic Group
    object of the same id keeps those: one offset store for both group types)."""

    def __init__(self, group_id: str) -> None:
        self.group_id = group_id
        self.group_epoch = 0
        self.assignment_epoch = 0
        self.members: dict[str, ConsumerGroupMember] = {}
        self.static_members: dict[str, str] = {}  # instance id -> member id
        self.target_assignment: dict[str, Assignment] = {}
        # (topic id, partition) -> epoch of the member that owns it (assigned or being
        # revoked): such a partition is not handed to anyone else.
        self.partition_epochs: dict[tuple[bytes, int], int] = {}
        # Topic name -> (topic id, partitions) of every subscribed topic, as last
        # written (ConsumerGroupPartitionMetadata).
        self.subscription_metadata: dict[str, tuple[bytes, int]] = {}
        self.dead = False
        # The coordinator's timers (timer.py): (kind, member id) -> Timer, kind
        # "session" or "rebalance" (the wait for a revocation).
        self.timers: dict[tuple[str, str], object] = {}

    def __repr__(self) -> str:
        return (
            f"ConsumerGroup({self.group_id!r}, {self.state}, epoch {self.group_epoch}, "
            f"{len(self.members)} members)"
        )

    @property
    def state(self) -> ConsumerGroupState:
        if self.dead:
            return ConsumerGroupState.DEAD
        if not self.members:
            return ConsumerGroupState.EMPTY
        if self.group_epoch > self.assignment_epoch:
            return ConsumerGroupState.ASSIGNING
        if any(not m.is_reconciled_to(self.assignment_epoch) for m in self.members.values()):
            return ConsumerGroupState.RECONCILING
        return ConsumerGroupState.STABLE

    def stop_timers(self, member_id: str | None = None) -> None:
        """Stop one member's timers, or every timer of the group."""
        for timer_key in list(self.timers):
            if member_id is None or timer_key[1] == member_id:
                self.timers.pop(timer_key).stop()

    # -- members ----------------------------------------------------------------------

    def static_member(self, instance_id: str | None) -> ConsumerGroupMember | None:
        member_id = self.static_members.get(instance_id) if instance_id is not None else None
        return None if member_id is None else self.members.get(member_id)

    def update_member(self, member: ConsumerGroupMember) -> None:
        """Add or replace a member (its partition epochs follow its assignment)."""
        old = self.members.get(member.member_id)
        if old is not None:
            self._release(old)
        self.members[member.member_id] = member
        if member.instance_id is not None:
            self.static_members[member.instance_id] = member.member_id
        self._claim(member)

    def remove_member(self, member_id: str) -> ConsumerGroupMember | None:
        member = self.members.pop(member_id, None)
        if member is not None:
            self._release(member)
            if (
                member.instance_id is not None
                and self.static_members.get(member.instance_id) == member_id
            ):
                del self.static_members[member.instance_id]
        self.target_assignment.pop(member_id, None)
        return member

    def _claim(self, member: ConsumerGroupMember) -> None:
        for assignment in (member.assigned, member.pending_revocation):
            for topic_id, partitions in assignment.items():
                for p in partitions:
                    self.partition_epochs[(topic_id, p)] = member.member_epoch

    def _release(self, member: ConsumerGroupMember) -> None:
        for assignment in (member.assigned, member.pending_revocation):
            for topic_id, partitions in assignment.items():
                for p in partitions:
                    if self.partition_epochs.get((topic_id, p)) == member.member_epoch:
                        del self.partition_epochs[(topic_id, p)]

    def subscribed_topic_names(self, resolve_regex) -> set[str]:
        """Every topic some member subscribes to (`resolve_regex(regex)` -> names)."""
        names: set[str] = set()
        for member in self.members.values():
            names.update(member.subscribed_topic_names)
            if member.subscribed_topic_regex is not None:
                names.update(resolve_regex(member.subscribed_topic_regex))
        return names

    def preferred_assignor(self, default: str) -> str:
        """The assignor most members ask for (Kafka's computePreferredServerAssignor)."""
        votes: dict[str, int] = {}
        for member in self.members.values():
            if member.server_assignor is not None:
                votes[member.server_assignor] = votes.get(member.server_assignor, 0) + 1
        if not votes:
            return default
        return max(sorted(votes), key=lambda name: votes[name])

    def target_for(self, member_id: str) -> Assignment:
        return self.target_assignment.get(member_id, {})


# -- reconciliation (Kafka's CurrentAssignmentBuilder) --------------------------------


def reconcile(
    member: ConsumerGroupMember,
    target_epoch: int,
    target: Assignment,
    partition_epoch,
    owned: dict[bytes, set[int]] | None,
) -> ConsumerGroupMember:
    """The member's next state towards `target` at `target_epoch`. `owned` is what its
    heartbeat says it owns (None: not sent). `partition_epoch(topic_id, p)` is the
    epoch of the partition's owner, -1 if free."""
    if member.state is MemberState.STABLE:
        if member.member_epoch == target_epoch:
            return member
        return _next_assignment(
            member, member.member_epoch, target_epoch, target, partition_epoch, owned
        )
    if member.state is MemberState.UNREVOKED_PARTITIONS:
        if _owns_any(owned, member.pending_revocation):
            return member
        return _next_assignment(
            member, member.member_epoch + 1, target_epoch, target, partition_epoch, owned
        )
    if member.state is MemberState.UNRELEASED_PARTITIONS:
        return _next_assignment(
            member, member.member_epoch, target_epoch, target, partition_epoch, owned
        )
    if owned is None or any(owned.values()):
        raise FencedMemberEpoch("the member is in an unknown state")
    return _next_assignment(member, target_epoch, target_epoch, target, partition_epoch, owned)


def _owns_any(owned: dict[bytes, set[int]] | None, partitions: Assignment) -> bool:
    if owned is None:
        return True
    return any(partitions.get(t, set()) & set(ps) for t, ps in owned.items())


def _next_assignment(
    member: ConsumerGroupMember,
    member_epoch: int,
    target_epoch: int,
    target: Assignment,
    partition_epoch,
    owned,
) -> ConsumerGroupMember:
    assigned: Assignment = {}
    revoking: Assignment = {}
    pending: Assignment = {}
    unreleased = False
    for topic_id in set(target) | set(member.assigned):
        wanted = target.get(topic_id, set())
        current = member.assigned.get(topic_id, set())
        keep = current & wanted
        revoke = current - keep
        add = {p for p in wanted - keep if partition_epoch(topic_id, p) == -1}
        unreleased = unreleased or len(add) < len(wanted - keep)
        if keep:
            assigned[topic_id] = keep
        if revoke:
            revoking[topic_id] = revoke
        if add:
            pending[topic_id] = add
    if revoking and _owns_any(owned, revoking):
        return _with_epoch(
            member, member_epoch, MemberState.UNREVOKED_PARTITIONS, assigned, revoking
        )
    for topic_id, partitions in pending.items():
        assigned.setdefault(topic_id, set()).update(partitions)
    state = MemberState.UNRELEASED_PARTITIONS if unreleased else MemberState.STABLE
    return _with_epoch(member, target_epoch, state, assigned, {})


def _with_epoch(member, epoch, state, assigned, revoking) -> ConsumerGroupMember:
    previous = member.member_epoch if epoch != member.member_epoch else member.previous_member_epoch
    return replace(
        member,
        member_epoch=epoch,
        previous_member_epoch=previous,
        state=state,
        assigned=assigned,
        pending_revocation=revoking,
    )
