"""ProducerStateManager: per-partition state of idempotent/transactional producers.

For each producer id: its epoch, the metadata of its last 5 batches (sequence range
and offsets, for duplicate detection: clients keep up to 5 requests in flight), the
coordinator epoch of its last transaction marker and the first offset of its open
transaction (for the last stable offset).

Rules (Kafka's ProducerStateManager / ProducerAppendInfo):
- a retried batch (same epoch, same first and last sequence as one of the last 5) is a
  duplicate: the log answers with the original offsets and writes nothing;
- an epoch below the producer's current one: INVALID_PRODUCER_EPOCH (47);
- a new epoch must start at sequence 0, a known epoch must continue at last + 1
  (wrapping from 2**31-1 to 0): otherwise OUT_OF_ORDER_SEQUENCE_NUMBER (45);
- an unknown producer may start at any sequence (Kafka since KIP-360): its state may
  have expired or been deleted with old segments, and the client cannot tell.
Replicated appends (followers) are not checked, only recorded.

Changes of one append are staged in a ProducerAppendInfo and applied with `update`
once the batches are on disk, so a refused batch leaves no trace.

Snapshots: `<offset>.snapshot` in the partition directory holds the state for every
batch below `offset` (the log writes one when it rolls and when it closes). Kafka's
ProducerSnapshot layout, version 1, big-endian:

    version int16 | crc uint32 (CRC-32C of everything after it) | count int32 |
    count x (producer id int64, epoch int16, last sequence int32, last offset int64,
             offset delta int32, timestamp int64, coordinator epoch int32,
             current txn first offset int64 (-1: none))

Kafka writes one entry per producer (its last batch). We write one entry per
remembered batch (up to 5, oldest first) so that a retry of any of a producer's
last 5 batches is still found after a restart; Kafka's reader keeps the last entry
of a producer id, which is exactly its own entry, so the file stays readable by
Kafka's tools. "offset delta" is last offset - first offset of the batch (= last
sequence - first sequence). A producer whose state holds no batch (only a marker)
gets one entry with last sequence -1 and last offset -1.
"""

from __future__ import annotations

import logging
import struct
from collections import deque
from collections.abc import Callable, Iterable
from typing import NamedTuple

from protocol.records import (
    CONTROL_COMMIT,
    CONTROL_MASK,
    INT32_MAX,
    NO_PRODUCER_EPOCH,
    NO_SEQUENCE,
    BatchHeader,
    crc32c,
    read_end_txn_marker,
)
from storage.errors import (
    InvalidProducerEpoch,
    OutOfOrderSequence,
    StorageError,
    TransactionCoordinatorFenced,
)

log = logging.getLogger(__name__)

NUM_BATCHES_TO_RETAIN = 5  # Kafka's ProducerStateEntry.NUM_BATCHES_TO_RETAIN


class BatchMetadata(NamedTuple):
    first_seq: int
    last_seq: int
    first_offset: int
    last_offset: int
    timestamp: int  # the batch's max timestamp (the append time for LogAppendTime)


class CompletedTxn(NamedTuple):
    """A transaction closed by a marker (the aborted-transaction index will want it)."""

    producer_id: int
    first_offset: int
    last_offset: int  # offset of the marker
    is_aborted: bool


def in_sequence(last_seq: int, next_seq: int) -> bool:
    return next_seq == last_seq + 1 or (next_seq == 0 and last_seq == INT32_MAX)


class ProducerStateEntry:
    __slots__ = (
        "producer_id",
        "producer_epoch",
        "batches",
        "coordinator_epoch",
        "current_txn_first_offset",
        "last_timestamp",
    )

    def __init__(
        self,
        producer_id: int,
        producer_epoch: int = NO_PRODUCER_EPOCH,
        batches: Iterable[BatchMetadata] = (),
        coordinator_epoch: int = -1,
        current_txn_first_offset: int | None = None,
        last_timestamp: int = -1,
    ) -> None:
        self.producer_id = producer_id
        self.producer_epoch = producer_epoch
        self.batches: deque[BatchMetadata] = deque(batches, NUM_BATCHES_TO_RETAIN)
        self.coordinator_epoch = coordinator_epoch
        self.current_txn_first_offset = current_txn_first_offset
        self.last_timestamp = last_timestamp

    @property
    def last_seq(self) -> int:
        return self.batches[-1].last_seq if self.batches else NO_SEQUENCE

    @property
    def last_offset(self) -> int:
        return self.batches[-1].last_offset if self.batches else -1

    def find_duplicate(self, epoch: int, first_seq: int, last_seq: int) -> BatchMetadata | None:
        if epoch != self.producer_epoch:
            return None
        for batch in self.batches:
            if batch.first_seq == first_seq and batch.last_seq == last_seq:
                return batch
        return None

    def copy(self) -> ProducerStateEntry:
        return ProducerStateEntry(
            self.producer_id,
            self.producer_epoch,
            self.batches,
            self.coordinator_epoch,
            self.current_txn_first_offset,
            self.last_timestamp,
        )

    def __repr__(self) -> str:
        return (
            f"ProducerStateEntry(id={self.producer_id}, epoch={self.producer_epoch},"
            f" last_seq={self.last_seq}, batches={len(self.batches)},"
            f" txn={self.current_txn_first_offset})"
        )


class ProducerAppendInfo:
    """The staged changes of one append to one producer's state (validated as staged)."""

    __slots__ = ("producer_id", "entry", "validate_epoch", "validate_sequence", "completed_txns")

    def __init__(
        self,
        producer_id: int,
        current: ProducerStateEntry | None,
        validate_epoch: bool = True,
        validate_sequence: bool = True,
    ) -> None:
        self.producer_id = producer_id
        self.entry = current.copy() if current is not None else ProducerStateEntry(producer_id)
        # Kafka: epochs are checked for client and coordinator appends, sequences for
        # client appends only; replicated appends are recorded as the leader wrote them.
        self.validate_epoch = validate_epoch
        self.validate_sequence = validate_sequence
        self.completed_txns: list[CompletedTxn] = []

    def _check_epoch(self, epoch: int, offset: int) -> None:
        if epoch < self.entry.producer_epoch:
            message = (
                f"producer {self.producer_id} at offset {offset}: epoch {epoch}"
                f" is older than the current {self.entry.producer_epoch}"
            )
            if self.validate_epoch:
                raise InvalidProducerEpoch(message)
            log.warning("replicated batch from a fenced epoch: %s", message)

    def _check_sequence(self, epoch: int, first_seq: int, offset: int) -> None:
        entry = self.entry
        if epoch != entry.producer_epoch:
            # A new epoch restarts the sequence space; an unknown producer may start anywhere.
            if first_seq != 0 and entry.producer_epoch != NO_PRODUCER_EPOCH:
                raise OutOfOrderSequence(
                    f"producer {self.producer_id} at offset {offset}: new epoch {epoch}"
                    f" must start at sequence 0, not {first_seq}"
                )
        elif not in_sequence(entry.last_seq, first_seq):
            raise OutOfOrderSequence(
                f"producer {self.producer_id} at offset {offset}: sequence {first_seq}"
                f" does not follow {entry.last_seq} (epoch {epoch})"
            )

    def _set_epoch(self, epoch: int) -> None:
        if epoch != self.entry.producer_epoch:
            self.entry.batches.clear()
            self.entry.producer_epoch = epoch

    def append_data_batch(
        self,
        epoch: int,
        first_seq: int,
        last_seq: int,
        first_offset: int,
        last_offset: int,
        timestamp: int,
        is_transactional: bool,
    ) -> None:
        """Stage a data batch; raises InvalidProducerEpoch / OutOfOrderSequence when validating."""
        self._check_epoch(epoch, first_offset)
        if self.validate_sequence:
            self._check_sequence(epoch, first_seq, first_offset)
        self._set_epoch(epoch)
        entry = self.entry
        entry.batches.append(
            BatchMetadata(first_seq, last_seq, first_offset, last_offset, timestamp)
        )
        entry.last_timestamp = timestamp
        if is_transactional and entry.current_txn_first_offset is None:
            entry.current_txn_first_offset = first_offset

    def append_end_txn_marker(
        self, epoch: int, coordinator_epoch: int, offset: int, timestamp: int, commit: bool
    ) -> CompletedTxn:
        """Stage a COMMIT/ABORT marker: closes the producer's open transaction."""
        self._check_epoch(epoch, offset)
        entry = self.entry
        if self.validate_epoch and coordinator_epoch < entry.coordinator_epoch:
            raise TransactionCoordinatorFenced(
                f"producer {self.producer_id}: marker from coordinator epoch"
                f" {coordinator_epoch}, current is {entry.coordinator_epoch}"
            )
        self._set_epoch(epoch)
        first = entry.current_txn_first_offset
        completed = CompletedTxn(
            self.producer_id, first if first is not None else offset, offset, not commit
        )
        self.completed_txns.append(completed)
        entry.coordinator_epoch = coordinator_epoch
        entry.current_txn_first_offset = None
        entry.last_timestamp = timestamp
        return completed

    def append_batch(self, header: BatchHeader, read_marker: Callable[[], bytes]) -> None:
        """Stage one batch from its header (Kafka's ProducerAppendInfo.append): a data
        batch, or a transaction marker (whose record `read_marker` reads; raises
        InvalidRecordError when it does not parse)."""
        if header.attributes & CONTROL_MASK:
            control_type, coordinator_epoch = read_end_txn_marker(read_marker())
            self.append_end_txn_marker(
                header.producer_epoch,
                coordinator_epoch,
                header.base_offset,
                header.max_timestamp,
                control_type == CONTROL_COMMIT,
            )
        else:
            self.append_data_batch(
                header.producer_epoch,
                header.base_sequence,
                header.last_sequence,
                header.base_offset,
                header.last_offset,
                header.max_timestamp,
                header.is_transactional,
            )


class ProducerStateManager:
    """Producer id -> ProducerStateEntry for one partition."""

    def __init__(self) -> None:
        self.producers: dict[int, ProducerStateEntry] = {}
        # Producers with an open transaction -> its first offset (LSO = min of these).
        self.ongoing_txns: dict[int, int] = {}
        # Transactions whose marker is written but not yet below the high watermark
        # (Kafka's unreplicatedTxns): they still hold the LSO back. Marker order.
        self.unreplicated_txns: deque[CompletedTxn] = deque()
        self.map_end_offset = 0  # the state reflects every batch below this offset

    def last_entry(self, producer_id: int) -> ProducerStateEntry | None:
        return self.producers.get(producer_id)

    def find_duplicate(
        self, producer_id: int, epoch: int, first_seq: int, last_seq: int
    ) -> BatchMetadata | None:
        entry = self.producers.get(producer_id)
        if entry is None:
            return None
        return entry.find_duplicate(epoch, first_seq, last_seq)

    def prepare_update(
        self, producer_id: int, *, validate_epoch: bool = True, validate_sequence: bool = True
    ) -> ProducerAppendInfo:
        return ProducerAppendInfo(
            producer_id, self.producers.get(producer_id), validate_epoch, validate_sequence
        )

    def update(self, append: ProducerAppendInfo) -> None:
        """Apply staged changes (after the batches were written); then `complete_txn`
        each of its completed transactions."""
        entry = append.entry
        self.producers[append.producer_id] = entry
        if entry.current_txn_first_offset is None:
            # A transaction this append completed stays open until `complete_txn`: the
            # LSO recorded in the .txnindex for other markers of the same append must
            # still see it (Kafka adds started transactions here, removes them there).
            if append.completed_txns:
                self.ongoing_txns[append.producer_id] = append.completed_txns[0].first_offset
            else:
                self.ongoing_txns.pop(append.producer_id, None)
        else:
            self.ongoing_txns[append.producer_id] = entry.current_txn_first_offset

    def update_map_end_offset(self, offset: int) -> None:
        self.map_end_offset = offset

    def first_unstable_offset(self) -> int | None:
        """First offset of the oldest transaction still open or whose marker is not yet
        below the high watermark (Kafka's firstUnstableOffset), None if none."""
        first = min(self.ongoing_txns.values()) if self.ongoing_txns else None
        for txn in self.unreplicated_txns:
            if first is None or txn.first_offset < first:
                first = txn.first_offset
        return first

    def last_stable_offset(self, completed: CompletedTxn) -> int:
        """The LSO (high watermark aside) once `completed`'s marker is in: the first
        offset of the oldest other open transaction, else the marker's offset + 1
        (Kafka's lastStableOffset(CompletedTxn), what the .txnindex entry records)."""
        others = [
            first
            for producer_id, first in self.ongoing_txns.items()
            if producer_id != completed.producer_id
        ]
        return min(others) if others else completed.last_offset + 1

    def complete_txn(self, completed: CompletedTxn) -> None:
        """The marker is written: the transaction is no longer open but holds the LSO
        until the high watermark passes its marker."""
        if self.ongoing_txns.get(completed.producer_id) == completed.first_offset:
            del self.ongoing_txns[completed.producer_id]
        self.unreplicated_txns.append(completed)

    def on_high_watermark_updated(self, high_watermark: int) -> bool:
        """Forget the completed transactions whose marker is below `high_watermark`;
        returns whether any went."""
        txns = self.unreplicated_txns
        if not txns:
            return False
        kept = deque(txn for txn in txns if txn.last_offset >= high_watermark)
        if len(kept) == len(txns):
            return False
        self.unreplicated_txns = kept
        return True

    def remove_expired(self, now_ms: int, expiration_ms: int) -> list[int]:
        """Forget producers idle for `expiration_ms` (producer.id.expiration.ms)
        without an open transaction; returns their ids."""
        expired = [
            producer_id
            for producer_id, entry in self.producers.items()
            if entry.current_txn_first_offset is None
            and now_ms - entry.last_timestamp >= expiration_ms
        ]
        for producer_id in expired:
            del self.producers[producer_id]
        return expired

    def clear(self, map_end_offset: int = 0) -> None:
        self.producers.clear()
        self.ongoing_txns.clear()
        self.unreplicated_txns.clear()
        self.map_end_offset = map_end_offset

    def entries(self) -> list[ProducerStateEntry]:
        """Every entry, for a snapshot."""
        return list(self.producers.values())

    def load_entries(self, entries: Iterable[ProducerStateEntry], map_end_offset: int) -> None:
        """Replace the state with a snapshot's entries."""
        self.clear(map_end_offset)
        for entry in entries:
            self.producers[entry.producer_id] = entry
            if entry.current_txn_first_offset is not None:
                self.ongoing_txns[entry.producer_id] = entry.current_txn_first_offset


# -- snapshots ------------------------------------------------------------------

SNAPSHOT_SUFFIX = ".snapshot"
SNAPSHOT_VERSION = 1
_SNAPSHOT_HEAD = struct.Struct(">hIi")  # version, crc, entry count
_SNAPSHOT_ENTRY = struct.Struct(">qhiqiqiq")
_CRC_START = 6  # the CRC covers the bytes after version and crc


class CorruptSnapshot(StorageError):
    """A producer snapshot file that fails its checks; the state is rebuilt without it."""


def snapshot_file_name(offset: int) -> str:
    return f"{offset:020d}{SNAPSHOT_SUFFIX}"


def encode_snapshot(entries: Iterable[ProducerStateEntry]) -> bytes:
    """Kafka's ProducerSnapshot v1 bytes for `entries` (see the module docstring)."""
    body = bytearray()
    pack = _SNAPSHOT_ENTRY.pack
    count = 0
    for entry in entries:
        txn = -1 if entry.current_txn_first_offset is None else entry.current_txn_first_offset
        batches = list(entry.batches)
        if not batches:
            body += pack(
                entry.producer_id,
                entry.producer_epoch,
                NO_SEQUENCE,
                -1,
                0,
                entry.last_timestamp,
                entry.coordinator_epoch,
                txn,
            )
            count += 1
            continue
        for i, batch in enumerate(batches):
            last = i == len(batches) - 1
            body += pack(
                entry.producer_id,
                entry.producer_epoch,
                batch.last_seq,
                batch.last_offset,
                batch.last_offset - batch.first_offset,
                entry.last_timestamp if last else batch.timestamp,
                entry.coordinator_epoch,
                txn,
            )
            count += 1
    head = bytearray(_SNAPSHOT_HEAD.pack(SNAPSHOT_VERSION, 0, count))
    data = head + body
    struct.pack_into(">I", data, 2, crc32c(memoryview(data)[_CRC_START:]))
    return bytes(data)


def decode_snapshot(data: bytes) -> list[ProducerStateEntry]:
    """Entries of a snapshot file; raises CorruptSnapshot."""
    if len(data) < _SNAPSHOT_HEAD.size:
        raise CorruptSnapshot(f"snapshot of {len(data)} bytes is too short")
    version, crc, count = _SNAPSHOT_HEAD.unpack_from(data)
    if version != SNAPSHOT_VERSION:
        raise CorruptSnapshot(f"unknown snapshot version {version}")
    if crc32c(memoryview(data)[_CRC_START:]) != crc:
        raise CorruptSnapshot("snapshot CRC mismatch")
    if count < 0 or len(data) != _SNAPSHOT_HEAD.size + count * _SNAPSHOT_ENTRY.size:
        raise CorruptSnapshot(f"snapshot size does not match its {count} entries")
    entries: dict[int, ProducerStateEntry] = {}
    for values in _SNAPSHOT_ENTRY.iter_unpack(memoryview(data)[_SNAPSHOT_HEAD.size :]):
        producer_id, epoch, last_seq, last_offset, delta, timestamp, coordinator, txn = values
        entry = entries.get(producer_id)
        if entry is None or entry.producer_epoch != epoch:
            entry = entries[producer_id] = ProducerStateEntry(producer_id, epoch)
        entry.coordinator_epoch = coordinator
        entry.current_txn_first_offset = None if txn < 0 else txn
        entry.last_timestamp = timestamp
        if last_seq >= 0 and last_offset >= 0:
            first_seq = last_seq - delta
            if first_seq < 0:
                first_seq += INT32_MAX + 1  # the batch wrapped
            entry.batches.append(
                BatchMetadata(first_seq, last_seq, last_offset - delta, last_offset, timestamp)
            )
    return list(entries.values())
