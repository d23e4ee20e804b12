"""LogCleaner: log compaction (cleanup.policy containing "compact"), Kafka's way.

One cleaning of a log:

1. Plan (`grab_filthiest_log` / `prepare`, loop thread, quick). The dirty section
   runs from the first dirty offset (the `cleaner-offset-checkpoint` entry, else the
   log start offset) to the first uncleanable offset: the smallest of the active
   segment's base offset, the base of the segment holding the first unstable offset
   (open transactions), and the base of the first dirty segment younger than
   `min.compaction.lag.ms` (by its largest timestamp). A log is cleaned when dirty
   bytes / (clean + dirty bytes) >= `min.cleanable.dirty.ratio`, or when its first
   dirty batch is older than `max.compaction.lag.ms`, or when tombstones it kept reach
   their delete horizon. The filthiest such log is chosen; it is marked
   (`log.cleaning`) until swap or abort.
2. Run (`CleaningTask.run`, a worker thread). Reads only closed segments, through
   descriptors it opens itself, and writes only new files:
   - an offset map key -> newest offset over the dirty section (records of aborted
     transactions excluded); at most `max_map_entries` keys, stopping at a segment
     boundary (the rest waits for the next round);
   - every segment below the end of the map is rewritten, in groups that fit one
     segment (segment.bytes, segment.index.bytes, offsets within int32 of the base),
     into `<base>.log.cleaned` (+ `.index.cleaned`, `.timeindex.cleaned`), keeping
     each batch whose records all stay byte for byte, and re-encoding the others with
     their original codec (gzip, snappy, lz4, zstd), base offset, last offset delta,
     producer id/epoch/base sequence, leader epoch and timestamp type. Offsets are
     kept; gaps are fine. The new files are fsynced.
   A record goes when a newer record has its key, when it has no key (Kafka refuses
   those at produce time for compacted topics; we do not decode records on produce),
   when its transaction was aborted (the abort marker is in the cleaned range), or
   when it is a tombstone (null value) whose batch's delete horizon has passed.
   Tombstones are kept on the first cleaning that passes them and their batch gets a
   delete horizon of now + `delete.retention.ms` (KIP-534: attribute bit 6, the
   horizon in the base timestamp field); a later cleaning after that drops them.
   Batches of transactions whose marker lies beyond the cleaned range stay whole.
   A transaction marker stays while the cleaning meets data of its transaction (so
   an ABORT outlives its data by one cleaning; its .txnindex entry is copied), then
   gets a delete horizon (now + `delete.retention.ms`) and goes after it (Kafka).
   A batch that loses every record is dropped, except the last data batch of a
   producer the log still tracks: it stays as an empty batch (header only, offsets
   and sequence numbers intact), as Kafka keeps it, so that the producer's last
   sequence survives in the log and in any rebuild of producer state.
3. Swap (`swap`, loop thread, quick: renames only). Per group, Kafka's order: new
   files `.cleaned` -> `.swap`; the replaced segments' files -> `.deleted` (removed
   after file.delete.delay.ms); new files `.swap` -> final names; the segment list
   entries are replaced. A crash mid-swap is finished when the log is next opened
   (`.swap` files replace the segments they cover; `.cleaned` files are dropped).
   The task is discarded instead when the log changed underneath (truncation,
   retention deleting segments, deletion, close: `log.generation` moved).
4. Checkpoint (`write_checkpoint`, any thread: it fsyncs): `cleaner-offset-checkpoint`
   in Kafka's text format, topic partition -> the offset cleaning reached.

The active segment is never read or written by the cleaner.

Threading contract (for the broker, on Trio):

    task = log_manager.grab_filthiest_log(now_ms)     # or cleaner.grab_filthiest_log(logs, now)
    if task is not None:
        await trio.to_thread.run_sync(task.run)       # never raises; task.error is set
        stats = log_manager.cleaner.swap(task)        # loop thread; None if discarded
        await trio.to_thread.run_sync(log_manager.cleaner.write_checkpoint)

`LogCleaner.clean(log, now_ms)` does all of it in the calling thread (tests, tools).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from protocol.records import (
    CONTROL_ABORT,
    CONTROL_MASK,
    HEADER_SIZE,
    INT32_MAX,
    LOG_OVERHEAD,
    MAGIC,
    TRANSACTIONAL_MASK,
    BatchesInfo,
    BatchHeader,
    InvalidRecordError,
    build_batch,
    build_empty_batch,
    decode_batch,
    read_batch_header,
    read_end_txn_marker,
)
from storage.checkpoint import CorruptCheckpoint, OffsetCheckpointFile
from storage.file_handles import FileHandleCache
from storage.log import Log
from storage.log_config import LONG_MAX
from storage.segment import CLEANED_SUFFIX, LOG_SUFFIX, LogSegment, scan_headers
from storage.transaction_index import TXN_INDEX_SUFFIX, TransactionIndex

log = logging.getLogger(__name__)

CLEANER_OFFSET_CHECKPOINT = "cleaner-offset-checkpoint"
DEFAULT_MAX_MAP_ENTRIES = 1_000_000
_READ_WINDOW = 4 * 1024 * 1024
_WRITE_BUFFER = 1024 * 1024


class CleanerStats(NamedTuple):
    bytes_read: int
    bytes_written: int
    records_read: int
    records_retained: int
    batches_rewritten: int  # re-encoded (some records removed, or a horizon set)
    tombstones_removed: int
    segments_in: int
    segments_out: int
    map_entries: int
    first_dirty_offset: int
    end_offset: int  # the next cleaning's first dirty offset
    elapsed_s: float


class _Source(NamedTuple):
    """A closed segment as the worker thread sees it: immutable facts taken at plan time."""

    segment: LogSegment
    path: Path
    base_offset: int
    size: int
    upper_offset: int  # the next segment's base offset: every offset here is below it
    index_bytes: int
    time_index_bytes: int


class _Plan(NamedTuple):
    ratio: float
    must_clean: bool
    horizon_due: bool
    first_dirty: int
    end: int
    dirty_bytes: int


class CleaningTask:
    """One cleaning of one log: planned on the loop thread, `run()` in a worker thread."""

    def __init__(
        self,
        log_: Log,
        sources: list[_Source],
        dirty_start: int,
        first_dirty: int,
        end: int,
        now_ms: int,
        max_map_entries: int,
    ) -> None:
        config = log_.config
        self.log = log_
        self.key = (log_.topic, log_.partition)
        self.dir = log_.dir
        self.sources = sources  # every segment below `end`, oldest first
        self.dirty_start = dirty_start  # index in `sources` of the first dirty segment
        self.first_dirty = first_dirty
        self.end_offset = end
        self.now_ms = now_ms
        self.generation = log_.generation
        self.delete_retention_ms = config.delete_retention_ms
        self.segment_bytes = config.segment_bytes
        self.max_index_size = config.segment_index_bytes
        self.index_interval_bytes = config.index_interval_bytes
        self.max_map_entries = max_map_entries
        # Producer id -> last offset of its last data batch: that batch is never dropped.
        self.producer_last_offsets = {
            entry.producer_id: entry.last_offset
            for entry in log_.producer_state.producers.values()
            if entry.last_offset >= 0
        }
        self.results: list[tuple[list[LogSegment], LogSegment]] = []
        self.error: BaseException | None = None
        self.stats: CleanerStats | None = None
        self.next_delete_horizon_ms: int | None = None
        self._writing: LogSegment | None = None
        self._cancelled = threading.Event()
        # Producers with transactional data met since their last marker; the ABORT
        # markers kept because data of their transaction was met.
        self._txn_data_seen: set[int] = set()
        self._aborts_with_data: set[int] = set()

    def __repr__(self) -> str:
        return (
            f"CleaningTask({self.log.name}, dirty {self.first_dirty}..{self.end_offset},"
            f" {len(self.sources)} segments)"
        )

    def cancel(self) -> None:
        """Ask a running task to stop early (any thread); it then fails."""
        self._cancelled.set()

    # -- worker thread --------------------------------------------------------------

    def run(self) -> None:
        """Build the offset map and write the cleaned segments. Never raises: a failure
        is kept in `error` (and the files it wrote are removed)."""
        started = time.monotonic()
        try:
            self._run(started)
        except BaseException as exc:  # reported to the loop thread through `error`
            self.error = exc
            for _, segment in self.results:
                _remove_quietly(segment)
            if self._writing is not None:
                _remove_quietly(self._writing)
            self.results = []
            if not isinstance(exc, (OSError, InvalidRecordError, _Cancelled)):
                log.exception("%s: cleaning failed", self.log.name)

    def _run(self, started: float) -> None:
        status = self._transaction_status(self.sources)
        offset_map, end = self._build_offset_map(status)
        self.end_offset = end
        sources = [source for source in self.sources if source.base_offset < end]
        counters = [0, 0, 0, 0, 0, 0]  # read, written, records read, kept, rewritten, tombs
        for group in _group_segments(sources, self.segment_bytes, self.max_index_size):
            self._check_cancelled()
            new = self._clean_group(group, offset_map, status, counters)
            self.results.append(([source.segment for source in group], new))
        self.stats = CleanerStats(
            counters[0],
            counters[1],
            counters[2],
            counters[3],
            counters[4],
            counters[5],
            len(sources),
            len(self.results),
            len(offset_map),
            self.first_dirty,
            end,
            time.monotonic() - started,
        )

    def _check_cancelled(self) -> None:
        if self._cancelled.is_set():
            raise _Cancelled("cleaning cancelled")

    def _build_offset_map(self, status: dict[int, bool]) -> tuple[dict[bytes, int], int]:
        """key -> newest offset over the dirty section; returns it and where it ends."""
        offset_map: dict[bytes, int] = {}
        first_dirty = self.first_dirty
        end = self.end_offset
        for i in range(self.dirty_start, len(self.sources)):
            source = self.sources[i]
            if source.base_offset >= end:
                break
            if i > self.dirty_start and len(offset_map) >= self.max_map_entries:
                end = source.base_offset  # the map is full: the rest waits for next time
                break
            self._check_cancelled()
            for _, header, batch in _iter_batches(source):
                if header.attributes & CONTROL_MASK or header.records_count == 0:
                    continue
                if header.last_offset < first_dirty:
                    continue
                if header.attributes & TRANSACTIONAL_MASK and (
                    status.get(header.base_offset) is not False
                ):
                    continue  # aborted, or not known to be committed
                _, records = decode_batch(batch)
                for record in records:
                    if record.key is not None and record.offset >= first_dirty:
                        offset_map[record.key] = record.offset
        return offset_map, end

    def _transaction_status(self, sources: list[_Source]) -> dict[int, bool]:
        """Base offset of each transactional data batch -> aborted? (True: aborted,
        False: committed); batches whose marker is not in `sources` are absent."""
        status: dict[int, bool] = {}
        open_batches: dict[int, list[int]] = {}
        for source in sources:
            with _open(source.path) as fd:
                for position, header in scan_headers(
                    lambda size, at, fd=fd: os.pread(fd, size, at), 0, source.size
                ):
                    if not header.attributes & TRANSACTIONAL_MASK:
                        continue
                    if header.attributes & CONTROL_MASK:
                        try:
                            control_type, _ = read_end_txn_marker(
                                os.pread(fd, header.size, position)
                            )
                        except InvalidRecordError:
                            continue
                        for base in open_batches.pop(header.producer_id, ()):
                            status[base] = control_type == CONTROL_ABORT
                    else:
                        open_batches.setdefault(header.producer_id, []).append(header.base_offset)
        return status

    def _clean_group(
        self,
        group: list[_Source],
        offset_map: dict[bytes, int],
        status: dict[int, bool],
        counters: list[int],
    ) -> LogSegment:
        base = group[0].base_offset
        new = LogSegment.create(
            self.dir,
            base,
            file_suffix=CLEANED_SUFFIX,
            index_interval_bytes=self.index_interval_bytes,
            max_index_size=self.max_index_size,
            file_cache=FileHandleCache(),
        )
        self._writing = new
        writer = _SegmentWriter(new)
        now = self.now_ms
        for source in group:
            self._check_cancelled()
            for _, header, batch in _iter_batches(source):
                counters[0] += header.size
                out = self._clean_batch(header, batch, offset_map, status, counters, now)
                if out is not None:
                    writer.add(out, header if out is batch else read_batch_header(out))
        writer.finish()
        # Aborted transactions that still had data here keep their index entry.
        for source in group:
            txn_path = source.path.with_name(
                source.path.name[: -len(LOG_SUFFIX)] + TXN_INDEX_SUFFIX
            )
            for txn in TransactionIndex(txn_path, source.base_offset).all_aborted_txns():
                if txn.last_offset in self._aborts_with_data:
                    new.txn_index.append(txn)
        counters[1] += new.size
        new.on_become_inactive()
        new.flush()
        new.close()
        self._writing = None
        return new

    def _clean_batch(
        self,
        header: BatchHeader,
        batch: memoryview,
        offset_map: dict[bytes, int],
        status: dict[int, bool],
        counters: list[int],
        now: int,
    ) -> memoryview | bytes | None:
        if header.attributes & CONTROL_MASK:
            return self._clean_marker(header, batch, now)
        transactional = bool(header.attributes & TRANSACTIONAL_MASK)
        if transactional:
            self._txn_data_seen.add(header.producer_id)
        if header.records_count == 0:
            return batch
        verdict = status.get(header.base_offset) if transactional else False
        if transactional and verdict is None:
            return batch  # its marker is beyond what is cleaned: keep it whole
        _, records = decode_batch(batch)
        counters[2] += len(records)
        horizon = header.delete_horizon_ms
        kept = []
        tombstones = False
        if not verdict:  # not aborted
            get = offset_map.get
            for record in records:
                key = record.key
                if key is None:
                    continue
                newest = get(key)
                if newest is not None and newest > record.offset:
                    continue
                if record.value is None:
                    if horizon is not None and now >= horizon:
                        counters[5] += 1
                        continue
                    tombstones = True
                kept.append(record)
        counters[3] += len(kept)
        if tombstones:
            if horizon is None:
                horizon = now + self.delete_retention_ms
            if self.next_delete_horizon_ms is None or horizon < self.next_delete_horizon_ms:
                self.next_delete_horizon_ms = horizon
        if len(kept) == len(records) and (not tombstones or header.delete_horizon_ms is not None):
            return batch
        if not kept:
            if self.producer_last_offsets.get(header.producer_id) == header.last_offset:
                counters[4] += 1
                return build_empty_batch(header)
            return None
        counters[4] += 1
        return build_batch(
            kept,
            base_offset=header.base_offset,
            compression=header.codec,
            producer_id=header.producer_id,
            producer_epoch=header.producer_epoch,
            base_sequence=header.base_sequence,
            log_append_time=header.is_log_append_time,
            transactional=transactional,
            partition_leader_epoch=header.partition_leader_epoch,
            last_offset_delta=header.last_offset_delta,
            delete_horizon_ms=horizon if tombstones else None,
        )

    def _clean_marker(
        self, header: BatchHeader, batch: memoryview, now: int
    ) -> memoryview | bytes | None:
        """A transaction marker: kept while data of its transaction was met in this
        cleaning; then kept until its delete horizon (set now if it has none)."""
        producer_id = header.producer_id
        if producer_id in self._txn_data_seen:
            self._txn_data_seen.discard(producer_id)
            try:
                control_type, _ = read_end_txn_marker(batch)
            except InvalidRecordError:
                return batch
            if control_type == CONTROL_ABORT:
                self._aborts_with_data.add(header.last_offset)
            return batch
        horizon = header.delete_horizon_ms
        if horizon is not None and now >= horizon:
            return None
        if horizon is None:
            horizon = now + self.delete_retention_ms
            _, records = decode_batch(batch)
            batch = build_batch(
                records,
                base_offset=header.base_offset,
                compression=header.codec,
                producer_id=producer_id,
                producer_epoch=header.producer_epoch,
                base_sequence=header.base_sequence,
                log_append_time=header.is_log_append_time,
                transactional=True,
                control=True,
                partition_leader_epoch=header.partition_leader_epoch,
                last_offset_delta=header.last_offset_delta,
                delete_horizon_ms=horizon,
            )
        if self.next_delete_horizon_ms is None or horizon < self.next_delete_horizon_ms:
            self.next_delete_horizon_ms = horizon
        return batch


class _Cancelled(Exception):
    pass


class LogCleaner:
    """Compaction for the logs of one log directory; keeps `cleaner-offset-checkpoint`."""

    def __init__(self, log_dir: Path, *, max_map_entries: int = DEFAULT_MAX_MAP_ENTRIES) -> None:
        self.log_dir = Path(log_dir)
        self.max_map_entries = max_map_entries
        self._checkpoint_file = OffsetCheckpointFile(self.log_dir / CLEANER_OFFSET_CHECKPOINT)
        self._checkpoints: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()
        self.last_stats: CleanerStats | None = None

    # -- checkpoint -------------------------------------------------------------------

    def load_checkpoint(self) -> None:
        try:
            offsets = self._checkpoint_file.read()
        except CorruptCheckpoint as exc:
            log.error("%s; cleaning restarts from the log start offsets", exc)
            offsets = {}
        with self._lock:
            self._checkpoints = offsets

    def write_checkpoint(self) -> None:
        """Write cleaner-offset-checkpoint (atomically, fsynced): any thread."""
        with self._lock:
            offsets = dict(self._checkpoints)
        self._checkpoint_file.write(offsets)

    def checkpoint_offset(self, topic: str, partition: int) -> int | None:
        return self._checkpoints.get((topic, partition))

    def forget(self, topic: str, partition: int) -> None:
        """The partition was deleted."""
        with self._lock:
            self._checkpoints.pop((topic, partition), None)

    # -- planning (loop thread) -----------------------------------------------------------

    def first_dirty_offset(self, log_: Log) -> int:
        checkpoint = self._checkpoints.get((log_.topic, log_.partition))
        if checkpoint is None or checkpoint < log_.log_start_offset:
            return log_.log_start_offset
        if checkpoint > log_.log_end_offset:
            log.warning(
                "%s: cleaner checkpoint %d is past the log end offset %d; cleaning from the"
                " log start offset",
                log_.name,
                checkpoint,
                log_.log_end_offset,
            )
            return log_.log_start_offset
        return checkpoint

    def cleanable(self, log_: Log, now_ms: int) -> _Plan | None:
        """The dirty section of a compacted log and whether it is due (None: nothing)."""
        config = log_.config
        if not config.compact or log_.cleaning is not None or log_.closed:
            return None
        segments = log_.segments
        if len(segments) < 2:
            return None
        bases = [segment.base_offset for segment in segments]
        first_dirty = self.first_dirty_offset(log_)
        end = bases[-1]  # the active segment is never cleaned
        unstable = log_.first_unstable_offset  # open, or marker not yet replicated
        if unstable is not None:
            end = min(end, bases[max(0, bisect_right(bases, unstable) - 1)])
        dirty_from = max(0, bisect_right(bases, first_dirty) - 1)
        if config.min_compaction_lag_ms > 0:
            young = now_ms - config.min_compaction_lag_ms
            for segment in segments[dirty_from:-1]:
                if segment.base_offset >= end:
                    break
                if segment.largest_timestamp > young:
                    end = min(end, segment.base_offset)
                    break
        clean_bytes = dirty_bytes = 0
        for i, segment in enumerate(segments[:-1]):
            upper = bases[i + 1]
            if segment.base_offset >= end:
                break
            if upper <= first_dirty:
                clean_bytes += segment.size
            else:
                dirty_bytes += segment.size
        total = clean_bytes + dirty_bytes
        ratio = dirty_bytes / total if total else 0.0
        must_clean = False
        if config.max_compaction_lag_ms != LONG_MAX and dirty_bytes:
            first = segments[dirty_from].first_batch_timestamp()
            must_clean = 0 <= first < now_ms - config.max_compaction_lag_ms
        horizon = log_.next_delete_horizon_ms
        horizon_due = horizon is not None and now_ms >= horizon and end > bases[0]
        return _Plan(ratio, must_clean, horizon_due, first_dirty, end, dirty_bytes)

    def grab_filthiest_log(self, logs: Iterable[Log], now_ms: int) -> CleaningTask | None:
        """Pick the compacted log most in need of cleaning and plan its task (loop thread).
        The log is marked as being cleaned until `swap` or `abort`."""
        best: tuple[tuple[int, float], Log, _Plan] | None = None
        for log_ in logs:
            plan = self.cleanable(log_, now_ms)
            if plan is None:
                continue
            due = plan.dirty_bytes > 0 and (
                plan.ratio >= log_.config.min_cleanable_dirty_ratio or plan.must_clean
            )
            if not due and not plan.horizon_due:
                continue
            rank = (2 if plan.must_clean else 1 if due else 0, plan.ratio)
            if best is None or rank > best[0]:
                best = (rank, log_, plan)
        if best is None:
            return None
        return self._task(best[1], best[2], now_ms)

    def prepare(self, log_: Log, now_ms: int, *, force: bool = False) -> CleaningTask | None:
        """Plan a cleaning of `log_` if it is due (`force`: whenever anything is
        cleanable, ignoring min.cleanable.dirty.ratio). Loop thread."""
        plan = self.cleanable(log_, now_ms)
        if plan is None:
            return None
        due = plan.dirty_bytes > 0 and (
            force or plan.ratio >= log_.config.min_cleanable_dirty_ratio or plan.must_clean
        )
        if not due and not plan.horizon_due:
            return None
        return self._task(log_, plan, now_ms)

    def _task(self, log_: Log, plan: _Plan, now_ms: int) -> CleaningTask:
        segments = log_.segments
        sources = []
        dirty_start = None
        for i, segment in enumerate(segments[:-1]):
            if segment.base_offset >= plan.end:
                break
            upper = segments[i + 1].base_offset
            if dirty_start is None and upper > plan.first_dirty:
                dirty_start = len(sources)
            sources.append(
                _Source(
                    segment,
                    segment.log_path,
                    segment.base_offset,
                    segment.size,
                    upper,
                    segment.index.size_in_bytes,
                    segment.time_index.size_in_bytes,
                )
            )
        if dirty_start is None:
            dirty_start = len(sources)
        task = CleaningTask(
            log_,
            sources,
            dirty_start,
            plan.first_dirty,
            plan.end,
            now_ms,
            self.max_map_entries,
        )
        log_.cleaning = task
        return task

    # -- swap (loop thread) ------------------------------------------------------------------

    def swap(self, task: CleaningTask, now_ms: int | None = None) -> CleanerStats | None:
        """Put the cleaned segments in place (loop thread, renames only). Returns the
        stats, or None when the task failed or the log changed meanwhile (then the
        task's files are removed)."""
        log_ = task.log
        if (
            task.error is not None
            or task.stats is None
            or log_.closed
            or log_.generation != task.generation
            or log_.cleaning is not task
        ):
            if task.error is not None:
                log.warning("%s: cleaning failed: %s", log_.name, task.error)
            self.abort(task)
            return None
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        try:
            for old, new in task.results:
                log_.replace_segments(old, new, now)
        except (OSError, ValueError) as exc:
            log.error("%s: swapping in cleaned segments failed: %s", log_.name, exc)
            log_.cleaning = None
            for _, new in task.results:
                if new.file_suffix == CLEANED_SUFFIX:
                    _remove_quietly(new)
            return None
        log_.cleaning = None
        log_.next_delete_horizon_ms = task.next_delete_horizon_ms
        with self._lock:
            self._checkpoints[task.key] = task.end_offset
        stats = task.stats
        self.last_stats = stats
        log.info(
            "%s: cleaned offsets up to %d: %d segments (%.1f MB) -> %d (%.1f MB),"
            " %d of %d records kept, %d tombstones removed, %.2f s",
            log_.name,
            stats.end_offset,
            stats.segments_in,
            stats.bytes_read / 1e6,
            stats.segments_out,
            stats.bytes_written / 1e6,
            stats.records_retained,
            stats.records_read,
            stats.tombstones_removed,
            stats.elapsed_s,
        )
        return stats

    def abort(self, task: CleaningTask) -> None:
        """Drop a task: its files are removed, the log may be cleaned again. Loop thread
        (after `run` returned)."""
        for _, new in task.results:
            if new.file_suffix == CLEANED_SUFFIX:
                _remove_quietly(new)
        task.results = []
        if task.log.cleaning is task:
            task.log.cleaning = None

    def clean(self, log_: Log, now_ms: int, *, force: bool = False) -> CleanerStats | None:
        """Plan, run, swap and checkpoint in the calling thread (tests, tools)."""
        task = self.prepare(log_, now_ms, force=force)
        if task is None:
            return None
        task.run()
        stats = self.swap(task, now_ms)
        if stats is not None:
            self.write_checkpoint()
        return stats


# -- helpers ---------------------------------------------------------------------------


class _open:
    """A read-only descriptor of a closed segment, for the worker thread."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDONLY)

    def __enter__(self) -> int:
        return self.fd

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)


def _iter_batches(source: _Source) -> Iterator[tuple[int, BatchHeader, memoryview]]:
    """(position, header, batch bytes) of each whole batch, read in large windows."""
    with _open(source.path) as fd:
        position = 0
        end = source.size
        while end - position >= HEADER_SIZE:
            window = os.pread(fd, min(_READ_WINDOW, end - position), position)
            view = memoryview(window)
            offset = 0
            available = len(window)
            while available - offset >= HEADER_SIZE:
                header = read_batch_header(window, offset)
                size = header.batch_length + LOG_OVERHEAD
                if header.magic != MAGIC or size < HEADER_SIZE:
                    raise InvalidRecordError(
                        2, f"{source.path}: not a record batch at position {position + offset}"
                    )
                if offset + size > available:
                    break
                yield position + offset, header, view[offset : offset + size]
                offset += size
            if offset == 0:
                # One batch larger than the window: read it alone.
                header = read_batch_header(window, 0)
                size = header.batch_length + LOG_OVERHEAD
                if position + size > end:
                    return
                data = os.pread(fd, size, position)
                yield position, header, memoryview(data)
                offset = size
            position += offset


def _group_segments(
    sources: list[_Source], max_size: int, max_index_size: int
) -> Iterator[list[_Source]]:
    """Consecutive segments that fit one cleaned segment (Kafka's groupSegmentsBySize)."""
    i = 0
    while i < len(sources):
        group = [sources[i]]
        size = sources[i].size
        index_size = sources[i].index_bytes
        time_index_size = sources[i].time_index_bytes
        base = sources[i].base_offset
        i += 1
        while i < len(sources):
            candidate = sources[i]
            if (
                size + candidate.size > max_size
                or index_size + candidate.index_bytes > max_index_size
                or time_index_size + candidate.time_index_bytes > max_index_size
                or candidate.upper_offset - 1 - base > INT32_MAX
            ):
                break
            group.append(candidate)
            size += candidate.size
            index_size += candidate.index_bytes
            time_index_size += candidate.time_index_bytes
            i += 1
        yield group


class _SegmentWriter:
    """Buffers kept batches and appends them to the cleaned segment in large writes."""

    def __init__(self, segment: LogSegment) -> None:
        self.segment = segment
        self.buffer = bytearray()
        self.positions: list[int] = []
        self.headers: list[BatchHeader] = []

    def add(self, batch: bytes | memoryview, header: BatchHeader) -> None:
        self.positions.append(len(self.buffer))
        self.headers.append(header)
        self.buffer += batch
        if len(self.buffer) >= _WRITE_BUFFER:
            self.finish()

    def finish(self) -> None:
        if not self.headers:
            return
        info = BatchesInfo(
            self.positions, self.headers, 0, -1, -1, -1, -1, -1, -1, False, False, 0, 0, 0
        )
        self.segment.append(self.buffer, info, None)
        self.buffer = bytearray()
        self.positions = []
        self.headers = []


def _remove_quietly(segment: LogSegment) -> None:
    try:
        segment.delete()
    except OSError as exc:
        log.warning("cannot remove %s: %s", segment.log_path, exc)
