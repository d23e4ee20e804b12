"""LogDirs: the broker's logs over every directory of `log.dirs` (JBOD), as Kafka's
LogManager keeps them; each directory is a LogManager of its own (storage/log_manager.py:
its meta.properties, its recovery-point, log-start-offset, replication-offset and
cleaner-offset checkpoints, its clean-shutdown marker, its partitions).

- Start-up: every directory must hold the same broker.id and cluster.id in its
  meta.properties (a directory without one gets it written); one that disagrees stops
  start-up (LogDirError, Kafka's InconsistentBrokerMetadataException), as does a
  partition found in two directories. A directory that cannot be created or read is
  offline from the start; with none usable, start-up stops.
- Placement: a new partition goes to the directory AlterReplicaLogDirs named for it
  beforehand (`preferred_dirs`), else to the live directory with the fewest logs
  (Kafka's nextLogDirs; ties: the first in `log.dirs`).
- A failed directory (Kafka's LogDirFailureChannel): any failed disk operation of a
  log (append, roll, flush, read, retention) or of a checkpoint calls `fail_dir`, from
  any thread. The directory is offline from then on (until a restart) and
  `on_dir_failure(dir, reason)` is told; its owner then calls `take_dir_offline` on the
  loop thread, which closes its logs and lists them in `offline_logs`. The last live
  directory is never taken offline (Kafka would halt the broker): its logs answer
  KAFKA_STORAGE_ERROR until a write succeeds again, as with one directory.
- Moves (AlterReplicaLogDirs): a future log (`<topic>-<partition>.<uuid>-future`) in
  the destination directory, filled by the replica manager from the current log, then
  `replace_current_with_future`: the future log's directory is renamed to the
  partition's name first, the old log's to `*-delete` next (Kafka's order: a crash in
  between leaves the partition in two directories, which stops the next start-up for
  the operator to decide, as Kafka does). A future log left by a restart is opened
  again (`future_logs`) for the move to go on.

The rest of the interface is the LogManager's, over the live directories.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from storage.cleaner import DEFAULT_MAX_MAP_ENTRIES, CleanerStats, CleaningTask
from storage.errors import StorageError
from storage.file_handles import FileHandleCache
from storage.log import DEFAULT_PRODUCER_ID_EXPIRATION_MS, Log, LogFlush, parse_topic_partition
from storage.log_config import LogConfig
from storage.log_manager import (
    _SKIPPED_DIR_SUFFIXES,
    DEFAULT_MAX_OPEN_SEGMENT_FILES,
    META_PROPERTIES,
    LogManager,
)

log = logging.getLogger(__name__)

Key = tuple[str, int]


class LogDirError(Exception):
    """The log directories cannot be used as they are: start-up stops."""


def read_meta_properties(path: Path) -> dict[str, str] | None:
    """A meta.properties file's keys and values; None when there is none."""
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return None
    properties = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "!")) and "=" in line:
            key, _, value = line.partition("=")
            properties[key.strip()] = value.strip()
    return properties


class LogDirs:
    def __init__(
        self,
        log_dirs: Sequence[Path | str],
        default_config: LogConfig,
        *,
        broker_id: int | None = None,
        cluster_id: str | None = None,
        producer_id_expiration_ms: int = DEFAULT_PRODUCER_ID_EXPIRATION_MS,
        max_open_segment_files: int | None = DEFAULT_MAX_OPEN_SEGMENT_FILES,
        cleaner_max_map_entries: int = DEFAULT_MAX_MAP_ENTRIES,
    ) -> None:
        if not log_dirs:
            raise LogDirError("no log directory configured")
        self.default_config = default_config
        self.broker_id = broker_id
        self.cluster_id = cluster_id
        self.file_cache = FileHandleCache(max_open_segment_files)
        # By absolute path, in `log.dirs` order.
        self.managers: dict[Path, LogManager] = {}
        for entry in log_dirs:
            path = Path(os.path.abspath(entry))
            if path in self.managers:
                raise LogDirError(f"Duplicate log directory found: {', '.join(map(str, log_dirs))}")
            manager = LogManager(
                path,
                default_config,
                broker_id=broker_id,
                cluster_id=cluster_id,
                producer_id_expiration_ms=producer_id_expiration_ms,
                cleaner_max_map_entries=cleaner_max_map_entries,
                file_cache=self.file_cache,
            )
            manager.on_io_error = self._io_error
            self.managers[path] = manager
        self.offline_dirs: dict[Path, str] = {}  # directory -> why
        self.future_logs: dict[Key, Log] = {}
        self.preferred_dirs: dict[Key, Path] = {}
        self.meta_properties: dict[str, str] = {}
        self.cleaner = _Cleaners(self)
        # on_dir_failure(dir, reason): a directory went offline (any thread).
        self.on_dir_failure: Callable[[Path, str], None] | None = None
        self._on_flush_due = None
        self._failure_lock = threading.Lock()
        self._cleaner_turn = 0

    # -- directories ----------------------------------------------------------------

    @property
    def log_dir(self) -> Path:
        """The first directory of `log.dirs`."""
        return next(iter(self.managers))

    def live_managers(self) -> list[LogManager]:
        offline = self.offline_dirs
        return [m for path, m in self.managers.items() if path not in offline]

    def find_dir(self, path: str) -> Path | None:
        """The configured directory `path` names (absolute), or None."""
        if not os.path.isabs(path):
            return None
        wanted = Path(os.path.normpath(path))
        return wanted if wanted in self.managers else None

    def is_online(self, path: Path) -> bool:
        return path in self.managers and path not in self.offline_dirs

    def dir_of(self, value: Log) -> Path:
        return value.dir.parent

    def _mark_offline(self, path: Path, reason: str) -> None:
        log.error("Log directory %s is offline: %s", path, reason)
        self.offline_dirs[path] = reason
        self.managers[path].take_offline(reason)

    def _io_error(self, path: Path, reason: str) -> None:
        self.fail_dir(path, reason)

    def fail_dir(self, path: Path, reason: str) -> bool:
        """A disk operation in `path` failed (any thread): the directory goes offline
        and `on_dir_failure` is told, unless it is the last live one. Returns whether
        the directory is offline."""
        with self._failure_lock:
            if path in self.offline_dirs:
                return True
            live = [p for p in self.managers if p not in self.offline_dirs]
            if live == [path]:
                log.error("%s: %s; the last live log directory stays in use", path, reason)
                return False
            self.offline_dirs[path] = reason
        log.error("Log directory %s failed (%s): its partitions go offline", path, reason)
        listener = self.on_dir_failure
        if listener is not None:
            listener(path, reason)
        return True

    def take_dir_offline(self, path: Path) -> tuple[list[Key], list[Key]]:
        """After `fail_dir`, on the loop thread: close the directory's logs. Returns
        the partitions now offline, and those whose move was abandoned (their future
        log was there, or their current log)."""
        reason = self.offline_dirs.get(path, "log directory offline")
        keys = self.managers[path].take_offline(reason)
        dropped = set(keys)
        abandoned = []
        for key, future in list(self.future_logs.items()):
            if self.dir_of(future) == path:
                future.close_handlers()  # nothing written to a failed disk
            elif key in dropped:
                self.managers[self.dir_of(future)].discard_future_log(future)
            else:
                continue
            del self.future_logs[key]
            abandoned.append(key)
        return keys, abandoned

    # -- start-up -------------------------------------------------------------------

    def load_meta_properties(self) -> None:
        """Check every directory's meta.properties (writing it where missing, with the
        broker and cluster ids the others hold) and set `meta_properties`."""
        found: dict[Path, dict[str, str]] = {}
        for path in self.managers:
            try:
                path.mkdir(parents=True, exist_ok=True)
                properties = read_meta_properties(path / META_PROPERTIES)
            except OSError as exc:
                self._mark_offline(path, f"cannot be created or read: {exc}")
                continue
            if properties is not None:
                found[path] = properties
        identities = {(p.get("broker.id"), p.get("cluster.id")) for p in found.values()}
        if len(identities) > 1:
            lines = "\n".join(
                f"- {path} -> broker.id={p.get('broker.id')}, cluster.id={p.get('cluster.id')}"
                for path, p in found.items()
            )
            raise LogDirError(
                "BrokerMetadata is not consistent across log.dirs. This could happen if "
                "multiple brokers shared a log directory (log.dirs) or partial data was "
                f"manually copied from another broker. Found:\n{lines}"
            )
        # A directory without meta.properties gets the others' ids (the broker then
        # checks them against its configuration).
        cluster_id, broker_id = self.cluster_id, self.broker_id
        if found:
            existing = next(iter(found.values()))
            cluster_id = existing.get("cluster.id", cluster_id)
            broker_id = existing.get("broker.id", broker_id)
        for path, manager in self.managers.items():
            if path in self.offline_dirs:
                continue
            manager.cluster_id, manager.broker_id = cluster_id, broker_id
            try:
                manager.load_meta_properties()
            except OSError as exc:
                self._mark_offline(path, f"cannot write {META_PROPERTIES}: {exc}")
        live = self.live_managers()
        if not live:
            raise LogDirError(
                "None of the specified log dirs from "
                f"{', '.join(map(str, self.managers))} can be created or validated"
            )
        self.meta_properties = dict(live[0].meta_properties)

    def load(self, topic_configs: Mapping[str, LogConfig] | None = None) -> None:
        """Open every partition log of every live directory, and the future logs of
        moves a restart interrupted."""
        if not self.meta_properties:
            self.load_meta_properties()
        self._check_duplicates()
        configs = topic_configs or {}
        for path, manager in self.managers.items():
            if path in self.offline_dirs:
                continue
            try:
                manager.load(configs)
            except (OSError, StorageError) as exc:
                self._mark_offline(path, f"cannot be loaded: {exc}")
        if not self.live_managers():
            raise LogDirError(
                f"All log dirs ({', '.join(map(str, self.managers))}) failed at start-up"
            )
        self._load_future_logs(configs)

    def _check_duplicates(self) -> None:
        seen: dict[Key, Path] = {}
        for path in self.managers:
            if path in self.offline_dirs:
                continue
            try:
                names = [p.name for p in path.iterdir() if p.is_dir()]
            except OSError as exc:
                self._mark_offline(path, f"cannot be read: {exc}")
                continue
            for name in names:
                if name.endswith(_SKIPPED_DIR_SUFFIXES):
                    continue
                try:
                    key = parse_topic_partition(name)
                except ValueError:
                    continue
                if key in seen:
                    raise LogDirError(
                        f"Duplicate log directories for {key[0]}-{key[1]} are found in both "
                        f"{seen[key] / name} and {path / name}. It is likely because log "
                        "directory failure happened while broker was replacing current "
                        "replica with future replica. Recover broker from this failure by "
                        "manually deleting one of the two directories for this partition. "
                        "It is recommended to delete the partition in the log directory "
                        "that is known to have failed recently."
                    )
                seen[key] = path

    def _load_future_logs(self, configs: Mapping[str, LogConfig]) -> None:
        for manager in self.live_managers():
            for path, topic, partition in list(manager.future_dirs()):
                key = (topic, partition)
                if key in self.future_logs or self.get_log(topic, partition) is None:
                    log.warning("%s: future log without a current log; deleted", path)
                    shutil.rmtree(path, ignore_errors=True)
                    continue
                config = configs.get(topic, self.default_config)
                try:
                    self.future_logs[key] = manager.open_future_log(topic, partition, config, path)
                except StorageError as exc:
                    log.error("%s: future log cannot be opened, the move is dropped: %s", path, exc)

    # -- partitions -------------------------------------------------------------------

    def get_log(self, topic: str, partition: int) -> Log | None:
        for manager in self.live_managers():
            found = manager.get_log(topic, partition)
            if found is not None:
                return found
        return None

    def offline_reason(self, topic: str, partition: int) -> str | None:
        """Why the partition's log is offline, or None when it is not."""
        key = (topic, partition)
        for manager in self.managers.values():
            reason = manager.offline_logs.get(key)
            if reason is not None:
                return reason
        return None

    @property
    def offline_logs(self) -> dict[Key, str]:
        merged: dict[Key, str] = {}
        for manager in self.managers.values():
            merged.update(manager.offline_logs)
        return merged

    def log_counts(self) -> dict[Path, int]:
        """Logs (current and future) per live directory."""
        counts = {
            path: len(m) for path, m in self.managers.items() if path not in self.offline_dirs
        }
        for future in self.future_logs.values():
            path = self.dir_of(future)
            if path in counts:
                counts[path] += 1
        return counts

    def next_log_dir(self, key: Key) -> Path:
        preferred = self.preferred_dirs.pop(key, None)
        if preferred is not None and self.is_online(preferred):
            return preferred
        counts = self.log_counts()
        if not counts:
            raise StorageError("no log directory is online")
        order = {path: i for i, path in enumerate(self.managers)}
        return min(counts, key=lambda path: (counts[path], order[path]))

    def create_log(self, topic: str, partition: int, config: LogConfig, is_new: bool = True) -> Log:
        """The partition's log, created if it does not exist yet (idempotent), in the
        directory `next_log_dir` picks. A partition that is not new gets no new log
        while a directory is offline: its log may be there (Kafka's getOrCreateLog)."""
        existing = self.get_log(topic, partition)
        if existing is not None:
            return existing
        reason = self.offline_reason(topic, partition)
        if reason is not None:
            raise StorageError(f"log {topic}-{partition} is offline: {reason}")
        if not is_new and self.offline_dirs:
            raise StorageError(
                f"Can not create log for {topic}-{partition} because log directories "
                f"{','.join(map(str, self.offline_dirs))} are offline"
            )
        path = self.next_log_dir((topic, partition))
        return self.managers[path].create_log(topic, partition, config)

    def delete_log(self, topic: str, partition: int) -> None:
        key = (topic, partition)
        future = self.future_logs.pop(key, None)
        if future is not None:
            self.managers[self.dir_of(future)].discard_future_log(future)
        self.preferred_dirs.pop(key, None)
        for manager in self.managers.values():
            manager.delete_log(topic, partition)

    def set_producer_id_expiration_ms(self, expiration_ms: int) -> None:
        """A dynamic `producer.id.expiration.ms`: every log, and the logs made later."""
        for manager in self.managers.values():
            manager.producer_id_expiration_ms = expiration_ms
            for log_ in manager.logs().values():
                log_.producer_id_expiration_ms = expiration_ms
        for log_ in self.future_logs.values():
            log_.producer_id_expiration_ms = expiration_ms

    def logs(self) -> dict[Key, Log]:
        merged: dict[Key, Log] = {}
        for manager in self.live_managers():
            merged.update(manager.logs())
        return merged

    # -- moves between directories --------------------------------------------------

    def create_future_log(
        self, topic: str, partition: int, destination: Path, config: LogConfig
    ) -> Log:
        """An empty future log for the partition in `destination` (AlterReplicaLogDirs)."""
        key = (topic, partition)
        if key in self.future_logs:
            raise ValueError(f"{topic}-{partition} already has a future log")
        future = self.managers[destination].open_future_log(topic, partition, config)
        self.future_logs[key] = future
        return future

    def discard_future_log(self, topic: str, partition: int) -> None:
        future = self.future_logs.pop((topic, partition), None)
        if future is not None:
            self.managers[self.dir_of(future)].discard_future_log(future)

    def replace_current_with_future(self, topic: str, partition: int) -> Log:
        """The future log takes the current log's place (loop thread; the caller made
        sure it holds every offset the current one does). Returns the new log."""
        key = (topic, partition)
        future = self.future_logs.pop(key)
        destination = self.managers[self.dir_of(future)]
        adopted = destination.adopt_future_log(future)
        for manager in self.managers.values():
            if manager is not destination and manager.get_log(topic, partition) is not None:
                manager.delete_log(topic, partition)
        log.info("%s-%d: moved to %s", topic, partition, destination.log_dir)
        return adopted

    # -- background work ------------------------------------------------------------

    def retention_pass(self, now_ms: int | None = None, high_watermark=None) -> int:
        return sum(m.retention_pass(now_ms, high_watermark) for m in self.live_managers())

    def remove_expired_producers(self, now_ms: int | None = None) -> int:
        return sum(m.remove_expired_producers(now_ms) for m in self.live_managers())

    def delete_pending_files(self, now_ms: int | None = None) -> int:
        return sum(m.delete_pending_files(now_ms) for m in self.live_managers())

    def flush_pass(self, now_ms: int | None = None) -> list[LogFlush]:
        due: list[LogFlush] = []
        for manager in self.live_managers():
            due.extend(manager.flush_pass(now_ms))
        return due

    def grab_filthiest_log(self, now_ms: int | None = None) -> CleaningTask | None:
        """The next compacted log to clean, taking the directories in turn."""
        live = self.live_managers()
        for i in range(len(live)):
            manager = live[(self._cleaner_turn + i) % len(live)]
            task = manager.grab_filthiest_log(now_ms)
            if task is not None:
                self._cleaner_turn = (self._cleaner_turn + i + 1) % len(live)
                return task
        return None

    def close_idle_files(self, idle_ms: int) -> int:
        return self.file_cache.close_idle(idle_ms)

    @property
    def open_segment_files(self) -> int:
        return len(self.file_cache)

    @property
    def on_flush_due(self):
        return self._on_flush_due

    @on_flush_due.setter
    def on_flush_due(self, callback) -> None:
        self._on_flush_due = callback
        for manager in self.managers.values():
            manager.on_flush_due = callback

    @property
    def high_watermarks(self) -> dict[Key, int]:
        merged: dict[Key, int] = {}
        for manager in self.managers.values():
            merged.update(manager.high_watermarks)
        return merged

    @property
    def had_clean_shutdown(self) -> bool:
        return all(m.had_clean_shutdown for m in self.live_managers())

    # -- checkpoints, shutdown ------------------------------------------------------

    def _each_live(self, action: Callable[[LogManager], None]) -> None:
        """`action` on every live directory; a failure takes that directory offline
        (raised when it is the last one)."""
        for manager in self.live_managers():
            try:
                action(manager)
            except (OSError, StorageError) as exc:
                if not self.fail_dir(manager.log_dir, str(exc)):
                    raise

    def checkpoint(self) -> None:
        self._each_live(LogManager.checkpoint)

    def checkpoint_high_watermarks(self, high_watermarks: Mapping[Key, int]) -> None:
        self._each_live(lambda m: m.checkpoint_high_watermarks(high_watermarks))

    def flush(self) -> None:
        self._each_live(LogManager.flush)

    def close(self) -> None:
        """Close the future logs (a restart resumes their moves), then every live
        directory (its logs, checkpoints and clean-shutdown marker)."""
        for future in self.future_logs.values():
            try:
                future.close()
            except StorageError as exc:
                log.warning("%s: %s", future.name, exc)
        failed: list[BaseException] = []
        for manager in self.live_managers():
            try:
                manager.close()
            except (OSError, StorageError) as exc:
                log.error("%s: closing failed: %s", manager.log_dir, exc)
                failed.append(exc)
        if failed and len(failed) == len(self.managers):
            raise failed[0]

    def __iter__(self) -> Iterator[LogManager]:
        return iter(self.managers.values())


class _Cleaners:
    """The per-directory cleaners seen as one (each keeps its directory's
    cleaner-offset-checkpoint)."""

    def __init__(self, dirs: LogDirs) -> None:
        self._dirs = dirs

    def _for(self, value: Log):
        return self._dirs.managers[self._dirs.dir_of(value)].cleaner

    def swap(self, task: CleaningTask, now_ms: int | None = None) -> CleanerStats | None:
        manager = self._dirs.managers[self._dirs.dir_of(task.log)]
        if not self._dirs.is_online(manager.log_dir):
            manager.cleaner.abort(task)  # its directory failed meanwhile
            return None
        return manager.cleaner.swap(task, now_ms)

    def clean(self, value: Log, now_ms: int, *, force: bool = False) -> CleanerStats | None:
        return self._for(value).clean(value, now_ms, force=force)

    def write_checkpoint(self) -> None:
        for manager in self._dirs.live_managers():
            try:
                manager.cleaner.write_checkpoint()
            except (OSError, StorageError) as exc:
                if not self._dirs.fail_dir(manager.log_dir, str(exc)):
                    raise
