"""Moving a partition's log to another log directory of this broker while it serves
(AlterReplicaLogDirs; Kafka's ReplicaAlterLogDirsThread).

The future log (storage/log_dirs.py) is filled from the current log the way a follower
fills its log from its leader: whole batches with their offsets, leader epochs and
producer ids (`append_as_follower`), up to `COPY_BYTES` a step, yielding to the loop
between steps. Each step first follows what happened to the current log meanwhile:
a truncation (a follower truncating to its leader, found through the leader epochs as
a follower does), a log start offset moved up (retention, DeleteRecords). When the
future log ends where the current one does, the swap happens in the same step, on the
loop thread, with no await in between: no append can slip between the check and the
swap, so nothing acknowledged is lost.
"""

from __future__ import annotations

import logging

import trio

from kafka_compat.replica import Partition
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
