"""The KIP-848 consumer group protocol: ConsumerGroupHeartbeat and ConsumerGroupDescribe.

Kafka's GroupMetadataManager (new coordinator) for groups of type "consumer", beside
the classic protocol of coordinator.py, which owns this object and checks that the
broker coordinates the group before calling it. A heartbeat (Kafka's
consumerGroupHeartbeat):

1. creates or updates the member; a new member, a changed subscription or a change
   in the subscribed topics (created, deleted, more partitions) bumps the group epoch;
2. if the group epoch is ahead of the target assignment, the group's assignor
   (`uniform` or `range`, the members' ServerAssignor choice) computes a new target;
3. moves the member one step towards its target (consumer_group.reconcile:
   revocation first, a partition is only handed over once its owner released it).

Every change is a record in `__consumer_offsets` (consumer_records.py), written in one
batch and replicated before the heartbeat is answered; loading a partition replays
them (`group_from_records`). Members that stop heartbeating for
`group.consumer.session.timeout.ms` are fenced (removed, the group epoch bumped); so
is a member that does not revoke within its rebalance timeout. A member leaves with
epoch -1; a static member (InstanceId) with -2 keeps its place and partitions until
its session times out or a new instance with the same id joins and takes them over.

Regular expression subscriptions (SubscribedTopicRegex, ConsumerGroupHeartbeat v1,
Kafka 4.0) are matched here with Python's `re.fullmatch` against every topic but the
internal ones, on every heartbeat that may change them.
"""

from __future__ import annotations

import base64
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

import trio

from kafka_compat.groups import consumer_protocol
from kafka_compat.groups import consumer_records as records
from kafka_compat.groups.assignors import ASSIGNORS, MemberSpec, PartitionAssignorError
from kafka_compat.groups.consumer_group import (
    LEAVE_GROUP_MEMBER_EPOCH,
    LEAVE_GROUP_STATIC_MEMBER_EPOCH,
    ConsumerGroup,
    ConsumerGroupMember,
    FencedMemberEpoch,
    MemberState,
    copy_assignment,
    reconcile,
)
from kafka_compat.groups.group import EMPTY, Group, GroupSummary, MemberSummary
from kafka_compat.groups.metadata_manager import GroupMetadataManager
from kafka_compat.groups.records import group_key
from kafka_compat.groups.timer import Timer
from kafka_compat.topics import INTERNAL_TOPICS
from protocol.errors import ErrorCode

log = logging.getLogger(__name__)

Assignment = dict[bytes, set[int]]
Records = list[tuple[bytes, bytes | None]]


class HeartbeatError(Exception):
    def __init__(self, code: int, message: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(slots=True)
class HeartbeatResult:
    error: int = ErrorCode.NONE
    message: str | None = None
    member_id: str | None = None
    member_epoch: int = 0
    heartbeat_interval_ms: int = 0
    assignment: Assignment | None = None


@dataclass(slots=True)
class HeartbeatRequest:
    group_id: str
    member_id: str
    member_epoch: int
    instance_id: str | None = None
    rack_id: str | None = None
    rebalance_timeout_ms: int = -1
    subscribed_topic_names: list[str] | None = None
    subscribed_topic_regex: str | None = None
    server_assignor: str | None = None
    owned: Assignment | None = None
    client_id: str = ""
    client_host: str = ""


def new_member_id() -> str:
    """Like Kafka's Uuid.randomUuid().toString(): 22 URL-safe base64 characters."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


class ConsumerGroupCoordinator:
    def __init__(
        self, manager: GroupMetadataManager, running_nursery: Callable[[], trio.Nursery]
    ) -> None:
        self.manager = manager
        self.config = manager.config
        self._running_nursery = running_nursery
        self.default_assignor = self.config.consumer_assignors[0]
        self._regex_cache: dict[str, tuple[tuple[str, ...], set[str]]] = {}

    # ---- topics --------------------------------------------------------------------

    def _topics(self):
        return self.manager.offsets_topic.topics()

    def resolve_regex(self, regex: str) -> set[str]:
        """The topics `regex` matches, remembered until the set of topics changes (a
        heartbeat resolves every member's regex: no per-topic work while it stays)."""
        names = tuple(self._topics())
        cached = self._regex_cache.get(regex)
        if cached is not None and cached[0] == names:
            return cached[1]
        pattern = re.compile(regex)
        matched = {n for n in names if n not in INTERNAL_TOPICS and pattern.fullmatch(n)}
        if len(self._regex_cache) >= 1000:
            self._regex_cache.clear()
        self._regex_cache[regex] = (names, matched)
        return matched

    def _subscription_metadata(self, group: ConsumerGroup) -> dict[str, tuple[bytes, int]]:
        topics = self._topics()
        return {
            name: (topics[name].topic_id, topics[name].partitions)
            for name in group.subscribed_topic_names(self.resolve_regex)
            if name in topics
        }

    # ---- ConsumerGroupHeartbeat ------------------------------------------------------

    async def heartbeat(self, req: HeartbeatRequest) -> HeartbeatResult:
        """The coordinator checked that this broker serves the group (and the topic
        exists). Answers once the records of the change are replicated."""
        try:
            self._validate(req)
            if req.member_epoch in (LEAVE_GROUP_MEMBER_EPOCH, LEAVE_GROUP_STATIC_MEMBER_EPOCH):
                group, out, result = self._leave(req)
            else:
                group, out, result = self._heartbeat(req)
        except HeartbeatError as exc:
            return HeartbeatResult(exc.code, exc.message)  # Kafka: no member id, epoch 0
        if out:
            error = await self.manager.write_records(group.partition, out)
            if error:
                # The state kept in memory is ahead of the log (Kafka reverts it to
                # its last committed snapshot); the client retries.
                return HeartbeatResult(error)
        return result

    def _validate(self, req: HeartbeatRequest) -> None:
        def invalid(message: str) -> HeartbeatError:
            return HeartbeatError(ErrorCode.INVALID_REQUEST, message)

        if req.instance_id == "":
            raise invalid("InstanceId can't be empty.")
        if req.rack_id == "":
            raise invalid("RackId can't be empty.")
        epoch = req.member_epoch
        if epoch > 0 or epoch == LEAVE_GROUP_MEMBER_EPOCH:
            if not req.member_id:
                raise invalid("MemberId can't be empty.")
        elif epoch == 0:
            if req.rebalance_timeout_ms == -1:
                raise invalid("RebalanceTimeoutMs must be provided in first request.")
            if req.owned is None or any(req.owned.values()):
                raise invalid("TopicPartitions must be empty when (re-)joining.")
            if not req.subscribed_topic_names and req.subscribed_topic_regex is None:
                raise invalid("SubscribedTopicNames must be set in first request.")
        elif epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH:
            if not req.member_id:
                raise invalid("MemberId can't be empty.")
            if req.instance_id is None:
                raise invalid("InstanceId can't be null.")
        else:
            raise invalid("MemberEpoch is invalid.")
        if (
            req.server_assignor is not None
            and req.server_assignor not in self.config.consumer_assignors
        ):
            raise HeartbeatError(
                ErrorCode.UNSUPPORTED_ASSIGNOR,
                f"ServerAssignor {req.server_assignor} is not supported. Supported assignors: "
                f"{', '.join(self.config.consumer_assignors)}.",
            )
        if req.subscribed_topic_regex is not None:
            try:
                re.compile(req.subscribed_topic_regex)
            except re.error as exc:
                raise HeartbeatError(
                    ErrorCode.INVALID_REGULAR_EXPRESSION,
                    f"SubscribedTopicRegex {req.subscribed_topic_regex} is invalid: {exc}",
                ) from exc

    def _group(self, group_id: str, create: bool, out: Records) -> Group:
        """Kafka's getOrMaybeCreateConsumerGroup: an empty classic group converts."""
        group = self.manager.get_group(group_id)
        if group is None:
            if not create:
                raise HeartbeatError(
                    ErrorCode.GROUP_ID_NOT_FOUND, f"Consumer group {group_id} not found."
                )
            group = self.manager.add_group(group_id)
        if group.consumer is None:
            if not create or not group.is_(EMPTY):
                raise HeartbeatError(
                    ErrorCode.GROUP_ID_NOT_FOUND, f"Group {group_id} is not a consumer group."
                )
            if group.generation_id or group.protocol_type is not None:
                log.info("Converting the empty classic group %s to a consumer group", group_id)
                out.append((group_key(group_id), None))
            group.protocol_type = None
            group.protocol_name = None
            group.consumer = ConsumerGroup(group_id)
        return group

    def _heartbeat(self, req: HeartbeatRequest) -> tuple[Group, Records, HeartbeatResult]:
        out: Records = []
        holder = self._group(req.group_id, req.member_epoch == 0, out)
        group = holder.consumer
        member_id = req.member_id or new_member_id()
        if len(group.members) >= self.config.consumer_max_size and member_id not in group.members:
            raise HeartbeatError(
                ErrorCode.GROUP_MAX_SIZE_REACHED,
                f"The consumer group has reached its maximum capacity of "
                f"{self.config.consumer_max_size} members.",
            )
        if req.instance_id is None:
            member = self._dynamic_member(group, member_id, req, out)
        else:
            member = self._static_member(group, member_id, req, out)
        is_new = member.member_id not in group.members
        updated = replace(
            member,
            instance_id=req.instance_id if req.instance_id is not None else member.instance_id,
            rack_id=req.rack_id if req.rack_id is not None else member.rack_id,
            rebalance_timeout_ms=(
                req.rebalance_timeout_ms
                if req.rebalance_timeout_ms != -1
                else member.rebalance_timeout_ms
            ),
            server_assignor=req.server_assignor or member.server_assignor,
            subscribed_topic_names=(
                tuple(req.subscribed_topic_names)
                if req.subscribed_topic_names is not None
                else member.subscribed_topic_names
            ),
            subscribed_topic_regex=(
                req.subscribed_topic_regex
                if req.subscribed_topic_regex is not None
                else member.subscribed_topic_regex
            ),
            client_id=req.client_id,
            client_host=req.client_host,
        )
        bump = is_new or updated.subscription() != member.subscription()
        if is_new or updated.metadata() != member.metadata():
            out.append(records.member_metadata_record(group.group_id, updated))
        group.update_member(updated)
        if is_new:
            log.info(
                "Member %s joins consumer group %s%s",
                member_id,
                group.group_id,
                f" (static, instance id {updated.instance_id})" if updated.instance_id else "",
            )
        bump = self._refresh_subscription(group, out) or bump
        if bump:
            self._bump_group_epoch(group, out)
        if group.group_epoch > group.assignment_epoch:
            self._update_target_assignment(group, out)
        final = self._reconcile(group, updated, req.owned, out)
        self._schedule_session_timeout(holder, member_id)
        full_request = req.member_epoch == 0 or (
            req.rebalance_timeout_ms != -1
            and req.subscribed_topic_names is not None
            and req.owned is not None
        )
        result = HeartbeatResult(
            member_id=final.member_id,
            member_epoch=final.member_epoch,
            heartbeat_interval_ms=self.config.consumer_heartbeat_interval_ms,
        )
        if full_request or final.assigned != member.assigned:
            result.assignment = copy_assignment(final.assigned)
        return holder, out, result

    def _dynamic_member(
        self, group: ConsumerGroup, member_id: str, req: HeartbeatRequest, out: Records
    ) -> ConsumerGroupMember:
        member = group.members.get(member_id)
        if member is None:
            if req.member_epoch != 0:
                raise HeartbeatError(
                    ErrorCode.UNKNOWN_MEMBER_ID,
                    f"Member {member_id} is not a member of group {group.group_id}.",
                )
            return ConsumerGroupMember(member_id)
        if req.member_epoch == 0:
            # A known member rejoins from scratch (it was fenced, or lost its state):
            # it gives everything up and joins as new under the same id.
            log.info("Member %s rejoins consumer group %s", member_id, group.group_id)
            self._remove_member(group, member, out)
            return ConsumerGroupMember(member_id)
        self._check_epoch(member, req.member_epoch, req.owned)
        return member

    def _static_member(
        self, group: ConsumerGroup, member_id: str, req: HeartbeatRequest, out: Records
    ) -> ConsumerGroupMember:
        existing = group.static_member(req.instance_id)
        if req.member_epoch == 0:
            if existing is None:
                return self._dynamic_member(group, member_id, req, out)
            if existing.member_id == member_id:
                return self._dynamic_member(group, member_id, req, out)
            if existing.member_epoch != LEAVE_GROUP_STATIC_MEMBER_EPOCH:
                raise HeartbeatError(
                    ErrorCode.UNRELEASED_INSTANCE_ID,
                    f"Static member {member_id} with instance id {req.instance_id} cannot join "
                    f"the group because the instance id is owned by {existing.member_id} member.",
                )
            # The new instance takes over the old one's place: its target assignment and
            # partitions (the old one gave them up when it left with epoch -2).
            log.info(
                "Static member with instance id %s rejoins consumer group %s as %s, replacing %s",
                req.instance_id,
                group.group_id,
                member_id,
                existing.member_id,
            )
            target = group.target_for(existing.member_id)
            self._remove_member(group, existing, out)
            member = replace(
                existing,
                member_id=member_id,
                member_epoch=0,
                previous_member_epoch=0,
                state=MemberState.STABLE,
                assigned={},
                pending_revocation={},
            )
            # In the group at once: a replacement is no new member (no epoch bump).
            group.update_member(member)
            group.target_assignment[member_id] = copy_assignment(target)
            out.append(records.member_metadata_record(group.group_id, member))
            out.append(records.target_assignment_record(group.group_id, member_id, target))
            return member
        if existing is None:
            raise HeartbeatError(
                ErrorCode.UNKNOWN_MEMBER_ID,
                f"Instance id {req.instance_id} is unknown.",
            )
        if existing.member_id != member_id:
            raise HeartbeatError(
                ErrorCode.FENCED_INSTANCE_ID,
                f"Static member {member_id} with instance id {req.instance_id} is fenced by "
                f"existing member {existing.member_id}.",
            )
        self._check_epoch(existing, req.member_epoch, req.owned)
        return existing

    @staticmethod
    def _check_epoch(member: ConsumerGroupMember, epoch: int, owned: Assignment | None) -> None:
        """Kafka's throwIfConsumerGroupMemberEpochIsInvalid: the previous epoch is
        accepted when the member owns a subset of its partitions (the answer that
        bumped its epoch may have been lost)."""
        if epoch > member.member_epoch:
            raise HeartbeatError(
                ErrorCode.FENCED_MEMBER_EPOCH,
                f"The consumer group member has a greater member epoch ({epoch}) than the one "
                f"known by the group coordinator ({member.member_epoch}). The member must "
                "abandon all its partitions and rejoin.",
            )
        if epoch < member.member_epoch:
            subset = owned is not None and all(
                set(ps) <= member.assigned.get(t, set()) for t, ps in owned.items()
            )
            if epoch != member.previous_member_epoch or not subset:
                raise HeartbeatError(
                    ErrorCode.FENCED_MEMBER_EPOCH,
                    f"The consumer group member has a smaller member epoch ({epoch}) than the "
                    f"one known by the group coordinator ({member.member_epoch}). The member "
                    "must abandon all its partitions and rejoin.",
                )

    def _refresh_subscription(self, group: ConsumerGroup, out: Records) -> bool:
        """Write the subscribed topics' metadata if it changed; whether it did."""
        metadata = self._subscription_metadata(group)
        if metadata == group.subscription_metadata:
            return False
        group.subscription_metadata = metadata
        out.append(records.partition_metadata_record(group.group_id, metadata))
        return True

    @staticmethod
    def _bump_group_epoch(group: ConsumerGroup, out: Records) -> None:
        group.group_epoch += 1
        out.append(records.group_epoch_record(group.group_id, group.group_epoch))
        log.info("Consumer group %s: group epoch bumped to %d", group.group_id, group.group_epoch)

    def _update_target_assignment(self, group: ConsumerGroup, out: Records) -> None:
        """Kafka's TargetAssignmentBuilder: a new target for every member, the records
        of the members whose target changed, then the target assignment epoch."""
        metadata = group.subscription_metadata
        partitions = {topic_id: n for topic_id, n in metadata.values()}
        specs = {}
        for member_id, member in group.members.items():
            names = set(member.subscribed_topic_names)
            if member.subscribed_topic_regex is not None:
                names |= self.resolve_regex(member.subscribed_topic_regex)
            specs[member_id] = MemberSpec(
                frozenset(metadata[n][0] for n in names if n in metadata),
                member.instance_id,
                group.target_for(member_id),
            )
        name = group.preferred_assignor(self.default_assignor)
        try:
            targets = ASSIGNORS[name].assign(specs, partitions)
        except PartitionAssignorError as exc:
            raise HeartbeatError(
                ErrorCode.UNKNOWN_SERVER_ERROR,
                f"Failed to compute a new target assignment for epoch {group.group_epoch}: {exc}",
            ) from exc
        for member_id, target in targets.items():
            if member_id not in group.target_assignment or target != group.target_for(member_id):
                out.append(records.target_assignment_record(group.group_id, member_id, target))
            group.target_assignment[member_id] = target
        group.assignment_epoch = group.group_epoch
        out.append(records.target_assignment_epoch_record(group.group_id, group.group_epoch))
        log.info(
            "Consumer group %s: new target assignment for epoch %d with the %s assignor",
            group.group_id,
            group.group_epoch,
            name,
        )

    def _reconcile(
        self,
        group: ConsumerGroup,
        member: ConsumerGroupMember,
        owned: Assignment | None,
        out: Records,
    ) -> ConsumerGroupMember:
        if member.is_reconciled_to(group.assignment_epoch):
            return member
        try:
            updated = reconcile(
                member,
                group.assignment_epoch,
                group.target_for(member.member_id),
                lambda t, p: group.partition_epochs.get((t, p), -1),
                owned,
            )
        except FencedMemberEpoch as exc:
            raise HeartbeatError(ErrorCode.FENCED_MEMBER_EPOCH, str(exc)) from exc
        if updated.current_assignment() != member.current_assignment():
            group.update_member(updated)
            out.append(records.current_assignment_record(group.group_id, updated))
            holder = self.manager.get_group(group.group_id)
            if updated.state is MemberState.UNREVOKED_PARTITIONS:
                self._schedule_rebalance_timeout(holder, updated)
            else:
                self._stop_timer(group, "rebalance", updated.member_id)
        return updated

    # ---- leaving and fencing -------------------------------------------------------

    def _leave(self, req: HeartbeatRequest) -> tuple[Group, Records, HeartbeatResult]:
        holder = self._group(req.group_id, False, [])
        group = holder.consumer
        out: Records = []
        result = HeartbeatResult(member_id=req.member_id, member_epoch=req.member_epoch)
        if req.instance_id is None:
            member = group.members.get(req.member_id)
            if member is None:
                raise HeartbeatError(
                    ErrorCode.UNKNOWN_MEMBER_ID,
                    f"Member {req.member_id} is not a member of group {group.group_id}.",
                )
        else:
            member = group.static_member(req.instance_id)
            if member is None:
                raise HeartbeatError(
                    ErrorCode.UNKNOWN_MEMBER_ID, f"Instance id {req.instance_id} is unknown."
                )
            if member.member_id != req.member_id:
                raise HeartbeatError(
                    ErrorCode.FENCED_INSTANCE_ID,
                    f"Static member {req.member_id} with instance id {req.instance_id} is "
                    f"fenced by existing member {member.member_id}.",
                )
            if req.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH:
                # It will be back: it keeps its place and partitions until its session
                # times out or a new instance takes over.
                log.info(
                    "Static member %s (instance id %s) temporarily left consumer group %s",
                    member.member_id,
                    req.instance_id,
                    group.group_id,
                )
                leaving = replace(
                    member, member_epoch=LEAVE_GROUP_STATIC_MEMBER_EPOCH, pending_revocation={}
                )
                group.update_member(leaving)
                self._stop_timer(group, "rebalance", member.member_id)
                out.append(records.current_assignment_record(group.group_id, leaving))
                return holder, out, result
        log.info("Member %s left consumer group %s", member.member_id, group.group_id)
        self._fence(group, member, out)
        return holder, out, result

    def _fence(self, group: ConsumerGroup, member: ConsumerGroupMember, out: Records) -> None:
        """Kafka's consumerGroupFenceMember: the member goes, the group epoch moves."""
        self._remove_member(group, member, out)
        self._refresh_subscription(group, out)
        self._bump_group_epoch(group, out)

    @staticmethod
    def _remove_member(group: ConsumerGroup, member: ConsumerGroupMember, out: Records) -> None:
        group.stop_timers(member.member_id)
        group.remove_member(member.member_id)
        out.extend(records.member_tombstones(group.group_id, member.member_id))

    def _schedule_session_timeout(self, holder: Group, member_id: str) -> None:
        self._timer(
            holder,
            "session",
            member_id,
            self.config.consumer_session_timeout_ms,
            partial(self._on_timeout, holder, member_id, None, "the member session expired"),
        )

    def _schedule_rebalance_timeout(self, holder: Group, member: ConsumerGroupMember) -> None:
        self._timer(
            holder,
            "rebalance",
            member.member_id,
            max(member.rebalance_timeout_ms, 0),
            partial(
                self._on_timeout,
                holder,
                member.member_id,
                member.member_epoch,
                f"it failed to revoke partitions within {member.rebalance_timeout_ms} ms",
            ),
        )

    def _timer(self, holder: Group, kind: str, member_id: str, delay_ms: int, callback) -> None:
        group = holder.consumer
        timer = group.timers.get((kind, member_id))
        if timer is None:
            timer = group.timers[(kind, member_id)] = Timer(self._running_nursery(), callback)
        timer.reset(delay_ms)

    @staticmethod
    def _stop_timer(group: ConsumerGroup, kind: str, member_id: str) -> None:
        timer = group.timers.pop((kind, member_id), None)
        if timer is not None:
            timer.stop()

    def _on_timeout(self, holder: Group, member_id: str, epoch: int | None, why: str) -> None:
        group = holder.consumer
        if group is None or self.manager.get_group(holder.group_id) is not holder:
            return
        member = group.members.get(member_id)
        if member is None or (epoch is not None and member.member_epoch != epoch):
            return
        log.info("Member %s fenced from consumer group %s: %s", member_id, group.group_id, why)
        out: Records = []
        self._fence(group, member, out)
        self._running_nursery().start_soon(self._write_in_background, holder, out)

    async def _write_in_background(self, holder: Group, out: Records) -> None:
        error = await self.manager.write_records(holder.partition, out)
        if error:
            log.warning(
                "Cannot write consumer group %s records: %s",
                holder.group_id,
                ErrorCode(error).name,
            )

    # ---- loading ---------------------------------------------------------------------

    def on_loaded(self, holder: Group) -> None:
        """Members of a loaded group must heartbeat within their session timeout."""
        for member_id in holder.consumer.members:
            self._schedule_session_timeout(holder, member_id)

    # ---- ConsumerGroupDescribe -------------------------------------------------------

    def describe(self, holder: Group | None, group_id: str):
        """(error, message, ConsumerGroup) of one group."""
        if holder is None or holder.consumer is None:
            return ErrorCode.GROUP_ID_NOT_FOUND, f"Group {group_id} not found.", None
        return ErrorCode.NONE, None, holder.consumer

    def topic_names(self) -> dict[bytes, str]:
        return {t.topic_id: name for name, t in self._topics().items()}

    def named(self, assignment: Assignment, names: dict[bytes, str]) -> dict[str, list[int]]:
        """An assignment by topic name (topics deleted meanwhile left out)."""
        return {names[t]: sorted(ps) for t, ps in assignment.items() if t in names and ps}

    def summary(self, group: ConsumerGroup) -> GroupSummary:
        """What DescribeGroups (classic) shows of a KIP-848 group: its state, protocol
        type "consumer", the assignor as protocol, and each member's subscription and
        assignment in the consumer protocol's format, as tools expect of a consumer."""
        names = self.topic_names()
        members = [
            MemberSummary(
                m.member_id,
                m.instance_id,
                m.client_id,
                m.client_host,
                consumer_protocol.encode_subscription(list(m.subscribed_topic_names)),
                consumer_protocol.encode_assignment(self.named(m.assigned, names)),
            )
            for m in group.members.values()
        ]
        protocol = group.preferred_assignor(self.default_assignor) if members else ""
        return GroupSummary(str(group.state), consumer_protocol.PROTOCOL_TYPE, protocol, members)

    async def convert_to_classic(self, holder: Group) -> None:
        """A classic JoinGroup to an empty KIP-848 group: the group becomes classic
        (its offsets stay), its consumer group records are deleted."""
        group = holder.consumer
        holder.consumer = None
        group.dead = True
        group.stop_timers()
        log.info("Converting the empty consumer group %s to a classic group", holder.group_id)
        error = await self.manager.write_records(
            holder.partition, records.group_tombstones(holder.group_id)
        )
        if error:
            log.warning(
                "Cannot delete consumer group %s: %s", holder.group_id, ErrorCode(error).name
            )
