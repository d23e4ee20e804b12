"""TransactionIndex: a segment's aborted transactions, `<base>.txnindex` (Kafka's format).

    entries (version int16 = 0, producerId int64, firstOffset int64, lastOffset int64,
             lastStableOffset int64), 34 bytes each, big-endian, in lastOffset order

One entry per ABORT marker written to the segment: the producer's transaction ran
from firstOffset to the marker at lastOffset; lastStableOffset is the log's LSO
(ignoring the high watermark) once the marker was in: the first offset of the oldest
other open transaction, else the marker's offset + 1. A read_committed fetch lists
the aborted transactions overlapping what it returns (`collect_aborted_txns`), and
may stop looking at later segments once an entry's lastStableOffset reaches the end
of the returned data (Kafka's TxnIndexSearchResult.isComplete).

As in Kafka the file exists only once an entry was written (a missing file is an
empty index), and entries go to the file as they are appended (markers are rare: one
open, write, close each; the index holds no descriptor). Entries are read lazily, on
first use, and kept in memory.

Recovery: a segment recovered from scratch resets its index (LogSegment.recover) and
the Log re-adds the entries while it replays the producer state over the recovered
batches (storage/txn_log.py); truncation cuts the entries whose marker is gone.

Threading: the broker's event loop thread (and the thread opening a log); `flush`
opens a descriptor of its own and may run in a worker thread.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import NamedTuple

from storage.checkpoint import sync_file
from storage.errors import StorageError

TXN_INDEX_SUFFIX = ".txnindex"
ABORTED_TXN_VERSION = 0
_ENTRY = struct.Struct(">hqqqq")
ENTRY_SIZE = _ENTRY.size  # 34


class AbortedTxn(NamedTuple):
    producer_id: int
    first_offset: int
    last_offset: int  # the ABORT marker's offset
    last_stable_offset: int


class TxnIndexSearchResult(NamedTuple):
    aborted_transactions: list[AbortedTxn]
    is_complete: bool  # no later segment can hold an entry overlapping the range


class CorruptTransactionIndex(StorageError):
    """A .txnindex that fails its checks; the segment's index is rebuilt from the log."""


class TransactionIndex:
    __slots__ = ("path", "base_offset", "_entries", "_unsynced")

    def __init__(self, path: Path, base_offset: int) -> None:
        self.path = path
        self.base_offset = base_offset
        self._entries: list[AbortedTxn] | None = None  # None: not read yet
        self._unsynced = False

    # -- reading ---------------------------------------------------------------------

    def _load(self) -> list[AbortedTxn]:
        entries = self._entries
        if entries is not None:
            return entries
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            data = b""
        entries = []
        usable = len(data) - len(data) % ENTRY_SIZE  # a torn last entry is dropped
        for version, producer_id, first, last, lso in _ENTRY.iter_unpack(memoryview(data)[:usable]):
            if version != ABORTED_TXN_VERSION:
                raise CorruptTransactionIndex(
                    f"{self.path}: unexpected aborted transaction version {version}"
                )
            entries.append(AbortedTxn(producer_id, first, last, lso))
        self._entries = entries
        return entries

    def sanity_check(self) -> None:
        """Raise CorruptTransactionIndex for an unreadable file or an entry below the
        segment (Kafka's sanityCheck); a torn last entry is cut on the next write."""
        for entry in self._load():
            if entry.last_offset < self.base_offset:
                raise CorruptTransactionIndex(
                    f"{self.path}: aborted transaction {entry} ends below the segment's"
                    f" base offset {self.base_offset}"
                )

    @property
    def is_empty(self) -> bool:
        if self._entries is None:
            try:
                return self.path.stat().st_size < ENTRY_SIZE
            except FileNotFoundError:
                return True
        return not self._entries

    def all_aborted_txns(self) -> list[AbortedTxn]:
        return list(self._load())

    def collect_aborted_txns(
        self, fetch_offset: int, upper_bound_offset: int
    ) -> TxnIndexSearchResult:
        """Aborted transactions with a marker at or after `fetch_offset` and a first
        offset below `upper_bound_offset` (Kafka's collectAbortedTxns)."""
        found = []
        for entry in self._load():
            if entry.last_offset >= fetch_offset and entry.first_offset < upper_bound_offset:
                found.append(entry)
            if entry.last_stable_offset >= upper_bound_offset:
                return TxnIndexSearchResult(found, True)
        return TxnIndexSearchResult(found, False)

    # -- writing ---------------------------------------------------------------------

    def append(self, txn: AbortedTxn) -> None:
        """Add an entry (markers come in offset order) and write it to the file."""
        entries = self._load()
        if entries and entries[-1].last_offset >= txn.last_offset:
            raise ValueError(
                f"{self.path}: aborted transaction at {txn.last_offset} does not follow"
                f" the last one at {entries[-1].last_offset}"
            )
        self._rewrite_if_torn(len(entries))
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.pwrite(fd, _ENTRY.pack(ABORTED_TXN_VERSION, *txn), len(entries) * ENTRY_SIZE)
        finally:
            os.close(fd)
        entries.append(txn)
        self._unsynced = True

    def _rewrite_if_torn(self, count: int) -> None:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size != count * ENTRY_SIZE:
            os.truncate(self.path, count * ENTRY_SIZE)

    def truncate_to(self, offset: int) -> None:
        """Drop the entries whose marker is at or after `offset` (Kafka's truncateTo)."""
        entries = self._load()
        keep = len(entries)
        while keep and entries[keep - 1].last_offset >= offset:
            keep -= 1
        if keep == len(entries):
            return
        del entries[keep:]
        self._cut_file(keep)

    def reset(self) -> None:
        """Drop every entry (recovery rebuilds them); the file goes too."""
        self._entries = []
        self.path.unlink(missing_ok=True)

    def _cut_file(self, count: int) -> None:
        if count == 0:
            self.path.unlink(missing_ok=True)
            return
        try:
            os.truncate(self.path, count * ENTRY_SIZE)
        except FileNotFoundError:
            return
        self._unsynced = True

    # -- lifecycle -------------------------------------------------------------------

    def flush(self) -> None:
        """fsync the file if it changed since the last flush (worker-thread safe)."""
        if not self._unsynced:
            return
        self._unsynced = False
        sync_file(self.path)

    def exists(self) -> bool:
        return self.path.exists()

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)

    def rename_to(self, path: Path) -> None:
        if self.path.exists():
            os.replace(self.path, path)
        self.path = path

    def __repr__(self) -> str:
        return f"TransactionIndex({self.path})"
