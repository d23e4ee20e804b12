"""The group coordinator: Kafka's classic group membership protocol.

Kafka's GroupCoordinator as a Trio object: JoinGroup, SyncGroup, Heartbeat and
LeaveGroup, and the answers to DescribeGroups, ListGroups and DeleteGroups. The
offset requests (OffsetCommit, TxnOffsetCommit, OffsetFetch, OffsetDelete) are its
base class OffsetRequests (offsets.py). The groups themselves, their loading and every write
to `__consumer_offsets` belong to the GroupMetadataManager (metadata_manager.py),
which the coordinator asks to look groups up and to persist them; the coordinator
never touches the broker.

Membership follows Kafka (see group.py for the states): a JoinGroup from a new member
gets MEMBER_ID_REQUIRED first (v4+, KIP-394); a join round ends when every known
member has rejoined or the rebalance timeout passes (members that did not rejoin are
dropped); the first round of a new group waits `group.initial.rebalance.delay.ms`,
extended while members keep arriving; the leader receives everyone's metadata and
its SyncGroup carries the assignment that every member's SyncGroup then returns.
Members that stop heartbeating for their session timeout are removed, which starts
a rebalance. Static members (KIP-345) keep their place across restarts, and a new
instance with the same group.instance.id fences the old one.

JoinGroup and SyncGroup requests wait on a reply that the event completing them
sets; timeouts are `Timer`s (tasks in the coordinator's nursery, asleep until their
deadline). Group state changes that depend on a write are re-checked after it, as
Kafka's callbacks do, so that a write that waits for replication keeps working.

This module checks and answers the requests; what happens to a group over time (the
join round, the end of the sync round, sessions, removing members) is the
Rebalancer's (rebalance.py), which the coordinator owns and calls down into.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import trio

from kafka_compat.events import Reply
from kafka_compat.groups.group import (
    COMPLETING_REBALANCE,
    DEAD,
    DEAD_GROUP,
    EMPTY,
    PREPARING_REBALANCE,
    STABLE,
    Group,
    GroupSummary,
    IllegalGroupState,
    JoinResult,
    Member,
    SyncResult,
)
from kafka_compat.groups.metadata_manager import GroupMetadataManager
from kafka_compat.groups.offsets import OffsetRequests
from kafka_compat.groups.rebalance import UNKNOWN_MEMBER_ID, Rebalancer
from protocol.errors import ErrorCode

if TYPE_CHECKING:
    from kafka_compat.groups.consumer_coordinator import (
        ConsumerGroupCoordinator,
        HeartbeatRequest,
    )

log = logging.getLogger(__name__)

# A new member's first JoinGroup may wait this long for the round to end (Kafka's value).
NEW_MEMBER_JOIN_TIMEOUT_MS = 5 * 60 * 1000


class GroupCoordinator(OffsetRequests):
    def __init__(self, manager: GroupMetadataManager):
        self.manager = manager
        self.config = manager.config
        self.time_ms = manager.time_ms
        self._nursery: trio.Nursery | None = None
        self._loaded = trio.Event()
        self.rebalancer = Rebalancer(manager, self._running_nursery)

    @cached_property
    def consumer(self) -> ConsumerGroupCoordinator:
        """KIP-848 groups (type "consumer"): ConsumerGroupHeartbeat and Describe. Built
        (its module imported) when the first such group or request shows up."""
        from kafka_compat.groups.consumer_coordinator import ConsumerGroupCoordinator

        return ConsumerGroupCoordinator(self.manager, self._running_nursery)

    # ---- lifetime --------------------------------------------------------------------

    @property
    def active(self) -> bool:
        return self._nursery is not None

    async def run(self, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Own the timers, load the partitions this broker leads, expire old offsets.

        Reports started as soon as requests can be answered (COORDINATOR_LOAD_IN_PROGRESS
        until the partitions are loaded); runs until cancelled.
        """
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                partitions = self.manager.startup()
                task_status.started()
                for index in partitions:
                    await self.load_partition(index)
                self._loaded.set()
                nursery.start_soon(self.manager.expire_offsets_periodically)
        finally:
            self._nursery = None

    async def wait_loaded(self) -> None:
        """Until the partitions found at start-up are loaded."""
        await self._loaded.wait()

    def partition_for(self, group_id: str) -> int:
        return self.manager.partition_for(group_id)

    async def ensure_offsets_topic(self) -> int:
        """Create __consumer_offsets on first use (Kafka's settings); an error code."""
        return await self.manager.ensure_offsets_topic()

    # ---- partitions: load and unload ---------------------------------------------------

    async def load_partition(self, index: int) -> None:
        """Become the coordinator of the groups in partition `index`: replay its log."""
        await self.manager.load_partition(index, self._on_group_loaded)

    def unload_partition(self, index: int) -> None:
        """This broker no longer leads partition `index`: drop its groups (Kafka's
        onGroupUnloaded). Members waiting on a join or sync get NOT_COORDINATOR."""
        self.manager.unload_partition(index, self._on_group_unloaded)

    def _on_group_loaded(self, group: Group) -> None:
        # Members of a loaded group must heartbeat again within their session timeout.
        if group.consumer is not None:
            self.consumer.on_loaded(group)
        for member in group.members.values():
            self.rebalancer.schedule_heartbeat(group, member)

    @staticmethod
    def _on_group_unloaded(group: Group) -> None:
        group.transition_to(DEAD)
        if group.consumer is not None:
            group.consumer.dead = True
        for member in list(group.members.values()):
            group.maybe_invoke_join(member, JoinResult(member.member_id, ErrorCode.NOT_COORDINATOR))
            group.maybe_invoke_sync(member, SyncResult(ErrorCode.NOT_COORDINATOR))

    # ---- request checks ------------------------------------------------------------

    def _group_error(self, group_id: str | None, allow_empty_id: bool = False) -> int:
        """Kafka's validateGroupStatus: can this broker answer for the group now?"""
        if group_id is None or (not allow_empty_id and group_id == ""):
            return ErrorCode.INVALID_GROUP_ID
        if not self.active:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        if self.manager.is_group_loading(group_id):
            return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
        if not self.manager.is_group_local(group_id):
            return ErrorCode.NOT_COORDINATOR
        return ErrorCode.NONE

    async def _writable_group_error(self, group_id: str | None, allow_empty_id: bool = False):
        """_group_error for requests that write: the topic is created first if need be."""
        error = self._group_error(group_id, allow_empty_id)
        if error:
            return error
        error = await self.ensure_offsets_topic()
        if error:
            return error
        return self._group_error(group_id, allow_empty_id)

    @staticmethod
    def _validate_current_member(
        group: Group, member_id: str, group_instance_id: str | None
    ) -> int:
        """FENCED_INSTANCE_ID if another member holds the instance id, UNKNOWN_MEMBER_ID
        if the member is not in the group, else NONE."""
        if group_instance_id is not None:
            current = group.static_member_id(group_instance_id)
            if current is None:
                return ErrorCode.UNKNOWN_MEMBER_ID
            if current != member_id:
                log.info(
                    "Static member %s of group %s with unknown member id %s is fenced by %s",
                    group_instance_id,
                    group.group_id,
                    member_id,
                    current,
                )
                return ErrorCode.FENCED_INSTANCE_ID
            return ErrorCode.NONE
        return ErrorCode.NONE if group.has(member_id) else ErrorCode.UNKNOWN_MEMBER_ID

    # ---- JoinGroup -------------------------------------------------------------------

    async def join_group(
        self,
        group_id: str,
        member_id: str,
        group_instance_id: str | None,
        client_id: str,
        client_host: str,
        rebalance_timeout_ms: int,
        session_timeout_ms: int,
        protocol_type: str,
        protocols: list[tuple[str, bytes]],
        *,
        require_known_member_id: bool = False,
        supports_skip_assignment: bool = False,
        reason: str | None = None,
    ) -> JoinResult:
        """Kafka's handleJoinGroup; returns when this member's join round is over."""
        error = await self._writable_group_error(group_id)
        if error:
            return JoinResult(member_id, error)
        if not (
            self.config.min_session_timeout_ms
            <= session_timeout_ms
            <= self.config.max_session_timeout_ms
        ):
            return JoinResult(member_id, ErrorCode.INVALID_SESSION_TIMEOUT)
        is_unknown = member_id == UNKNOWN_MEMBER_ID
        group = self.manager.get_group(group_id)
        if group is not None and group.consumer is not None:
            if not group.is_empty:
                # A KIP-848 group with members (no migration between the protocols).
                return JoinResult(member_id, ErrorCode.INCONSISTENT_GROUP_PROTOCOL)
            await self.consumer.convert_to_classic(group)
        if group is None:
            if not is_unknown:
                return JoinResult(member_id, ErrorCode.UNKNOWN_MEMBER_ID)
            group = self.manager.add_group(group_id)
        reply = Reply()
        request = _JoinRequest(
            member_id,
            group_instance_id,
            client_id,
            client_host,
            rebalance_timeout_ms,
            session_timeout_ms,
            protocol_type,
            list(protocols),
            require_known_member_id,
            supports_skip_assignment,
            reason or "",
            reply,
        )
        if not self._accept_joining_member(group, member_id):
            member = group.members.get(member_id)
            if member is not None:
                self.rebalancer.remove_member(group, member)
            self.rebalancer.stop_pending_member(group, member_id)
            reply(JoinResult(UNKNOWN_MEMBER_ID, ErrorCode.GROUP_MAX_SIZE_REACHED))
        elif is_unknown:
            self._do_new_member_join(group, request)
        else:
            self._do_current_member_join(group, request)
        if group.is_(PREPARING_REBALANCE):
            self.rebalancer.try_complete_join(group)
        return await reply.wait()

    def _accept_joining_member(self, group: Group, member_id: str) -> bool:
        """group.max.size: new members are refused once the group is full."""
        max_size = self.config.max_size
        if group.state in (EMPTY, DEAD):
            return True
        if group.is_(PREPARING_REBALANCE):
            member = group.members.get(member_id)
            return (
                member is not None and member.is_awaiting_join
            ) or group.num_awaiting_join < max_size
        return group.has(member_id) or len(group.members) < max_size

    def _do_new_member_join(self, group: Group, req: _JoinRequest) -> None:
        if group.is_(DEAD):
            req.reply(JoinResult(UNKNOWN_MEMBER_ID, ErrorCode.COORDINATOR_NOT_AVAILABLE))
            return
        if not group.supports_protocols(req.protocol_type, [n for n, _ in req.protocols]):
            req.reply(JoinResult(UNKNOWN_MEMBER_ID, ErrorCode.INCONSISTENT_GROUP_PROTOCOL))
            return
        new_member_id = f"{req.group_instance_id or req.client_id}-{uuid.uuid4()}"
        if req.group_instance_id is not None:
            old_member_id = group.static_member_id(req.group_instance_id)
            if old_member_id is None:
                log.info(
                    "Static member %s joins group %s in %s state with new member id %s",
                    req.group_instance_id,
                    group.group_id,
                    group.state,
                    new_member_id,
                )
                self._add_member_and_rebalance(group, new_member_id, req)
            else:
                log.info(
                    "Static member %s joins group %s in %s state; member id %s replaces %s",
                    req.group_instance_id,
                    group.group_id,
                    group.state,
                    new_member_id,
                    old_member_id,
                )
                self._update_static_member_and_rebalance(group, old_member_id, new_member_id, req)
        elif req.require_known_member_id:
            # KIP-394: hand out the member id and have the client join again with it.
            self.rebalancer.add_pending_member(group, new_member_id, req.session_timeout_ms)
            req.reply(JoinResult(new_member_id, ErrorCode.MEMBER_ID_REQUIRED))
        else:
            self._add_member_and_rebalance(group, new_member_id, req)

    def _do_current_member_join(self, group: Group, req: _JoinRequest) -> None:
        member_id = req.member_id
        if group.is_(DEAD):
            req.reply(JoinResult(member_id, ErrorCode.COORDINATOR_NOT_AVAILABLE))
            return
        if not group.supports_protocols(req.protocol_type, [n for n, _ in req.protocols]):
            req.reply(JoinResult(member_id, ErrorCode.INCONSISTENT_GROUP_PROTOCOL))
            return
        if group.is_pending_member(member_id):
            if req.group_instance_id is not None:
                # Static members never get MEMBER_ID_REQUIRED, so never become pending.
                req.reply(JoinResult(member_id, ErrorCode.UNKNOWN_MEMBER_ID))
                return
            self._add_member_and_rebalance(group, member_id, req)
            return
        error = self._validate_current_member(group, member_id, req.group_instance_id)
        if error:
            req.reply(JoinResult(member_id, error))
            return
        member = group.members[member_id]
        if group.is_(PREPARING_REBALANCE):
            self._update_member_and_rebalance(
                group, member, req, f"member {member_id} joining during {group.state}"
            )
        elif group.is_(COMPLETING_REBALANCE):
            if member.matches(req.protocols):
                # The member missed the JoinGroup answer: give it the current generation.
                req.reply(self._current_join_result(group, member_id))
            else:
                self._update_member_and_rebalance(
                    group, member, req, f"member {member_id} updated its metadata"
                )
        elif group.is_(STABLE):
            if group.is_leader(member_id):
                # The leader rejoins to have metadata changes (topics) reassigned.
                self._update_member_and_rebalance(
                    group, member, req, f"leader {member_id} rejoining during {group.state}"
                )
            elif not member.matches(req.protocols):
                self._update_member_and_rebalance(
                    group, member, req, f"member {member_id} updated its metadata"
                )
            else:
                req.reply(self._current_join_result(group, member_id, with_members=False))
        else:
            log.warning(
                "Rejoining member %s of group %s in unexpected state %s",
                member_id,
                group.group_id,
                group.state,
            )
            req.reply(JoinResult(member_id, ErrorCode.UNKNOWN_MEMBER_ID))

    def _current_join_result(self, group: Group, member_id: str, with_members: bool = True):
        leader = group.is_leader(member_id) and with_members
        return group.join_result(
            member_id, members=group.current_member_metadata() if leader else None
        )

    def _add_member_and_rebalance(self, group: Group, member_id: str, req: _JoinRequest) -> None:
        member = Member(
            member_id=member_id,
            group_instance_id=req.group_instance_id,
            client_id=req.client_id,
            client_host=req.client_host,
            rebalance_timeout_ms=req.rebalance_timeout_ms,
            session_timeout_ms=req.session_timeout_ms,
            protocol_type=req.protocol_type,
            protocols=req.protocols,
            is_new=True,
        )
        # While the first round of a new group waits, each arrival extends the wait.
        if group.is_(PREPARING_REBALANCE) and group.generation_id == 0:
            group.new_member_added = True
        self.rebalancer.stop_pending_member(group, member_id)
        group.add(member, req.reply)
        # A new member cannot heartbeat before its first join completes; bound that wait.
        self.rebalancer.schedule_heartbeat(group, member, NEW_MEMBER_JOIN_TIMEOUT_MS)
        self.rebalancer.maybe_prepare_rebalance(group, f"adding new member {member_id}")

    def _update_member_and_rebalance(
        self, group: Group, member: Member, req: _JoinRequest, reason: str
    ) -> None:
        self._supersede_join(group, member)
        group.update_member(
            member, req.protocols, req.rebalance_timeout_ms, req.session_timeout_ms, req.reply
        )
        self.rebalancer.maybe_prepare_rebalance(group, reason)

    @staticmethod
    def _supersede_join(group: Group, member: Member) -> None:
        """A member joins again while an earlier JoinGroup of it still waits (another
        connection): that one is answered now instead of hanging forever."""
        group.maybe_invoke_join(
            member, JoinResult(member.member_id, ErrorCode.REBALANCE_IN_PROGRESS)
        )

    def _update_static_member_and_rebalance(
        self, group: Group, old_member_id: str, new_member_id: str, req: _JoinRequest
    ) -> None:
        current_leader = group.leader_id
        member = group.replace_static_member(req.group_instance_id, old_member_id, new_member_id)
        # The old id's session is over; the new id starts its own.
        self.rebalancer.schedule_heartbeat(group, member)
        old = (list(member.protocols), member.rebalance_timeout_ms, member.session_timeout_ms)
        group.update_member(
            member, req.protocols, req.rebalance_timeout_ms, req.session_timeout_ms, req.reply
        )
        if group.is_(STABLE):
            # No rebalance if the group's protocol stays: persist the new member id and
            # hand the member its current assignment.
            if group.protocol_name == group.select_protocol():
                assignment = {m.member_id: m.assignment for m in group.members.values()}
                self._spawn(
                    self._finish_static_rejoin,
                    group,
                    member,
                    req,
                    old_member_id,
                    old,
                    current_leader,
                    assignment,
                )
            else:
                self.rebalancer.maybe_prepare_rebalance(
                    group, f"static member {req.group_instance_id} changed the protocol"
                )
        elif group.is_(COMPLETING_REBALANCE):
            # The leader may be assigning to the old member id: start over.
            self.rebalancer.prepare_rebalance(
                group, f"static member {req.group_instance_id} rejoined while completing"
            )
        elif not group.is_(PREPARING_REBALANCE):
            raise IllegalGroupState(
                f"group {group.group_id} in {group.state} when static member "
                f"{req.group_instance_id} rejoins"
            )

    async def _finish_static_rejoin(
        self,
        group: Group,
        member: Member,
        req: _JoinRequest,
        old_member_id: str,
        old: tuple,
        current_leader: str | None,
        assignment: dict[str, bytes],
    ) -> None:
        new_member_id = member.member_id
        error = await self.manager.store_group(group, assignment)
        if group.members.get(new_member_id) is not member or not group.is_(STABLE):
            return  # a rebalance took over; it answers the member
        if error:
            log.warning("Cannot persist group %s: %s", group.group_id, ErrorCode(error).name)
            group.update_member(member, *old, None)
            restored = group.replace_static_member(
                req.group_instance_id, new_member_id, old_member_id
            )
            self.rebalancer.schedule_heartbeat(group, restored)
            req.reply(group.join_result(UNKNOWN_MEMBER_ID, error, leader_id=current_leader or ""))
        elif req.supports_skip_assignment:
            # JoinGroup v9+: the leader learns it leads but keeps the current assignment.
            leader = group.is_leader(new_member_id)
            group.maybe_invoke_join(
                member,
                group.join_result(
                    new_member_id,
                    skip_assignment=leader,
                    members=group.current_member_metadata() if leader else None,
                ),
            )
        else:
            # Older clients: name the old leader id so the member does not assign.
            group.maybe_invoke_join(
                member, group.join_result(new_member_id, leader_id=current_leader or "")
            )

    # ---- SyncGroup -----------------------------------------------------------------

    async def sync_group(
        self,
        group_id: str,
        generation_id: int,
        member_id: str,
        group_instance_id: str | None,
        protocol_type: str | None,
        protocol_name: str | None,
        assignments: dict[str, bytes],
    ) -> SyncResult:
        """Kafka's handleSyncGroup; a follower waits here for the leader's assignment."""
        error = self._group_error(group_id)
        if error == ErrorCode.COORDINATOR_LOAD_IN_PROGRESS:
            # The rebalance state is gone with the load: make the member rejoin.
            return SyncResult(ErrorCode.REBALANCE_IN_PROGRESS)
        if error:
            return SyncResult(error)
        group = self.manager.get_group(group_id)
        if group is None:
            return SyncResult(ErrorCode.UNKNOWN_MEMBER_ID)
        if group.is_(DEAD):
            return SyncResult(ErrorCode.COORDINATOR_NOT_AVAILABLE)
        error = self._validate_current_member(group, member_id, group_instance_id)
        if error:
            return SyncResult(error)
        if generation_id != group.generation_id:
            return SyncResult(ErrorCode.ILLEGAL_GENERATION)
        if protocol_type is not None and protocol_type != group.protocol_type:
            return SyncResult(ErrorCode.INCONSISTENT_GROUP_PROTOCOL)
        if protocol_name is not None and protocol_name != group.protocol_name:
            return SyncResult(ErrorCode.INCONSISTENT_GROUP_PROTOCOL)
        if group.is_(EMPTY):
            return SyncResult(ErrorCode.UNKNOWN_MEMBER_ID)
        if group.is_(PREPARING_REBALANCE):
            return SyncResult(ErrorCode.REBALANCE_IN_PROGRESS)
        member = group.members[member_id]
        if group.is_(STABLE):
            self.rebalancer.remove_pending_sync_member(group, member_id)
            self.rebalancer.schedule_heartbeat(group, member)
            return SyncResult(
                ErrorCode.NONE, member.assignment, group.protocol_type, group.protocol_name
            )
        # CompletingRebalance: wait for the leader's assignment.
        reply = Reply()
        group.maybe_invoke_sync(member, SyncResult(ErrorCode.REBALANCE_IN_PROGRESS))
        member.awaiting_sync = reply
        self.rebalancer.remove_pending_sync_member(group, member_id)
        if group.is_leader(member_id):
            log.info(
                "Assignment received from leader %s for group %s for generation %d",
                member_id,
                group.group_id,
                group.generation_id,
            )
            assignment = dict(assignments)
            for other in group.members:
                assignment.setdefault(other, b"")
            error = await self.manager.store_group(group, assignment)
            # Another member may have joined meanwhile: only this generation may settle.
            if group.is_(COMPLETING_REBALANCE) and generation_id == group.generation_id:
                if error:
                    self.rebalancer.reset_and_propagate_assignment_error(group, error)
                    self.rebalancer.maybe_prepare_rebalance(
                        group, f"error storing the assignment of {member_id}"
                    )
                else:
                    for m in group.members.values():
                        m.assignment = assignment.get(m.member_id, b"")
                    self.rebalancer.propagate_assignment(group, ErrorCode.NONE)
                    group.transition_to(STABLE)
        return await reply.wait()

    # ---- Heartbeat and LeaveGroup ------------------------------------------------------

    def heartbeat(
        self, group_id: str, member_id: str, group_instance_id: str | None, generation_id: int
    ) -> int:
        error = self._group_error(group_id)
        if error == ErrorCode.COORDINATOR_LOAD_IN_PROGRESS:
            return ErrorCode.NONE  # the group is still loading: answer blindly, as Kafka does
        if error:
            return error
        group = self.manager.get_group(group_id)
        if group is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if group.is_(DEAD):
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        error = self._validate_current_member(group, member_id, group_instance_id)
        if error:
            return error
        if generation_id != group.generation_id:
            return ErrorCode.ILLEGAL_GENERATION
        if group.is_(EMPTY):
            return ErrorCode.UNKNOWN_MEMBER_ID
        self.rebalancer.schedule_heartbeat(group, group.members[member_id])
        if group.is_(PREPARING_REBALANCE):
            return ErrorCode.REBALANCE_IN_PROGRESS
        return ErrorCode.NONE

    def leave_group(
        self, group_id: str, members: list[tuple[str, str | None]]
    ) -> tuple[int, list[tuple[str, str | None, int]]]:
        """(group error, [(member_id, group_instance_id, error)]) for LeaveGroup v0-5.

        A member may be named by its group.instance.id alone (administrative removal)."""
        error = self._group_error(group_id)
        if error:
            return error, []
        group = self.manager.get_group(group_id)
        if group is None:
            return ErrorCode.NONE, [(m, i, ErrorCode.UNKNOWN_MEMBER_ID) for m, i in members]
        if group.is_(DEAD):
            return ErrorCode.COORDINATOR_NOT_AVAILABLE, []
        results = []
        for member_id, instance_id in members:
            if member_id == UNKNOWN_MEMBER_ID:
                current = group.static_member_id(instance_id)
                if current is None:
                    error = ErrorCode.UNKNOWN_MEMBER_ID
                else:
                    error = ErrorCode.NONE
                    self.rebalancer.remove_member_and_update_group(
                        group, group.members[current], f"static member {instance_id} removed"
                    )
            elif group.is_pending_member(member_id):
                log.info("Pending member %s has left group %s", member_id, group.group_id)
                self.rebalancer.remove_pending_member_and_update_group(group, member_id)
                error = ErrorCode.NONE
            else:
                error = self._validate_current_member(group, member_id, instance_id)
                if not error:
                    log.info("Member %s has left group %s", member_id, group.group_id)
                    self.rebalancer.remove_member_and_update_group(
                        group, group.members[member_id], f"member {member_id} left the group"
                    )
            results.append((member_id, instance_id, error))
        return ErrorCode.NONE, results

    # ---- KIP-848: ConsumerGroupHeartbeat, ConsumerGroupDescribe -------------------------

    async def consumer_group_heartbeat(self, request: HeartbeatRequest):
        """A HeartbeatResult (consumer_coordinator.py), once its records are written."""
        error = await self._writable_group_error(request.group_id)
        if error:
            from kafka_compat.groups.consumer_coordinator import HeartbeatResult

            return HeartbeatResult(error)
        return await self.consumer.heartbeat(request)

    def consumer_group_describe(self, group_id: str):
        """(error, message, ConsumerGroup or None)."""
        error = self._group_error(group_id)
        if error:
            return error, None, None
        return self.consumer.describe(self.manager.get_group(group_id), group_id)

    # ---- describe, list, delete ------------------------------------------------------

    def describe_group(self, group_id: str) -> tuple[int, GroupSummary]:
        error = self._group_error(group_id, allow_empty_id=True)
        if error:
            return error, GroupSummary("", "", "", [])
        group = self.manager.get_group(group_id)
        if group is None:
            return ErrorCode.NONE, DEAD_GROUP
        if group.consumer is not None:
            return ErrorCode.NONE, self.consumer.summary(group.consumer)
        return ErrorCode.NONE, group.summary()

    def list_groups(
        self, states: Iterable[str] = (), types: Iterable[str] = ()
    ) -> tuple[int, list[tuple[str, str, str, str]]]:
        """(error, [(group_id, protocol_type, state, type)]); the states and types
        ("classic", "consumer") filter case-insensitively."""
        if not self.active:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE, []
        error = (
            ErrorCode.COORDINATOR_LOAD_IN_PROGRESS if self.manager.is_loading else ErrorCode.NONE
        )
        wanted = {state.lower() for state in states}
        wanted_types = {t.lower() for t in types}
        listed = []
        for group in self.manager.groups.values():
            if group.consumer is not None:
                entry = (group.group_id, "consumer", str(group.consumer.state), "consumer")
            else:
                entry = (group.group_id, group.protocol_type or "", str(group.state), "classic")
            if (not wanted or entry[2].lower() in wanted) and (
                not wanted_types or entry[3] in wanted_types
            ):
                listed.append(entry)
        return error, listed

    async def delete_groups(self, group_ids: Iterable[str]) -> dict[str, int]:
        """DeleteGroups: empty groups go, with their offsets (tombstones written)."""
        results: dict[str, int] = {}
        eligible: list[Group] = []
        for group_id in group_ids:
            error = self._group_error(group_id, allow_empty_id=True)
            if error:
                results[group_id] = error
                continue
            group = self.manager.get_group(group_id)
            if group is None or group.is_(DEAD):
                results[group_id] = ErrorCode.GROUP_ID_NOT_FOUND
            elif group.is_(EMPTY) and group.is_empty:
                group.transition_to(DEAD)
                eligible.append(group)
            else:
                results[group_id] = ErrorCode.NON_EMPTY_GROUP
        if eligible:
            await self.manager.cleanup_groups(eligible, lambda g: g.remove_all_offsets())
            for group in eligible:
                results[group.group_id] = ErrorCode.NONE
                log.info("Group %s deleted", group.group_id)
        return results

    # ---- expiry ----------------------------------------------------------------------

    async def expire_offsets(self) -> int:
        """Drop offsets past `offsets.retention.minutes`; how many went (the manager's)."""
        return await self.manager.expire_offsets()

    # ---- helpers -------------------------------------------------------------------

    def _spawn(self, fn, *args) -> None:
        """Run `fn(*args)` as a task of the coordinator (a write whose outcome a group
        waits for). Raises if the coordinator is not running: work that cannot be
        scheduled is an error, never silently dropped."""
        self._running_nursery().start_soon(fn, *args)

    def _running_nursery(self) -> trio.Nursery:
        if self._nursery is None:
            raise RuntimeError("the group coordinator is not running")
        return self._nursery


@dataclass(slots=True)
class _JoinRequest:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    protocol_type: str
    protocols: list[tuple[str, bytes]]
    require_known_member_id: bool
    supports_skip_assignment: bool
    reason: str
    reply: Reply[JoinResult]
