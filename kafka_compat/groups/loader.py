"""Replaying a `__consumer_offsets` partition (Kafka's doLoadGroupsAndOffsets).

The last record of a key wins and a tombstone removes it. Offset commits in
transactional batches (TxnOffsetCommit) are pending per producer id until that
producer's marker: COMMIT makes them committed unless the committed offset was
written later in the log, ABORT drops them. Those still pending at the end of the log
stay pending: the transaction coordinator sends the marker later.

Each committed offset keeps its position: the offset of the first record of the
batch that wrote it, the order transactional commits are compared in.
"""

from __future__ import annotations

import logging

import trio

from kafka_compat.groups import consumer_records
from kafka_compat.groups.group import PendingTxnOffset
from kafka_compat.groups.records import (
    GroupKey,
    OffsetAndMetadata,
    OffsetKey,
    RecordError,
    decode_group_value,
    decode_key,
    decode_offset_value,
)
from kafka_compat.topics import OFFSETS_TOPIC
from protocol.records import (
    CONTROL_COMMIT,
    InvalidRecordError,
    control_record_type,
    decode_batch,
    iter_batch_headers,
)
from storage.log import Log

log = logging.getLogger(__name__)

TopicPartition = tuple[str, int]


class LoadedPartition:
    """What the records of one partition say, once replayed."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.groups: dict[str, tuple[int, object]] = {}  # (version, GroupMetadataValue)
        self.offsets: dict[OffsetKey, tuple[OffsetAndMetadata, int]] = {}
        self.pending: dict[int, dict[OffsetKey, PendingTxnOffset]] = {}
        # KIP-848 groups: the last value of each of their records.
        self.consumer_groups: dict[str, consumer_records.LoadedConsumerGroup] = {}

    async def read(self, log_: Log, buffer_size: int) -> None:
        """Replay the log from its start to its end, one chunk at a time."""
        position = log_.log_start_offset
        # To the log end, as Kafka does: a new leader's log is the partition's, and its
        # high watermark catches up once the followers fetch. The end is read again
        # after each chunk: a transaction marker appended meanwhile is replayed here
        # (complete_txn_offsets finds no group of a partition still loading).
        while position < (end := log_.log_end_offset):
            data = log_.read(position, buffer_size, max_offset=end)
            if data.next_offset <= position:
                break
            self.replay(data.records)
            position = data.next_offset
            await trio.sleep(0)  # the broker keeps serving

    def replay(self, records: bytes | memoryview) -> None:
        view = memoryview(records)
        for at, header in iter_batch_headers(view):
            try:
                _, batch = decode_batch(view[at : at + header.size])
            except InvalidRecordError as exc:
                self._warn(f"skipping unreadable batch at offset {header.base_offset}: {exc}")
                continue
            if header.is_control:
                if batch:
                    self._end_txn(header.producer_id, batch[0].key)
                continue
            txn = (
                self.pending.setdefault(header.producer_id, {}) if header.is_transactional else None
            )
            position = batch[0].offset if batch else header.base_offset
            for record in batch:
                try:
                    self._replay_record(record.key, record.value, position, txn)
                except RecordError as exc:
                    self._warn(f"skipping record at offset {record.offset}: {exc}")

    def _replay_record(self, key_bytes, value, position: int, txn) -> None:
        kind = int.from_bytes(key_bytes[:2], "big", signed=True) if key_bytes else -1
        if kind in consumer_records.KEY_VERSIONS:
            try:
                k = consumer_records.decode_key(kind, memoryview(key_bytes)[2:])
                consumer_records.replay(self.consumer_groups, k, value)
            except consumer_records.ConsumerRecordError as exc:
                raise RecordError(str(exc)) from exc
            return
        key = decode_key(key_bytes)
        if isinstance(key, OffsetKey):
            if txn is not None:
                if value is None:
                    txn.pop(key, None)
                else:
                    txn[key] = PendingTxnOffset(decode_offset_value(value), position)
            elif value is None:
                self.offsets.pop(key, None)
            else:
                self.offsets[key] = (decode_offset_value(value), position)
        elif isinstance(key, GroupKey):
            if value is None:
                self.groups.pop(key.group, None)
            else:
                self.groups[key.group] = decode_group_value(value)

    def _end_txn(self, producer_id: int, key: bytes | None) -> None:
        """A marker: the producer's pending offsets are committed (COMMIT) or dropped."""
        pending = self.pending.pop(producer_id, None)
        try:
            commit = control_record_type(key) == CONTROL_COMMIT
        except InvalidRecordError:
            commit = False
        if not pending or not commit:
            return
        for k, (offset, position) in pending.items():
            current = self.offsets.get(k)
            if current is None or current[1] < position:
                self.offsets[k] = (offset, position)

    def by_group(
        self,
    ) -> tuple[
        dict[str, dict[TopicPartition, tuple[OffsetAndMetadata, int]]],
        dict[str, dict[int, dict[TopicPartition, PendingTxnOffset]]],
    ]:
        """(committed offsets per group, pending transactional offsets per group and
        producer id)."""
        committed: dict[str, dict[TopicPartition, tuple[OffsetAndMetadata, int]]] = {}
        for (group_id, topic, partition), value in self.offsets.items():
            committed.setdefault(group_id, {})[(topic, partition)] = value
        pending: dict[str, dict[int, dict[TopicPartition, PendingTxnOffset]]] = {}
        for producer_id, offsets in self.pending.items():
            for (group_id, topic, partition), value in offsets.items():
                by_producer = pending.setdefault(group_id, {}).setdefault(producer_id, {})
                by_producer[(topic, partition)] = value
        return committed, pending

    def _warn(self, message: str) -> None:
        log.warning("%s-%d: %s", OFFSETS_TOPIC, self.index, message)
