"""Log: one partition's log, `<log.dir>/<topic>-<partition>/`, a list of LogSegments.

Append (produce): the batch is validated (storage/log_validator.py: size, magic, CRC,
exactly one batch per leader append, the client and timestamp checks), the
ProducerStateManager checks idempotence, offsets are patched into the batch header,
LogAppendTime is stamped if the topic asks for it, and the bytes go to the active
segment as they are, rolling to a new segment when it is full (segment.bytes,
an index full, offsets beyond int32 of the base) or old (segment.ms + jitter, from the
first batch's max timestamp). A failed write (disk full, EIO) raises StorageError
(KAFKA_STORAGE_ERROR), is logged once per episode, and leaves the log as it was.
Read (fetch): whole batches from the one containing the fetch offset, below the
caller's upper offset (high watermark / last stable offset), within max_bytes; one
pread per segment touched.

The segments are kept in a LogSegments (storage/log_segments.py), which answers
which segment holds an offset. Opening a log loads and recovers its directory
(storage/log_loader.py: interrupted compaction swaps, leftovers, recovery after an
unclean shutdown, kept in `load_report`). Producer state comes from the newest producer
snapshot (`<offset>.snapshot`) at or below the log end offset plus the batch headers
after it; snapshots are written when a segment rolls and when the log closes, and
go with the segments they precede.

Leader epochs (`leader_epoch_cache`, storage/leader_epoch.py, `leader-epoch-checkpoint`):
a leader append records its epoch when it changes, a follower append each new epoch
its batches carry; truncations and log start moves trim the cache; opening the log
loads it (storage/log_loader.py). `end_offset_for_epoch` answers OffsetForLeaderEpoch.

Flushing: appends never fsync. `flush.messages` / `flush.ms` and rolls (Kafka flushes
a rolled segment asynchronously) only make the log due; `flush_due(now)` hands out a
LogFlush whose `run()` fsyncs in a worker thread and whose `complete()` moves the
recovery point on the loop thread.

Retention (`delete_old_segments`): whole segments past retention.ms / retention.bytes
(cleanup.policy with "delete") or wholly below the log start offset (DeleteRecords)
are removed from the segment list and their files renamed `*.deleted` at once; the
files are unlinked later by `PendingDeletions.delete_due` (file.delete.delay.ms).

Threading contract: everything here runs on the broker's event loop thread except
opening a log (`Log(...)`, with its LogLoader: a worker thread when the LogManager
loads the log directory at startup, before anything else uses the log),
`LogFlush.run` / `flush_files` (worker thread: fsync through descriptors of its own,
never mutates the log; writes the leader-epoch-checkpoint if it changed) and the log
cleaner's `CleaningTask.run` (storage/cleaner.py, reads closed segments by path).
Retention and the cleaner's swap are loop-only and quick (renames, no fsync, no data
copy).
"""

from __future__ import annotations

import base64
import enum
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from protocol.records import (
    CONTROL_COMMIT,
    CONTROL_MASK,
    INT32_MAX,
    LOG_OVERHEAD,
    BatchesInfo,
    BatchHeader,
    InvalidRecordError,
    assign_offsets,
    decode_batch,
    read_end_txn_marker,
    scan_batches,
    set_log_append_time,
)
from storage.errors import (
    OffsetOutOfRange,
    StorageError,
    UnexpectedAppendOffset,
)
from storage.file_handles import FileHandleCache
from storage.leader_epoch import LEADER_EPOCH_CHECKPOINT, LeaderEpochFileCache
from storage.log_config import LONG_MAX, LogConfig
from storage.log_loader import LoadReport, LogLoader
from storage.log_segments import LogSegments
from storage.log_validator import validate_batches
from storage.producer_state import (
    CorruptSnapshot,
    ProducerAppendInfo,
    ProducerStateManager,
    decode_snapshot,
    encode_snapshot,
    snapshot_file_name,
)
from storage.segment import (
    CLEANED_SUFFIX,
    DELETED_SUFFIX,
    SWAP_SUFFIX,
    LogSegment,
    TimestampAndOffset,
    random_roll_jitter,
    sync_file,
)

PARTITION_METADATA = "partition.metadata"  # the topic id (Kafka's file, KIP-516)

log = logging.getLogger(__name__)

# ListOffsets special timestamps (Kafka's ListOffsetsRequest).
LATEST_TIMESTAMP = -1
EARLIEST_TIMESTAMP = -2
MAX_TIMESTAMP = -3

DEFAULT_PRODUCER_ID_EXPIRATION_MS = 86400000  # producer.id.expiration.ms


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

    def __init__(self, log: Log, up_to: int, generation: int) -> None:
        self.log = log
        self.up_to = up_to
        self.generation = generation

    def run(self) -> None:
        self.log.flush_files(self.up_to)

    def complete(self) -> None:
        self.log.mark_flushed(self.up_to, self.generation)

    def __repr__(self) -> str:
        return f"LogFlush({self.log.name}, up_to={self.up_to})"


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
        file_cache: FileHandleCache | None = None,
        pending_deletions: PendingDeletions | None = None,
        on_flush_due: Callable[[Log], None] | None = None,
        now_ms: int | None = None,
    ) -> None:
        """Open (or create) the log in `dir`, recovering as the shutdown requires.

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
        self.producer_id_expiration_ms = producer_id_expiration_ms
        self.file_cache = file_cache
        self.pending_deletions = (
            pending_deletions if pending_deletions is not None else PendingDeletions()
        )
        self.on_flush_due = on_flush_due
        self.producer_state = ProducerStateManager()
        self.leader_epoch_cache = LeaderEpochFileCache(self.dir / LEADER_EPOCH_CHECKPOINT)
        self.topic_id: bytes | None = None  # from partition.metadata, once known
        self.segments = LogSegments()
        self._snapshot_offsets: list[int] = []  # sorted offsets of <offset>.snapshot files
        self._unflushed_messages = 0
        self._flush_signalled = False
        self._roll_flush_offset = 0  # a rolled segment's end, to be flushed (as Kafka)
        self._dir_unsynced = True  # files created or renamed since the last flush
        self.last_flush_ms = int(time.time() * 1000)
        # Bumped when segments go away under a running cleaner or flush (truncation,
        # retention, deletion): their results are then discarded.
        self.generation = 0
        self.cleaning: object | None = None  # the running CleaningTask (storage/cleaner.py)
        self.next_delete_horizon_ms: int | None = None  # tombstones due (set by the cleaner)
        self.closed = False
        self._storage_error_logged = False
        loader = LogLoader(self.dir, self.segments, self._new_segment)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            loader.load_segments(log_start_offset or 0, recovery_point, had_clean_shutdown)
            self._snapshot_offsets = loader.snapshot_offsets
            self.topic_id = self._read_topic_id()
            self.log_end_offset = self.segments.last.next_offset
        except OSError as exc:
            self.close_handlers()
            raise StorageError(f"cannot open log {self.dir}: {exc}") from exc
        start = max(log_start_offset or 0, self.segments.first.base_offset)
        self.log_start_offset = min(start, self.log_end_offset)
        if recovery_point is None:
            recovery_point = self.log_end_offset if had_clean_shutdown else 0
        self.recovery_point = min(recovery_point, self.log_end_offset)
        try:
            self.leader_epoch_cache, epochs_rebuilt_from = loader.load_leader_epochs(
                had_clean_shutdown, self.recovery_point, self.log_start_offset, self.log_end_offset
            )
            snapshot_offset = self._load_producer_state(
                now_ms if now_ms is not None else int(time.time() * 1000)
            )
        except OSError as exc:
            self.close_handlers()
            raise StorageError(f"cannot read log {self.dir}: {exc}") from exc
        self.load_report: LoadReport = loader.report(
            had_clean_shutdown, snapshot_offset, self.log_end_offset, epochs_rebuilt_from
        )

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

    # -- the topic's id (partition.metadata) --------------------------------------

    def _read_topic_id(self) -> bytes | None:
        """`topic_id: <base64url>` from partition.metadata; None if absent or unreadable
        (a log from before topic ids: the next assign_topic_id writes it)."""
        try:
            text = (self.dir / PARTITION_METADATA).read_text("utf-8")
        except FileNotFoundError:
            return None
        for line in text.splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "topic_id":
                try:
                    raw = base64.urlsafe_b64decode(value.strip() + "==")
                except ValueError:
                    break
                if len(raw) == 16:
                    return raw
        log.warning("%s: unreadable %s, ignored", self.dir, PARTITION_METADATA)
        return None

    def assign_topic_id(self, topic_id: bytes) -> None:
        """Record the topic's id in partition.metadata (Kafka's format), so that a
        replica of an older topic of the same name can be told apart. Not fsynced: a
        file lost in a crash is written again when the partition is next taken up."""
        if topic_id == self.topic_id:
            return
        text = base64.urlsafe_b64encode(topic_id).decode().rstrip("=")
        path = self.dir / PARTITION_METADATA
        tmp = path.with_name(path.name + ".tmp")
        try:
            tmp.write_text(f"version: 0\ntopic_id: {text}\n", "utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            raise StorageError(f"cannot write {path}: {exc}") from exc
        self.topic_id = topic_id

    # -- leader epochs ------------------------------------------------------------------

    @property
    def latest_epoch(self) -> int | None:
        """The newest leader epoch in the log's epoch cache (None: no epoch recorded)."""
        return self.leader_epoch_cache.latest_epoch

    def end_offset_for_epoch(self, leader_epoch: int) -> tuple[int, int]:
        """OffsetForLeaderEpoch: (epoch, end offset) for `leader_epoch`, Kafka's answer
        (see LeaderEpochFileCache.end_offset_for; (-1, -1) is UNDEFINED)."""
        return self.leader_epoch_cache.end_offset_for(leader_epoch, self.log_end_offset)

    def maybe_assign_epoch_start_offset(
        self, leader_epoch: int, start_offset: int | None = None
    ) -> None:
        """Record that `leader_epoch` starts at `start_offset` (default: the log end
        offset). The broker calls it when it becomes leader, before any append, as Kafka's
        Partition.makeLeader does: OffsetForLeaderEpoch then ends the previous epoch at
        the right offset even before the new leader writes anything."""
        self.leader_epoch_cache.assign(
            leader_epoch, self.log_end_offset if start_offset is None else start_offset
        )

    def _truncate_epochs_from_end(self, end_offset: int) -> None:
        """The log now ends at `end_offset`: drop the epochs starting there or later, and
        write the file at once if any went (loop thread; rare: a divergent tail, or an
        epoch that never wrote) so that no stale epoch survives a crash."""
        cache = self.leader_epoch_cache
        if cache.truncate_from_end(end_offset):
            try:
                cache.flush()
            except StorageError as exc:
                # The entries in memory are right; a crash before the next successful
                # write could bring the dropped ones back (recovery re-learns the tail).
                log.error("%s: %s", self.name, exc)

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

    def _load_producer_state(self, now_ms: int) -> int | None:
        """Newest valid snapshot at or below the log end offset, then the batch headers
        after it; without one, the batch headers of the segments that can still hold
        live producers. Returns the snapshot offset used (None: none)."""
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
        for offset in reversed(list(self._snapshot_offsets)):
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
            self._replay_batches(offset)
            state.update_map_end_offset(end)
            return offset
        self._rebuild_producer_state(now_ms)
        return None

    def _rebuild_producer_state(self, now_ms: int | None = None) -> None:
        """Producer state from batch headers, over the segments young enough to matter."""
        state = self.producer_state
        state.clear(self.log_end_offset)
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        horizon = now - self.producer_id_expiration_ms
        first = len(self.segments) - 1
        while first > 0 and self.segments[first - 1].largest_timestamp >= horizon:
            first -= 1
        self._replay_batches(self.segments[first].base_offset)
        state.update_map_end_offset(self.log_end_offset)

    def _replay_batches(self, from_offset: int) -> None:
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
                self._replay_batch(state, segment, batch_position, header)

    def _replay_batch(
        self,
        state: ProducerStateManager,
        segment: LogSegment,
        position: int,
        header: BatchHeader,
    ) -> None:
        append = state.prepare_update(
            header.producer_id, validate_epoch=False, validate_sequence=False
        )
        try:
            _add_batch(append, header, lambda: segment.read_batch(position, header.size))
        except InvalidRecordError:
            return
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

        `records` is one batch, as Kafka's LogValidator wants it: more than one is
        INVALID_RECORD, none appends nothing. `leader_epoch` is stamped into the batch
        header and, when it is new, recorded in the leader epoch cache at the first
        offset of this append.

        Raises InvalidRecordError (CORRUPT_MESSAGE, INVALID_RECORD, MESSAGE_TOO_LARGE) or
        a storage.errors exception (OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_EPOCH,
        INVALID_TIMESTAMP, RECORD_LIST_TOO_LARGE, KAFKA_STORAGE_ERROR).
        """
        if isinstance(records, bytes) or (isinstance(records, memoryview) and records.readonly):
            records = bytearray(records)  # offsets are patched in place
        config = self._config
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        log_append_time = config.message_timestamp_type == "LogAppendTime"
        info = validate_batches(
            records, config, origin is AppendOrigin.CLIENT, log_append_time, now
        )
        if not info.positions:
            return LogAppendInfo(-1, -1, -1, self.log_start_offset)

        first_offset = self.log_end_offset
        append_time = now if log_append_time else -1
        appends: dict[int, ProducerAppendInfo] | None = None
        if info.producer_id >= 0:
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
        if leader_epoch != self.leader_epoch_cache.latest_epoch:
            self.leader_epoch_cache.assign(leader_epoch, first_offset)
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
        """Append batches that already carry the leader's offsets (replica fetch).

        The bytes are written as they are (offsets, leader epochs, timestamps: the
        leader's); per batch header only, no record is decoded (but transaction markers'
        one record). A batch starting below the log end offset, or below the end of the
        batch before it, raises UnexpectedAppendOffset and nothing is written: the
        follower must truncate first. Gaps are allowed (compacted leaders). The producer
        state records the batches unchecked (so a follower that becomes leader finds
        retries of them), and each new leader epoch met is assigned in the epoch cache
        at its batch's base offset.
        """
        info = scan_batches(records, self._config.max_message_bytes)
        if not info.positions:
            return LogAppendInfo(-1, -1, -1, self.log_start_offset)
        expected = self.log_end_offset
        max_timestamp, offset_of_max = -1, -1
        state = self.producer_state
        appends: dict[int, ProducerAppendInfo] = {}
        latest_epoch = self.leader_epoch_cache.latest_epoch
        new_epochs: list[tuple[int, int]] = []
        for position, header in zip(info.positions, info.headers, strict=True):
            if header.base_offset < expected or header.last_offset_delta < 0:
                raise UnexpectedAppendOffset(
                    f"{self.name}: batch at offset {header.base_offset}"
                    f" (last offset delta {header.last_offset_delta})"
                    f" overlaps what the log holds below {expected}"
                )
            if header.partition_leader_epoch != latest_epoch:
                latest_epoch = header.partition_leader_epoch
                new_epochs.append((latest_epoch, header.base_offset))
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
                _add_batch(
                    append,
                    header,
                    lambda start=position, end=position + header.size: bytes(records[start:end]),
                )
            expected = last + 1
        first_offset = info.headers[0].base_offset
        last_offset = expected - 1
        now = int(time.time() * 1000)
        self._write(records, info, None, last_offset, max_timestamp, -1, now)
        for epoch, start_offset in new_epochs:
            self.leader_epoch_cache.assign(epoch, start_offset)
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
            self._storage_error("append", exc)
        if self._storage_error_logged:
            log.info("%s: writes succeed again", self.name)
            self._storage_error_logged = False
        self.log_end_offset = last_offset + 1

    def _storage_error(self, action: str, exc: OSError) -> None:
        """Raise StorageError for a failed disk operation, logging once per episode."""
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
        empty). Writes a producer snapshot at the new base offset, and makes the log due
        for a flush up to it (Kafka flushes a rolled segment asynchronously)."""
        active = self.active_segment
        end = self.log_end_offset
        if active.size == 0 and active.base_offset == end:
            return active
        active.on_become_inactive()
        segment = self._new_segment(end, create=True)
        self.take_snapshot()
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
        recovery point, then the directory, then write the leader-epoch-checkpoint if it
        changed. Worker-thread safe: descriptors of its own, and the log is not changed
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
            raise StorageError(f"flush of {self.dir} failed: {exc}") from exc
        # Before the recovery point moves: the file must hold every epoch below it.
        self.leader_epoch_cache.flush()

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
        Returns whether anything was removed.

        Batches are never split: callers truncate at batch boundaries (epoch end offsets
        and high watermarks are). An `offset` inside a batch removes that whole batch, so
        the log end offset becomes the batch's base offset, below `offset`; the epoch
        cache and the producer state follow the log end offset actually reached.
        The leader epoch cache loses the epochs starting at or above the new log end
        offset, also when nothing is removed from the log (an epoch this broker
        assigned as leader without writing, as Kafka does); the producer state is
        rebuilt from the newest snapshot at or below the new end and the batch headers
        after it."""
        if offset < 0:
            raise ValueError(f"cannot truncate to a negative offset {offset}")
        if offset >= self.log_end_offset:
            self._truncate_epochs_from_end(self.log_end_offset)
            return False
        self.generation += 1
        if offset < self.segments.first.base_offset:
            self.truncate_fully_and_start_at(offset)
            return True
        # Segments starting above `offset` go; one starting at it stays, emptied (as Kafka).
        keep = self.segments.floor_index(offset) + 1
        for segment in self.segments[keep:]:
            segment.delete()
        self.segments.remove(keep)
        active = self.active_segment
        active.truncate_to(offset)
        self.log_end_offset = active.next_offset
        self.log_start_offset = min(self.log_start_offset, self.log_end_offset)
        self.recovery_point = min(self.recovery_point, self.log_end_offset)
        end = self.log_end_offset
        self._truncate_epochs_from_end(end)
        self._delete_snapshots(lambda o: o <= end)
        self._load_producer_state(int(time.time() * 1000))
        return True

    def truncate_fully_and_start_at(self, offset: int) -> None:
        """Drop every segment and restart the log, empty, at `offset`. The leader epoch
        cache is emptied and its file rewritten at once (loop thread; rare)."""
        self.generation += 1
        for segment in self.segments:
            segment.delete()
        self.segments.clear()
        self._delete_snapshots(lambda o: False)
        self.segments.add(self._new_segment(offset, create=True))
        self.log_end_offset = offset
        self.log_start_offset = offset
        self.recovery_point = offset
        self.producer_state.clear(offset)
        self.leader_epoch_cache.clear()
        try:
            self.leader_epoch_cache.flush()
        except StorageError as exc:
            log.error("%s: %s", self.name, exc)

    def maybe_increment_log_start_offset(self, offset: int) -> bool:
        """DeleteRecords: move the log start offset up; the segments wholly below it go at
        the next retention check (`delete_old_segments`), as in Kafka."""
        if offset > self.log_end_offset:
            raise OffsetOutOfRange(
                f"{self.name}: cannot move the log start offset to {offset}"
                f" past the log end offset {self.log_end_offset}"
            )
        if offset <= self.log_start_offset:
            return False
        self.log_start_offset = offset
        self.leader_epoch_cache.truncate_from_start(offset)
        return True

    # -- retention --------------------------------------------------------------------

    def delete_old_segments(
        self, now_ms: int | None = None, high_watermark: int | None = None
    ) -> int:
        """Retention check (loop thread, quick): delete the segments wholly below the log
        start offset, and with cleanup.policy "delete" those past retention.bytes and
        retention.ms. Only segments wholly below `high_watermark` (default: the log end
        offset) go; when every segment would go, the active one is rolled first (Kafka).
        Returns the number of segments deleted."""
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        try:
            return self._delete_old_segments(now, high_watermark)
        except OSError as exc:
            self._storage_error("retention", exc)
            raise  # not reached: _storage_error raises

    def _delete_old_segments(self, now: int, high_watermark: int | None) -> int:
        upper = self.log_end_offset if high_watermark is None else high_watermark
        start = self.log_start_offset
        deleted = self._delete_where(
            lambda segment, later: later is not None and later.base_offset <= start,
            upper,
            now,
            "below the log start offset",
        )
        config = self._config
        if not config.delete:
            return deleted
        if config.retention_bytes >= 0:
            excess = self.size - config.retention_bytes

            def over_size(segment: LogSegment, later: LogSegment | None) -> bool:
                nonlocal excess
                if excess - segment.size >= 0:
                    excess -= segment.size
                    return True
                return False

            if excess > 0:
                deleted += self._delete_where(
                    over_size, upper, now, f"retention.bytes {config.retention_bytes}"
                )
        if config.retention_ms >= 0:
            horizon = now - config.retention_ms
            deleted += self._delete_where(
                lambda segment, later: segment.largest_timestamp < horizon,
                upper,
                now,
                f"retention.ms {config.retention_ms}",
            )
        return deleted

    def _delete_where(
        self,
        predicate: Callable[[LogSegment, LogSegment | None], bool],
        upper: int,
        now: int,
        reason: str,
    ) -> int:
        segments = self.segments
        doomed: list[LogSegment] = []
        for i, segment in enumerate(segments):
            later = segments[i + 1] if i + 1 < len(segments) else None
            if later is None and segment.size == 0:
                break
            bound = later.base_offset if later is not None else self.log_end_offset
            if upper < bound or not predicate(segment, later):
                break
            doomed.append(segment)
        if not doomed:
            return 0
        if len(doomed) == len(segments):
            self.roll()  # never delete the active segment: roll it first
        first, last = doomed[0], doomed[-1]
        size = sum(segment.size for segment in doomed)
        self.remove_segments(doomed, now)
        log.info(
            "%s: deleted %d segment(s) %s..%s (%d bytes, %s); log start offset now %d",
            self.name,
            len(doomed),
            first.log_path.name.split(".")[0],
            last.log_path.name.split(".")[0],
            size,
            reason,
            self.log_start_offset,
        )
        return len(doomed)

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
        self.leader_epoch_cache.truncate_from_start(self.log_start_offset)
        self._delete_snapshots(lambda o: o >= first_base)

    def _retire(self, segment: LogSegment, now_ms: int) -> None:
        """Rename a segment's files `*.deleted` and queue them (file.delete.delay.ms)."""
        due = now_ms + self._config.file_delete_delay_ms
        self._dir_unsynced = True
        try:
            segment.close()
            segment.change_file_suffix(segment.file_suffix, DELETED_SUFFIX)
        except OSError as exc:
            log.error("%s: cannot rename %s for deletion: %s", self.name, segment, exc)
        for path in (segment.log_path, segment.index.path, segment.time_index.path):
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
        """Write a producer snapshot, the indexes and the leader-epoch-checkpoint (if it
        changed; that write fsyncs), release every descriptor. No other fsync
        (LogManager.close flushes after closing: flushing opens descriptors of its own)."""
        if not self.closed and self.segments:
            try:
                self.take_snapshot()
            except OSError as exc:  # pragma: no cover - take_snapshot logs its own
                log.warning("%s: %s", self.name, exc)
            try:
                self.leader_epoch_cache.flush()
            except StorageError as exc:
                # LogManager.close flushes next and fails the same way: no clean
                # shutdown marker, so the next open re-learns the epochs.
                log.warning("%s: %s", self.name, exc)
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

    def __repr__(self) -> str:
        return (
            f"Log({self.dir}, start={self.log_start_offset}, end={self.log_end_offset},"
            f" segments={len(self.segments)})"
        )


def _add_batch(append, header: BatchHeader, read_marker: Callable[[], bytes]) -> None:
    """One batch, from its header, into a producer's pending state update: a data
    batch, or a transaction marker (whose record `read_marker` reads; raises
    InvalidRecordError when it does not parse)."""
    if header.attributes & CONTROL_MASK:
        control_type, coordinator_epoch = read_end_txn_marker(read_marker())
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
