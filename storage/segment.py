"""LogSegment: one `<base offset>.log` file of record batches plus its indexes.

Files are named by the segment's base offset, 20 digits zero-padded, as Kafka names
them: 00000000000000000000.log / .index / .timeindex, and .txnindex (aborted
transactions, storage/transaction_index.py) once the segment holds an ABORT marker.
Batches are stored exactly as received (after the broker patched their offsets).

Finding an offset: binary search in the OffsetIndex for a position at or before the
batch, then a forward scan of batch headers (read in chunks, never record by record)
to the first batch whose last offset reaches it.

File descriptors: a segment opens its `.log` file on first use and registers it
with a FileHandleCache (the LogManager's, capped), which may close it again when it
is the least recently used; the next use reopens it. Index files hold no descriptor
(storage/index.py). So a cold segment costs no descriptor, and the only file a
segment writes is its own .log (appends go to the active segment only).

Threading: a LogSegment is used from the broker's event loop thread. `flush` and
`sync_files` open descriptors of their own and may run in a worker thread; the log
cleaner reads closed segments by path (storage/cleaner.py), never through this object.
"""

from __future__ import annotations

import logging
import os
import random
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

from protocol.records import (
    ATTRIBUTES_OFFSET,
    CONTROL_MASK,
    HEADER_SIZE,
    LOG_OVERHEAD,
    MAGIC,
    BatchesInfo,
    BatchHeader,
    crc32c,
    decode_batch,
    read_batch_header,
)
from storage.checkpoint import sync_file
from storage.file_handles import UNBOUNDED, FileHandleCache
from storage.index import CorruptIndex, OffsetIndex, TimeIndex
from storage.transaction_index import (
    TXN_INDEX_SUFFIX,
    TransactionIndex,
)

log = logging.getLogger(__name__)

LOG_SUFFIX = ".log"
INDEX_SUFFIX = ".index"
TIME_INDEX_SUFFIX = ".timeindex"
# Added to a segment's file names while it is replaced (log cleaner) or deleted.
DELETED_SUFFIX = ".deleted"
CLEANED_SUFFIX = ".cleaned"
SWAP_SUFFIX = ".swap"

# Header scans adapt their read size: small batches are read many per call, large
# ones are skipped over (only their header is read).
_SCAN_FIRST_READ = 8 * 1024
_SCAN_MIN_READ = 512
_SCAN_MAX_READ = 1024 * 1024
_RECOVERY_CHUNK = 1024 * 1024
_OFFSET_LENGTH = struct.Struct(">qi")
_LAST_OFFSET_DELTA = struct.Struct(">i")
_LAST_DELTA_AT = 23


def filename_prefix(offset: int) -> str:
    return f"{offset:020d}"


class TimestampAndOffset(NamedTuple):
    """A ListOffsets answer: the record's timestamp, its offset, its batch's leader epoch."""

    timestamp: int
    offset: int
    leader_epoch: int  # -1 when unknown


class SegmentRead(NamedTuple):
    data: bytes | memoryview  # whole batches
    next_offset: int  # offset after the last batch in `data`
    reached_end: bool  # every batch up to the segment's end was taken


class LogSegment:
    def __init__(
        self,
        dir: Path,
        base_offset: int,
        *,
        index_interval_bytes: int = 4096,
        max_index_size: int = 10485760,
        roll_jitter_ms: int = 0,
        file_suffix: str = "",
        file_cache: FileHandleCache | None = None,
    ) -> None:
        """Open the segment (its .log lazily), creating the files when absent."""
        self.base_offset = base_offset
        self.dir = Path(dir)
        self.file_suffix = file_suffix
        prefix = filename_prefix(base_offset)
        self.log_path = self.dir / (prefix + LOG_SUFFIX + file_suffix)
        index_path = self.dir / (prefix + INDEX_SUFFIX + file_suffix)
        time_index_path = self.dir / (prefix + TIME_INDEX_SUFFIX + file_suffix)
        self.index_interval_bytes = index_interval_bytes
        self.roll_jitter_ms = roll_jitter_ms
        self._cache = file_cache if file_cache is not None else UNBOUNDED
        self._fd = -1
        try:
            self.size = os.stat(self.log_path).st_size
            existed = True
        except FileNotFoundError:
            existed = False
            self._file()  # creates it; a new segment is about to be written
            self.size = 0
        # A missing or malformed index on a non-empty segment means "rebuild from the log".
        self.needs_index_rebuild = (
            existed and self.size > 0 and not (index_path.exists() and time_index_path.exists())
        )
        # Aborted transactions (storage/transaction_index.py); `txn_index_rebuild`: an
        # unclean recovery reset it (LogLoader), the Log re-adds its entries.
        self.txn_index = TransactionIndex(
            self.dir / (prefix + TXN_INDEX_SUFFIX + file_suffix), base_offset
        )
        self.txn_index_rebuild = False
        try:
            self.index = OffsetIndex(index_path, base_offset, max_index_size)
            self.time_index = TimeIndex(time_index_path, base_offset, max_index_size)
        except CorruptIndex as exc:
            log.warning("%s; rebuilding the indexes of %s", exc, self.log_path)
            index_path.unlink(missing_ok=True)
            time_index_path.unlink(missing_ok=True)
            self.index = OffsetIndex(index_path, base_offset, max_index_size)
            self.time_index = TimeIndex(time_index_path, base_offset, max_index_size)
            self.needs_index_rebuild = self.size > 0
        if not existed or self.size == 0:
            self.index.create()
            self.time_index.create()
        self._bytes_since_last_index_entry = 0
        self._max_timestamp: int | None = None  # None: not loaded yet
        self._offset_of_max_timestamp = base_offset
        self._next_offset: int | None = None  # None: not computed yet
        self._rolling_based_timestamp: int | None = None
        self.created_ms = int(time.time() * 1000)
        # What the last recover() found: (valid bytes, bytes cut, first bad header or None).
        self.last_recovery: RecoveryResult | None = None

    # -- file descriptor ----------------------------------------------------------

    def _file(self) -> int:
        """The .log descriptor, opened (and registered with the cache) on demand."""
        fd = self._fd
        if fd >= 0:
            self._cache.touch(self)
            return fd
        fd = self._fd = os.open(self.log_path, os.O_RDWR | os.O_CREAT, 0o644)
        self._cache.opened(self)
        return fd

    @property
    def is_open(self) -> bool:
        return self._fd >= 0

    def attach_cache(self, cache: FileHandleCache | None) -> None:
        """Use `cache` from now on (a cleaned segment joining its log); closes the file."""
        if self._fd >= 0:
            self._cache.closed(self)
            self.release_files()
        self._cache = cache if cache is not None else UNBOUNDED

    def release_files(self) -> None:
        """Close the .log descriptor (the cache's eviction); reopened on next use."""
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)

    def _pread(self, size: int, position: int) -> bytes:
        return os.pread(self._file(), size, position)

    @classmethod
    def create(
        cls, dir: Path, base_offset: int, file_suffix: str = "", **kwargs: object
    ) -> LogSegment:
        """A new, empty segment (stale files of the same name are removed first)."""
        prefix = filename_prefix(base_offset)
        for suffix in (LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX):
            (Path(dir) / (prefix + suffix + file_suffix)).unlink(missing_ok=True)
        return cls(dir, base_offset, file_suffix=file_suffix, **kwargs)  # type: ignore[arg-type]

    # -- state ----------------------------------------------------------------

    @property
    def next_offset(self) -> int:
        """Offset after the last batch (the base offset when empty)."""
        if self._next_offset is None:
            self._next_offset = self._read_next_offset()
        return self._next_offset

    @property
    def max_timestamp(self) -> int:
        """Largest batch max timestamp in the segment, -1 when none."""
        if self._max_timestamp is None:
            self._load_largest_timestamp()
        return self._max_timestamp  # type: ignore[return-value]

    @property
    def offset_of_max_timestamp(self) -> int:
        """Last offset of the batch that holds max_timestamp (Kafka's shallow offset)."""
        if self._max_timestamp is None:
            self._load_largest_timestamp()
        return self._offset_of_max_timestamp

    @property
    def largest_timestamp(self) -> int:
        """What retention by time compares (Kafka: max timestamp, else file mtime)."""
        if self.max_timestamp >= 0:
            return self.max_timestamp
        return int(os.stat(self.log_path).st_mtime * 1000)

    def _read_next_offset(self) -> int:
        _, position = self.index.last_entry()
        last = None
        for _, header in self.batch_headers(position):
            last = header
        return self.base_offset if last is None else last.base_offset + last.last_offset_delta + 1

    def _load_largest_timestamp(self) -> None:
        # The last time index entry, then the batches after the last offset index entry:
        # time entries are written with offset entries (and a final one on roll/close),
        # so only those later batches can hold a larger timestamp.
        timestamp, offset = self.time_index.last_entry()
        _, position = self.index.last_entry()
        for _, header in self.batch_headers(position):
            if header.max_timestamp > timestamp:
                timestamp = header.max_timestamp
                offset = header.base_offset + header.last_offset_delta
        self._max_timestamp = timestamp
        self._offset_of_max_timestamp = offset

    def _first_batch_timestamp(self) -> int | None:
        if self._rolling_based_timestamp is None and self.size >= HEADER_SIZE:
            header = read_batch_header(self._pread(HEADER_SIZE, 0))
            self._rolling_based_timestamp = header.max_timestamp
        return self._rolling_based_timestamp

    def first_batch_timestamp(self) -> int:
        """Max timestamp of the first batch (segment.ms and max.compaction.lag.ms), -1: none."""
        first = self._first_batch_timestamp()
        return -1 if first is None else first

    def time_waited_for_roll(self, now_ms: int, message_timestamp: int) -> int:
        """Age for segment.ms: by record timestamps when known (Kafka's rule), else wall time."""
        first = self._first_batch_timestamp()
        if first is not None and first >= 0:
            return message_timestamp - first
        return now_ms - self.created_ms

    # -- scanning -------------------------------------------------------------

    def batch_headers(
        self, position: int = 0, end: int | None = None
    ) -> Iterator[tuple[int, BatchHeader]]:
        """(position, header) of each whole batch from `position`, reading in chunks.

        Checks magic and length only (not the CRC); stops at the first batch that
        does not fit before `end` (the segment size by default).
        """
        return scan_headers(self._pread, position, self.size if end is None else end)

    def translate_offset(
        self, offset: int, start_position: int | None = None
    ) -> tuple[int, BatchHeader] | None:
        """(position, header) of the first batch whose last offset is >= `offset`, or None."""
        if start_position is None:
            _, start_position = self.index.lookup(offset)
        for position, header in self.batch_headers(start_position):
            if header.base_offset + header.last_offset_delta >= offset:
                return position, header
        return None

    # -- append ---------------------------------------------------------------

    def append(
        self,
        records: bytes | bytearray | memoryview,
        info: BatchesInfo,
        first_offset: int | None,
        log_append_time: int = -1,
    ) -> None:
        """Write `records` (already patched) at the end; index entries per batch.

        `first_offset` is the offset assigned to the first batch (offsets follow
        contiguously); None means the batches carry their own offsets (follower appends,
        compacted data with gaps). `log_append_time` >= 0 overrides batch timestamps.
        """
        start = self.size
        max_timestamp = self.max_timestamp
        offset_of_max = self._offset_of_max_timestamp
        try:
            self._write(records, start)
        except OSError:
            # Nothing of this append may stay: cut what reached the file (indexes and
            # in-memory state are untouched so far). Later appends write at `start` anyway.
            try:
                os.ftruncate(self._file(), start)
            except OSError as exc:
                log.error("%s: cannot truncate a failed append away: %s", self.log_path, exc)
            raise
        if start == 0:
            first = info.headers[0]
            self._rolling_based_timestamp = (
                log_append_time if log_append_time >= 0 else first.max_timestamp
            )
        interval = self.index_interval_bytes
        since = self._bytes_since_last_index_entry
        offset = first_offset
        last = self.base_offset - 1
        for position, header in zip(info.positions, info.headers, strict=True):
            base = header.base_offset if first_offset is None else offset
            last = base + header.last_offset_delta
            timestamp = log_append_time if log_append_time >= 0 else header.max_timestamp
            if timestamp > max_timestamp:
                max_timestamp = timestamp
                offset_of_max = last
            if since > interval:
                self.index.append(last, start + position)
                self.time_index.maybe_append(max_timestamp, offset_of_max)
                since = 0
            since += header.batch_length + LOG_OVERHEAD
            offset = last + 1
        self._bytes_since_last_index_entry = since
        self._max_timestamp = max_timestamp
        self._offset_of_max_timestamp = offset_of_max
        self.size = start + len(records)
        self._next_offset = last + 1

    def _write(self, data: bytes | bytearray | memoryview, position: int) -> None:
        fd = self._file()
        view = memoryview(data)
        with view:
            while view:
                written = _pwrite(fd, view, position)
                position += written
                view = view[written:]

    # -- read -----------------------------------------------------------------

    def read(
        self, start_offset: int, max_size: int, max_offset: int, min_one_batch: bool
    ) -> SegmentRead | None:
        """Whole batches from the one containing `start_offset`, below `max_offset`.

        At most `max_size` bytes, except a first batch larger than that when
        `min_one_batch`. One contiguous pread; None if no batch here reaches start_offset.
        """
        found = self.translate_offset(start_offset)
        if found is None:
            return None
        position, first = found
        if first.base_offset >= max_offset:
            return SegmentRead(b"", start_offset, False)
        # Batches at or past max_offset (above the high watermark) are few when a
        # consumer tails the log; reading them and trimming beats locating the bound.
        end = self.size
        first_size = first.batch_length + LOG_OVERHEAD
        want = min(max_size, end - position)
        if want < first_size:
            if not min_one_batch:
                return SegmentRead(b"", start_offset, False)
            want = first_size
        data = self._pread(want, position)
        # Trim to whole batches below max_offset: per batch, in memory.
        available = len(data)
        cut = 0
        next_offset = start_offset
        while available - cut >= HEADER_SIZE:
            base, length = _OFFSET_LENGTH.unpack_from(data, cut)
            size = length + LOG_OVERHEAD
            if base >= max_offset or cut + size > available:
                break
            next_offset = base + _LAST_OFFSET_DELTA.unpack_from(data, cut + _LAST_DELTA_AT)[0] + 1
            cut += size
        reached_end = position + cut >= self.size
        if cut < available:
            return SegmentRead(memoryview(data)[:cut], next_offset, reached_end)
        return SegmentRead(data, next_offset, reached_end)

    def read_batch(self, position: int, size: int) -> bytes:
        return self._pread(size, position)

    def find_offset_by_timestamp(
        self, timestamp: int, starting_offset: int
    ) -> TimestampAndOffset | None:
        """First record with timestamp >= `timestamp` and offset >= `starting_offset`."""
        _, index_offset = self.time_index.lookup(timestamp)
        _, position = self.index.lookup(max(index_offset, starting_offset))
        for batch_position, header in self.batch_headers(position):
            if header.max_timestamp < timestamp:
                continue
            if header.base_offset + header.last_offset_delta < starting_offset:
                continue
            _, records = decode_batch(self.read_batch(batch_position, header.size))
            for record in records:
                if record.timestamp >= timestamp and record.offset >= starting_offset:
                    return TimestampAndOffset(
                        record.timestamp, record.offset, header.partition_leader_epoch
                    )
        return None

    # -- recovery ---------------------------------------------------------------

    def recover(self, from_position: int | None = None) -> int:
        """Re-validate batches (CRC), rebuild index entries, cut a torn/corrupt tail.

        From position 0 (full recovery, indexes rebuilt) or, with `from_position`, from
        a batch boundary known good (the last index entry). Returns bytes truncated;
        `last_recovery` tells what was found.
        """
        fd = self._file()
        file_size = os.fstat(fd).st_size
        if from_position is None or from_position > file_size:
            from_position = 0
        rebuilt = from_position == 0 and (self.needs_index_rebuild or self.index.entries > 0)
        if from_position == 0:
            self.index.reset()
            self.time_index.reset()
            max_timestamp, offset_of_max = -1, self.base_offset
            expected = self.base_offset
        else:
            # Tail recovery: entries pointing past the start position are redone.
            self.index.truncate_to_position(from_position + 1)
            entry_offset, _ = self.index.last_entry()
            self.time_index.truncate_to(entry_offset + 1)
            max_timestamp, offset_of_max = self.time_index.last_entry()
            expected = self.base_offset
        since = 0
        position = from_position
        chunk_size = _RECOVERY_CHUNK
        valid_end = position
        next_offset = None
        bad: BatchHeader | None = None
        reason = ""
        stop = False
        control_batches = False
        while not stop and file_size - position >= HEADER_SIZE:
            chunk = os.pread(self._file(), min(chunk_size, file_size - position), position)
            view = memoryview(chunk)
            offset = 0
            larger_batch = 0
            while len(chunk) - offset >= HEADER_SIZE:
                header = read_batch_header(chunk, offset)
                size = header.batch_length + LOG_OVERHEAD
                if header.magic != MAGIC:
                    reason = f"magic {header.magic}"
                elif size < HEADER_SIZE:
                    reason = f"batch length {header.batch_length}"
                elif position + offset + size > file_size:
                    reason = f"batch of {size} bytes cut short"
                elif header.base_offset < expected or header.last_offset_delta < 0:
                    reason = f"offset {header.base_offset} out of order"
                if reason:
                    bad, stop = header, True
                    break
                if offset + size > len(chunk):
                    larger_batch = size  # read again from this batch
                    break
                if crc32c(view[offset + ATTRIBUTES_OFFSET : offset + size]) != header.crc:
                    bad, stop, reason = header, True, "CRC mismatch"
                    break
                last = header.base_offset + header.last_offset_delta
                if header.max_timestamp > max_timestamp:
                    max_timestamp, offset_of_max = header.max_timestamp, last
                if header.attributes & CONTROL_MASK:
                    control_batches = True
                if since > self.index_interval_bytes:
                    self.index.append(last, position + offset)
                    self.time_index.maybe_append(max_timestamp, offset_of_max)
                    since = 0
                since += size
                expected = last + 1
                next_offset = expected
                offset += size
                valid_end = position + offset
            view.release()
            if offset == 0 and not stop:
                if not larger_batch:
                    break  # short read: the file shrank under us
                # One batch larger than the chunk: read exactly that batch next time.
                chunk_size = larger_batch
            else:
                chunk_size = _RECOVERY_CHUNK
            position += offset
        if not reason and valid_end < file_size:
            reason = f"{file_size - valid_end} bytes too short for a batch header"
        truncated = file_size - valid_end
        if truncated:
            claims = ""
            if bad is not None and bad.magic == MAGIC:
                claims = f", the batch there claims offset {bad.base_offset}"
            log.warning(
                "%s: truncating %d bytes of torn or corrupt data at position %d (%s%s)",
                self.log_path,
                truncated,
                valid_end,
                reason,
                claims,
            )
            os.ftruncate(self._file(), valid_end)
            self.index.truncate_to_position(valid_end)
        self.size = valid_end
        self._bytes_since_last_index_entry = since
        # As Kafka's recover: the final max timestamp goes to the time index, so a
        # rebuilt index equals the one a clean close left.
        self._max_timestamp = max_timestamp
        self._offset_of_max_timestamp = offset_of_max
        self._record_final_max_timestamp()
        self.index.write_pending()
        self.time_index.write_pending()
        self._max_timestamp = max_timestamp
        self._offset_of_max_timestamp = offset_of_max
        self._next_offset = None
        self._rolling_based_timestamp = None
        self.needs_index_rebuild = False
        if truncated:
            self.txn_index.truncate_to(self.next_offset)  # markers cut with the tail
        self.last_recovery = RecoveryResult(
            from_position, valid_end, truncated, reason, rebuilt, next_offset, control_batches
        )
        return truncated

    def recover_tail(self) -> int:
        """Check the batches after the last index entry (clean open of the active segment)."""
        try:
            entry_offset, position = self.index.last_entry()
        except CorruptIndex as exc:
            log.warning("%s; rebuilding", exc)
            return self.recover()
        if position == 0:
            return self.recover()
        data = self._pread(HEADER_SIZE, position)
        # The entry must point at a batch ending exactly at its offset, else the index
        # is not to be trusted (e.g. written ahead of log data lost in an OS crash).
        if len(data) < HEADER_SIZE or (
            read_batch_header(data).magic != MAGIC
            or read_batch_header(data).last_offset != entry_offset
        ):
            log.warning("%s: last index entry does not match the log; rebuilding", self.log_path)
            return self.recover()
        return self.recover(position)

    # -- truncation, lifecycle ----------------------------------------------------

    def truncate_to(self, offset: int) -> int:
        """Remove the batch holding `offset` and all after it; returns bytes removed."""
        found = self.translate_offset(offset)
        if found is None:
            return 0
        position, _ = found
        self.index.truncate_to(offset)
        self.index.truncate_to_position(position)
        self.time_index.truncate_to(offset)
        self.txn_index.truncate_to(found[1].base_offset)
        truncated = self.size - position
        os.ftruncate(self._file(), position)
        self.size = position
        self._bytes_since_last_index_entry = 0
        self._next_offset = None
        self._max_timestamp = None
        if position == 0:
            self._rolling_based_timestamp = None
        return truncated

    def _record_final_max_timestamp(self) -> None:
        # Kafka appends the segment's max timestamp to the time index when it stops being
        # active (and on close), so that reopening knows it from the index alone.
        if (
            self._max_timestamp is not None
            and self._max_timestamp > self.time_index.last_entry()[0]
        ):
            self.time_index.maybe_append(
                self._max_timestamp, self._offset_of_max_timestamp, skip_full_check=True
            )

    def on_become_inactive(self) -> None:
        """On roll: record the final max timestamp and write the index files out."""
        self._record_final_max_timestamp()
        self.index.write_pending()
        self.time_index.write_pending()

    def flush(self) -> None:
        """fsync the .log and index files (descriptors of its own: worker-thread safe)."""
        sync_file(self.log_path)
        self.index.flush()
        self.time_index.flush()
        self.txn_index.flush()

    def close(self) -> None:
        """Write the indexes out and release the descriptor (usable again: reopens lazily)."""
        if self._max_timestamp is not None:
            self._record_final_max_timestamp()
        self.index.close()
        self.time_index.close()
        if self._fd >= 0:
            self._cache.closed(self)
            self.release_files()

    def change_file_suffix(self, old: str, new: str) -> None:
        """Rename the segment's files from suffix `old` to `new` ('' = the final name)."""
        if self._fd >= 0:
            self._cache.closed(self)
            self.release_files()
        self.index.write_pending()
        self.time_index.write_pending()
        for index in (self.index, self.time_index, self.txn_index):
            name = index.path.name
            if old:
                name = name[: -len(old)]
            index.rename_to(index.path.with_name(name + new))
        name = self.log_path.name[: -len(old)] if old else self.log_path.name
        target = self.log_path.with_name(name + new)
        os.replace(self.log_path, target)
        self.log_path = target
        self.file_suffix = new

    def delete(self) -> None:
        self.close()
        self.log_path.unlink(missing_ok=True)
        self.index.delete()
        self.time_index.delete()
        self.txn_index.delete()

    def __repr__(self) -> str:
        return f"LogSegment({self.log_path}, size={self.size})"


class RecoveryResult(NamedTuple):
    """What LogSegment.recover found."""

    from_position: int
    valid_bytes: int  # the segment's size after recovery
    truncated_bytes: int
    reason: str  # why the tail was cut ("" if nothing was)
    indexes_rebuilt: bool  # both indexes rebuilt from position 0 (they were missing or had entries)
    next_offset: int | None  # offset after the last valid batch scanned (None: none)
    control_batches: bool = False  # transaction markers among the batches scanned


def scan_headers(
    pread: Callable[[int, int], bytes], position: int, end: int
) -> Iterator[tuple[int, BatchHeader]]:
    """(position, header) of each whole batch in [position, end) of a file read with
    `pread(size, position)`; checks magic and length only. Small batches are read many
    per call, large ones skipped over (only their header is read)."""
    read_size = _SCAN_FIRST_READ
    while end - position >= HEADER_SIZE:
        chunk = pread(min(read_size, end - position), position)
        available = len(chunk)
        if available < HEADER_SIZE:
            return
        offset = 0
        count = 0
        while available - offset >= HEADER_SIZE:
            header = read_batch_header(chunk, offset)
            size = header.batch_length + LOG_OVERHEAD
            if header.magic != MAGIC or size < HEADER_SIZE or position + offset + size > end:
                return
            yield position + offset, header
            offset += size
            count += 1
        position += offset  # may jump past the chunk over a large batch
        if count > 4:
            read_size = min(read_size * 4, _SCAN_MAX_READ)
        elif offset > available:
            read_size = max(read_size // 8, _SCAN_MIN_READ)


def _pwrite(fd: int, data: memoryview, position: int) -> int:
    # One name for tests to replace (disk full, EIO) without touching os.pwrite.
    return os.pwrite(fd, data, position)


def random_roll_jitter(segment_jitter_ms: int) -> int:
    """Kafka spreads segment rolls over [0, segment.jitter.ms)."""
    return random.randrange(segment_jitter_ms) if segment_jitter_ms > 0 else 0
