"""Partition state on this broker: its log, leader epoch, high watermark, and the
fetches waiting for data to arrive.

Single node: this broker leads every partition and the ISR is itself, so the high
watermark is the log end offset. Replication (followers, ISR) will extend this.
"""

from __future__ import annotations

import trio

from storage.errors import StorageError
from storage.log import AppendOrigin, Log, LogAppendInfo


class OfflineLog:
    """A partition whose log could not be opened (I/O error at start-up): it stays
    listed, and every read or write answers KAFKA_STORAGE_ERROR with the reason."""

    def __init__(self, name: str, reason: str):
        self.name = name
        self.reason = reason
        self.config = None

    def _refuse(self, *args, **kwargs):
        raise StorageError(f"log {self.name} is offline: {self.reason}")

    append = read = offset_for_timestamp = maybe_increment_log_start_offset = _refuse
    log_start_offset = log_end_offset = property(_refuse)


class Partition:
    __slots__ = ("topic", "index", "log", "leader_epoch", "_waiters")

    def __init__(self, topic: str, index: int, log: Log | OfflineLog, leader_epoch: int = 0):
        self.topic = topic
        self.index = index
        self.log = log
        self.leader_epoch = leader_epoch
        self._waiters: set[trio.Event] = set()

    @property
    def high_watermark(self) -> int:
        return self.log.log_end_offset

    @property
    def log_start_offset(self) -> int:
        return self.log.log_start_offset

    def append(
        self, records: memoryview | bytes, origin: AppendOrigin = AppendOrigin.CLIENT
    ) -> LogAppendInfo:
        info = self.log.append(records, leader_epoch=self.leader_epoch, origin=origin)
        if self._waiters:
            for event in self._waiters:
                event.set()
            self._waiters.clear()
        return info

    def add_waiter(self, event: trio.Event) -> None:
        """`event` is set at the next append (a fetch waiting for min_bytes)."""
        self._waiters.add(event)

    def remove_waiter(self, event: trio.Event) -> None:
        self._waiters.discard(event)
