"""LogManager: the partitions' logs in one log directory, and that directory's files.

    <log.dir>/meta.properties                     broker.id / cluster.id of the directory
    <log.dir>/recovery-point-offset-checkpoint    per partition: offset flushed to disk
    <log.dir>/log-start-offset-checkpoint         per partition: log start offset
    <log.dir>/.kafka_cleanshutdown                present only after a clean shutdown
    <log.dir>/<topic>-<partition>/                one Log each

`load` opens every partition directory (topic names may contain '-' and '.': the
partition is after the last '-'), skipping Kafka's `*-delete`, `*-future` and
`*-stray` directories, and recovers according to the clean-shutdown marker, which
it then removes: a crash before the next `close` leaves no marker. `close` flushes
and closes every log, writes the checkpoints, then the marker.
Retention and cleaner tasks will be started by the broker against `logs()`.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

from storage.checkpoint import CorruptCheckpoint, OffsetCheckpointFile, write_atomically
from storage.log import DEFAULT_PRODUCER_ID_EXPIRATION_MS, Log, parse_topic_partition
from storage.log_config import LogConfig

log = logging.getLogger(__name__)

META_PROPERTIES = "meta.properties"
RECOVERY_POINT_CHECKPOINT = "recovery-point-offset-checkpoint"
LOG_START_OFFSET_CHECKPOINT = "log-start-offset-checkpoint"
CLEAN_SHUTDOWN_FILE = ".kafka_cleanshutdown"
_SKIPPED_DIR_SUFFIXES = ("-delete", "-future", "-stray")


class LogManager:
    def __init__(
        self,
        log_dir: Path,
        default_config: LogConfig,
        *,
        broker_id: int | None = None,
        cluster_id: str | None = None,
        producer_id_expiration_ms: int = DEFAULT_PRODUCER_ID_EXPIRATION_MS,
    ) -> None:
        self.log_dir = Path(log_dir)
        self.default_config = default_config
        self.broker_id = broker_id
        self.cluster_id = cluster_id
        self.producer_id_expiration_ms = producer_id_expiration_ms
        self.meta_properties: dict[str, str] = {}
        self.had_clean_shutdown = True
        self._logs: dict[tuple[str, int], Log] = {}
        self._recovery_checkpoint = OffsetCheckpointFile(self.log_dir / RECOVERY_POINT_CHECKPOINT)
        self._start_checkpoint = OffsetCheckpointFile(self.log_dir / LOG_START_OFFSET_CHECKPOINT)

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
        for path, topic, partition in self._partition_dirs():
            config = (topic_configs or {}).get(topic, self.default_config)
            key = (topic, partition)
            self._logs[key] = Log(
                path,
                config,
                log_start_offset=start_offsets.get(key),
                recovery_point=recovery_points.get(key),
                had_clean_shutdown=self.had_clean_shutdown,
                producer_id_expiration_ms=self.producer_id_expiration_ms,
            )
        # From here on a crash must be noticed by the next start.
        marker.unlink(missing_ok=True)

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
        created = Log(
            self.log_dir / (f"{topic}-{partition}"),
            config,
            producer_id_expiration_ms=self.producer_id_expiration_ms,
        )
        self._logs[key] = created
        return created

    def delete_log(self, topic: str, partition: int) -> None:
        """Close the partition's log and remove its files (renamed `*-delete` first, as
        Kafka does, so that a crash mid-way is finished by the next load)."""
        removed = self._logs.pop((topic, partition), None)
        if removed is None:
            return
        removed.close()
        doomed = removed.dir.with_name(f"{removed.dir.name}.{uuid.uuid4().hex}-delete")
        try:
            removed.dir.rename(doomed)
        except FileNotFoundError:
            return
        shutil.rmtree(doomed, ignore_errors=True)

    def logs(self) -> dict[tuple[str, int], Log]:
        return dict(self._logs)

    # -- checkpoints, shutdown --------------------------------------------------

    def checkpoint(self) -> None:
        """Write the recovery-point and log-start-offset checkpoints (periodic task)."""
        self._recovery_checkpoint.write(
            {key: value.recovery_point for key, value in self._logs.items()}
        )
        self._start_checkpoint.write(
            {key: value.log_start_offset for key, value in self._logs.items()}
        )

    def flush(self) -> None:
        for value in self._logs.values():
            value.flush()

    def close(self) -> None:
        """Flush and close every log, write the checkpoints, then the clean-shutdown marker."""
        for value in self._logs.values():
            value.flush()
            value.close()
        self.checkpoint()
        write_atomically(
            self.log_dir / CLEAN_SHUTDOWN_FILE,
            json.dumps({"version": 0, "brokerEpoch": -1}).encode("ascii"),
        )
