"""One consumer group's state: members, generation, protocol, committed offsets (and
those pending: being written, or transactional ones waiting for their marker).

Kafka's GroupMetadata and MemberMetadata, as plain objects with no I/O and no clock
of their own beyond a wall-clock function for state timestamps. The coordinator
(coordinator.py) drives them; they enforce the legal state transitions:

    Empty ──join──> PreparingRebalance ──all joined / rebalance timeout──> CompletingRebalance
      ^                 ^      │                                               │
      │                 │      └── no members left ──> Empty                   │ leader's SyncGroup
      │                 └── join, leave, expiry ── Stable <────────────────────┘
    any state ──> Dead (deleted, or unloaded when the partition moves away)

A member waiting for its JoinGroup or SyncGroup answer holds a callback
(`awaiting_join`, `awaiting_sync`), called once with the result.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from kafka_compat.groups import consumer_protocol
from kafka_compat.groups.consumer_group import ConsumerGroup
from kafka_compat.groups.records import OffsetAndMetadata
from protocol.errors import ErrorCode


class PendingTxnOffset(NamedTuple):
    """A transactional offset commit waiting for its producer's marker (Kafka's
    CommitRecordMetadataAndOffset): `position` is its batch's offset, None until written."""

    offset: OffsetAndMetadata
    position: int | None = None


class GroupState(enum.Enum):
    EMPTY = "Empty"
    PREPARING_REBALANCE = "PreparingRebalance"
    COMPLETING_REBALANCE = "CompletingRebalance"
    STABLE = "Stable"
    DEAD = "Dead"

    def __str__(self) -> str:
        return self.value


EMPTY = GroupState.EMPTY
PREPARING_REBALANCE = GroupState.PREPARING_REBALANCE
COMPLETING_REBALANCE = GroupState.COMPLETING_REBALANCE
STABLE = GroupState.STABLE
DEAD = GroupState.DEAD

# Kafka's GroupState.validPreviousStates.
_VALID_PREVIOUS = {
    DEAD: {STABLE, PREPARING_REBALANCE, COMPLETING_REBALANCE, EMPTY, DEAD},
    COMPLETING_REBALANCE: {PREPARING_REBALANCE},
    STABLE: {COMPLETING_REBALANCE},
    PREPARING_REBALANCE: {STABLE, COMPLETING_REBALANCE, EMPTY},
    EMPTY: {PREPARING_REBALANCE},
}


class IllegalGroupState(RuntimeError):
    pass


@dataclass(slots=True)
class JoinResult:
    """The answer to one JoinGroup."""

    member_id: str
    error: int = ErrorCode.NONE
    generation_id: int = -1
    protocol_type: str | None = None
    protocol_name: str | None = None
    leader_id: str = ""
    skip_assignment: bool = False
    # For the leader: (member_id, group_instance_id, metadata) of every member.
    members: list[tuple[str, str | None, bytes]] = field(default_factory=list)


@dataclass(slots=True)
class SyncResult:
    """The answer to one SyncGroup."""

    error: int = ErrorCode.NONE
    assignment: bytes = b""
    protocol_type: str | None = None
    protocol_name: str | None = None


@dataclass(slots=True)
class MemberSummary:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    metadata: bytes
    assignment: bytes


@dataclass(slots=True)
class GroupSummary:
    """What DescribeGroups shows."""

    state: str
    protocol_type: str
    protocol: str
    members: list[MemberSummary]


DEAD_GROUP = GroupSummary(str(DEAD), "", "", [])


@dataclass(eq=False, slots=True)
class Member:
    """One member of a group (Kafka's MemberMetadata)."""

    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    protocol_type: str
    protocols: list[tuple[str, bytes]]  # (name, metadata), in the member's preference order
    assignment: bytes = b""
    awaiting_join: Callable[[JoinResult], None] | None = None
    awaiting_sync: Callable[[SyncResult], None] | None = None
    # A new member's first join has not completed; it cannot heartbeat yet.
    is_new: bool = False
    session_timer: object = None  # the coordinator's Timer for this member

    @property
    def is_static(self) -> bool:
        return self.group_instance_id is not None

    @property
    def is_awaiting_join(self) -> bool:
        return self.awaiting_join is not None

    @property
    def is_awaiting_sync(self) -> bool:
        return self.awaiting_sync is not None

    @property
    def owes_heartbeat(self) -> bool:
        """Does an expired session remove this member? Not while it waits for a
        rebalance to finish (the rebalance timeout bounds that), except a new member,
        whose first join is bounded by the new-member timeout instead."""
        return self.is_new or not (self.is_awaiting_join or self.is_awaiting_sync)

    def protocol_names(self) -> list[str]:
        return [name for name, _ in self.protocols]

    def metadata(self, protocol: str | None) -> bytes:
        for name, metadata in self.protocols:
            if name == protocol:
                return metadata
        raise IllegalGroupState(f"member {self.member_id} does not support protocol {protocol}")

    def matches(self, protocols: list[tuple[str, bytes]]) -> bool:
        return list(protocols) == list(self.protocols)

    def vote(self, candidates: set[str]) -> str:
        """The first protocol in this member's preference order that all members support."""
        for name, _ in self.protocols:
            if name in candidates:
                return name
        raise IllegalGroupState(f"member {self.member_id} supports none of {sorted(candidates)}")

    def summary(self, protocol: str | None) -> MemberSummary:
        if protocol is None:
            metadata, assignment = b"", b""
        else:
            metadata, assignment = self.metadata(protocol), self.assignment
        return MemberSummary(
            self.member_id,
            self.group_instance_id,
            self.client_id,
            self.client_host,
            metadata,
            assignment,
        )


class Group:
    """One group (Kafka's GroupMetadata): membership and committed offsets."""

    def __init__(
        self,
        group_id: str,
        partition: int,
        time_ms: Callable[[], int],
        state: GroupState = EMPTY,
    ):
        self.group_id = group_id
        self.partition = partition  # of __consumer_offsets
        self._time_ms = time_ms
        self.state = state
        self.state_timestamp: int | None = time_ms()
        self.generation_id = 0
        self.protocol_type: str | None = None
        self.protocol_name: str | None = None
        self.leader_id: str | None = None
        self.members: dict[str, Member] = {}
        self.static_members: dict[str, str] = {}  # group.instance.id -> member id
        # KIP-394: member ids handed out with MEMBER_ID_REQUIRED, not yet joined (-> timer).
        self.pending_members: dict[str, object] = {}
        self.pending_sync_members: set[str] = set()
        self.num_members_awaiting_join = 0
        self.new_member_added = False
        self.subscribed_topics: set[str] | None = None
        self.offsets: dict[tuple[str, int], OffsetAndMetadata] = {}
        # Where each committed offset's record is in __consumer_offsets (the first
        # offset of its batch): a transactional commit completes over an older one only.
        self.commit_positions: dict[tuple[str, int], int] = {}
        # Commits being written (Kafka's pendingOffsetCommits), and transactional
        # commits per producer id waiting for their marker: position None until written.
        self.pending_offset_commits: dict[tuple[str, int], OffsetAndMetadata] = {}
        self.pending_txn_offsets: dict[int, dict[tuple[str, int], PendingTxnOffset]] = {}
        self._protocol_votes: Counter[str] = Counter()
        # The coordinator's timers: the join round (initial delay or rebalance timeout)
        # and the wait for every member's SyncGroup.
        self.join_timer: object = None
        self.join_timer_initial = False
        self.join_remaining_ms = 0
        self.sync_timer: object = None
        # A KIP-848 group of this id (consumer_group.py): its membership replaces the
        # classic one (which stays Empty); the offsets above serve both types.
        self.consumer: ConsumerGroup | None = None

    def __repr__(self) -> str:
        return (
            f"Group({self.group_id!r}, {self.state}, generation {self.generation_id}, "
            f"{len(self.members)} members)"
        )

    # -- state ------------------------------------------------------------------------

    def is_(self, state: GroupState) -> bool:
        return self.state is state

    def transition_to(self, state: GroupState) -> None:
        if self.state not in _VALID_PREVIOUS[state]:
            allowed = sorted(map(str, _VALID_PREVIOUS[state]))
            raise IllegalGroupState(
                f"Group {self.group_id} should be in one of {allowed} before moving to"
                f" {state}, but it is {self.state}"
            )
        self.state = state
        self.state_timestamp = self._time_ms()

    @property
    def is_empty(self) -> bool:
        """No members, of either protocol."""
        if self.consumer is not None:
            return not self.consumer.members
        return self.is_(EMPTY)

    @property
    def group_type(self) -> str:
        """What ListGroups v5 shows: "consumer" (KIP-848) or "classic"."""
        return "consumer" if self.consumer is not None else "classic"

    @property
    def can_rebalance(self) -> bool:
        return self.state in (STABLE, COMPLETING_REBALANCE, EMPTY)

    # -- members ----------------------------------------------------------------------

    def has(self, member_id: str) -> bool:
        return member_id in self.members

    def join_result(
        self,
        member_id: str,
        error: int = ErrorCode.NONE,
        *,
        leader_id: str | None = None,
        skip_assignment: bool = False,
        members: list[tuple[str, str | None, bytes]] | None = None,
    ) -> JoinResult:
        """A JoinGroup answer in the current generation; `leader_id` defaults to the
        group's leader, `members` (the leader's view) to none."""
        return JoinResult(
            member_id,
            error,
            self.generation_id,
            self.protocol_type,
            self.protocol_name,
            (self.leader_id or "") if leader_id is None else leader_id,
            skip_assignment,
            members or [],
        )

    def is_leader(self, member_id: str) -> bool:
        return self.leader_id == member_id

    @property
    def rebalance_timeout_ms(self) -> int:
        return max((m.rebalance_timeout_ms for m in self.members.values()), default=0)

    def add(self, member: Member, callback: Callable[[JoinResult], None] | None = None) -> None:
        if not self.members:
            self.protocol_type = member.protocol_type
        if self.protocol_type != member.protocol_type:
            raise IllegalGroupState(f"member protocol type {member.protocol_type} differs")
        if self.leader_id is None:
            self.leader_id = member.member_id
        if member.group_instance_id is not None:
            self.static_members[member.group_instance_id] = member.member_id
        self.members[member.member_id] = member
        self._protocol_votes.update(member.protocol_names())
        member.awaiting_join = callback
        if callback is not None:
            self.num_members_awaiting_join += 1
        self.pending_members.pop(member.member_id, None)

    def remove(self, member_id: str) -> Member | None:
        member = self.members.pop(member_id, None)
        if member is not None:
            self._protocol_votes.subtract(member.protocol_names())
            if member.is_awaiting_join:
                self.num_members_awaiting_join -= 1
            instance_id = member.group_instance_id
            if instance_id is not None and self.static_members.get(instance_id) == member_id:
                del self.static_members[instance_id]
        if self.is_leader(member_id):
            self.leader_id = next(iter(self.members), None)
        self.pending_members.pop(member_id, None)
        self.pending_sync_members.discard(member_id)
        return member

    def update_member(
        self,
        member: Member,
        protocols: list[tuple[str, bytes]],
        rebalance_timeout_ms: int,
        session_timeout_ms: int,
        callback: Callable[[JoinResult], None] | None,
    ) -> None:
        self._protocol_votes.subtract(member.protocol_names())
        member.protocols = list(protocols)
        self._protocol_votes.update(member.protocol_names())
        member.rebalance_timeout_ms = rebalance_timeout_ms
        member.session_timeout_ms = session_timeout_ms
        if callback is not None and not member.is_awaiting_join:
            self.num_members_awaiting_join += 1
        elif callback is None and member.is_awaiting_join:
            self.num_members_awaiting_join -= 1
        member.awaiting_join = callback

    def static_member_id(self, group_instance_id: str | None) -> str | None:
        if group_instance_id is None:
            return None
        return self.static_members.get(group_instance_id)

    def replace_static_member(self, group_instance_id: str, old_id: str, new_id: str) -> Member:
        """A static member rejoined with an unknown member id: it takes over the old one."""
        member = self.members.pop(old_id, None)
        if member is None:
            raise IllegalGroupState(f"cannot replace non-existing member {old_id}")
        # Fence a duplicate that may still wait under the old id.
        self.maybe_invoke_join(member, JoinResult(old_id, ErrorCode.FENCED_INSTANCE_ID))
        self.maybe_invoke_sync(member, SyncResult(ErrorCode.FENCED_INSTANCE_ID))
        member.member_id = new_id
        self.members[new_id] = member
        if self.is_leader(old_id):
            self.leader_id = new_id
        if old_id in self.pending_sync_members:
            self.pending_sync_members.discard(old_id)
            self.pending_sync_members.add(new_id)
        self.static_members[group_instance_id] = new_id
        return member

    def is_pending_member(self, member_id: str) -> bool:
        return member_id in self.pending_members

    @property
    def num_awaiting_join(self) -> int:
        return self.num_members_awaiting_join

    def has_all_members_joined(self) -> bool:
        return len(self.members) == self.num_members_awaiting_join and not self.pending_members

    def not_yet_rejoined_members(self) -> list[Member]:
        return [m for m in self.members.values() if not m.is_awaiting_join]

    def maybe_elect_new_joined_leader(self) -> bool:
        """Keep a leader that rejoined, else pick a member that did; False if none did."""
        if self.leader_id is None:
            return False
        leader = self.members.get(self.leader_id)
        if leader is not None and leader.is_awaiting_join:
            return True
        for member_id, member in self.members.items():
            if member.is_awaiting_join:
                self.leader_id = member_id
                return True
        return False

    def maybe_invoke_join(self, member: Member, result: JoinResult) -> None:
        callback = member.awaiting_join
        if callback is not None:
            member.awaiting_join = None
            self.num_members_awaiting_join -= 1
            callback(result)

    def maybe_invoke_sync(self, member: Member, result: SyncResult) -> bool:
        callback = member.awaiting_sync
        if callback is None:
            return False
        member.awaiting_sync = None
        callback(result)
        return True

    def stop_timers(self) -> None:
        """Stop the coordinator's timers of this group: its join and sync rounds, its
        members' sessions and its pending members' (the group leaves the coordinator)."""
        for name in ("join_timer", "sync_timer"):
            timer = getattr(self, name)
            if timer is not None:
                timer.stop()
                setattr(self, name, None)
        for member in self.members.values():
            if member.session_timer is not None:
                member.session_timer.stop()
                member.session_timer = None
        for member_id in list(self.pending_members):
            self.pending_members.pop(member_id).stop()
        if self.consumer is not None:
            self.consumer.stop_timers()

    # -- protocols --------------------------------------------------------------------

    def candidate_protocols(self) -> set[str]:
        """Protocols every member supports."""
        n = len(self.members)
        return {name for name, votes in self._protocol_votes.items() if votes == n and n}

    def supports_protocols(self, protocol_type: str, protocols: list[str]) -> bool:
        if self.is_(EMPTY):
            return bool(protocol_type) and bool(protocols)
        n = len(self.members)
        return self.protocol_type == protocol_type and any(
            self._protocol_votes[p] == n for p in protocols
        )

    def select_protocol(self) -> str:
        """Each member votes for its most preferred candidate; the most votes win."""
        if not self.members:
            raise IllegalGroupState(f"cannot select a protocol for empty group {self.group_id}")
        candidates = self.candidate_protocols()
        votes = Counter(member.vote(candidates) for member in self.members.values())
        return votes.most_common(1)[0][0]

    def compute_subscribed_topics(self) -> set[str] | None:
        """Topics the members of a consumer group subscribe to; None when unknown."""
        if self.protocol_type != consumer_protocol.PROTOCOL_TYPE or self.protocol_name is None:
            return None
        if not self.members:
            return set()
        topics: set[str] = set()
        for member in self.members.values():
            subscribed = consumer_protocol.subscription_topics(member.metadata(self.protocol_name))
            if subscribed is None:
                return None
            topics |= subscribed
        return topics

    def is_subscribed_to_topic(self, topic: str) -> bool:
        return True if self.subscribed_topics is None else topic in self.subscribed_topics

    def init_next_generation(self) -> None:
        self.generation_id += 1
        if self.members:
            self.protocol_name = self.select_protocol()
            self.subscribed_topics = self.compute_subscribed_topics()
            self.transition_to(COMPLETING_REBALANCE)
        else:
            self.protocol_name = None
            self.subscribed_topics = self.compute_subscribed_topics()
            self.transition_to(EMPTY)
        self.pending_sync_members.clear()

    def current_member_metadata(self) -> list[tuple[str, str | None, bytes]]:
        """What the leader's JoinGroup answer lists: every member's chosen-protocol metadata."""
        if self.is_(DEAD) or self.is_(PREPARING_REBALANCE):
            raise IllegalGroupState(f"cannot list members of {self.group_id} in state {self.state}")
        return [
            (m.member_id, m.group_instance_id, m.metadata(self.protocol_name))
            for m in self.members.values()
        ]

    # -- views ------------------------------------------------------------------------

    def summary(self) -> GroupSummary:
        protocol_type = self.protocol_type or ""
        if self.is_(STABLE):
            protocol = self.protocol_name
            members = [m.summary(protocol) for m in self.members.values()]
            return GroupSummary(str(self.state), protocol_type, protocol or "", members)
        members = [m.summary(None) for m in self.members.values()]
        return GroupSummary(str(self.state), protocol_type, "", members)

    # -- offsets ----------------------------------------------------------------------

    def initialize_offsets(
        self,
        offsets: dict[tuple[str, int], tuple[OffsetAndMetadata, int]],
        pending_txn: dict[int, dict[tuple[str, int], PendingTxnOffset]],
    ) -> None:
        """The offsets read from the log: committed ones (with their positions) and
        transactional ones whose marker was not read yet."""
        for tp, (offset, position) in offsets.items():
            self.offsets[tp] = offset
            self.commit_positions[tp] = position
        self.pending_txn_offsets.update(pending_txn)

    @property
    def has_offsets(self) -> bool:
        return bool(self.offsets or self.pending_offset_commits or self.pending_txn_offsets)

    def _commit(self, tp: tuple[str, int], offset: OffsetAndMetadata, position: int) -> None:
        """Make `offset` the committed one unless a newer record in the log holds it."""
        current = self.commit_positions.get(tp)
        if tp not in self.offsets or current is None or current < position:
            self.offsets[tp] = offset
            self.commit_positions[tp] = position

    def prepare_offset_commit(self, offsets: dict[tuple[str, int], OffsetAndMetadata]) -> None:
        self.pending_offset_commits.update(offsets)

    def on_offset_commit_append(
        self, tp: tuple[str, int], offset: OffsetAndMetadata, position: int
    ) -> None:
        """The commit's record is written at `position` (Kafka's onOffsetCommitAppend);
        an offset deleted meanwhile stays deleted."""
        if tp in self.pending_offset_commits:
            self._commit(tp, offset, position)
            if self.pending_offset_commits[tp] == offset:
                del self.pending_offset_commits[tp]

    def fail_pending_offset_write(self, tp: tuple[str, int], offset: OffsetAndMetadata) -> None:
        if self.pending_offset_commits.get(tp) == offset:
            del self.pending_offset_commits[tp]

    def prepare_txn_offset_commit(
        self, producer_id: int, offsets: dict[tuple[str, int], OffsetAndMetadata]
    ) -> None:
        pending = self.pending_txn_offsets.setdefault(producer_id, {})
        for tp, offset in offsets.items():
            pending[tp] = PendingTxnOffset(offset)

    def on_txn_offset_commit_append(
        self, producer_id: int, tp: tuple[str, int], offset: OffsetAndMetadata, position: int
    ) -> None:
        pending = self.pending_txn_offsets.get(producer_id)
        if pending is not None and tp in pending and pending[tp].offset == offset:
            pending[tp] = PendingTxnOffset(offset, position)

    def fail_pending_txn_offset_commit(self, producer_id: int, tp: tuple[str, int]) -> None:
        """The record was not written: the client retries (maybe elsewhere)."""
        pending = self.pending_txn_offsets.get(producer_id)
        if pending is not None:
            pending.pop(tp, None)
            if not pending:
                del self.pending_txn_offsets[producer_id]

    def complete_pending_txn_offset_commit(self, producer_id: int, commit: bool) -> None:
        """The producer's marker is written: its offsets become committed (a commit
        older in the log than the committed offset is dropped), or vanish (abort)."""
        pending = self.pending_txn_offsets.pop(producer_id, None)
        if not commit or not pending:
            return
        for tp, (offset, position) in pending.items():
            if position is not None:  # else its write failed or is still under way
                self._commit(tp, offset, position)

    def has_pending_offset_commits_from_producer(self, producer_id: int) -> bool:
        return producer_id in self.pending_txn_offsets

    def has_pending_offset_commits_for(self, tp: tuple[str, int]) -> bool:
        return tp in self.pending_offset_commits or any(
            tp in pending for pending in self.pending_txn_offsets.values()
        )

    def remove_offsets(self, partitions) -> dict[tuple[str, int], OffsetAndMetadata]:
        """Kafka's removeOffsets: pending commits of these partitions go too."""
        removed = {}
        for tp in partitions:
            self.pending_offset_commits.pop(tp, None)
            for pending in self.pending_txn_offsets.values():
                pending.pop(tp, None)
            self.commit_positions.pop(tp, None)
            offset = self.offsets.pop(tp, None)
            if offset is not None:
                removed[tp] = offset
        return removed

    def remove_all_offsets(self) -> dict[tuple[str, int], OffsetAndMetadata]:
        return self.remove_offsets(list(self.offsets))

    def remove_expired_offsets(
        self, now_ms: int, retention_ms: int
    ) -> dict[tuple[str, int], OffsetAndMetadata]:
        """Kafka's rules (KIP-211): an empty group's offsets expire `retention_ms` after it
        became empty; a stable consumer group's offsets of topics no member subscribes
        to expire after their commit; a group without a protocol (simple consumers
        that only commit) expires each offset after its commit. An offset committed
        with its own expire timestamp (OffsetCommit v2-4) expires then instead. A
        KIP-848 group: each offset after its commit, unless a member subscribes to
        its topic."""
        if self.consumer is not None:

            def base(o: OffsetAndMetadata) -> int:
                return o.commit_timestamp

            subscribed = set(self.consumer.subscription_metadata)
        elif self.protocol_type is not None and self.is_(EMPTY):

            def base(o: OffsetAndMetadata) -> int:
                if self.state_timestamp is not None:
                    return self.state_timestamp
                return o.commit_timestamp

            subscribed: set[str] = set()
        elif (
            self.protocol_type == consumer_protocol.PROTOCOL_TYPE
            and self.subscribed_topics is not None
            and self.is_(STABLE)
        ):

            def base(o: OffsetAndMetadata) -> int:
                return o.commit_timestamp

            subscribed = self.subscribed_topics
        elif self.protocol_type is None:

            def base(o: OffsetAndMetadata) -> int:
                return o.commit_timestamp

            subscribed = set()
        else:
            return {}
        expired = {}
        for tp, offset in self.offsets.items():
            if tp[0] in subscribed or tp in self.pending_offset_commits:
                continue
            if offset.expire_timestamp >= 0:
                if now_ms >= offset.expire_timestamp:
                    expired[tp] = offset
            elif now_ms - base(offset) >= retention_ms:
                expired[tp] = offset
        for tp in expired:
            del self.offsets[tp]
            self.commit_positions.pop(tp, None)
        return expired
