"""LogManager: the partitions' logs in one log directory, and that directory's files
(storage/log_dirs.py keeps one per directory of `log.dirs`, and moves logs between them
through the future logs made here: `open_future_log`, `adopt_future_log`).

    <log.dir>/meta.properties                     broker.id / cluster.id of the directory
    <log.dir>/recovery-point-offset-checkpoint    per partition: offset flushed to disk
    <log.dir>/log-start-offset-checkpoint         per partition: log start offset
    <log.dir>/replication-offset-checkpoint       per partition: high watermark
    <log.dir>/.kafka_cleanshutdown                present only after a clean shutdown
    <log.dir>/<topic>-<partition>/                one Log each

    <log.dir>/cleaner-offset-checkpoint           per partition: where compaction reached

`load` opens every partition directory (topic names may contain '-' and '.': the
partition is after the last '-'), skipping Kafka's `*-delete`, `*-future` and
`*-stray` directories, and recovers according to the clean-shutdown marker, which
it then removes: a crash before the next `close` leaves no marker. A log that cannot
be opened (an I/O error) is logged and listed in `offline_logs`, never recreated
empty. `close` closes every log (producer snapshots, indexes), fsyncs them, writes
the checkpoints, then the marker.

Background work, driven by the broker's tasks (Trio), each call quick on the loop
thread unless marked "worker thread":

    retention_pass(now_ms)          every log.retention.check.interval.ms; renames only
    remove_expired_producers(now)   every producer.id.expiration.check.interval.ms
    delete_pending_files(now_ms)    worker thread (unlinks), e.g. every few seconds
    flush_pass(now_ms)              every log.flush.scheduler.interval.ms -> [LogFlush];
                                    LogFlush.run() worker thread, .complete() loop thread,
                                    then checkpoint() (worker thread: it fsyncs)
    checkpoint()                    worker thread (every log.flush.offset.checkpoint.interval.ms);
                                    also writes the leader-epoch-checkpoints that changed
    checkpoint_high_watermarks(hw)  worker thread (replica.high.watermark.checkpoint.interval.ms)
    close_idle_files(idle_ms)       now and then; the descriptor cap works without it
    grab_filthiest_log(now_ms)      compaction; see storage/cleaner.py for the protocol

High watermarks: `load` reads replication-offset-checkpoint into `high_watermarks`
(partition -> offset, clamped to [log start, log end] of each loaded log) for the
broker to restore each partition's HW; the broker writes them back with
`checkpoint_high_watermarks` (periodically and before `close`).

`on_flush_due` (a callable taking the Log) is called on the loop thread when a log
reaches flush.messages, so the broker can wake its flusher instead of waiting.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

from storage.checkpoint import (
    CorruptCheckpoint,
    OffsetCheckpointFile,
    sync_file,
    write_atomically,
)
from storage.cleaner import DEFAULT_MAX_MAP_ENTRIES, CleaningTask, LogCleaner
from storage.errors import StorageError
from storage.file_handles import FileHandleCache
from storage.log import (
    DEFAULT_PRODUCER_ID_EXPIRATION_MS,
    Log,
    LogFlush,
    PendingDeletions,
    parse_topic_partition,
)
from storage.log_config import LogConfig

log = logging.getLogger(__name__)

META_PROPERTIES = "meta.properties"
RECOVERY_POINT_CHECKPOINT = "recovery-point-offset-checkpoint"
LOG_START_OFFSET_CHECKPOINT = "log-start-offset-checkpoint"
REPLICATION_OFFSET_CHECKPOINT = "replication-offset-checkpoint"
CLEAN_SHUTDOWN_FILE = ".kafka_cleanshutdown"
FUTURE_DIR_SUFFIX = "-future"
_SKIPPED_DIR_SUFFIXES = ("-delete", FUTURE_DIR_SUFFIX, "-stray")
DEFAULT_MAX_OPEN_SEGMENT_FILES = 1024


class LogManager:
    def __init__(
        self,
        log_dir: Path,
        default_config: LogConfig,
        *,
        broker_id: int | None = None,
        cluster_id: str | None = None,
        producer_id_expiration_ms: int = DEFAULT_PRODUCER_ID_EXPIRATION_MS,
        max_open_segment_files: int | None = DEFAULT_MAX_OPEN_SEGMENT_FILES,
        cleaner_max_map_entries: int = DEFAULT_MAX_MAP_ENTRIES,
        file_cache: FileHandleCache | None = None,
    ) -> None:
        """`max_open_segment_files`: cap on segment .log descriptors (None: no cap);
        `file_cache`: a cache shared with other log dirs' managers (then the cap is its)."""
        self.log_dir = Path(log_dir)
        self.default_config = default_config
        self.broker_id = broker_id
        self.cluster_id = cluster_id
        self.producer_id_expiration_ms = producer_id_expiration_ms
        self.meta_properties: dict[str, str] = {}
        self.had_clean_shutdown = True
        self._logs: dict[tuple[str, int], Log] = {}
        self.offline_logs: dict[tuple[str, int], str] = {}  # partition -> why
        self.file_cache = (
            file_cache if file_cache is not None else FileHandleCache(max_open_segment_files)
        )
        self.pending_deletions = PendingDeletions()
        self.cleaner = LogCleaner(self.log_dir, max_map_entries=cleaner_max_map_entries)
        self.on_flush_due = None
        # on_io_error(log_dir, reason): a log here failed a disk operation (any thread).
        self.on_io_error: Callable[[Path, str], None] | None = None
        self.load_seconds = 0.0
        self._recovery_checkpoint = OffsetCheckpointFile(self.log_dir / RECOVERY_POINT_CHECKPOINT)
        self._start_checkpoint = OffsetCheckpointFile(self.log_dir / LOG_START_OFFSET_CHECKPOINT)
        self._hw_checkpoint = OffsetCheckpointFile(self.log_dir / REPLICATION_OFFSET_CHECKPOINT)
        self._hw_lock = threading.Lock()
        self._checkpoint_lock = threading.Lock()  # the periodic task and truncations
        # partition -> high watermark, from replication-offset-checkpoint (see load), then
        # what checkpoint_high_watermarks last wrote. Replaced whole, never mutated.
        self.high_watermarks: dict[tuple[str, int], int] = {}

    # -- loading --------------------------------------------------------------

    def load(self, topic_configs: Mapping[str, LogConfig] | None = None) -> None:
        """Open every partition log in the directory (topic_configs: per-topic configs,
        the default config for the others)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.load_meta_properties()
        marker = self.log_dir / CLEAN_SHUTDOWN_FILE
        self.had_clean_shutdown = marker.exists()
        has_logs = any(self._partition_dirs())
        if not self.had_clean_shutdown and has_logs:
            log.warning("%s: no clean shutdown marker, recovering logs", self.log_dir)
        recovery_points = self._read_checkpoint(self._recovery_checkpoint)
        start_offsets = self._read_checkpoint(self._start_checkpoint)
        high_watermarks = self._read_checkpoint(self._hw_checkpoint)
        self.cleaner.load_checkpoint()
        started = time.monotonic()
        recovered = 0
        for path, topic, partition in self._partition_dirs():
            config = (topic_configs or {}).get(topic, self.default_config)
            key = (topic, partition)
            try:
                opened = self._open_log(
                    path,
                    config,
                    log_start_offset=start_offsets.get(key),
                    recovery_point=recovery_points.get(key),
                    had_clean_shutdown=self.had_clean_shutdown,
                )
            except StorageError as exc:
                log.error("%s: log %s-%d is offline: %s", self.log_dir, topic, partition, exc)
                self.offline_logs[key] = str(exc)
                continue
            report = opened.load_report
            if report.truncations or report.indexes_rebuilt or report.swaps_completed:
                recovered += 1
            self._logs[key] = opened
        self.load_seconds = time.monotonic() - started
        self.high_watermarks = self._clamp_high_watermarks(high_watermarks)
        log.info(
            "%s: loaded %d logs in %.2f s (%s shutdown; %d repaired, %d offline)",
            self.log_dir,
            len(self._logs),
            self.load_seconds,
            "clean" if self.had_clean_shutdown else "unclean",
            recovered,
            len(self.offline_logs),
        )
        # From here on a crash must be noticed by the next start.
        marker.unlink(missing_ok=True)

    def _clamp_high_watermarks(
        self, checkpointed: Mapping[tuple[str, int], int]
    ) -> dict[tuple[str, int], int]:
        """The checkpointed high watermarks of the partitions that have a log here, each
        within [log start, log end] (Kafka: a HW never passes the log end offset; after
        an unclean shutdown the log may end below the checkpointed HW). Offline logs keep
        theirs unchanged."""
        result = {}
        for key, offset in checkpointed.items():
            value = self._logs.get(key)
            if value is not None:
                result[key] = max(value.log_start_offset, min(offset, value.log_end_offset))
            elif key in self.offline_logs:
                result[key] = offset
        return result

    def _open_log(self, path: Path, config: LogConfig, **kwargs) -> Log:
        opened = Log(
            path,
            config,
            producer_id_expiration_ms=self.producer_id_expiration_ms,
            file_cache=self.file_cache,
            pending_deletions=self.pending_deletions,
            on_flush_due=self._flush_due,
            **kwargs,
        )
        opened.on_io_error = self._io_error
        return opened

    def _io_error(self, _log, exc: OSError) -> None:
        if self.on_io_error is not None:
            self.on_io_error(self.log_dir, str(exc))

    def _flush_due(self, value: Log) -> None:
        if self.on_flush_due is not None:
            self.on_flush_due(value)

    def _partition_dirs(self):
        for path in sorted(self.log_dir.iterdir()):
            if not path.is_dir():
                continue
            name = path.name
            if name.endswith("-delete"):
                # A deletion interrupted by a crash: finish it.
                shutil.rmtree(path, ignore_errors=True)
                continue
            if name.endswith(_SKIPPED_DIR_SUFFIXES):
                continue
            try:
                topic, partition = parse_topic_partition(name)
            except ValueError:
                continue  # lost+found and the like
            yield path, topic, partition

    def _read_checkpoint(self, checkpoint: OffsetCheckpointFile) -> dict[tuple[str, int], int]:
        try:
            return checkpoint.read()
        except CorruptCheckpoint as exc:
            # Without it recovery starts from 0 (safe) / log start from the first segment.
            log.error("%s; ignoring it", exc)
            return {}

    def load_meta_properties(self) -> None:
        """Read meta.properties, writing it first for a new log dir."""
        path = self.log_dir / META_PROPERTIES
        if path.exists():
            properties = {}
            for line in path.read_text("utf-8").splitlines():
                line = line.strip()
                if line and not line.startswith(("#", "!")) and "=" in line:
                    key, _, value = line.partition("=")
                    properties[key.strip()] = value.strip()
            self.meta_properties = properties
            return
        properties = {"version": "0"}
        if self.broker_id is not None:
            properties["broker.id"] = str(self.broker_id)
        if self.cluster_id is not None:
            properties["cluster.id"] = self.cluster_id
        lines = ["#", "#" + time.strftime("%a %b %d %H:%M:%S %Z %Y")]
        lines.extend(f"{key}={value}" for key, value in properties.items())
        write_atomically(path, ("\n".join(lines) + "\n").encode("utf-8"))
        self.meta_properties = properties

    # -- partitions -----------------------------------------------------------

    def get_log(self, topic: str, partition: int) -> Log | None:
        return self._logs.get((topic, partition))

    def create_log(self, topic: str, partition: int, config: LogConfig) -> Log:
        """The partition's log, created if it does not exist yet (idempotent)."""
        key = (topic, partition)
        existing = self._logs.get(key)
        if existing is not None:
            return existing
        if key in self.offline_logs:
            raise StorageError(f"log {topic}-{partition} is offline: {self.offline_logs[key]}")
        created = self._open_log(self.log_dir / (f"{topic}-{partition}"), config)
        self._logs[key] = created
        return created

    def delete_log(self, topic: str, partition: int) -> None:
        """Close the partition's log and remove its files (renamed `*-delete` first, as
        Kafka does, so that a crash mid-way is finished by the next load)."""
        removed = self._logs.pop((topic, partition), None)
        self.offline_logs.pop((topic, partition), None)
        if (topic, partition) in self.high_watermarks:
            self.high_watermarks = {
                key: offset
                for key, offset in self.high_watermarks.items()
                if key != (topic, partition)
            }
        self.cleaner.forget(topic, partition)
        if removed is None:
            return
        removed.close_handlers()  # no snapshot; a running cleaning or flush is discarded
        doomed = removed.dir.with_name(f"{removed.dir.name}.{uuid.uuid4().hex}-delete")
        try:
            removed.dir.rename(doomed)
        except FileNotFoundError:
            return
        shutil.rmtree(doomed, ignore_errors=True)

    def logs(self) -> dict[tuple[str, int], Log]:
        return dict(self._logs)

    def __len__(self) -> int:
        return len(self._logs)

    # -- a failed directory, moves between directories (storage/log_dirs.py) ---------

    def take_offline(self, reason: str) -> list[tuple[str, int]]:
        """The directory failed: every log here is closed (no write: the disk is not
        trusted) and listed in `offline_logs`. Returns the partitions taken offline."""
        keys = list(self._logs)
        for key, value in self._logs.items():
            value.close_handlers()
            self.offline_logs[key] = reason
        self._logs.clear()
        return keys

    def future_dirs(self):
        """(path, topic, partition) of each `<topic>-<partition>.<uuid>-future` here."""
        for path in sorted(self.log_dir.iterdir()):
            name = path.name
            if not (name.endswith(FUTURE_DIR_SUFFIX) and path.is_dir()):
                continue
            try:
                topic, partition = parse_topic_partition(name[: -len(FUTURE_DIR_SUFFIX)][:-33])
            except ValueError:
                continue
            yield path, topic, partition

    def open_future_log(
        self, topic: str, partition: int, config: LogConfig, path: Path | None = None
    ) -> Log:
        """A future log here for the partition (AlterReplicaLogDirs): a new empty one,
        or the one at `path` (left by a move a restart interrupted). Not one of this
        directory's logs until `adopt_future_log`."""
        if path is None:
            path = self.log_dir / f"{topic}-{partition}.{uuid.uuid4().hex}{FUTURE_DIR_SUFFIX}"
        opened = self._open_log(path, config, had_clean_shutdown=self.had_clean_shutdown)
        opened.topic, opened.partition = topic, partition
        return opened

    def adopt_future_log(self, future: Log) -> Log:
        """The future log becomes the partition's log here (Kafka's
        replaceCurrentWithFutureLog, this directory's half): closed, its directory
        renamed to `<topic>-<partition>`, opened again (its files are whole: no
        recovery). The caller then deletes the old log in the other directory."""
        key = (future.topic, future.partition)
        recovery_point, start = future.recovery_point, future.log_start_offset
        future.close()
        target = self.log_dir / f"{future.topic}-{future.partition}"
        future.dir.rename(target)
        sync_file(self.log_dir)  # the rename is durable before the old log goes
        adopted = self._open_log(
            target,
            future.config,
            log_start_offset=start,
            recovery_point=recovery_point,
            had_clean_shutdown=True,
        )
        self.offline_logs.pop(key, None)
        self._logs[key] = adopted
        return adopted

    def discard_future_log(self, future: Log) -> None:
        """Drop a future log and its files (a move cancelled or failed)."""
        future.close_handlers()
        shutil.rmtree(future.dir, ignore_errors=True)

    # -- background work ----------------------------------------------------------

    def retention_pass(
        self,
        now_ms: int | None = None,
        high_watermark: Callable[[str, int], int | None] | None = None,
    ) -> int:
        """Delete old segments in every log (loop thread; renames only). `high_watermark
        (topic, partition)` bounds what may go (default: the log end offset). Returns
        the number of segments deleted."""
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        deleted = 0
        for (topic, partition), value in list(self._logs.items()):
            bound = high_watermark(topic, partition) if high_watermark is not None else None
            try:
                deleted += value.delete_old_segments(now, bound)
            except StorageError as exc:
                log.error("%s: retention failed: %s", value.name, exc)
        return deleted

    def remove_expired_producers(self, now_ms: int | None = None) -> int:
        """Forget, in every log, the producers idle for producer.id.expiration.ms without
        an open transaction (loop thread; memory only: the next snapshot leaves them
        out). Returns how many went."""
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        removed = 0
        for value in list(self._logs.values()):
            removed += len(value.remove_expired_producers(now))
        return removed

    def delete_pending_files(self, now_ms: int | None = None) -> int:
        """Unlink `*.deleted` files whose file.delete.delay.ms passed (worker thread ok)."""
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        return self.pending_deletions.delete_due(now)

    def flush_pass(self, now_ms: int | None = None) -> list[LogFlush]:
        """The logs due for a flush (flush.messages, flush.ms, rolled segments), as
        LogFlush items: `run()` each in a worker thread, then `complete()` on the loop."""
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        due = []
        for value in list(self._logs.values()):
            flush = value.flush_due(now)
            if flush is not None:
                due.append(flush)
        return due

    def grab_filthiest_log(self, now_ms: int | None = None) -> CleaningTask | None:
        """The compacted log most in need of cleaning, planned (loop thread); see
        storage/cleaner.py for running and swapping the task."""
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        return self.cleaner.grab_filthiest_log(list(self._logs.values()), now)

    def close_idle_files(self, idle_ms: int) -> int:
        """Close segment files unused for `idle_ms` (loop thread); returns how many."""
        return self.file_cache.close_idle(idle_ms)

    @property
    def open_segment_files(self) -> int:
        return len(self.file_cache)

    # -- checkpoints, shutdown --------------------------------------------------

    def checkpoint(self) -> None:
        """Write the leader-epoch-checkpoints that changed, then the recovery-point and
        log-start-offset checkpoints (periodic task; it fsyncs, so a worker thread; safe
        while the loop appends). A leader epoch file that cannot be written is logged and
        skipped (the recovery point only moves after a flush that wrote it)."""
        with self._checkpoint_lock:
            logs = list(self._logs.items())
            for _, value in logs:
                if value.leader_epoch_cache.dirty and not value.closed:
                    try:
                        value.leader_epoch_cache.flush()
                    except StorageError as exc:
                        log.error("%s: %s", value.name, exc)
            self._recovery_checkpoint.write({key: value.recovery_point for key, value in logs})
            self._start_checkpoint.write({key: value.log_start_offset for key, value in logs})

    def checkpoint_high_watermarks(self, high_watermarks: Mapping[tuple[str, int], int]) -> None:
        """Write replication-offset-checkpoint (worker thread: it fsyncs; atomic).

        `high_watermarks` maps (topic, partition) to the partition's HW. Partitions with
        no log in this directory are left out; those with a log here (or an offline one)
        but not given keep the value last written or loaded (a partition the broker has
        not taken up yet after a restart keeps its HW). `high_watermarks` becomes what
        was written.
        Raises StorageError when the file cannot be written."""
        logs, offline = self._logs, self.offline_logs
        with self._hw_lock:
            merged = {
                key: offset
                for key, offset in self.high_watermarks.items()
                if key in logs or key in offline
            }
            merged.update((key, offset) for key, offset in high_watermarks.items() if key in logs)
            self._hw_checkpoint.write(merged)
            self.high_watermarks = merged

    def flush(self) -> None:
        for value in list(self._logs.values()):
            value.flush()

    def close(self) -> None:
        """Close every log (snapshots, indexes), fsync them, write the checkpoints and the
        cleaner checkpoint, then the clean-shutdown marker."""
        for value in self._logs.values():
            value.close()
            value.flush()
        self.file_cache.close_all()
        self.checkpoint()
        self.cleaner.write_checkpoint()
        write_atomically(
            self.log_dir / CLEAN_SHUTDOWN_FILE,
            json.dumps({"version": 0, "brokerEpoch": -1}).encode("ascii"),
        )
