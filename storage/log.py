"""Log: one partition's log, `<log.dir>/<topic>-<partition>/` (Kafka's UnifiedLog).

The Log is a ProducerStateLog (storage/log_producer_state.py: producer snapshots,
transactions: the .txnindex of aborted transactions, the first unstable offset) over a
LocalLog (storage/local_log.py: the segments, roll, read across segments, flush,
segment truncation and deletion, the log end offset) and adds what else Kafka's
UnifiedLog adds: validation, leader epochs, the log start offset's moves and
retention decisions.

Append (produce): the batch is validated (storage/log_validator.py: size, magic, CRC,
exactly one batch per leader append, the client and timestamp checks), the
ProducerStateManager checks idempotence, offsets are patched into the batch header,
LogAppendTime is stamped if the topic asks for it, and the bytes go to the active
segment as they are (LocalLog._write, which rolls when the segment is full or old).
Read (fetch, LocalLog.read): whole batches from the one containing the fetch offset,
below the caller's upper offset (high watermark / last stable offset), within max_bytes.

Opening a log loads and recovers its directory (storage/log_loader.py: interrupted
compaction swaps, leftovers, recovery after an unclean shutdown, kept in
`load_report`). Producer state comes from the newest producer snapshot
(`<offset>.snapshot`) at or below the log end offset plus the batch headers after it;
snapshots are written when a segment rolls and when the log closes, and go with the
segments they precede.

Leader epochs (`leader_epoch_cache`, storage/leader_epoch.py, `leader-epoch-checkpoint`):
a leader append records its epoch when it changes, a follower append each new epoch
its batches carry; truncations and log start moves trim the cache; opening the log
loads it (storage/log_loader.py). `end_offset_for_epoch` answers OffsetForLeaderEpoch.

Retention (`delete_old_segments`): whole segments past retention.ms / retention.bytes
(cleanup.policy with "delete") or wholly below the log start offset (DeleteRecords)
are chosen here and taken out by LocalLog.remove_segments (files renamed `*.deleted`
at once, unlinked later by `PendingDeletions.delete_due`, file.delete.delay.ms).

Threading contract: everything here runs on the broker's event loop thread except
opening a log (`Log(...)`, with its LogLoader: a worker thread when the LogManager
loads the log directory at startup, before anything else uses the log),
`LogFlush.run` / `flush_files` (worker thread: LocalLog's fsyncs, then the
leader-epoch-checkpoint if it changed; never mutates the log) and the log cleaner's
`CleaningTask.run` (storage/cleaner.py, reads closed segments by path). Retention and
the cleaner's swap are loop-only and quick (renames, no fsync, no data copy).
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from protocol.records import (
    CONTROL_COMMIT,
    CONTROL_MASK,
    LOG_OVERHEAD,
    BatchesInfo,
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
from storage.local_log import (
    FetchDataInfo,  # noqa: F401 - re-exported (imported from storage.log)
    LocalLog,
    LogFlush,  # noqa: F401 - re-exported
    PendingDeletions,
    parse_topic_partition,  # noqa: F401 - re-exported
)
from storage.log_config import LogConfig
from storage.log_loader import LoadReport, LogLoader
from storage.log_producer_state import ProducerStateLog
from storage.log_validator import recompress, validate_batches
from storage.partition_metadata import PartitionMetadataFile
from storage.producer_state import ProducerAppendInfo, ProducerStateManager
from storage.segment import LogSegment, TimestampAndOffset

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


class Log(ProducerStateLog):
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
        on_flush_due: Callable[[LocalLog], None] | None = None,
        now_ms: int | None = None,
    ) -> None:
        """Open (or create) the log in `dir`, recovering as the shutdown requires.

        `file_cache` caps open segment files (the LogManager's); `pending_deletions`
        collects `*.deleted` files (the LogManager's, else the log's own);
        `on_flush_due(log)` is called when flush.messages is reached.
        """
        super().__init__(
            dir,
            config,
            file_cache=file_cache,
            pending_deletions=pending_deletions,
            on_flush_due=on_flush_due,
        )
        self.producer_id_expiration_ms = producer_id_expiration_ms
        self.producer_state = ProducerStateManager()
        self.leader_epoch_cache = LeaderEpochFileCache(self.dir / LEADER_EPOCH_CHECKPOINT)
        self.topic_id: bytes | None = None  # from partition.metadata, once known
        self._snapshot_offsets: list[int] = []  # sorted offsets of <offset>.snapshot files
        self.cleaning: object | None = None  # the running CleaningTask (storage/cleaner.py)
        self.next_delete_horizon_ms: int | None = None  # tombstones due (set by the cleaner)
        self.first_unstable_offset: int | None = None  # see storage/log_producer_state.py
        loader = LogLoader(self.dir, self.segments, self._new_segment)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            loader.load_segments(log_start_offset or 0, recovery_point, had_clean_shutdown)
            self._snapshot_offsets = loader.snapshot_offsets
            self.topic_id = PartitionMetadataFile(self.dir).read()
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
            # Segments recovered from scratch lost their .txnindex: re-added on replay.
            rebuilt = [s.base_offset for s in self.segments if s.txn_index_rebuild]
            snapshot_offset = self._load_producer_state(
                now_ms if now_ms is not None else int(time.time() * 1000),
                min(rebuilt) if rebuilt else None,
            )
            for segment in self.segments:
                segment.txn_index_rebuild = False
        except OSError as exc:
            self.close_handlers()
            raise StorageError(f"cannot read log {self.dir}: {exc}") from exc
        self.load_report: LoadReport = loader.report(
            had_clean_shutdown, snapshot_offset, self.log_end_offset, epochs_rebuilt_from
        )

    # -- the topic's id (partition.metadata) --------------------------------------

    def assign_topic_id(self, topic_id: bytes) -> None:
        """Record the topic's id in partition.metadata (Kafka's format), so that a
        replica of an older topic of the same name can be told apart. Not fsynced: a
        file lost in a crash is written again when the partition is next taken up."""
        if topic_id == self.topic_id:
            return
        PartitionMetadataFile(self.dir).write(topic_id)
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

    # -- append -------------------------------------------------------------

    def append(
        self,
        records: bytearray | memoryview | bytes,
        *,
        leader_epoch: int = 0,
        now_ms: int | None = None,
        origin: AppendOrigin = AppendOrigin.CLIENT,
    ) -> LogAppendInfo:
        """Validate, recompress if the topic's compression.type says so, assign offsets
        (patched into `records` or the recompressed copy) and write, as the leader.

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
            records, config, origin is AppendOrigin.CLIENT, log_append_time, now, self.name
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

        rebuilt = recompress(records, info, config)
        if rebuilt is not None:
            records, info = rebuilt
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
            self._complete_appends(appends.values())
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
                append.append_batch(
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
        if appends:
            self._complete_appends(appends.values())
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

    # -- roll, flush (extending LocalLog's) -------------------------------------------

    def roll(self) -> LogSegment:
        """LocalLog.roll, then a producer snapshot at the new base offset (as Kafka's
        UnifiedLog.roll). No-op if the active segment is empty."""
        active = self.active_segment
        segment = super().roll()
        if segment is not active:
            self.take_snapshot()
        return segment

    def flush_files(self, up_to: int | None = None, *, indexes: bool = True) -> None:
        """LocalLog.flush_files, then the leader-epoch-checkpoint if it changed.
        Worker-thread safe (see LocalLog.flush_files)."""
        super().flush_files(up_to, indexes=indexes)
        # Before the recovery point moves: the file must hold every epoch below it.
        self.leader_epoch_cache.flush()

    # -- timestamps (ListOffsets) ------------------------------------------------------

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
        if offset < self.segments.first.base_offset:
            self.truncate_fully_and_start_at(offset)
            return True
        super().truncate_to(offset)
        end = self.log_end_offset
        self._truncate_epochs_from_end(end)
        self._delete_snapshots(lambda o: o <= end)
        self._load_producer_state(int(time.time() * 1000))
        return True

    def truncate_fully_and_start_at(self, offset: int) -> None:
        """Drop every segment and restart the log, empty, at `offset`. The leader epoch
        cache is emptied and its file rewritten at once (loop thread; rare)."""
        super().truncate_fully_and_start_at(offset)
        self._delete_snapshots(lambda o: False)
        self.producer_state.clear(offset)
        self.first_unstable_offset = None
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
        self._update_first_unstable_offset()
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
        """LocalLog.remove_segments; the leader epochs and the producer snapshots below
        the new first segment go with them. Loop thread."""
        super().remove_segments(doomed, now_ms)
        first_base = self.segments.first.base_offset
        self.leader_epoch_cache.truncate_from_start(self.log_start_offset)
        self._delete_snapshots(lambda o: o >= first_base)
        self._update_first_unstable_offset()

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
        super().close()

    def __repr__(self) -> str:
        return (
            f"Log({self.dir}, start={self.log_start_offset}, end={self.log_end_offset},"
            f" segments={len(self.segments)})"
        )
