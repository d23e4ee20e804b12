"""The log manager's background tasks, each owned by the replicas's nursery.

- retention: every `log.retention.check.interval.ms`, deletes segments past
  retention.ms / retention.bytes / the log start offset (renames on the loop), then
  unlinks the files whose `file.delete.delay.ms` passed (worker thread);
- flusher: fsyncs logs due by flush.messages / flush.ms / a roll, in a worker
  thread, woken at once when a log reaches flush.messages;
- checkpointer: every `log.flush.offset.checkpoint.interval.ms`, writes the
  recovery-point and log-start-offset checkpoints (worker thread: they fsync);
- high-watermark checkpointer: every `replica.high.watermark.checkpoint.interval.ms`,
  writes replication-offset-checkpoint (worker thread);
- producer expiration: every `producer.id.expiration.check.interval.ms`, forgets
  the producers idle for `producer.id.expiration.ms` without an open transaction
  (Kafka's removeExpiredProducers; memory only, quick, on the loop);
- cleaner: compacts the filthiest compacted log in a worker thread, swaps the
  cleaned segments in on the loop, sleeps `log.cleaner.backoff.ms` when idle.

Cancelling the nursery stops them all; shutdown then closes the logs.
"""

from __future__ import annotations

import logging

import trio

from kafka_compat.replica_manager import ReplicaManager

log = logging.getLogger(__name__)

# How often the flusher looks for logs due by flush.ms when nothing woke it.
FLUSH_SCAN_INTERVAL_S = 1.0
RESTART_BACKOFF_S = 1.0

# Failures of background tasks in this process (tests check it stays unchanged).
failure_count = 0


async def run_log_tasks(replicas: ReplicaManager, task_status=trio.TASK_STATUS_IGNORED) -> None:
    """Run the log manager's housekeeping for `replicas` (its logs and high watermarks)."""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_keep_running, _retention, replicas)
        nursery.start_soon(_keep_running, _flusher, replicas)
        nursery.start_soon(_keep_running, _checkpointer, replicas)
        nursery.start_soon(_keep_running, _high_watermark_checkpointer, replicas)
        nursery.start_soon(_keep_running, _producer_expiration, replicas)
        if replicas.config["log.cleaner.enable"]:
            nursery.start_soon(_keep_running, _cleaner, replicas)
        task_status.started()


async def _keep_running(task, replicas: ReplicaManager) -> None:
    """A failing housekeeping task is logged and restarted, as Kafka's scheduler
    does; it must not take the replicas (and every client's connection) down."""
    global failure_count
    while True:
        try:
            await task(replicas)
        except Exception:
            failure_count += 1
            log.exception("Background task %s failed; restarting it", task.__name__)
            await trio.sleep(RESTART_BACKOFF_S)


def _high_watermark(replicas: ReplicaManager):
    def bound(topic: str, index: int) -> int | None:
        partition = replicas.get_partition(topic, index)
        return None if partition is None else partition.high_watermark

    return bound


async def _retention(replicas: ReplicaManager) -> None:
    interval = replicas.config["log.retention.check.interval.ms"] / 1000
    manager = replicas.log_manager
    while True:
        await trio.sleep(interval)
        deleted = manager.retention_pass(replicas.time_ms(), _high_watermark(replicas))
        if deleted:
            log.info("Retention deleted %d segments", deleted)
        await trio.to_thread.run_sync(manager.delete_pending_files, replicas.time_ms())


async def _flusher(replicas: ReplicaManager) -> None:
    manager = replicas.log_manager
    wake = trio.Event()

    def flush_due(_log) -> None:
        wake.set()

    manager.on_flush_due = flush_due
    while True:
        with trio.move_on_after(FLUSH_SCAN_INTERVAL_S):
            await wake.wait()
        wake = trio.Event()
        for flush in manager.flush_pass(replicas.time_ms()):
            await trio.to_thread.run_sync(flush.run)
            flush.complete()


async def _checkpointer(replicas: ReplicaManager) -> None:
    interval = replicas.config["log.flush.offset.checkpoint.interval.ms"] / 1000
    while True:
        await trio.sleep(interval)
        await trio.to_thread.run_sync(replicas.log_manager.checkpoint)


async def _high_watermark_checkpointer(replicas: ReplicaManager) -> None:
    interval = replicas.config["replica.high.watermark.checkpoint.interval.ms"] / 1000
    while True:
        await trio.sleep(interval)
        marks = replicas.high_watermarks()  # taken on the loop thread
        await trio.to_thread.run_sync(replicas.checkpoint_high_watermarks, marks)


async def _producer_expiration(replicas: ReplicaManager) -> None:
    interval = replicas.config["producer.id.expiration.check.interval.ms"] / 1000
    while True:
        await trio.sleep(interval)
        removed = replicas.log_manager.remove_expired_producers(replicas.time_ms())
        if removed:
            log.debug("Producer id expiration removed %d producer(s)", removed)


async def _cleaner(replicas: ReplicaManager) -> None:
    manager = replicas.log_manager
    while True:
        backoff = replicas.config["log.cleaner.backoff.ms"] / 1000  # a dynamic config
        task = manager.grab_filthiest_log(replicas.time_ms())
        if task is None:
            await trio.sleep(backoff)
            continue
        try:
            await trio.to_thread.run_sync(task.run, abandon_on_cancel=True)
        except trio.Cancelled:
            # Shutdown: the thread stops at its next check; its `.cleaned` files
            # are dropped when the log is next opened.
            task.cancel()
            raise
        if manager.cleaner.swap(task, replicas.time_ms()) is None:
            await trio.sleep(backoff)  # failed or outdated: logged by swap
        await trio.to_thread.run_sync(manager.cleaner.write_checkpoint)
