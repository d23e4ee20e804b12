"""The group coordinator's offset requests: OffsetCommit, TxnOffsetCommit, OffsetFetch,
OffsetDelete, and the end of transactions that committed offsets.

`OffsetRequests` is a base class of GroupCoordinator (coordinator.py), kept apart so
that the membership protocol and the offset checks each fit in a module. It uses the
coordinator's group checks (`_group_error`, `_writable_group_error`,
`_validate_current_member`), its GroupMetadataManager (which writes and keeps the
offsets) and its Rebalancer (a commit counts as a heartbeat).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from kafka_compat.groups import consumer_protocol
from kafka_compat.groups.group import (
    COMPLETING_REBALANCE,
    DEAD,
    EMPTY,
    PREPARING_REBALANCE,
    STABLE,
    Group,
)
from kafka_compat.groups.metadata_manager import GroupMetadataManager, TopicPartition
from kafka_compat.groups.rebalance import UNKNOWN_MEMBER_ID, Rebalancer
from kafka_compat.groups.records import OffsetAndMetadata
from protocol.errors import ErrorCode


class OffsetRequests:
    """Committing, fetching and deleting offsets (a base class of GroupCoordinator)."""

    manager: GroupMetadataManager
    rebalancer: Rebalancer

    if TYPE_CHECKING:  # provided by GroupCoordinator

        def _group_error(self, group_id: str | None, allow_empty_id: bool = False) -> int: ...

        async def _writable_group_error(
            self, group_id: str | None, allow_empty_id: bool = False
        ) -> int: ...

        @staticmethod
        def _validate_current_member(
            group: Group, member_id: str, group_instance_id: str | None
        ) -> int: ...

        @property
        def active(self) -> bool: ...

        def _running_nursery(self) -> trio.Nursery: ...

    async def commit_offsets(
        self,
        group_id: str,
        member_id: str,
        group_instance_id: str | None,
        generation_id: int,
        offsets: dict[TopicPartition, OffsetAndMetadata],
        api_version: int = 9,
    ) -> dict[TopicPartition, int]:
        """Kafka's handleCommitOffsets: an error code per partition.

        Generation -1 with no member id is a simple consumer (no group membership);
        it may commit while the group has no members. In a KIP-848 group the
        generation is the member epoch (OffsetCommit v9+)."""
        error = await self._writable_group_error(group_id, allow_empty_id=True)
        if error:
            return dict.fromkeys(offsets, error)
        group = self.manager.get_group(group_id)
        if group is None:
            if generation_id >= 0:
                # A member of a group that no longer exists (or an older generation).
                return dict.fromkeys(offsets, ErrorCode.ILLEGAL_GENERATION)
            group = self.manager.add_group(group_id)
        if group.consumer is not None:
            error = _validate_consumer_commit(group, member_id, generation_id, api_version)
            if error:
                return dict.fromkeys(offsets, error)
            return await self.manager.store_offsets(group, offsets)
        error = self._validate_offset_commit(group, generation_id, member_id, group_instance_id)
        if error:
            return dict.fromkeys(offsets, error)
        if group.is_(COMPLETING_REBALANCE):
            # The member knows the new generation but has no assignment yet.
            return dict.fromkeys(offsets, ErrorCode.REBALANCE_IN_PROGRESS)
        if group.state in (STABLE, PREPARING_REBALANCE) and member_id in group.members:
            # A commit counts as a sign of life; a rebalance is signalled by heartbeats.
            self.rebalancer.schedule_heartbeat(group, group.members[member_id])
        return await self.manager.store_offsets(group, offsets)

    def _validate_offset_commit(
        self, group: Group, generation_id: int, member_id: str, group_instance_id: str | None
    ) -> int:
        if group.is_(DEAD):
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        if generation_id >= 0 or member_id != UNKNOWN_MEMBER_ID or group_instance_id is not None:
            error = self._validate_current_member(group, member_id, group_instance_id)
            if error:
                return error
            if generation_id != group.generation_id:
                return ErrorCode.ILLEGAL_GENERATION
            return ErrorCode.NONE
        if not group.is_(EMPTY):
            # Only members may commit while the group has members.
            return ErrorCode.UNKNOWN_MEMBER_ID
        return ErrorCode.NONE

    def fetch_offsets(
        self,
        group_id: str,
        partitions: list[TopicPartition] | None,
        require_stable: bool = False,
        member_id: str | None = None,
        member_epoch: int = -1,
    ) -> tuple[int, dict[TopicPartition, OffsetAndMetadata | None | int]]:
        """(group error, committed offset per partition; None = nothing committed).
        `partitions` None asks for every partition the group committed. With
        `require_stable` (OffsetFetch v7+) a partition with a pending commit (a
        transaction not yet ended) has the error UNSTABLE_OFFSET_COMMIT instead.
        A member of a KIP-848 group (OffsetFetch v9 member id and epoch) must be
        known and at its current epoch: UNKNOWN_MEMBER_ID, STALE_MEMBER_EPOCH."""
        error = self._group_error(group_id, allow_empty_id=True)
        if error:
            return error, {}
        group = self.manager.get_group(group_id)
        if group is not None and group.consumer is not None and member_epoch >= 0:
            member = group.consumer.members.get(member_id or "")
            if member is None:
                return ErrorCode.UNKNOWN_MEMBER_ID, {}
            if member.member_epoch != member_epoch:
                return ErrorCode.STALE_MEMBER_EPOCH, {}
        return ErrorCode.NONE, self.manager.get_offsets(group_id, partitions, require_stable)

    async def delete_offsets(
        self, group_id: str, partitions: list[TopicPartition]
    ) -> tuple[int, dict[TopicPartition, int]]:
        """OffsetDelete (KIP-496): only offsets of topics the group does not consume."""
        error = self._group_error(group_id)
        if error:
            return error, {}
        group = self.manager.get_group(group_id)
        if group is None or group.is_(DEAD):
            return ErrorCode.GROUP_ID_NOT_FOUND, {}
        results: dict[TopicPartition, int] = {}
        if group.consumer is not None:
            # A KIP-848 group: the topics its members subscribe to keep their offsets.
            subscribed = group.consumer.subscription_metadata if group.consumer.members else {}
            eligible = []
            for tp in partitions:
                if tp[0] in subscribed:
                    results[tp] = ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC
                else:
                    eligible.append(tp)
        elif group.is_(EMPTY):
            eligible = list(partitions)
        elif group.protocol_type == consumer_protocol.PROTOCOL_TYPE:
            eligible = []
            for tp in partitions:
                if group.is_subscribed_to_topic(tp[0]):
                    results[tp] = ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC
                else:
                    eligible.append(tp)
        else:
            return ErrorCode.NON_EMPTY_GROUP, {}
        if eligible:
            await self.manager.cleanup_groups([group], lambda g: g.remove_offsets(eligible))
            for tp in eligible:
                results[tp] = ErrorCode.NONE
        return ErrorCode.NONE, results

    def on_partitions_deleted(self, partitions: list[TopicPartition]) -> None:
        """Kafka's onPartitionsDeleted: a deleted topic's offsets (committed and pending)
        leave every group this broker coordinates at once, so that a topic created again
        under that name is consumed from its start (auto.offset.reset), not from an
        offset of the old one; their tombstones, and those of the groups left empty
        without offsets, are written in the background."""
        if not self.active:
            return
        groups = list(self.manager.groups.values())
        removed = {g.group_id: g.remove_offsets(partitions) for g in groups}
        self._running_nursery().start_soon(
            self.manager.cleanup_groups, groups, lambda g: removed[g.group_id]
        )

    # ---- transactional offsets (KIP-98, KIP-447) ---------------------------------------

    async def txn_commit_offsets(
        self,
        group_id: str,
        producer_id: int,
        producer_epoch: int,
        member_id: str,
        group_instance_id: str | None,
        generation_id: int,
        offsets: dict[TopicPartition, OffsetAndMetadata],
    ) -> dict[TopicPartition, int]:
        """Kafka's handleTxnCommitOffsets: an error code per partition. The offsets are
        written in a transactional batch of the producer and stay pending until its
        marker (`complete_txn_offsets`). A group that does not exist is created empty:
        a producer may commit for a group without members."""
        error = await self._writable_group_error(group_id)
        if error:
            return dict.fromkeys(offsets, error)
        group = self.manager.get_group(group_id) or self.manager.add_group(group_id)
        error = self._validate_txn_offset_commit(group, generation_id, member_id, group_instance_id)
        if error:
            return dict.fromkeys(offsets, error)
        return await self.manager.store_offsets(
            group, offsets, producer_id=producer_id, producer_epoch=producer_epoch
        )

    def _validate_txn_offset_commit(
        self, group: Group, generation_id: int, member_id: str, group_instance_id: str | None
    ) -> int:
        """Kafka's validateOffsetCommit for a transactional commit: a generation, member
        id or instance id given (TxnOffsetCommit v3+, KIP-447) must be the group's
        current one; without them (v0-2) anything goes but a dead group."""
        if group.is_(DEAD):
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        if group.consumer is not None:
            return _validate_consumer_commit(group, member_id, generation_id, None)
        if generation_id < 0 and group.is_(EMPTY):
            return ErrorCode.NONE
        if generation_id >= 0 or member_id != UNKNOWN_MEMBER_ID or group_instance_id is not None:
            error = self._validate_current_member(group, member_id, group_instance_id)
            if error:
                return error
            if generation_id != group.generation_id:
                return ErrorCode.ILLEGAL_GENERATION
        return ErrorCode.NONE

    def complete_txn_offsets(self, producer_id: int, partitions: set[int], commit: bool) -> None:
        """The WriteTxnMarkers handler appended the producer's COMMIT (`commit`) or
        ABORT marker to these __consumer_offsets partitions: the producer's pending
        offsets in their groups become committed (unless a commit written later in the
        log holds the partition) or are dropped."""
        self.manager.complete_txn_offsets(producer_id, set(partitions), commit)


def _validate_consumer_commit(
    group: Group, member_id: str, member_epoch: int, api_version: int | None
) -> int:
    """Kafka's ConsumerGroup.validateOffsetCommit: epoch -1 is an admin or a simple
    consumer, allowed while the group has no members; a member commits at its current
    epoch with OffsetCommit v9+ (`api_version` None: transactional, any version)."""
    consumer = group.consumer
    if member_epoch < 0 and not consumer.members:
        return ErrorCode.NONE
    member = consumer.members.get(member_id)
    if member is None:
        return ErrorCode.UNKNOWN_MEMBER_ID
    if api_version is not None and api_version < 9:
        return ErrorCode.UNSUPPORTED_VERSION
    if member_epoch != member.member_epoch:
        return ErrorCode.STALE_MEMBER_EPOCH
    return ErrorCode.NONE
