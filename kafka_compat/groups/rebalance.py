"""The rebalance machinery under the group coordinator: rounds, sessions, removal.

What happens to a group over time rather than in answer to one request: Kafka's
prepareRebalance and onCompleteJoin (the join round, with `group.initial.rebalance.delay.ms`
for a new group), the end of the sync round (the leader's assignment, or its error,
handed to every waiting SyncGroup), member sessions, and taking members out
(left, expired, or not rejoined in time). Kafka's delayed operations (DelayedJoin,
InitialDelayedJoin, DelayedSync, DelayedHeartbeat) are `Timer`s here, tasks in the
coordinator's nursery asleep until their deadline.

The GroupCoordinator (coordinator.py) checks requests and calls down into this; the
Rebalancer never calls back up. It persists groups through the GroupMetadataManager.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

import trio

from kafka_compat.groups.group import (
    COMPLETING_REBALANCE,
    DEAD,
    EMPTY,
    PREPARING_REBALANCE,
    STABLE,
    Group,
    JoinResult,
    Member,
    SyncResult,
)
from kafka_compat.groups.metadata_manager import GroupMetadataManager
from kafka_compat.groups.timer import Timer
from protocol.errors import ErrorCode

log = logging.getLogger(__name__)

UNKNOWN_MEMBER_ID = ""


class Rebalancer:
    def __init__(self, manager: GroupMetadataManager, running_nursery: Callable[[], trio.Nursery]):
        """`running_nursery` is the coordinator's nursery; it raises if the coordinator
        is not running."""
        self.manager = manager
        self.config = manager.config
        self._running_nursery = running_nursery

    # ---- removing members ------------------------------------------------------------

    def remove_member(self, group: Group, member: Member) -> None:
        """Take a member out; a JoinGroup or SyncGroup of it still waiting is answered."""
        group.maybe_invoke_join(member, JoinResult(UNKNOWN_MEMBER_ID, ErrorCode.UNKNOWN_MEMBER_ID))
        group.maybe_invoke_sync(member, SyncResult(ErrorCode.UNKNOWN_MEMBER_ID))
        group.remove(member.member_id)
        if member.session_timer is not None:
            member.session_timer.stop()
            member.session_timer = None
        if not group.pending_sync_members:
            self._stop_timer(group, "sync_timer")

    def remove_member_and_update_group(self, group: Group, member: Member, reason: str) -> None:
        self.remove_member(group, member)
        if group.state in (STABLE, COMPLETING_REBALANCE):
            self.maybe_prepare_rebalance(group, reason)
        elif group.is_(PREPARING_REBALANCE):
            self.try_complete_join(group)

    def add_pending_member(self, group: Group, member_id: str, session_timeout_ms: int) -> None:
        """KIP-394: a member id handed out with MEMBER_ID_REQUIRED; it must join with
        it within its session timeout."""
        timer = self._timer(partial(self._on_pending_member_expired, group, member_id))
        group.pending_members[member_id] = timer
        timer.reset(session_timeout_ms)

    def stop_pending_member(self, group: Group, member_id: str) -> None:
        timer = group.pending_members.pop(member_id, None)
        if timer is not None:
            timer.stop()

    def remove_pending_member_and_update_group(self, group: Group, member_id: str) -> None:
        self.stop_pending_member(group, member_id)
        group.remove(member_id)
        if group.is_(PREPARING_REBALANCE):
            self.try_complete_join(group)

    def _on_pending_member_expired(self, group: Group, member_id: str) -> None:
        if group.is_(DEAD) or member_id not in group.pending_members:
            return
        log.info(
            "Pending member %s of group %s removed after its session timeout",
            member_id,
            group.group_id,
        )
        group.pending_members.pop(member_id, None)
        self.remove_pending_member_and_update_group(group, member_id)

    # ---- sessions --------------------------------------------------------------------

    def schedule_heartbeat(self, group: Group, member: Member, timeout_ms: int | None = None):
        """The member's session (re)starts now: it must heartbeat within its timeout."""
        timer = member.session_timer
        if timer is None:
            timer = member.session_timer = self._timer(
                partial(self._on_session_expired, group, member)
            )
        timer.reset(member.session_timeout_ms if timeout_ms is None else timeout_ms)

    def _on_session_expired(self, group: Group, member: Member) -> None:
        if group.is_(DEAD) or group.members.get(member.member_id) is not member:
            return
        if not member.owes_heartbeat:
            return  # waiting for a rebalance; its session restarts when that ends
        log.info(
            "Member %s in group %s has failed (session timeout %d ms), removing it",
            member.member_id,
            group.group_id,
            member.session_timeout_ms,
        )
        member.session_timer = None
        self.remove_member_and_update_group(
            group, member, f"removing member {member.member_id} on heartbeat expiration"
        )

    # ---- the join round --------------------------------------------------------------

    def maybe_prepare_rebalance(self, group: Group, reason: str) -> None:
        if group.can_rebalance:
            self.prepare_rebalance(group, reason)

    def prepare_rebalance(self, group: Group, reason: str) -> None:
        # Members waiting for their SyncGroup answer must rejoin.
        if group.is_(COMPLETING_REBALANCE):
            self.reset_and_propagate_assignment_error(group, ErrorCode.REBALANCE_IN_PROGRESS)
        self._stop_timer(group, "sync_timer")
        log.info(
            "Preparing to rebalance group %s in state %s with old generation %d (reason: %s)",
            group.group_id,
            group.state,
            group.generation_id,
            reason,
        )
        if group.is_(EMPTY):
            delay = self.config.initial_rebalance_delay_ms
            group.transition_to(PREPARING_REBALANCE)
            self._start_join_timer(
                group, delay, initial=True, remaining_ms=max(group.rebalance_timeout_ms - delay, 0)
            )
        else:
            group.transition_to(PREPARING_REBALANCE)
            self._start_join_timer(group, group.rebalance_timeout_ms)
            self.try_complete_join(group)

    def _start_join_timer(
        self, group: Group, delay_ms: int, *, initial: bool = False, remaining_ms: int = 0
    ) -> None:
        self._stop_timer(group, "join_timer")
        timer = self._timer(partial(self._on_join_timer, group))
        group.join_timer = timer
        group.join_timer_initial = initial
        group.join_remaining_ms = remaining_ms
        timer.reset(delay_ms)

    def _on_join_timer(self, group: Group) -> None:
        group.join_timer = None
        remaining = group.join_remaining_ms
        if group.join_timer_initial and group.new_member_added and remaining > 0:
            # group.initial.rebalance.delay.ms: members are still arriving, wait again.
            group.new_member_added = False
            delay = min(self.config.initial_rebalance_delay_ms, remaining)
            self._start_join_timer(
                group, delay, initial=True, remaining_ms=max(remaining - delay, 0)
            )
        else:
            self._complete_join(group)

    def try_complete_join(self, group: Group) -> None:
        """End the round early once everyone has joined (not during the initial delay)."""
        if (
            group.is_(PREPARING_REBALANCE)
            and group.join_timer is not None
            and not group.join_timer_initial
            and group.has_all_members_joined()
        ):
            self._complete_join(group)

    def _complete_join(self, group: Group) -> None:
        """Kafka's onCompleteJoin: drop who did not rejoin, start the next generation."""
        self._stop_timer(group, "join_timer")
        if not group.is_(PREPARING_REBALANCE):
            return
        for member in group.not_yet_rejoined_members():
            if not member.is_static:
                log.info(
                    "Member %s of group %s did not rejoin within the rebalance timeout, "
                    "removing it",
                    member.member_id,
                    group.group_id,
                )
                self.remove_member(group, member)
        if not group.maybe_elect_new_joined_leader() and group.members:
            # Only static members that did not rejoin: wait for them (or their sessions).
            log.error(
                "Group %s could not complete rebalance because no members rejoined",
                group.group_id,
            )
            self._start_join_timer(group, group.rebalance_timeout_ms)
            return
        group.init_next_generation()
        if group.is_(EMPTY):
            log.info(
                "Group %s with generation %d is now empty", group.group_id, group.generation_id
            )
            self._spawn(self._store_group_logged, group, {})
            return
        log.info(
            "Stabilized group %s generation %d (protocol %s) with %d members",
            group.group_id,
            group.generation_id,
            group.protocol_name,
            len(group.members),
        )
        leader_view = group.current_member_metadata()
        for member in list(group.members.values()):
            is_leader = group.is_leader(member.member_id)
            group.maybe_invoke_join(
                member,
                group.join_result(member.member_id, members=leader_view if is_leader else None),
            )
            self.schedule_heartbeat(group, member)
            member.is_new = False
            group.pending_sync_members.add(member.member_id)
        # Everyone must send SyncGroup within the rebalance timeout.
        timer = self._timer(partial(self._on_sync_expired, group, group.generation_id))
        group.sync_timer = timer
        timer.reset(group.rebalance_timeout_ms)

    # ---- the sync round --------------------------------------------------------------

    def _on_sync_expired(self, group: Group, generation_id: int) -> None:
        group.sync_timer = None
        if generation_id != group.generation_id:
            return
        if group.state not in (COMPLETING_REBALANCE, STABLE) or not group.pending_sync_members:
            return
        pending = sorted(group.pending_sync_members)
        log.info(
            "Group %s removed members who did not send SyncGroup in time: %s",
            group.group_id,
            pending,
        )
        for member_id in pending:
            member = group.members.get(member_id)
            if member is not None:
                self.remove_member(group, member)
        self.prepare_rebalance(group, f"removing {pending} on pending sync request expiration")

    def remove_pending_sync_member(self, group: Group, member_id: str) -> None:
        group.pending_sync_members.discard(member_id)
        if not group.pending_sync_members:
            self._stop_timer(group, "sync_timer")

    def reset_and_propagate_assignment_error(self, group: Group, error: int) -> None:
        for member in group.members.values():
            member.assignment = b""
        self.propagate_assignment(group, error)

    def propagate_assignment(self, group: Group, error: int) -> None:
        if error == ErrorCode.NONE:
            protocol_type, protocol_name = group.protocol_type, group.protocol_name
        else:
            protocol_type = protocol_name = None
        for member in list(group.members.values()):
            result = SyncResult(error, member.assignment, protocol_type, protocol_name)
            if group.maybe_invoke_sync(member, result):
                # Sessions that ran out while waiting for the assignment start again now.
                self.schedule_heartbeat(group, member)

    # ---- writing and helpers ---------------------------------------------------------

    async def _store_group_logged(self, group: Group, assignment: dict[str, bytes]) -> None:
        error = await self.manager.store_group(group, assignment)
        if error:
            log.warning("Cannot persist group %s: %s", group.group_id, ErrorCode(error).name)

    def _spawn(self, fn, *args) -> None:
        """Run `fn(*args)` as a task of the coordinator; raises if it is not running."""
        self._running_nursery().start_soon(fn, *args)

    def _timer(self, callback) -> Timer:
        """A timer in the coordinator's nursery; raises if the coordinator is not running."""
        return Timer(self._running_nursery(), callback)

    @staticmethod
    def _stop_timer(group: Group, name: str) -> None:
        timer = getattr(group, name)
        if timer is not None:
            timer.stop()
            setattr(group, name, None)
