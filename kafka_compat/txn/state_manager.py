"""The transaction state manager: Kafka's TransactionStateManager over
`__transaction_state`.

A transactional id lives in the partition given by the hash of its id; this broker
serves the ids of the partitions it leads (`load_partition` / `unload_partition`; on
a single node it leads all of them). Loading replays the partition's log; until it
is done, requests for its ids answer COORDINATOR_LOAD_IN_PROGRESS, and ids of
partitions this broker does not lead answer NOT_COORDINATOR. Each loaded partition
has a coordinator epoch (its leader epoch): a write made under an older epoch is not
applied.

Every transition is written (AppendOrigin.COORDINATOR, acks=all) before it is
applied; `append_transition` maps the append's errors as Kafka does.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import trio

from kafka_compat.admin_manager import AdminManager
from kafka_compat.clock import Clock, wall_clock_ms
from kafka_compat.internal_topic import InternalTopicGate
from kafka_compat.replica_manager import ReplicaManager
from kafka_compat.topics import TRANSACTION_STATE_TOPIC, coordinator_partition
from kafka_compat.txn.metadata import (
    EXPIRABLE_STATES,
    TransactionMetadata,
    TransactionState,
    TxnTransit,
)
from kafka_compat.txn.records import (
    RecordError,
    decode_txn_key,
    decode_txn_value,
    txn_key,
    txn_value,
)
from protocol.errors import ErrorCode
from protocol.records import InvalidRecordError, build_batch, decode_batch, iter_batch_headers
from storage.log import AppendOrigin

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TxnConfig:
    """The broker settings the coordinator uses (Kafka's names in from_broker_config)."""

    num_partitions: int = 50
    replication_factor: int = 3
    min_isr: int = 2
    segment_bytes: int = 104857600
    load_buffer_size: int = 5242880
    max_timeout_ms: int = 900000
    id_expiration_ms: int = 604800000
    abort_interval_ms: int = 10000
    remove_expired_interval_ms: int = 3600000
    request_timeout_ms: int = 30000
    verification_enabled: bool = True

    @classmethod
    def from_broker_config(cls, config) -> TxnConfig:
        return cls(
            num_partitions=config["transaction.state.log.num.partitions"],
            replication_factor=config["transaction.state.log.replication.factor"],
            min_isr=config["transaction.state.log.min.isr"],
            segment_bytes=config["transaction.state.log.segment.bytes"],
            load_buffer_size=config["transaction.state.log.load.buffer.size"],
            max_timeout_ms=config["transaction.max.timeout.ms"],
            id_expiration_ms=config["transactional.id.expiration.ms"],
            abort_interval_ms=config["transaction.abort.timed.out.transaction.cleanup.interval.ms"],
            remove_expired_interval_ms=config[
                "transaction.remove.expired.transaction.cleanup.interval.ms"
            ],
            request_timeout_ms=config["request.timeout.ms"],
            verification_enabled=config["transaction.partition.verification.enable"],
        )


class TransactionLogTopic:
    """__transaction_state through the replica manager (reads, acks=all appends) and
    the admin manager (creation): every use of the broker's parts by the coordinator's
    state."""

    def __init__(self, admin: AdminManager, replica_manager: ReplicaManager, *, leads_all: bool):
        self.admin = admin
        self.replica_manager = replica_manager
        self.leads_all = leads_all

    def partition_count(self) -> int | None:
        topic = self.admin.topic(TRANSACTION_STATE_TOPIC)
        return None if topic is None else topic.partitions

    async def create(self, config: TxnConfig) -> int:
        # As Kafka's dev-friendly rule here: never more replicas than live brokers.
        replicas = max(1, min(config.replication_factor, len(self.admin.live_broker_ids())))
        configs = {
            "cleanup.policy": "compact",
            "segment.bytes": str(config.segment_bytes),
            "compression.type": "uncompressed",
            "min.insync.replicas": str(min(config.min_isr, replicas)),
            "unclean.leader.election.enable": "false",
        }
        topic = await self.admin.create_topic(
            TRANSACTION_STATE_TOPIC, config.num_partitions, configs, replication_factor=replicas
        )
        return topic.partitions

    def leader_epoch(self, index: int) -> int:
        partition = self.replica_manager.get_partition(TRANSACTION_STATE_TOPIC, index)
        return 0 if partition is None else max(partition.leader_epoch, 0)

    def log(self, index: int):
        partition = self.replica_manager.get_partition(TRANSACTION_STATE_TOPIC, index)
        return None if partition is None else partition.log

    async def append(self, index: int, batch: bytes, timeout_ms: int) -> int:
        key = (TRANSACTION_STATE_TOPIC, index)
        result = (
            await self.replica_manager.append_records(
                {key: batch},
                required_acks=-1,
                timeout_ms=timeout_ms,
                origin=AppendOrigin.COORDINATOR,
            )
        )[key]
        if result.error_code != ErrorCode.NONE:
            log.warning(
                "Cannot append to %s-%d: %s",
                TRANSACTION_STATE_TOPIC,
                index,
                result.error_message or ErrorCode(result.error_code).name,
            )
        return result.error_code


class TransactionStateManager:
    """The transactional ids this broker coordinates (Kafka's TransactionStateManager)."""

    def __init__(
        self, topic: TransactionLogTopic, config: TxnConfig, *, time_ms: Clock = wall_clock_ms
    ):
        self.topic = topic
        self.config = config
        self.time_ms = time_ms
        self.num_partitions = config.num_partitions
        self.loading: set[int] = set()
        # Loaded partitions: index -> coordinator epoch, and their ids.
        self.epochs: dict[int, int] = {}
        self.txns: dict[int, dict[str, TransactionMetadata]] = {}
        self._topic = InternalTopicGate(TRANSACTION_STATE_TOPIC)

    # ---- the topic and its partitions ----------------------------------------------

    def startup(self) -> range:
        """The partitions to load at start-up (single node: all of them), marked as
        loading."""
        partitions = self.topic.partition_count()
        if partitions is None:
            return range(0)
        self.num_partitions = partitions
        self._topic.ready = True
        if not self.topic.leads_all:
            return range(0)
        self.loading.update(range(partitions))
        return range(partitions)

    def partition_for(self, transactional_id: str) -> int:
        return coordinator_partition(transactional_id, self.num_partitions)

    async def ensure_topic(self) -> int:
        """Create __transaction_state on first use; an error code."""

        def ready(partitions: int, created: bool) -> None:
            if created and self.topic.leads_all:
                # A new topic holds nothing to load.
                for index in range(partitions):
                    self.epochs.setdefault(index, self.topic.leader_epoch(index))
                    self.txns.setdefault(index, {})
            self.num_partitions = partitions

        return await self._topic.ensure(
            self.topic.partition_count, lambda: self.topic.create(self.config), ready
        )

    def owns(self, index: int) -> bool:
        return index in self.epochs

    # ---- lookups ---------------------------------------------------------------------

    def get(self, transactional_id: str) -> tuple[int, int, TransactionMetadata | None]:
        """(error, coordinator epoch, metadata or None): NOT_COORDINATOR or
        COORDINATOR_LOAD_IN_PROGRESS when this broker cannot answer for the id."""
        if not self._topic.ready:
            return ErrorCode.NOT_COORDINATOR, -1, None
        index = self.partition_for(transactional_id)
        if index in self.loading:
            return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, -1, None
        epoch = self.epochs.get(index)
        if epoch is None:
            return ErrorCode.NOT_COORDINATOR, -1, None
        return ErrorCode.NONE, epoch, self.txns[index].get(transactional_id)

    def put_if_absent(self, metadata: TransactionMetadata) -> TransactionMetadata:
        txns = self.txns[self.partition_for(metadata.transactional_id)]
        return txns.setdefault(metadata.transactional_id, metadata)

    def all_transactions(self) -> Iterator[TransactionMetadata]:
        for index, txns in list(self.txns.items()):
            if index in self.epochs:
                yield from list(txns.values())

    def timed_out_transactions(self, now_ms: int) -> list[TransactionMetadata]:
        """Ongoing transactions past their timeout, none of them mid-transition."""
        return [
            m
            for m in self.all_transactions()
            if m.state == TransactionState.ONGOING
            and m.pending_state is None
            and m.start_ms + m.timeout_ms < now_ms
        ]

    def expired_ids(self, now_ms: int) -> list[TransactionMetadata]:
        expiration = self.config.id_expiration_ms
        return [
            m
            for m in self.all_transactions()
            if m.state in EXPIRABLE_STATES
            and m.pending_state is None
            and m.last_update_ms + expiration <= now_ms
        ]

    # ---- writes ----------------------------------------------------------------------

    async def append_transition(
        self, metadata: TransactionMetadata, coordinator_epoch: int, transit: TxnTransit
    ) -> int:
        """Write `transit` (acks=all), then apply it; an error code. On an error the
        pending transition is dropped (Kafka's appendTransactionToLog)."""
        transactional_id = metadata.transactional_id
        index = self.partition_for(transactional_id)
        now = self.time_ms()
        value = None if transit.state == TransactionState.DEAD else txn_value(transit.log_value())
        batch = build_batch([(txn_key(transactional_id), value, (), now)])
        error = await self.topic.append(index, batch, self.config.request_timeout_ms)
        error = _append_error(error) if error else ErrorCode.NONE
        current_epoch = self.epochs.get(index)
        if error == ErrorCode.NONE and (
            current_epoch != coordinator_epoch
            or self.txns.get(index, {}).get(transactional_id) is not metadata
        ):
            # The partition moved (or was reloaded) while the write waited.
            error = ErrorCode.NOT_COORDINATOR
        if error:
            if metadata.pending_state is not None and current_epoch == coordinator_epoch:
                metadata.pending_state = None
            return error
        if transit.state == TransactionState.DEAD:
            self.txns[index].pop(transactional_id, None)
            metadata.pending_state = None
            metadata.state = TransactionState.DEAD
        else:
            metadata.complete_transition(transit)
        return ErrorCode.NONE

    # ---- load and unload -------------------------------------------------------------

    async def load_partition(self, index: int) -> list[TransactionMetadata]:
        """Become the coordinator of the ids in partition `index`; the transactions found
        in PrepareCommit / PrepareAbort, whose markers the caller must send."""
        self.loading.add(index)
        partitions = self.topic.partition_count()
        if partitions is not None:
            # Cluster mode: another broker may have created the topic.
            self.num_partitions = partitions
            self._topic.ready = True
        epoch = self.topic.leader_epoch(index)
        found: dict[str, TransactionMetadata] = {}
        try:
            await self._read_partition(index, found)
        except Exception:
            log.exception("Error loading %s-%d", TRANSACTION_STATE_TOPIC, index)
        if index not in self.loading:
            return []  # unloaded meanwhile
        self.loading.discard(index)
        self.txns[index] = found
        self.epochs[index] = epoch
        if found:
            log.info(
                "Loaded %d transactional ids from %s-%d (coordinator epoch %d)",
                len(found),
                TRANSACTION_STATE_TOPIC,
                index,
                epoch,
            )
        return [
            m
            for m in found.values()
            if m.state in (TransactionState.PREPARE_COMMIT, TransactionState.PREPARE_ABORT)
        ]

    def unload_partition(self, index: int) -> None:
        self.loading.discard(index)
        self.epochs.pop(index, None)
        self.txns.pop(index, None)

    async def _read_partition(self, index: int, found: dict[str, TransactionMetadata]) -> None:
        log_ = self.topic.log(index)
        if log_ is None:
            return
        position = log_.log_start_offset
        end = log_.log_end_offset
        while position < end:
            data = log_.read(position, self.config.load_buffer_size, max_offset=end)
            if data.next_offset <= position:
                break
            self._replay(index, data.records, found)
            position = data.next_offset
            await trio.sleep(0)  # one chunk at a time: the broker keeps serving

    @staticmethod
    def _replay(index: int, records, found: dict[str, TransactionMetadata]) -> None:
        view = memoryview(records)
        for position, header in iter_batch_headers(view):
            if header.is_control:
                continue
            try:
                _, batch = decode_batch(view[position : position + header.size])
            except InvalidRecordError as exc:
                log.warning("%s-%d: unreadable batch: %s", TRANSACTION_STATE_TOPIC, index, exc)
                continue
            for record in batch:
                try:
                    transactional_id = decode_txn_key(record.key)
                    if record.value is None:
                        found.pop(transactional_id, None)
                    else:
                        value = decode_txn_value(record.value)
                        found[transactional_id] = TransactionMetadata.from_log(
                            transactional_id, value
                        )
                except (RecordError, ValueError) as exc:
                    log.warning(
                        "%s-%d: skipping record at offset %d: %s",
                        TRANSACTION_STATE_TOPIC,
                        index,
                        record.offset,
                        exc,
                    )


def _append_error(code: int) -> int:
    """Kafka's mapping of a failed __transaction_state append to a client's error."""
    if code in (
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        ErrorCode.NOT_ENOUGH_REPLICAS,
        ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        ErrorCode.REQUEST_TIMED_OUT,
    ):
        return ErrorCode.COORDINATOR_NOT_AVAILABLE
    if code in (ErrorCode.NOT_LEADER_OR_FOLLOWER, ErrorCode.KAFKA_STORAGE_ERROR):
        return ErrorCode.NOT_COORDINATOR
    return ErrorCode.UNKNOWN_SERVER_ERROR
