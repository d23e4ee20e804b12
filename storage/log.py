"""Log: one partition's log, `<log.dir>/<topic>-<partition>/`, a list of LogSegments.

Append (produce): scan_batches validates the payload per batch (size, magic, CRC),
the ProducerStateManager checks idempotence, offsets are patched into the batch
headers, LogAppendTime is stamped if the topic asks for it, and the bytes go to the
active segment as they are, rolling to a new segment when it is full or old.
Read (fetch): whole batches from the one containing the fetch offset, below the
caller's upper offset (high watermark / last stable offset), within max_bytes; one
pread per segment touched.

Opening a log loads its segments; after a clean shutdown only the active segment's
tail (after its last index entry) is re-validated; after an unclean one every
segment from the recovery point on is (CRC checked, indexes rebuilt, the log cut at
the first torn or corrupt batch). Producer state is rebuilt from the batch headers
of the segments that can still hold live producers (snapshots: issue 3).

Segments stay a list ordered by base offset; log_start_offset may point inside
the first one (DeleteRecords). Retention, compaction and leader-epoch checkpoints
are to come and will work on that list.
"""

from __future__ import annotations

import enum
import logging
import os
import shutil
import time
from bisect import bisect_right
from pathlib import Path
from typing import NamedTuple

from protocol.records import (
    CONTROL_COMMIT,
    CONTROL_MASK,
    INT32_MAX,
    INVALID_RECORD,
    LOG_OVERHEAD,
    TIMESTAMP_TYPE_MASK,
    BatchesInfo,
    InvalidRecordError,
    assign_offsets,
    decode_batch,
    read_end_txn_marker,
    scan_batches,
    set_log_append_time,
)
from storage.errors import (
    InvalidTimestamp,
    OffsetOutOfRange,
    RecordListTooLarge,
    StorageError,
    UnexpectedAppendOffset,
)
from storage.log_config import LONG_MAX, LogConfig
from storage.producer_state import ProducerAppendInfo, ProducerStateManager
from storage.segment import (
    INDEX_SUFFIX,
    LOG_SUFFIX,
    TIME_INDEX_SUFFIX,
    LogSegment,
    TimestampAndOffset,
    random_roll_jitter,
)

log = logging.getLogger(__name__)

# ListOffsets special timestamps (Kafka's ListOffsetsRequest).
LATEST_TIMESTAMP = -1
EARLIEST_TIMESTAMP = -2
MAX_TIMESTAMP = -3

DEFAULT_PRODUCER_ID_EXPIRATION_MS = 86400000  # producer.id.expiration.ms

# Leftovers of interrupted file operations, removed when a log is opened.
_STALE_SUFFIXES = (".deleted", ".cleaned", ".swap", ".tmp")


class AppendOrigin(enum.Enum):
    """Who writes: clients are fully validated, the coordinator may write control batches,
    replication keeps the leader's offsets and is not checked (Kafka's AppendOrigin)."""

    CLIENT = "client"
    COORDINATOR = "coordinator"
    REPLICATION = "replication"


class LogAppendInfo(NamedTuple):
    first_offset: int  # -1 when nothing was appended
    last_offset: int
    log_append_time: int  # -1 for CreateTime
    log_start_offset: int
    duplicate: bool = False  # a retried idempotent batch: original offsets, nothing written
    max_timestamp: int = -1
    offset_of_max_timestamp: int = -1
    valid_bytes: int = 0


class FetchDataInfo(NamedTuple):
    records: bytes  # whole batches, b"" when none
    fetch_offset: int
    next_offset: int  # offset after the last batch returned (= fetch_offset when empty)


def parse_topic_partition(name: str) -> tuple[str, int]:
    """'my.topic-name-3' -> ('my.topic-name', 3): topics may contain '-', split on the last."""
    topic, sep, partition = name.rpartition("-")
    if not sep or not topic or not partition.isdigit():
        raise ValueError(f"not a <topic>-<partition> directory name: {name!r}")
    return topic, int(partition)


class Log:
    def __init__(
        self,
        dir: Path,
        config: LogConfig,
        *,
        log_start_offset: int | None = None,
        recovery_point: int | None = None,
        had_clean_shutdown: bool = True,
        producer_id_expiration_ms: int = DEFAULT_PRODUCER_ID_EXPIRATION_MS,
    ) -> None:
        """Open (or create) the log in `dir`, recovering as the shutdown requires."""
        self.dir = Path(dir)
        try:
            self.topic, self.partition = parse_topic_partition(self.dir.name)
        except ValueError:
            self.topic, self.partition = self.dir.name, -1
        self._config = config
        self.producer_id_expiration_ms = producer_id_expiration_ms
        self.producer_state = ProducerStateManager()
        self.segments: list[LogSegment] = []
        self._segment_bases: list[int] = []  # parallel to segments, for bisect
        self._unflushed_messages = 0
        self.last_flush_ms = int(time.time() * 1000)
        self.dir.mkdir(parents=True, exist_ok=True)
        try:
            self._load_segments(log_start_offset or 0, recovery_point, had_clean_shutdown)
        except OSError as exc:
            raise StorageError(f"cannot open log {self.dir}: {exc}") from exc
        self.log_end_offset = self.segments[-1].next_offset
        start = max(log_start_offset or 0, self.segments[0].base_offset)
        self.log_start_offset = min(start, self.log_end_offset)
        if recovery_point is None:
            recovery_point = self.log_end_offset if had_clean_shutdown else 0
        self.recovery_point = min(recovery_point, self.log_end_offset)
        self._rebuild_producer_state()

    # -- configuration and shape ---------------------------------------------

    @property
    def config(self) -> LogConfig:
        return self._config

    @config.setter
    def config(self, config: LogConfig) -> None:
        """Topic config changed (AlterConfigs): takes effect from the next append."""
        self._config = config
        self.active_segment.index_interval_bytes = config.index_interval_bytes

    @property
    def name(self) -> str:
        return self.dir.name

    @property
    def active_segment(self) -> LogSegment:
        return self.segments[-1]

    @property
    def size(self) -> int:
        return sum(segment.size for segment in self.segments)

    def _new_segment(self, base_offset: int, create: bool = False) -> LogSegment:
        config = self._config
        kwargs = {
            "index_interval_bytes": config.index_interval_bytes,
            "max_index_size": config.segment_index_bytes,
            "roll_jitter_ms": random_roll_jitter(config.segment_jitter_ms),
        }
        if create:
            return LogSegment.create(self.dir, base_offset, **kwargs)
        return LogSegment(self.dir, base_offset, **kwargs)

    def _add_segment(self, segment: LogSegment) -> None:
        self.segments.append(segment)
        self._segment_bases.append(segment.base_offset)

    # -- loading and recovery ---------------------------------------------------

    def _load_segments(
        self, log_start_offset: int, recovery_point: int | None, had_clean_shutdown: bool
    ) -> None:
        bases = []
        index_files = []
        for path in self.dir.iterdir():
            name = path.name
            if name.endswith(_STALE_SUFFIXES):
                # No cleaner or async deletion runs yet, so these are only leftovers.
                log.info("%s: removing leftover file %s", self.dir, name)
                path.unlink(missing_ok=True)
            elif name.endswith(LOG_SUFFIX) and name[: -len(LOG_SUFFIX)].isdigit():
                bases.append(int(name[: -len(LOG_SUFFIX)]))
            elif name.endswith((INDEX_SUFFIX, TIME_INDEX_SUFFIX)):
                index_files.append(path)
        bases.sort()
        known = {f"{base:020d}" for base in bases}
        for path in index_files:
            if path.name.split(".")[0] not in known:
                log.info("%s: removing orphaned index %s", self.dir, path.name)
                path.unlink(missing_ok=True)
        for base in bases:
            self._add_segment(self._new_segment(base))
        if not self.segments:
            self._add_segment(self._new_segment(log_start_offset, create=True))
            return

        if had_clean_shutdown:
            for segment in self.segments[:-1]:
                if segment.needs_index_rebuild:
                    log.warning("%s: missing index, rebuilding", segment.log_path)
                    segment.recover()
            truncated = self.active_segment.recover_tail()
            if truncated:
                log.warning(
                    "%s: truncated a torn tail of %d bytes; log end offset now %d",
                    self.dir,
                    truncated,
                    self.active_segment.next_offset,
                )
            return

        # Unclean shutdown: every segment that may hold unflushed data is re-validated;
        # the log ends at the first torn or corrupt batch.
        point = recovery_point or 0
        for i, segment in enumerate(self.segments):
            later = self.segments[i + 1] if i + 1 < len(self.segments) else None
            if later is not None and later.base_offset <= point and not segment.needs_index_rebuild:
                continue
            truncated = segment.recover()
            if truncated and later is not None:
                log.warning(
                    "%s: corruption in %s; deleting the %d segments after it",
                    self.dir,
                    segment.log_path.name,
                    len(self.segments) - i - 1,
                )
                for dropped in self.segments[i + 1 :]:
                    dropped.delete()
                del self.segments[i + 1 :]
                del self._segment_bases[i + 1 :]
                break

    def _rebuild_producer_state(self) -> None:
        """Producer state from batch headers, over the segments young enough to matter."""
        state = self.producer_state
        state.clear(self.log_end_offset)
        horizon = int(time.time() * 1000) - self.producer_id_expiration_ms
        first = len(self.segments) - 1
        while first > 0 and self.segments[first - 1].largest_timestamp >= horizon:
            first -= 1
        for segment in self.segments[first:]:
            for position, header in segment.batch_headers():
                if header.producer_id < 0 or header.last_offset < self.log_start_offset:
                    continue
                append = state.prepare_update(
                    header.producer_id, validate_epoch=False, validate_sequence=False
                )
                if header.attributes & CONTROL_MASK:
                    try:
                        control_type, coordinator_epoch = read_end_txn_marker(
                            segment.read_batch(position, header.size)
                        )
                    except InvalidRecordError:
                        continue
                    append.append_end_txn_marker(
                        header.producer_epoch,
                        coordinator_epoch,
                        header.base_offset,
                        header.max_timestamp,
                        control_type == CONTROL_COMMIT,
                    )
                else:
                    append.append_data_batch(
                        header.producer_epoch,
                        header.base_sequence,
                        header.last_sequence,
                        header.base_offset,
                        header.last_offset,
                        header.max_timestamp,
                        header.is_transactional,
                    )
                state.update(append)

    # -- append -------------------------------------------------------------

    def append(
        self,
        records: bytearray | memoryview | bytes,
        *,
        leader_epoch: int = 0,
        now_ms: int | None = None,
        origin: AppendOrigin = AppendOrigin.CLIENT,
    ) -> LogAppendInfo:
        """Validate, assign offsets (patched into `records`) and write, as the leader.

        Raises InvalidRecordError (CORRUPT_MESSAGE, INVALID_RECORD, MESSAGE_TOO_LARGE) or
        a storage.errors exception (OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_EPOCH,
        INVALID_TIMESTAMP, RECORD_LIST_TOO_LARGE, KAFKA_STORAGE_ERROR).
        """
        if isinstance(records, bytes) or (isinstance(records, memoryview) and records.readonly):
            records = bytearray(records)  # offsets are patched in place
        config = self._config
        info = scan_batches(records, config.max_message_bytes)
        if not info.positions:
            return LogAppendInfo(-1, -1, -1, self.log_start_offset)
        if info.size > config.segment_bytes:
            raise RecordListTooLarge(
                f"{info.size} bytes of batches exceed segment.bytes {config.segment_bytes}"
            )
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        log_append_time = config.message_timestamp_type == "LogAppendTime"
        if origin is AppendOrigin.CLIENT:
            _check_client_batches(info)
        if not log_append_time and (
            config.message_timestamp_before_max_ms != LONG_MAX
            or config.message_timestamp_after_max_ms != LONG_MAX
        ):
            _check_timestamps(info, now, config)

        first_offset = self.log_end_offset
        append_time = now if log_append_time else -1
        appends: dict[int, ProducerAppendInfo] | None = None
        if info.producer_id >= 0 or len(info.positions) > 1:
            appends = {}
            duplicate = self._stage_producer_state(
                records, info, first_offset, append_time, origin, appends
            )
            if duplicate is not None:
                return duplicate

        last_offset = assign_offsets(records, info, first_offset, leader_epoch)
        if log_append_time:
            set_log_append_time(records, info, now)
            max_timestamp = now
            offset_of_max = first_offset + info.headers[0].last_offset_delta
        else:
            max_timestamp = info.max_timestamp
            offset_of_max = first_offset + info.offset_delta_of_max_timestamp
        self._write(records, info, first_offset, last_offset, max_timestamp, append_time, now)
        if appends:
            for append in appends.values():
                self.producer_state.update(append)
        self.producer_state.update_map_end_offset(self.log_end_offset)
        self._after_append(info.offset_count)
        return LogAppendInfo(
            first_offset,
            last_offset,
            append_time,
            self.log_start_offset,
            False,
            max_timestamp,
            offset_of_max,
            info.size,
        )

    def _stage_producer_state(
        self,
        records: bytearray | memoryview,
        info: BatchesInfo,
        first_offset: int,
        append_time: int,
        origin: AppendOrigin,
        appends: dict[int, ProducerAppendInfo],
    ) -> LogAppendInfo | None:
        """Check every producer batch against the state; a duplicate ends the append."""
        state = self.producer_state
        client = origin is AppendOrigin.CLIENT
        offset = first_offset
        for position, header in zip(info.positions, info.headers, strict=True):
            last = offset + header.last_offset_delta
            producer_id = header.producer_id
            if producer_id >= 0:
                timestamp = append_time if append_time >= 0 else header.max_timestamp
                append = appends.get(producer_id)
                if header.attributes & CONTROL_MASK:
                    if append is None:
                        append = appends[producer_id] = state.prepare_update(producer_id)
                    with memoryview(records) as view:
                        marker = bytes(
                            view[position : position + header.batch_length + LOG_OVERHEAD]
                        )
                    control_type, coordinator_epoch = read_end_txn_marker(marker)
                    append.append_end_txn_marker(
                        header.producer_epoch,
                        coordinator_epoch,
                        offset,
                        timestamp,
                        control_type == CONTROL_COMMIT,
                    )
                else:
                    if client:
                        duplicate = state.find_duplicate(
                            producer_id,
                            header.producer_epoch,
                            header.base_sequence,
                            header.last_sequence,
                        )
                        if duplicate is not None:
                            return LogAppendInfo(
                                duplicate.first_offset,
                                duplicate.last_offset,
                                duplicate.timestamp if append_time >= 0 else -1,
                                self.log_start_offset,
                                True,
                            )
                    if append is None:
                        append = appends[producer_id] = state.prepare_update(
                            producer_id, validate_sequence=client
                        )
                    append.append_data_batch(
                        header.producer_epoch,
                        header.base_sequence,
                        header.last_sequence,
                        offset,
                        last,
                        timestamp,
                        header.is_transactional,
                    )
            offset = last + 1
        return None

    def append_as_follower(self, records: bytes | bytearray | memoryview) -> LogAppendInfo:
        """Append batches that already carry the leader's offsets (replica fetch)."""
        info = scan_batches(records, self._config.max_message_bytes)
        if not info.positions:
            return LogAppendInfo(-1, -1, -1, self.log_start_offset)
        expected = self.log_end_offset
        max_timestamp, offset_of_max = -1, -1
        state = self.producer_state
        appends: dict[int, ProducerAppendInfo] = {}
        for position, header in zip(info.positions, info.headers, strict=True):
            if header.base_offset < expected:
                raise UnexpectedAppendOffset(
                    f"{self.name}: batch at offset {header.base_offset}"
                    f" below the expected {expected}"
                )
            last = header.base_offset + header.last_offset_delta
            if header.max_timestamp > max_timestamp:
                max_timestamp, offset_of_max = header.max_timestamp, last
            producer_id = header.producer_id
            if producer_id >= 0:
                append = appends.get(producer_id)
                if append is None:
                    append = appends[producer_id] = state.prepare_update(
                        producer_id, validate_epoch=False, validate_sequence=False
                    )
                if header.attributes & CONTROL_MASK:
                    with memoryview(records) as view:
                        marker = bytes(
                            view[position : position + header.batch_length + LOG_OVERHEAD]
                        )
                    control_type, coordinator_epoch = read_end_txn_marker(marker)
                    append.append_end_txn_marker(
                        header.producer_epoch,
                        coordinator_epoch,
                        header.base_offset,
                        header.max_timestamp,
                        control_type == CONTROL_COMMIT,
                    )
                else:
                    append.append_data_batch(
                        header.producer_epoch,
                        header.base_sequence,
                        header.last_sequence,
                        header.base_offset,
                        last,
                        header.max_timestamp,
                        header.is_transactional,
                    )
            expected = last + 1
        first_offset = info.headers[0].base_offset
        last_offset = expected - 1
        now = int(time.time() * 1000)
        self._write(records, info, None, last_offset, max_timestamp, -1, now)
        for append in appends.values():
            state.update(append)
        state.update_map_end_offset(self.log_end_offset)
        self._after_append(info.offset_count)
        return LogAppendInfo(
            first_offset,
            last_offset,
            -1,
            self.log_start_offset,
            False,
            max_timestamp,
            offset_of_max,
            info.size,
        )

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
            raise StorageError(f"write to {self.dir} failed: {exc}") from exc
        self.log_end_offset = last_offset + 1

    def _after_append(self, messages: int) -> None:
        self._unflushed_messages += messages
        # flush.messages (off by default, as in Kafka): fsync inline, like Kafka's append.
        if self._unflushed_messages >= self._config.flush_messages:
            self.flush()

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
        """Start a new active segment at the log end offset (no-op if the active one is empty)."""
        active = self.active_segment
        if active.size == 0 and active.base_offset == self.log_end_offset:
            return active
        active.on_become_inactive()
        segment = self._new_segment(self.log_end_offset, create=True)
        self._add_segment(segment)
        log.debug("%s: rolled new segment at offset %d", self.name, segment.base_offset)
        return segment

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
        index = bisect_right(self._segment_bases, fetch_offset) - 1
        try:
            while 0 <= index < len(segments) and segments[index].base_offset < max_offset:
                result = segments[index].read(
                    offset, budget, max_offset, min_one_batch and not chunks
                )
                if result is not None:
                    if result.data:
                        chunks.append(result.data)
                        budget -= len(result.data)
                        offset = result.next_offset
                    if not result.reached_end or budget <= 0:
                        break
                index += 1
        except OSError as exc:
            raise StorageError(f"read from {self.dir} failed: {exc}") from exc
        if not chunks:
            return FetchDataInfo(b"", fetch_offset, fetch_offset)
        if len(chunks) == 1 and isinstance(chunks[0], bytes):
            return FetchDataInfo(chunks[0], fetch_offset, offset)
        return FetchDataInfo(b"".join(chunks), fetch_offset, offset)

    def offset_for_timestamp(
        self, timestamp: int, max_offset: int | None = None
    ) -> TimestampAndOffset | None:
        """ListOffsets: the first record with timestamp >= `timestamp` (Kafka's semantics:
        time index to the segment and position, then the batch is decoded for the exact
        record). Also EARLIEST (-2), LATEST (-1) and MAX_TIMESTAMP (-3). Results at or
        above `max_offset` (the HW/LSO bound) count as none. Leader epoch -1 = unknown."""
        if timestamp == EARLIEST_TIMESTAMP:
            return TimestampAndOffset(-1, self.log_start_offset, -1)
        if timestamp == LATEST_TIMESTAMP:
            return TimestampAndOffset(-1, self.log_end_offset, -1)
        if timestamp == MAX_TIMESTAMP:
            found = self._max_timestamp_record()
        else:
            found = None
            for segment in self.segments:
                if segment.next_offset <= self.log_start_offset:
                    continue
                if segment.max_timestamp >= timestamp:
                    found = segment.find_offset_by_timestamp(timestamp, self.log_start_offset)
                    if found is not None:
                        break
        if found is not None and max_offset is not None and found.offset >= max_offset:
            return None
        return found

    def _max_timestamp_record(self) -> TimestampAndOffset | None:
        best = None
        for segment in self.segments:
            if segment.size and (best is None or segment.max_timestamp > best.max_timestamp):
                best = segment
        if best is None or best.max_timestamp < 0:
            return None
        found = best.translate_offset(best.offset_of_max_timestamp)
        if found is None:
            return None
        position, header = found
        _, records = decode_batch(best.read_batch(position, header.size))
        for record in records:
            if record.timestamp == best.max_timestamp:
                return TimestampAndOffset(
                    record.timestamp, record.offset, header.partition_leader_epoch
                )
        return None

    # -- truncation, start offset -----------------------------------------------------

    def truncate_to(self, offset: int) -> bool:
        """Remove everything from the batch holding `offset` on (replica truncation).
        Returns whether anything was removed."""
        if offset < 0:
            raise ValueError(f"cannot truncate to a negative offset {offset}")
        if offset >= self.log_end_offset:
            return False
        if offset < self.segments[0].base_offset:
            self.truncate_fully_and_start_at(offset)
            return True
        # Segments starting above `offset` go; one starting at it stays, emptied (as Kafka).
        keep = bisect_right(self._segment_bases, offset)
        for segment in self.segments[keep:]:
            segment.delete()
        del self.segments[keep:]
        del self._segment_bases[keep:]
        active = self.active_segment
        active.truncate_to(offset)
        self.log_end_offset = active.next_offset
        self.log_start_offset = min(self.log_start_offset, self.log_end_offset)
        self.recovery_point = min(self.recovery_point, self.log_end_offset)
        self._rebuild_producer_state()
        return True

    def truncate_fully_and_start_at(self, offset: int) -> None:
        """Drop every segment and restart the log, empty, at `offset`."""
        for segment in self.segments:
            segment.delete()
        self.segments.clear()
        self._segment_bases.clear()
        self._add_segment(self._new_segment(offset, create=True))
        self.log_end_offset = offset
        self.log_start_offset = offset
        self.recovery_point = offset
        self.producer_state.clear(offset)

    def maybe_increment_log_start_offset(self, offset: int) -> bool:
        """DeleteRecords: move the log start offset up (segments are deleted by retention)."""
        if offset > self.log_end_offset:
            raise OffsetOutOfRange(
                f"{self.name}: cannot move the log start offset to {offset}"
                f" past the log end offset {self.log_end_offset}"
            )
        if offset <= self.log_start_offset:
            return False
        self.log_start_offset = offset
        return True

    # -- lifecycle ----------------------------------------------------------------

    def flush(self) -> None:
        """fsync the segments holding data past the recovery point; the point moves to the end."""
        try:
            index = max(0, bisect_right(self._segment_bases, self.recovery_point) - 1)
            for segment in self.segments[index:]:
                segment.flush()
            fd = os.open(self.dir, os.O_RDONLY)
            try:
                os.fsync(fd)  # new segment files' directory entries
            finally:
                os.close(fd)
        except OSError as exc:
            raise StorageError(f"flush of {self.dir} failed: {exc}") from exc
        self.recovery_point = self.log_end_offset
        self._unflushed_messages = 0
        self.last_flush_ms = int(time.time() * 1000)

    def close(self) -> None:
        for segment in self.segments:
            segment.close()

    def delete(self) -> None:
        """Close and remove the partition's directory."""
        self.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __repr__(self) -> str:
        return (
            f"Log({self.dir}, start={self.log_start_offset}, end={self.log_end_offset},"
            f" segments={len(self.segments)})"
        )


def _check_client_batches(info: BatchesInfo) -> None:
    """What Kafka's LogValidator refuses from clients, per batch header."""
    for header in info.headers:
        if header.attributes & CONTROL_MASK:
            raise InvalidRecordError(INVALID_RECORD, "clients may not write control batches")
        if header.records_count <= 0 or header.records_count != header.last_offset_delta + 1:
            raise InvalidRecordError(
                INVALID_RECORD,
                f"record count {header.records_count} does not match"
                f" the offset range {header.last_offset_delta + 1}",
            )
        if header.producer_id >= 0 and header.base_sequence < 0:
            raise InvalidRecordError(INVALID_RECORD, "producer id without a sequence number")
        if header.attributes & TIMESTAMP_TYPE_MASK:
            raise InvalidTimestamp("producers may not set the LogAppendTime timestamp type")


def _check_timestamps(info: BatchesInfo, now: int, config: LogConfig) -> None:
    """message.timestamp.before/after.max.ms, judged on each batch's first and max timestamp."""
    earliest = now - config.message_timestamp_before_max_ms
    latest = now + config.message_timestamp_after_max_ms
    for header in info.headers:
        if header.base_timestamp < earliest or header.max_timestamp > latest:
            raise InvalidTimestamp(
                f"timestamps {header.base_timestamp}..{header.max_timestamp}"
                f" outside [{earliest}, {latest}]"
            )
