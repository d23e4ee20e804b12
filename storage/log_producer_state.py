"""ProducerStateLog: the producer-state and transaction half of a partition's log.

The Log (storage/log.py) is a ProducerStateLog, which is a LocalLog: this layer keeps
what Kafka's UnifiedLog keeps about producers and transactions.

Producer snapshots: `<offset>.snapshot` files (storage/producer_state.py) written when
a segment rolls and when the log closes, loaded when the log opens (the newest valid
one at or below the log end offset, then the batch headers after it are replayed),
and deleted with the segments they precede.

Transactions (Kafka's rules):
- A marker closes its producer's open transaction (ProducerAppendInfo stages it as a
  CompletedTxn). Once written, an ABORT adds an entry to the `.txnindex` of the
  segment it went to (storage/transaction_index.py) with the LSO at that moment, and
  the completed transaction stays "unreplicated" until the high watermark passes its
  marker (`on_high_watermark_updated`).
- `first_unstable_offset` (an attribute, kept up to date on appends, high watermark
  moves, truncation and loading): the first offset of the oldest transaction still
  open or not yet replicated, never below the log start offset; None when there is
  none. The partition's LSO is min(it, high watermark) (kafka_compat/replica.py).
- `collect_aborted_transactions(fetch_offset, upper)`: the aborted transactions a
  read_committed fetch returning [fetch_offset, upper) must list, from the segments'
  transaction indexes (no record is read).
- Recovery: segments recovered from their first byte lose their `.txnindex`
  (LogSegment.recover resets it); the entries are re-added while the producer state
  is replayed over them, from a snapshot at or below the first such segment.

Threading contract: as the Log's (loop thread; loading inside `Log(...)`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from protocol.records import BatchHeader, InvalidRecordError
from storage.local_log import LocalLog
from storage.producer_state import (
    CompletedTxn,
    CorruptSnapshot,
    ProducerAppendInfo,
    ProducerStateEntry,
    ProducerStateManager,
    decode_snapshot,
    encode_snapshot,
    snapshot_file_name,
)
from storage.segment import LogSegment
from storage.transaction_index import AbortedTxn

log = logging.getLogger(__name__)


class ProducerStateLog(LocalLog):
    """Producer snapshots and transactions over a LocalLog (see the module docstring).
    The Log's __init__ sets the attributes used here (`producer_state`,
    `_snapshot_offsets`, `producer_id_expiration_ms`, `first_unstable_offset`)."""

    producer_state: ProducerStateManager
    producer_id_expiration_ms: int
    _snapshot_offsets: list[int]
    first_unstable_offset: int | None = None

    # -- transactions -----------------------------------------------------------------

    def _complete_appends(self, appends: Iterable[ProducerAppendInfo]) -> None:
        """After a write: apply the staged producer changes, index the aborted
        transactions in the segment just written to, track the LSO."""
        state = self.producer_state
        appends = list(appends)
        for append in appends:
            state.update(append)
        completed = [txn for append in appends for txn in append.completed_txns]
        if completed:
            completed.sort(key=lambda txn: txn.last_offset)
            segment = self.active_segment
            for txn in completed:
                self._complete_txn(state, segment, txn)
        self._update_first_unstable_offset()

    def _complete_txn(
        self, state: ProducerStateManager, segment: LogSegment | None, txn: CompletedTxn
    ) -> None:
        if txn.is_aborted and segment is not None:
            segment.txn_index.append(
                AbortedTxn(
                    txn.producer_id,
                    txn.first_offset,
                    txn.last_offset,
                    state.last_stable_offset(txn),
                )
            )
        state.complete_txn(txn)

    def _update_first_unstable_offset(self) -> None:
        first = self.producer_state.first_unstable_offset()
        if first is not None and first < self.log_start_offset:
            first = self.log_start_offset
        self.first_unstable_offset = first

    def on_high_watermark_updated(self, high_watermark: int) -> None:
        """The partition's high watermark moved: completed transactions whose marker it
        passed stop holding the LSO back (Kafka's onHighWatermarkUpdated)."""
        if self.producer_state.on_high_watermark_updated(high_watermark):
            self._update_first_unstable_offset()

    def collect_aborted_transactions(
        self, fetch_offset: int, upper_bound_offset: int
    ) -> list[AbortedTxn]:
        """The aborted transactions overlapping [fetch_offset, upper_bound_offset): from
        the segment holding `fetch_offset` on, until an index says no later one can
        hold more (Kafka's LocalLog.collectAbortedTransactions)."""
        segments = self.segments
        index = max(0, segments.floor_index(fetch_offset))
        found: list[AbortedTxn] = []
        for i in range(index, len(segments)):
            txn_index = segments[i].txn_index
            if txn_index.is_empty:
                continue
            result = txn_index.collect_aborted_txns(fetch_offset, upper_bound_offset)
            found.extend(result.aborted_transactions)
            if result.is_complete:
                break
        return found

    # -- producer state and snapshots ------------------------------------------------

    def _snapshot_path(self, offset: int) -> Path:
        return self.dir / snapshot_file_name(offset)

    def take_snapshot(self) -> int | None:
        """Write `<log end offset>.snapshot` (loop thread; no fsync: a torn snapshot fails
        its CRC and is skipped). Returns its offset, None when not needed or not written."""
        offset = self.log_end_offset
        if self._snapshot_offsets and self._snapshot_offsets[-1] == offset:
            return None
        if offset == self.segments.first.base_offset and not self.producer_state.producers:
            return None
        data = encode_snapshot(self.producer_state.entries())
        path = self._snapshot_path(offset)
        try:
            with open(path, "wb") as file:
                file.write(data)
        except OSError as exc:
            # The state can still be rebuilt from an older snapshot and the log.
            log.warning("%s: cannot write producer snapshot %s: %s", self.name, path.name, exc)
            path.unlink(missing_ok=True)
            return None
        self._snapshot_offsets = [o for o in self._snapshot_offsets if o < offset] + [offset]
        self._dir_unsynced = True
        return offset

    def _delete_snapshots(self, keep: Callable[[int], bool]) -> None:
        kept = []
        for offset in self._snapshot_offsets:
            if keep(offset):
                kept.append(offset)
            else:
                self._snapshot_path(offset).unlink(missing_ok=True)
        self._snapshot_offsets = kept

    def active_producers(self) -> list[ProducerStateEntry]:
        """Every producer the state holds (DescribeProducers)."""
        return self.producer_state.entries()

    def remove_expired_producers(self, now_ms: int | None = None) -> list[int]:
        """Forget the producers idle for producer.id.expiration.ms without an open
        transaction (Kafka's periodic removeExpiredProducers); their ids."""
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        return self.producer_state.remove_expired(now, self.producer_id_expiration_ms)

    def _load_producer_state(self, now_ms: int, txn_index_from: int | None = None) -> int | None:
        """Newest valid snapshot at or below the log end offset (and `txn_index_from`),
        then the batch headers after it; without one, the batch headers of the segments
        that can still hold live producers. ABORT markers at or after `txn_index_from`
        are added to their segment's transaction index on the way (recovery). Returns
        the snapshot offset used (None: none)."""
        end = self.log_end_offset
        first_base = self.segments.first.base_offset
        stale = [o for o in self._snapshot_offsets if o > end or o < first_base]
        if stale:
            log.info(
                "%s: removing producer snapshots outside the log: %s",
                self.name,
                ", ".join(str(o) for o in stale),
            )
            self._delete_snapshots(lambda o: first_base <= o <= end)
        state = self.producer_state
        limit = end if txn_index_from is None else min(end, txn_index_from)
        for offset in reversed(list(self._snapshot_offsets)):
            if offset > limit:
                continue
            path = self._snapshot_path(offset)
            try:
                entries = decode_snapshot(path.read_bytes())
            except (OSError, CorruptSnapshot) as exc:
                log.warning("%s: ignoring producer snapshot %s: %s", self.name, path.name, exc)
                self._delete_snapshots(lambda o, bad=offset: o != bad)
                continue
            live = [
                entry
                for entry in entries
                if entry.current_txn_first_offset is not None
                or now_ms - entry.last_timestamp < self.producer_id_expiration_ms
            ]
            state.load_entries(live, offset)
            self._replay_batches(offset, txn_index_from)
            state.update_map_end_offset(end)
            self._update_first_unstable_offset()
            return offset
        self._rebuild_producer_state(now_ms, txn_index_from)
        self._update_first_unstable_offset()
        return None

    def _rebuild_producer_state(
        self, now_ms: int | None = None, txn_index_from: int | None = None
    ) -> None:
        """Producer state from batch headers, over the segments young enough to matter
        (and every segment from `txn_index_from` on)."""
        state = self.producer_state
        state.clear(self.log_end_offset)
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        horizon = now - self.producer_id_expiration_ms
        first = len(self.segments) - 1
        while first > 0 and self.segments[first - 1].largest_timestamp >= horizon:
            first -= 1
        if txn_index_from is not None:
            # Rebuilt index entries need each transaction's first offset, which may be
            # in any older segment: replay them all, then drop the idle producers.
            first = 0
        self._replay_batches(self.segments[first].base_offset, txn_index_from)
        if txn_index_from is not None:
            state.remove_expired(now, self.producer_id_expiration_ms)
        state.update_map_end_offset(self.log_end_offset)

    def _replay_batches(self, from_offset: int, txn_index_from: int | None = None) -> None:
        """Apply the producer batches from `from_offset` (a batch boundary) to the end."""
        state = self.producer_state
        index = max(0, self.segments.floor_index(from_offset))
        for i in range(index, len(self.segments)):
            segment = self.segments[i]
            position = 0
            if i == index and from_offset > segment.base_offset:
                found = segment.translate_offset(from_offset)
                if found is None:
                    continue
                position = found[0]
            for batch_position, header in segment.batch_headers(position):
                if header.producer_id < 0 or header.last_offset < self.log_start_offset:
                    continue
                self._replay_batch(state, segment, batch_position, header, txn_index_from)

    def _replay_batch(
        self,
        state: ProducerStateManager,
        segment: LogSegment,
        position: int,
        header: BatchHeader,
        txn_index_from: int | None,
    ) -> None:
        append = state.prepare_update(
            header.producer_id, validate_epoch=False, validate_sequence=False
        )
        try:
            append.append_batch(header, lambda: segment.read_batch(position, header.size))
        except InvalidRecordError:
            return
        state.update(append)
        for txn in append.completed_txns:
            rebuild = txn_index_from is not None and txn.last_offset >= txn_index_from
            self._complete_txn(state, segment if rebuild else None, txn)
