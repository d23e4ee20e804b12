"""Creating an internal topic (__consumer_offsets, __transaction_state) on first use.

Both coordinators create their topic when the first request needs it, once, under a
lock, and answer COORDINATOR_NOT_AVAILABLE (retriable) when the store refuses or
another broker created it first (its metadata arrives soon). They cannot share a
module of theirs (groups/ and txn/ never import each other), so the gate lives here.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import trio

from kafka_compat.cluster.store import TopicExists
from protocol.errors import ErrorCode

log = logging.getLogger(__name__)


class InternalTopicGate:
    """`ready` once the topic is known to exist (found at start-up, created, or seen
    through metadata); `ensure` creates it the first time."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.ready = False
        self._lock = trio.Lock()

    async def ensure(
        self,
        partition_count: Callable[[], int | None],
        create: Callable[[], Awaitable[int]],
        on_ready: Callable[[int, bool], None],
    ) -> int:
        """An error code. `on_ready(partitions, created)` runs once, under the lock,
        before `ready` turns True (`created`: this call made the topic)."""
        if self.ready:
            return ErrorCode.NONE
        async with self._lock:
            if self.ready:
                return ErrorCode.NONE
            partitions = partition_count()
            created = partitions is None
            if created:
                try:
                    partitions = await create()
                except TopicExists:
                    return ErrorCode.COORDINATOR_NOT_AVAILABLE
                except Exception as exc:  # the store or the disk refused
                    log.warning("Cannot create %s: %s", self.name, exc)
                    return ErrorCode.COORDINATOR_NOT_AVAILABLE
            on_ready(partitions, created)
            self.ready = True
        return ErrorCode.NONE
