"""LocalLog: one partition's segments on disk and the offsets they end at (Kafka's LocalLog).

The segment-level half of a partition's log (storage/log.py's Log, Kafka's UnifiedLog,
is the other): the LogSegments (storage/log_segments.py) it owns, the active segment
that appends are written to (rolling to a new one when it is full: segment.bytes, an
index full, offsets beyond int32 of the base; or old: segment.ms + jitter, from the
first batch's max timestamp), reads of whole batches across segments (one pread per
segment touched), flushing, truncation of segments, and taking segments out of the log
(retention, compaction swaps) with their files renamed `*.deleted` and queued in
PendingDeletions. It keeps the log end offset, the recovery point and the log start
offset as plain attributes (read on every append and fetch: no property in between);
the Log decides when the log start offset moves.

The Log is a LocalLog (a subclass, not a holder of one as in Kafka) so that those
attributes stay direct reads on the per-request paths. The Log extends `roll` (a
producer snapshot at the new base offset), `flush_files` (the leader-epoch-checkpoint),
`truncate_to`, `truncate_fully_and_start_at` and `remove_segments` (epochs, producer
state and snapshots follow the segments); what it does not extend is all here.

A failed write (disk full, EIO) raises StorageError (KAFKA_STORAGE_ERROR), is logged
once per episode, and leaves the log as it was.

Flushing: appends never fsync. `flush.messages` / `flush.ms` and rolls (Kafka flushes
a rolled segment asynchronously) only make the log due; `flush_due(now)` hands out a
LogFlush whose `run()` fsyncs in a worker thread and whose `complete()` moves the
recovery point on the loop thread.

Threading contract: everything here runs on the broker's event loop thread except
`LogFlush.run` / `flush_files` (worker thread: fsync through descriptors of its own,
on a copy of the segment list; never mutates the log) and `PendingDeletions.delete_due`
(worker thread, under the PendingDeletions' lock). Loading the segments is the
LogLoader's (storage/log_loader.py), inside `Log(...)`, before anything else uses the
log. Taking segments out (retention, the cleaner's swap) is loop-only and quick
(renames, no fsync, no data copy).
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from protocol.records import INT32_MAX, BatchesInfo
from storage.checkpoint import sync_file
from storage.errors import OffsetOutOfRange, StorageError
from storage.file_handles import FileHandleCache
from storage.log_config import LONG_MAX, LogConfig
from storage.log_segments import LogSegments
from storage.segment import (
    CLEANED_SUFFIX,
    DELETED_SUFFIX,
    SWAP_SUFFIX,
    LogSegment,
    random_roll_jitter,
)

log = logging.getLogger(__name__)


class FetchDataInfo(NamedTuple):
    records: bytes  # whole batches, b"" when none
    fetch_offset: int
    next_offset: int  # offset after the last batch returned (= fetch_offset when empty)
    # read_committed: the aborted transactions overlapping the batches (None otherwise)
    aborted_transactions: list | None = None


def parse_topic_partition(name: str) -> tuple[str, int]:
    """'my.topic-name-3' -> ('my.topic-name', 3): topics may contain '-', split on the last."""
    topic, sep, partition = name.rpartition("-")
    if not sep or not topic or not partition.isdigit():
        raise ValueError(f"not a <topic>-<partition> directory name: {name!r}")
    return topic, int(partition)


class PendingDeletions:
    """Files renamed `*.deleted`, unlinked once their file.delete.delay.ms has passed.

    Thread-safe: logs add on the loop thread, `delete_due` may run in a worker thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[tuple[int, Path]] = []

    def add(self, path: Path, due_ms: int) -> None:
        with self._lock:
            self._items.append((due_ms, path))

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> list[tuple[Path, int]]:
        with self._lock:
            return [(path, due) for due, path in self._items]

    def delete_due(self, now_ms: int) -> int:
        """Unlink the files due by `now_ms`; returns how many were removed."""
        with self._lock:
            due = [item for item in self._items if item[0] <= now_ms]
            self._items = [item for item in self._items if item[0] > now_ms]
        removed = 0
        for _, path in due:
            try:
                path.unlink()
                removed += 1
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.error("cannot delete %s: %s", path, exc)
        return removed


class LogFlush:
    """One log's due flush: `run()` in a worker thread (fsync), then `complete()` on the
    loop thread (the recovery point moves; ignored if the log was truncated meanwhile)."""

    __slots__ = ("log", "up_to", "generation")

    def __init__(self, log: LocalLog, up_to: int, generation: int) -> None:
        self.log = log
        self.up_to = up_to
        self.generation = generation

    def run(self) -> None:
        self.log.flush_files(self.up_to)

    def complete(self) -> None:
        self.log.mark_flushed(self.up_to, self.generation)

    def __repr__(self) -> str:
        return f"LogFlush({self.log.name}, up_to={self.up_to})"


class LocalLog:
    """One partition's segments and offsets (see the module docstring); the Log extends it."""

    def __init__(
        self,
        dir: Path,
        config: LogConfig,
        *,
        file_cache: FileHandleCache | None = None,
        pending_deletions: PendingDeletions | None = None,
        on_flush_due: Callable[[LocalLog], None] | None = None,
    ) -> None:
        """An empty LocalLog for `dir`: the caller (Log, with its LogLoader) fills the
        segments and sets `log_end_offset`, `log_start_offset` and `recovery_point`.

        `file_cache` caps open segment files (the LogManager's); `pending_deletions`
        collects `*.deleted` files (the LogManager's, else the log's own);
        `on_flush_due(log)` is called when flush.messages is reached.
        """
        self.dir = Path(dir)
        try:
            self.topic, self.partition = parse_topic_partition(self.dir.name)
        except ValueError:
            self.topic, self.partition = self.dir.name, -1
        self._config = config
        self.file_cache = file_cache
        self.pending_deletions = (
            pending_deletions if pending_deletions is not None else PendingDeletions()
        )
        self.on_flush_due = on_flush_due
        self.segments = LogSegments()
        self.log_end_offset = 0
        self.log_start_offset = 0
        self.recovery_point = 0
        self._unflushed_messages = 0
        self._flush_signalled = False
        self._roll_flush_offset = 0  # a rolled segment's end, to be flushed (as Kafka)
        self._dir_unsynced = True  # files created or renamed since the last flush
        self.last_flush_ms = int(time.time() * 1000)
        # Bumped when segments go away under a running cleaner or flush (truncation,
        # retention, deletion): their results are then discarded.
        self.generation = 0
        self.closed = False
        self._storage_error_logged = False
        # Told of every failed disk operation (any thread): the LogManager's, which
        # takes the log's directory offline (Kafka's LogDirFailureChannel).
        self.on_io_error: Callable[[LocalLog, OSError], None] | None = None

    # -- configuration and shape ---------------------------------------------

    @property
    def config(self) -> LogConfig:
        return self._config

    @config.setter
    def config(self, config: LogConfig) -> None:
        """Topic config changed (AlterConfigs): takes effect from the next append/check."""
        self._config = config
        self.active_segment.index_interval_bytes = config.index_interval_bytes

    @property
    def name(self) -> str:
        return self.dir.name

    @property
    def active_segment(self) -> LogSegment:
        return self.segments.active  # never None: a log always has a segment

    @property
    def size(self) -> int:
        return sum(segment.size for segment in self.segments)

    def _new_segment(self, base_offset: int, create: bool = False) -> LogSegment:
        config = self._config
        kwargs = {
            "index_interval_bytes": config.index_interval_bytes,
            "max_index_size": config.segment_index_bytes,
            "roll_jitter_ms": random_roll_jitter(config.segment_jitter_ms),
            "file_cache": self.file_cache,
        }
        if create:
            return LogSegment.create(self.dir, base_offset, **kwargs)
        return LogSegment(self.dir, base_offset, **kwargs)

    # -- writing to the active segment, roll ----------------------------------------

    def _write(
        self,
        records: bytes | bytearray | memoryview,
        info: BatchesInfo,
        first_offset: int | None,
        last_offset: int,
        max_timestamp: int,
        append_time: int,
        now: int,
    ) -> None:
        try:
            self._maybe_roll(info.size, max_timestamp, last_offset, now)
            self.active_segment.append(records, info, first_offset, append_time)
        except OSError as exc:
            self._storage_error("append", exc)
        if self._storage_error_logged:
            log.info("%s: writes succeed again", self.name)
            self._storage_error_logged = False
        self.log_end_offset = last_offset + 1

    def _storage_error(self, action: str, exc: OSError) -> None:
        """Raise StorageError for a failed disk operation, logging once per episode."""
        self._report_io_error(exc)
        if not self._storage_error_logged:
            self._storage_error_logged = True
            log.error(
                "%s: %s failed (%s); answering KAFKA_STORAGE_ERROR until a write succeeds",
                self.name,
                action,
                exc,
            )
        else:
            log.debug("%s: %s failed again: %s", self.name, action, exc)
        raise StorageError(f"{action} on {self.dir} failed: {exc}") from exc

    def _report_io_error(self, exc: OSError) -> None:
        # A closed log's files may be gone on purpose (deleted, moved): not the disk.
        if self.on_io_error is not None and not self.closed:
            self.on_io_error(self, exc)

    def _after_append(self, messages: int) -> None:
        self._unflushed_messages += messages
        # flush.messages (off by default, as in Kafka): the log becomes due; the broker's
        # flusher fsyncs it in a worker thread (flush_due / LogFlush).
        if self._unflushed_messages >= self._config.flush_messages and not self._flush_signalled:
            self._flush_signalled = True
            if self.on_flush_due is not None:
                self.on_flush_due(self)

    def _maybe_roll(self, size: int, max_timestamp: int, last_offset: int, now: int) -> None:
        segment = self.active_segment
        if segment.size == 0:
            return
        config = self._config
        if (
            segment.size + size > config.segment_bytes
            or segment.index.is_full
            or segment.time_index.is_full
            or last_offset - segment.base_offset > INT32_MAX
            or segment.time_waited_for_roll(now, max_timestamp)
            > config.segment_ms - segment.roll_jitter_ms
        ):
            self.roll()

    def roll(self) -> LogSegment:
        """Start a new active segment at the log end offset (no-op if the active one is
        empty), and make the log due for a flush up to it (Kafka flushes a rolled
        segment asynchronously). The Log adds a producer snapshot at the new base offset."""
        active = self.active_segment
        end = self.log_end_offset
        if active.size == 0 and active.base_offset == end:
            return active
        active.on_become_inactive()
        segment = self._new_segment(end, create=True)
        self.segments.add(segment)
        self._roll_flush_offset = end
        self._dir_unsynced = True
        log.debug("%s: rolled new segment at offset %d", self.name, segment.base_offset)
        return segment

    # -- flushing -------------------------------------------------------------------

    @property
    def unflushed_messages(self) -> int:
        return self._unflushed_messages

    def flush_due(self, now_ms: int) -> LogFlush | None:
        """Loop thread: a LogFlush if flush.messages / flush.ms or a roll asks for one."""
        config = self._config
        end = self.log_end_offset
        target = self._roll_flush_offset
        if self._unflushed_messages >= config.flush_messages:
            target = end
        elif (
            config.flush_ms != LONG_MAX
            and now_ms - self.last_flush_ms >= config.flush_ms
            and end > self.recovery_point
        ):
            target = end
        if target <= self.recovery_point:
            self._roll_flush_offset = 0
            return None
        if target == end:
            self._unflushed_messages = 0
            self._flush_signalled = False
        self._roll_flush_offset = 0
        self.last_flush_ms = now_ms
        return LogFlush(self, target, self.generation)

    def flush_files(self, up_to: int | None = None, *, indexes: bool = True) -> None:
        """fsync what holds data below `up_to` (default: the log end offset) and past the
        recovery point, then the directory (the Log then writes the leader-epoch-checkpoint
        if it changed). Worker-thread safe: descriptors of its own, and the log is not changed
        (`mark_flushed` moves the recovery point)."""
        if up_to is None:
            up_to = self.log_end_offset
        segments = self.segments[:]
        start = self.recovery_point
        try:
            for i, segment in enumerate(segments):
                if segment.base_offset >= up_to and i > 0:
                    break
                later = segments[i + 1] if i + 1 < len(segments) else None
                if later is not None and later.base_offset <= start:
                    continue
                if indexes:
                    segment.flush()
                else:
                    sync_file(segment.log_path)
            if self._dir_unsynced:
                self._dir_unsynced = False  # cleared first: a racing rename sets it again
                sync_file(self.dir)
        except OSError as exc:
            log.error("%s: flush failed: %s", self.name, exc)
            self._report_io_error(exc)
            raise StorageError(f"flush of {self.dir} failed: {exc}") from exc

    def mark_flushed(self, up_to: int, generation: int | None = None) -> None:
        """Loop thread, after flush_files(up_to): the recovery point moves to `up_to`."""
        if generation is not None and generation != self.generation:
            return  # truncated meanwhile: the recovery point stays where it is
        if up_to > self.recovery_point:
            self.recovery_point = min(up_to, self.log_end_offset)

    def flush(self) -> None:
        """Flush everything now, in the calling thread (shutdown, tests)."""
        up_to = self.log_end_offset
        generation = self.generation
        first = max(0, self.segments.floor_index(self.recovery_point))
        for segment in self.segments[first:]:
            segment.index.write_pending()
            segment.time_index.write_pending()
        self.flush_files(up_to)
        self.mark_flushed(up_to, generation)
        self._unflushed_messages = 0
        self._flush_signalled = False
        self.last_flush_ms = int(time.time() * 1000)

    # -- read -------------------------------------------------------------------

    def read(
        self,
        fetch_offset: int,
        max_bytes: int,
        max_offset: int | None = None,
        min_one_batch: bool = True,
    ) -> FetchDataInfo:
        """Whole batches from the one containing `fetch_offset`, with base offsets below
        `max_offset` (exclusive; the log end offset when None), at most `max_bytes` except
        that the first batch comes whole when `min_one_batch`. May cross segments."""
        end = self.log_end_offset
        if fetch_offset < self.log_start_offset or fetch_offset > end:
            raise OffsetOutOfRange(
                f"{self.name}: offset {fetch_offset} is outside [{self.log_start_offset}, {end}]"
            )
        if max_offset is None or max_offset > end:
            max_offset = end
        if fetch_offset >= max_offset:
            return FetchDataInfo(b"", fetch_offset, fetch_offset)
        chunks = []
        budget = max_bytes
        offset = fetch_offset
        segments = self.segments
        count = len(segments)  # the list does not change while a read runs
        index = segments.floor_index(fetch_offset)
        try:
            while 0 <= index < count:
                segment = segments[index]
                if segment.base_offset >= max_offset:
                    break
                result = segment.read(offset, budget, max_offset, min_one_batch and not chunks)
                if result is not None:
                    if result.data:
                        chunks.append(result.data)
                        budget -= len(result.data)
                        offset = result.next_offset
                    if not result.reached_end or budget <= 0:
                        break
                index += 1
        except OSError as exc:
            self._report_io_error(exc)
            raise StorageError(f"read from {self.dir} failed: {exc}") from exc
        if not chunks:
            return FetchDataInfo(b"", fetch_offset, fetch_offset)
        if len(chunks) == 1 and isinstance(chunks[0], bytes):
            return FetchDataInfo(chunks[0], fetch_offset, offset)
        return FetchDataInfo(b"".join(chunks), fetch_offset, offset)

    # -- truncation ---------------------------------------------------------------------

    def truncate_to(self, offset: int) -> bool:
        """Remove the segments' contents from the batch holding `offset` on, for
        `segments.first.base_offset <= offset`; segments starting above `offset` go, one
        starting at it stays, emptied (as Kafka). Batches are never split: the log end
        offset becomes the active segment's next offset, which can be below `offset`.
        The log start offset and the recovery point follow it down. Returns whether
        anything was removed."""
        if offset >= self.log_end_offset:
            return False
        self.generation += 1
        keep = self.segments.floor_index(offset) + 1
        for segment in self.segments[keep:]:
            segment.delete()
        self.segments.remove(keep)
        active = self.active_segment
        active.truncate_to(offset)
        self.log_end_offset = active.next_offset
        self.log_start_offset = min(self.log_start_offset, self.log_end_offset)
        self.recovery_point = min(self.recovery_point, self.log_end_offset)
        return True

    def truncate_fully_and_start_at(self, offset: int) -> None:
        """Delete every segment and restart, empty, at `offset` (log start and end
        offsets and recovery point alike)."""
        self.generation += 1
        for segment in self.segments:
            segment.delete()
        self.segments.clear()
        self.segments.add(self._new_segment(offset, create=True))
        self.log_end_offset = offset
        self.log_start_offset = offset
        self.recovery_point = offset

    # -- taking segments out (retention, compaction) ---------------------------------------

    def remove_segments(self, doomed: list[LogSegment], now_ms: int) -> None:
        """Take the first `len(doomed)` segments (which must be `doomed`) out of the log,
        rename their files `*.deleted` and queue them for deletion; the log start offset
        moves to the new first segment. Loop thread."""
        count = len(doomed)
        if self.segments[:count] != doomed or count >= len(self.segments):
            raise ValueError("remove_segments: not the oldest, inactive segments")
        self.generation += 1  # a running cleaner or flush must not use them any more
        self.segments.remove(0, count)
        for segment in doomed:
            self._retire(segment, now_ms)
        first_base = self.segments.first.base_offset
        self.log_start_offset = max(self.log_start_offset, first_base)
        self.recovery_point = max(self.recovery_point, first_base)

    def _retire(self, segment: LogSegment, now_ms: int) -> None:
        """Rename a segment's files `*.deleted` and queue them (file.delete.delay.ms)."""
        due = now_ms + self._config.file_delete_delay_ms
        self._dir_unsynced = True
        try:
            segment.close()
            segment.change_file_suffix(segment.file_suffix, DELETED_SUFFIX)
        except OSError as exc:
            log.error("%s: cannot rename %s for deletion: %s", self.name, segment, exc)
        paths = [segment.log_path, segment.index.path, segment.time_index.path]
        if segment.txn_index.exists():
            paths.append(segment.txn_index.path)
        for path in paths:
            if path.name.endswith(DELETED_SUFFIX):
                self.pending_deletions.add(path, due)

    # -- compaction support (storage/cleaner.py) -----------------------------------------

    def replace_segments(self, old: list[LogSegment], new: LogSegment, now_ms: int) -> None:
        """Swap the cleaned `new` (files `*.cleaned`, base = old[0]'s) in for the
        consecutive, inactive segments `old`. Loop thread, renames only, in Kafka's
        order: new `.cleaned` -> `.swap`; old -> `.deleted` (queued); new `.swap` -> final.
        A crash in between is finished by the next open (LogLoader._complete_swaps)."""
        first = self.segments.index_of(old[0])
        count = len(old)
        if first < 0 or self.segments[first : first + count] != old:
            raise ValueError("replace_segments: the segments are no longer in the log")
        if first + count >= len(self.segments):
            raise ValueError("replace_segments: never the active segment")
        if new.base_offset != old[0].base_offset:
            raise ValueError("replace_segments: the new segment must keep the base offset")
        new.change_file_suffix(CLEANED_SUFFIX, SWAP_SUFFIX)
        self.segments.remove(first, first + count)
        for segment in old:
            self._retire(segment, now_ms)
        new.change_file_suffix(SWAP_SUFFIX, "")
        new.attach_cache(self.file_cache)
        self.segments.insert(first, new)

    # -- lifecycle ----------------------------------------------------------------

    def close(self) -> None:
        """Release every segment's descriptors (the Log writes its snapshot and
        leader-epoch-checkpoint first)."""
        self.closed = True
        self.generation += 1
        for segment in self.segments:
            segment.close()

    def close_handlers(self) -> None:
        """Release every descriptor without writing anything (Kafka's closeHandlers: a
        failed open, a deletion). The log is closed."""
        self.closed = True
        self.generation += 1
        for segment in self.segments:
            try:
                segment.close()
            except OSError as exc:
                log.warning("%s: closing %s: %s", self.name, segment.log_path.name, exc)

    def delete(self) -> None:
        """Close and remove the partition's directory."""
        self.close_handlers()
        shutil.rmtree(self.dir, ignore_errors=True)
