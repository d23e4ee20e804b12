"""The group metadata manager: Kafka's GroupMetadataManager over `__consumer_offsets`.

Groups live in the `__consumer_offsets` partition given by the hash of their id; this
broker serves the groups of the partitions it leads (`load_partition` /
`unload_partition`; on a single node it leads all of them). Loading replays the
partition's log; until it is done, requests for its groups get
COORDINATOR_LOAD_IN_PROGRESS. The manager keeps the groups this broker coordinates
(the coordinator looks them up here), creates the topic on first use, stores, fetches,
deletes and expires committed offsets, and writes every record: appends with
AppendOrigin.COORDINATOR, one batch per request, answered once replicated (acks=all).
Transactional offset commits (TxnOffsetCommit) are batches of the producer, pending in
their group until the producer's marker (`complete_txn_offsets`); replaying a
partition (loader.py) applies the markers it reads.

What it needs of the broker is an `OffsetsTopic` (five small methods); the broker's is
`BrokerOffsetsTopic`, the only code in the groups package that touches the broker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import trio

from kafka_compat.admin_manager import AdminManager
from kafka_compat.clock import Clock, wall_clock_ms
from kafka_compat.cluster.store import TopicMetadata
from kafka_compat.groups import consumer_records
from kafka_compat.groups import records as group_records
from kafka_compat.groups.assignors import assignor_names
from kafka_compat.groups.group import DEAD, EMPTY, STABLE, Group, Member
from kafka_compat.groups.loader import LoadedPartition
from kafka_compat.groups.records import (
    OffsetAndMetadata,
    group_key,
    group_value,
    offset_key,
    offset_value,
)
from kafka_compat.internal_topic import InternalTopicGate
from kafka_compat.replica_manager import ReplicaManager
from kafka_compat.topics import OFFSETS_TOPIC, coordinator_partition
from protocol.errors import ErrorCode
from protocol.records import NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, build_batch
from storage.log import AppendOrigin, Log

log = logging.getLogger(__name__)

TopicPartition = tuple[str, int]

# offsets.commit.timeout.ms: how long a replicated write waits for the ISR.
COMMIT_TIMEOUT_MS = 5000


@dataclass(frozen=True, slots=True)
class GroupConfig:
    """The broker settings the coordinator uses (Kafka's names in from_broker_config)."""

    num_partitions: int = 50
    replication_factor: int = 3
    segment_bytes: int = 104857600
    load_buffer_size: int = 5242880
    retention_ms: int = 10080 * 60_000
    retention_check_interval_ms: int = 600_000
    metadata_max_bytes: int = 4096
    initial_rebalance_delay_ms: int = 3000
    min_session_timeout_ms: int = 6000
    max_session_timeout_ms: int = 1800000
    max_size: int = 2**31 - 1
    consumer_session_timeout_ms: int = 45000
    consumer_heartbeat_interval_ms: int = 5000
    consumer_max_size: int = 2**31 - 1
    consumer_assignors: tuple[str, ...] = ("uniform", "range")

    @classmethod
    def from_broker_config(cls, config) -> GroupConfig:
        return cls(
            num_partitions=config["offsets.topic.num.partitions"],
            replication_factor=config["offsets.topic.replication.factor"],
            segment_bytes=config["offsets.topic.segment.bytes"],
            load_buffer_size=config["offsets.load.buffer.size"],
            retention_ms=config["offsets.retention.minutes"] * 60_000,
            retention_check_interval_ms=config["offsets.retention.check.interval.ms"],
            metadata_max_bytes=config["offset.metadata.max.bytes"],
            initial_rebalance_delay_ms=config["group.initial.rebalance.delay.ms"],
            min_session_timeout_ms=config["group.min.session.timeout.ms"],
            max_session_timeout_ms=config["group.max.session.timeout.ms"],
            max_size=config["group.max.size"],
            consumer_session_timeout_ms=config["group.consumer.session.timeout.ms"],
            consumer_heartbeat_interval_ms=config["group.consumer.heartbeat.interval.ms"],
            consumer_max_size=config["group.consumer.max.size"],
            consumer_assignors=tuple(assignor_names(config["group.consumer.assignors"])),
        )


class OffsetsTopic(Protocol):
    """What the manager needs of the broker for __consumer_offsets (Kafka: the replica
    manager's getLog and appendRecords, and topic creation)."""

    def partition_count(self) -> int | None:
        """How many partitions the topic has; None while it does not exist."""

    async def create(self, num_partitions: int, configs: dict[str, str]) -> int:
        """Create the topic; its partition count. Raises TopicExists if another broker
        created it first, anything else if the store or the disk refused."""

    def leads_all_partitions(self) -> bool:
        """Single node: this broker leads every partition. (A cluster broker loads
        those it becomes leader of: LeaderAndIsr.)"""

    def log(self, index: int) -> Log | None:
        """Partition `index`'s log, to replay; None if this broker has no such partition."""

    def topics(self) -> Mapping[str, TopicMetadata]:
        """Every topic by name (its id and partition count): what KIP-848 groups
        subscribe to."""

    async def append(self, index: int, batch: bytes) -> tuple[int, int]:
        """Append `batch` to partition `index` as the coordinator and wait until every
        ISR member has it (acks=all): (Kafka's error code for the append, NONE if done;
        the offset the batch's first record got, -1 on error)."""


class ReplicatedOffsetsTopic:
    """__consumer_offsets through the replica manager (reads, acks=all appends) and the
    admin manager (creation): every use of the broker's parts by the groups."""

    __slots__ = ("admin", "replica_manager", "_leads_all")

    def __init__(
        self, admin: AdminManager, replica_manager: ReplicaManager, *, leads_all: bool
    ) -> None:
        self.admin = admin
        self.replica_manager = replica_manager
        self._leads_all = leads_all

    def partition_count(self) -> int | None:
        topic = self.admin.topic(OFFSETS_TOPIC)
        return None if topic is None else topic.partitions

    async def create(self, num_partitions: int, configs: dict[str, str]) -> int:
        topic = await self.admin.create_topic(OFFSETS_TOPIC, num_partitions, configs)
        return topic.partitions

    def leads_all_partitions(self) -> bool:
        return self._leads_all

    def log(self, index: int) -> Log | None:
        partition = self.replica_manager.get_partition(OFFSETS_TOPIC, index)
        return None if partition is None else partition.log

    def topics(self) -> Mapping[str, TopicMetadata]:
        store = self.admin.store
        return {} if store is None else store.topics

    async def append(self, index: int, batch: bytes) -> tuple[int, int]:
        key = (OFFSETS_TOPIC, index)
        result = (
            await self.replica_manager.append_records(
                {key: batch},
                required_acks=-1,  # committed once every ISR member has it
                timeout_ms=COMMIT_TIMEOUT_MS,
                origin=AppendOrigin.COORDINATOR,
            )
        )[key]
        if result.error_code != ErrorCode.NONE:
            log.warning("Cannot append to %s-%d: %s", OFFSETS_TOPIC, index, result.error_message)
            return result.error_code, -1
        return ErrorCode.NONE, result.info.first_offset if result.info is not None else -1


class GroupMetadataManager:
    """The groups this broker coordinates, and everything read from or written to
    __consumer_offsets about them (Kafka's GroupMetadataManager)."""

    def __init__(
        self, offsets_topic: OffsetsTopic, config: GroupConfig, *, time_ms: Clock = wall_clock_ms
    ):
        self.offsets_topic = offsets_topic
        self.config = config
        self.time_ms = time_ms
        self.groups: dict[str, Group] = {}
        self.num_partitions = config.num_partitions
        self._owned: set[int] = set()
        self._loading: set[int] = set()
        self._topic = InternalTopicGate(OFFSETS_TOPIC)
        # Producer id -> groups with its pending transactional offsets (Kafka's
        # openGroupsForProducer), to find them when its marker is written.
        self._producer_groups: dict[int, set[str]] = {}

    # ---- the topic and its partitions --------------------------------------------------

    def startup(self) -> range:
        """The partitions to load at start-up, marked as loading (their groups answer
        COORDINATOR_LOAD_IN_PROGRESS until `load_partition` is done with them)."""
        partitions = self.offsets_topic.partition_count()
        if partitions is None:
            return range(0)
        self.num_partitions = partitions
        self._topic.ready = True
        if not self.offsets_topic.leads_all_partitions():
            return range(0)
        # Single node: this broker leads every partition. (A cluster broker loads those
        # it becomes leader of: LeaderAndIsr.)
        self._loading.update(range(partitions))
        return range(partitions)

    def partition_for(self, group_id: str) -> int:
        return coordinator_partition(group_id, self.num_partitions)

    def is_group_loading(self, group_id: str) -> bool:
        return self.partition_for(group_id) in self._loading

    def is_group_local(self, group_id: str) -> bool:
        """Does this broker coordinate the group? Every group, until the topic exists
        (it is created on first use)."""
        return not self._topic.ready or self.partition_for(group_id) in self._owned

    @property
    def is_loading(self) -> bool:
        """Is any partition still loading?"""
        return bool(self._loading)

    async def ensure_offsets_topic(self) -> int:
        """Create __consumer_offsets on first use (Kafka's settings); an error code."""
        configs = {
            "cleanup.policy": "compact",
            "segment.bytes": str(self.config.segment_bytes),
            "compression.type": "producer",
        }

        def ready(partitions: int, _created: bool) -> None:
            self.num_partitions = partitions
            # A topic that did not exist when we started holds nothing to load; on a
            # single node this broker leads all its partitions.
            if self.offsets_topic.leads_all_partitions():
                self._owned.update(range(partitions))

        return await self._topic.ensure(
            self.offsets_topic.partition_count,
            lambda: self.offsets_topic.create(self.config.num_partitions, configs),
            ready,
        )

    # ---- the groups ------------------------------------------------------------------

    def get_group(self, group_id: str) -> Group | None:
        return self.groups.get(group_id)

    def add_group(self, group_id: str) -> Group:
        """A new empty group, in the partition of its id."""
        group = Group(group_id, self.partition_for(group_id), self.time_ms)
        self.groups[group_id] = group
        return group

    # ---- partitions: load and unload ---------------------------------------------------

    async def load_partition(self, index: int, on_group_loaded: Callable[[Group], None]) -> None:
        """Become the coordinator of the groups in partition `index`: replay its log
        (loader.py). Each group read is handed to `on_group_loaded` (Kafka's
        onGroupLoaded)."""
        self._loading.add(index)
        started = trio.current_time()
        loaded = LoadedPartition(index)
        try:
            log_ = self.offsets_topic.log(index)
            if log_ is not None:
                await loaded.read(log_, self.config.load_buffer_size)
        except Exception:
            # As Kafka does: log it and serve what could be read.
            log.exception("Error loading %s-%d", OFFSETS_TOPIC, index)
        committed, pending = loaded.by_group()
        groups = [
            self._group_from_record(group_id, index, version, value)
            for group_id, (version, value) in loaded.groups.items()
        ]
        # Offsets without group metadata: a group of simple consumers (or a producer's).
        groups += [
            Group(group_id, index, self.time_ms)
            for group_id in committed.keys() | pending.keys()
            if group_id not in loaded.groups
        ]
        # KIP-848 groups: their membership hangs off the group of the same id.
        by_id = {group.group_id: group for group in groups}
        for group_id, consumer in consumer_records.loaded_groups(loaded.consumer_groups):
            group = by_id.get(group_id)
            if group is None:
                group = by_id[group_id] = Group(group_id, index, self.time_ms)
                groups.append(group)
            group.consumer = consumer
        for group in groups:
            group.initialize_offsets(
                committed.get(group.group_id, {}), pending.get(group.group_id, {})
            )
            for producer_id in group.pending_txn_offsets:
                self._add_producer_group(producer_id, group.group_id)
            self._install_loaded_group(group, on_group_loaded)
        self._loading.discard(index)
        self._owned.add(index)
        if groups:
            log.info(
                "Loaded %d groups, %d offsets and %d pending transactional offsets"
                " from %s-%d in %.0f ms",
                len(groups),
                len(loaded.offsets),
                sum(len(p) for p in loaded.pending.values()),
                OFFSETS_TOPIC,
                index,
                (trio.current_time() - started) * 1000,
            )

    def unload_partition(self, index: int, on_group_unloaded: Callable[[Group], None]) -> None:
        """This broker no longer leads partition `index`: drop its groups, their timers
        stopped, each handed to `on_group_unloaded` (Kafka's removeGroupsForPartition)."""
        self._owned.discard(index)
        self._loading.discard(index)
        for group in [g for g in self.groups.values() if g.partition == index]:
            del self.groups[group.group_id]
            group.stop_timers()
            on_group_unloaded(group)
            for producer_id in list(self._producer_groups):
                self._remove_producer_group(producer_id, group.group_id)

    def _group_from_record(self, group_id: str, index: int, version: int, value: object) -> Group:
        group = Group(group_id, index, self.time_ms, state=STABLE if value.members else EMPTY)
        group.generation_id = value.generation
        group.protocol_type = value.protocol_type or None
        group.protocol_name = value.protocol
        if value.current_state_timestamp >= 0:
            group.state_timestamp = value.current_state_timestamp
        for m in value.members:
            group.add(
                Member(
                    member_id=m.member_id,
                    group_instance_id=m.group_instance_id,
                    client_id=m.client_id,
                    client_host=m.client_host,
                    rebalance_timeout_ms=m.session_timeout if version == 0 else m.rebalance_timeout,
                    session_timeout_ms=m.session_timeout,
                    protocol_type=value.protocol_type,
                    protocols=[(value.protocol, bytes(m.subscription))],
                    assignment=bytes(m.assignment),
                )
            )
        group.leader_id = value.leader
        group.subscribed_topics = group.compute_subscribed_topics()
        return group

    def _install_loaded_group(self, group: Group, on_group_loaded: Callable[[Group], None]):
        old = self.groups.get(group.group_id)
        if old is not None:
            old.stop_timers()
        self.groups[group.group_id] = group
        on_group_loaded(group)

    # ---- committed offsets -----------------------------------------------------------

    async def store_offsets(
        self,
        group: Group,
        offsets: dict[TopicPartition, OffsetAndMetadata],
        *,
        producer_id: int = NO_PRODUCER_ID,
        producer_epoch: int = NO_PRODUCER_EPOCH,
    ) -> dict[TopicPartition, int]:
        """Write the offsets of one commit (the coordinator validated the member); an
        error code per partition (Kafka's storeOffsets).

        With a producer id (TxnOffsetCommit) the batch is transactional, carrying the
        producer's id and epoch, and the offsets stay pending for that producer until
        its marker (`complete_txn_offsets`)."""
        results: dict[TopicPartition, int] = {}
        valid: dict[TopicPartition, OffsetAndMetadata] = {}
        for tp, offset in offsets.items():
            if len(offset.metadata) > self.config.metadata_max_bytes:
                results[tp] = ErrorCode.OFFSET_METADATA_TOO_LARGE
            else:
                valid[tp] = offset
                results[tp] = ErrorCode.NONE
        if not valid:
            return results
        transactional = producer_id != NO_PRODUCER_ID
        if transactional:
            self._add_producer_group(producer_id, group.group_id)
            group.prepare_txn_offset_commit(producer_id, valid)
        else:
            group.prepare_offset_commit(valid)
        records = [
            (offset_key(group.group_id, topic, partition), offset_value(offset))
            for (topic, partition), offset in valid.items()
        ]
        error, position = await self._append(
            group.partition, records, offsets=True, producer=(producer_id, producer_epoch)
        )
        if group.is_(DEAD):
            pass  # deleted while the write was under way: nothing to keep
        elif error:
            if transactional:
                for tp in valid:
                    group.fail_pending_txn_offset_commit(producer_id, tp)
                if not group.has_pending_offset_commits_from_producer(producer_id):
                    self._remove_producer_group(producer_id, group.group_id)
            else:
                for tp, offset in valid.items():
                    group.fail_pending_offset_write(tp, offset)
        else:
            for tp, offset in valid.items():
                if transactional:
                    group.on_txn_offset_commit_append(producer_id, tp, offset, position)
                else:
                    group.on_offset_commit_append(tp, offset, position)
        if error:
            for tp in valid:
                results[tp] = error
        return results

    def get_offsets(
        self, group_id: str, partitions: list[TopicPartition] | None, require_stable: bool = False
    ) -> dict[TopicPartition, OffsetAndMetadata | None | int]:
        """The committed offset per partition (None = nothing committed); `partitions`
        None asks for every partition the group committed. With `require_stable`, a
        partition with a commit still pending (transactional, or being written) gets
        the error UNSTABLE_OFFSET_COMMIT (an int) instead."""
        group = self.groups.get(group_id)
        if group is None or group.is_(DEAD):
            return dict.fromkeys(partitions or ())
        if partitions is None:
            partitions = list(group.offsets)
        if require_stable:
            return {
                tp: ErrorCode.UNSTABLE_OFFSET_COMMIT
                if group.has_pending_offset_commits_for(tp)
                else group.offsets.get(tp)
                for tp in partitions
            }
        return {tp: group.offsets.get(tp) for tp in partitions}

    # ---- transactional offsets -------------------------------------------------------

    def complete_txn_offsets(self, producer_id: int, partitions: set[int], commit: bool) -> None:
        """Kafka's handleTxnCompletion: the producer's marker is in these partitions;
        its pending offsets in their groups become committed (commit) or go (abort)."""
        for group_id in list(self._producer_groups.get(producer_id, ())):
            if self.partition_for(group_id) not in partitions:
                continue
            group = self.groups.get(group_id)
            if group is None:
                # The partition moved away after the marker: its new coordinator
                # reads the marker when it loads the partition.
                log.info("Group %s moved away before its transaction completed", group_id)
            elif not group.is_(DEAD):
                group.complete_pending_txn_offset_commit(producer_id, commit)
                self._remove_producer_group(producer_id, group_id)

    def _add_producer_group(self, producer_id: int, group_id: str) -> None:
        self._producer_groups.setdefault(producer_id, set()).add(group_id)

    def _remove_producer_group(self, producer_id: int, group_id: str) -> None:
        groups = self._producer_groups.get(producer_id)
        if groups is not None:
            groups.discard(group_id)
            if not groups:
                del self._producer_groups[producer_id]

    # ---- expiry and cleanup ----------------------------------------------------------

    async def expire_offsets_periodically(self) -> None:
        interval = self.config.retention_check_interval_ms / 1000
        while True:
            await trio.sleep(interval)
            await self.expire_offsets()

    async def expire_offsets(self) -> int:
        """Drop offsets past `offsets.retention.minutes` (see Group.remove_expired_offsets)
        and empty groups left without offsets; returns how many offsets went."""
        now = self.time_ms()
        retention = self.config.retention_ms
        removed = await self.cleanup_groups(
            list(self.groups.values()), lambda g: g.remove_expired_offsets(now, retention)
        )
        if removed:
            log.info("Removed %d expired offsets", removed)
        return removed

    async def cleanup_groups(
        self, groups: list[Group], select: Callable[[Group], dict[TopicPartition, object]]
    ) -> int:
        """Remove the offsets `select` picks and groups left empty, with tombstones."""
        total = 0
        for group in groups:
            removed = select(group)
            if group.is_(EMPTY) and group.is_empty and not group.has_offsets:
                group.transition_to(DEAD)
            records = [
                (offset_key(group.group_id, topic, partition), None) for topic, partition in removed
            ]
            if group.is_(DEAD):
                if self.groups.get(group.group_id) is group:
                    del self.groups[group.group_id]
                    for producer_id in list(self._producer_groups):
                        self._remove_producer_group(producer_id, group.group_id)
                group.stop_timers()
                if group.consumer is not None:
                    group.consumer.dead = True
                    records += consumer_records.group_tombstones(group.group_id)
                records.append((group_key(group.group_id), None))
            if records:
                error = await self._write(group.partition, records)
                if error:
                    log.warning(
                        "Cannot write tombstones for group %s: %s",
                        group.group_id,
                        ErrorCode(error).name,
                    )
            total += len(removed)
        return total

    # ---- writing ---------------------------------------------------------------------

    def _group_record_value(self, group: Group, assignment: dict[str, bytes]) -> bytes:
        protocol = group.protocol_name
        members = [
            group_records.MemberMetadata(
                member_id=m.member_id,
                group_instance_id=m.group_instance_id,
                client_id=m.client_id,
                client_host=m.client_host,
                rebalance_timeout=m.rebalance_timeout_ms,
                session_timeout=m.session_timeout_ms,
                subscription=m.metadata(protocol) if protocol is not None else b"",
                assignment=assignment.get(m.member_id, b""),
            )
            for m in group.members.values()
        ]
        value = group_records.GroupMetadataValue(
            protocol_type=group.protocol_type or "",
            generation=group.generation_id,
            protocol=protocol,
            leader=group.leader_id,
            current_state_timestamp=(
                group.state_timestamp if group.state_timestamp is not None else -1
            ),
            members=members,
        )
        return group_value(value)

    async def store_group(self, group: Group, assignment: dict[str, bytes]) -> int:
        """Write the group's metadata with this assignment; an error code."""
        value = self._group_record_value(group, assignment)
        return await self._write(group.partition, [(group_key(group.group_id), value)])

    async def write_records(self, index: int, records: list[tuple[bytes, bytes | None]]) -> int:
        """Append KIP-848 group records (consumer_records.py) as one batch; an error code."""
        return await self._write(index, records)

    async def _write(
        self, index: int, records: list[tuple[bytes, bytes | None]], *, offsets: bool = False
    ) -> int:
        """Append one batch to __consumer_offsets-`index`; Kafka's error mapping."""
        return (await self._append(index, records, offsets=offsets))[0]

    async def _append(
        self,
        index: int,
        records: list[tuple[bytes, bytes | None]],
        *,
        offsets: bool = False,
        producer: tuple[int, int] = (NO_PRODUCER_ID, NO_PRODUCER_EPOCH),
    ) -> tuple[int, int]:
        """(error code, first offset of the batch): an async step so that a replicated
        write can wait for the high watermark. A producer id makes the batch
        transactional (sequence 0, as Kafka writes it: the coordinator's appends are
        not sequence-checked)."""
        now = self.time_ms()
        producer_id, producer_epoch = producer
        transactional = producer_id != NO_PRODUCER_ID
        batch = build_batch(
            [(key, value, (), now) for key, value in records],
            producer_id=producer_id,
            producer_epoch=producer_epoch,
            base_sequence=0 if transactional else NO_SEQUENCE,
            transactional=transactional,
        )
        error, position = await self.offsets_topic.append(index, batch)
        return (_append_error(error, offsets) if error else ErrorCode.NONE), position


def _append_error(code: int, offsets: bool) -> int:
    """Kafka's mapping of append errors to what a group or offset-commit client sees."""
    if code in (
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        ErrorCode.NOT_ENOUGH_REPLICAS,
        ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        ErrorCode.REQUEST_TIMED_OUT,
    ):
        return ErrorCode.COORDINATOR_NOT_AVAILABLE
    if code in (ErrorCode.NOT_LEADER_OR_FOLLOWER, ErrorCode.KAFKA_STORAGE_ERROR):
        return ErrorCode.NOT_COORDINATOR
    if code in (
        ErrorCode.MESSAGE_TOO_LARGE,
        ErrorCode.RECORD_LIST_TOO_LARGE,
        ErrorCode.INVALID_FETCH_SIZE,
    ):
        return ErrorCode.INVALID_COMMIT_OFFSET_SIZE if offsets else ErrorCode.UNKNOWN_SERVER_ERROR
    return code if code > 0 else ErrorCode.UNKNOWN_SERVER_ERROR
