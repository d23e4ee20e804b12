"""Moving a partition's log to another log directory of this broker while it serves
(AlterReplicaLogDirs; Kafka's ReplicaAlterLogDirsManager and ReplicaAlterLogDirsThread).

`ReplicaAlterLogDirsManager` (the ReplicaManager's) answers AlterReplicaLogDirs and
keeps one task per move. The future log (storage/log_dirs.py) is filled from the
current log the way a follower fills its log from its leader: whole batches with
their offsets, leader epochs and producer ids (`append_as_follower`), up to
`COPY_BYTES` a step, yielding to the loop between steps. Each step first follows what
happened to the current log meanwhile: a truncation (a follower truncating to its
leader, found through the leader epochs as a follower does), a log start offset
moved up (retention, DeleteRecords). When the future log ends where the current one
does, the swap happens in the same step, on the loop thread, with no await in
between: no append can slip between the check and the swap, so nothing acknowledged
is lost.
"""

from __future__ import annotations

import logging

import trio

from kafka_compat.replica import OfflineLog, Partition
from protocol.errors import ErrorCode
from storage.errors import LogError
from storage.log import Log
from storage.log_dirs import LogDirs

log = logging.getLogger(__name__)

COPY_BYTES = 1 << 20
RETRY_S = 1.0


def _follow_truncation(current: Log, future: Log) -> None:
    if future.log_end_offset > current.log_end_offset:
        future.truncate_to(current.log_end_offset)
    epoch = future.latest_epoch
    if epoch is None or future.log_end_offset <= future.log_start_offset:
        return
    found, end = current.end_offset_for_epoch(epoch)
    if found < 0:
        return  # the current log knows no epoch at or below it: nothing to compare
    if found != epoch or end < future.log_end_offset:
        target = max(end, 0)
        if target < future.log_start_offset:
            future.truncate_fully_and_start_at(current.log_start_offset)
        else:
            future.truncate_to(target)


def copy_step(current: Log, future: Log, max_bytes: int = COPY_BYTES) -> bool:
    """Copy the next batches from `current` into `future`; True when the future log
    ends where the current one does (then the caller swaps, without awaiting)."""
    _follow_truncation(current, future)
    start = current.log_start_offset
    if future.log_end_offset < start:
        future.truncate_fully_and_start_at(start)  # what retention removed is not copied
    position = future.log_end_offset
    if position < current.log_end_offset:
        records = current.read(position, max_bytes, None, True).records
        if records:
            base = int.from_bytes(records[:8], "big")
            if base < position:
                # The batch holding `position` starts below it (after skipping ahead):
                # take it whole.
                if base >= future.log_start_offset:
                    future.truncate_to(base)
                else:
                    future.truncate_fully_and_start_at(base)
            future.append_as_follower(records)
    if future.log_start_offset < start <= future.log_end_offset:
        future.maybe_increment_log_start_offset(start)
    return future.log_end_offset == current.log_end_offset


async def move_log(partition: Partition, dirs: LogDirs, on_moved) -> None:
    """Fill the partition's future log and swap it in; `on_moved(partition)` after.
    Returns early when the move is abandoned (the future log went: cancelled, its
    directory failed) or the partition's log is not a local one any more."""
    key = (partition.topic, partition.index)
    while True:
        future = dirs.future_logs.get(key)
        current = partition.log
        if future is None or not isinstance(current, Log) or future.closed:
            log.info("%s: move to another log directory abandoned", partition)
            return
        try:
            done = copy_step(current, future)
        except LogError as exc:
            # A failed disk takes its directory offline (and the move with it) through
            # the failure channel; anything else is retried.
            log.warning("%s: moving the log: %s", partition, exc)
            await trio.sleep(RETRY_S)
            continue
        if done:
            try:
                partition.log = dirs.replace_current_with_future(*key)
            except (OSError, LogError) as exc:
                log.error("%s: swapping in the moved log failed: %s", partition, exc)
                dirs.discard_future_log(*key)
                return
            partition.log.on_high_watermark_updated(partition.high_watermark)
            await on_moved(partition)
            return
        await trio.sleep(0)


class ReplicaAlterLogDirsManager:
    """The moves between log dirs under way (Kafka's ReplicaAlterLogDirsManager), one
    task each in the replica manager's nursery; `replicas` is the ReplicaManager (its
    log dirs, partitions, high watermarks, `_spawn`)."""

    def __init__(self, replicas) -> None:
        self.replicas = replicas
        self._moves: dict[tuple[str, int], trio.CancelScope] = {}

    def alter(self, wanted: dict[tuple[str, int], str]) -> dict[tuple[str, int], int]:
        return {key: self._alter(key, path) for key, path in wanted.items()}

    def _alter(self, key: tuple[str, int], path: str) -> int:
        dirs: LogDirs = self.replicas.log_manager
        topic, index = key
        if len(f"{topic}-{index}.{'0' * 32}-future") > 255:
            return ErrorCode.INVALID_TOPIC_EXCEPTION  # the future dir's name (KAFKA-4893)
        destination = dirs.find_dir(path)
        if destination is None:
            return ErrorCode.LOG_DIR_NOT_FOUND
        if not dirs.is_online(destination):
            return ErrorCode.KAFKA_STORAGE_ERROR
        partition = self.replicas.get_partition(topic, index)
        if partition is not None and isinstance(partition.log, OfflineLog):
            return ErrorCode.KAFKA_STORAGE_ERROR
        future = dirs.future_logs.get(key)
        if future is not None and dirs.dir_of(future) != destination:
            self.cancel(key)  # a move elsewhere: it stops for this one
            dirs.discard_future_log(topic, index)
            future = None
        if dirs.get_log(topic, index) is None:
            # Created later (LeaderAndIsr, CreateTopics) in this dir, as Kafka's
            # maybeUpdatePreferredLogDir.
            dirs.preferred_dirs[key] = destination
        if partition is None:
            return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        if not isinstance(partition.log, Log):
            return ErrorCode.REPLICA_NOT_AVAILABLE  # not hosted here (yet)
        if future is not None or dirs.dir_of(partition.log) == destination:
            return ErrorCode.NONE  # under way, or already there
        if dirs.offline_dirs:
            # Kafka creates no future log while a dir is offline: the partition could
            # end up in two dirs.
            return ErrorCode.KAFKA_STORAGE_ERROR
        try:
            future = dirs.create_future_log(topic, index, destination, partition.log.config)
            if partition.log.topic_id is not None:
                future.assign_topic_id(partition.log.topic_id)
        except LogError as exc:
            log.warning("%s: cannot create the future log in %s: %s", partition, path, exc)
            return exc.error_code
        self._start(partition)
        return ErrorCode.NONE

    def resume(self, partition: Partition) -> None:
        """Go on with the move of a partition whose future log a restart left."""
        key = (partition.topic, partition.index)
        if (
            self.replicas.running
            and key not in self._moves
            and key in self.replicas.log_manager.future_logs
            and isinstance(partition.log, Log)
        ):
            self._start(partition)

    def _start(self, partition: Partition) -> None:
        key = (partition.topic, partition.index)
        scope = trio.CancelScope()
        self._moves[key] = scope

        async def move() -> None:
            try:
                with scope:
                    await move_log(partition, self.replicas.log_manager, self._moved)
            finally:
                if self._moves.get(key) is scope:
                    del self._moves[key]

        self.replicas._spawn(move)

    def cancel(self, key: tuple[str, int]) -> None:
        scope = self._moves.pop(key, None)
        if scope is not None:
            scope.cancel()

    def clear(self) -> None:
        self._moves.clear()

    async def _moved(self, partition: Partition) -> None:
        """After a swap: both dirs' checkpoints now, as Kafka does, so that a restart
        finds the partition's recovery point, log start offset and HW in its new dir."""
        marks = self.replicas.high_watermarks()
        dirs = self.replicas.log_manager
        try:
            await trio.to_thread.run_sync(dirs.checkpoint)
            await trio.to_thread.run_sync(dirs.checkpoint_high_watermarks, marks)
        except LogError as exc:
            log.error("%s: checkpoint after the move failed: %s", partition, exc)
