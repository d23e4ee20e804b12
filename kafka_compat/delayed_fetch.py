"""One fetch's reads, and its wait when it is short of min_bytes (Kafka's
DelayedFetch), for `ReplicaManager.fetch_records`.

`FetchRead.read_all` reads every wanted partition in request order, sharing the
request's max_bytes (the first batch comes whole, KIP-74). `FetchRead.wait` is the
delayed fetch: it registers a waiter on each partition with the bound it reads to
(consumers: the high watermark, which is also when the LSO can move; followers: the
log end; both: role changes), counts
what became readable from the partitions' byte positions instead of reading, and
reads the response once when min_bytes is reached, a role changed, or max_wait_ms
passed. Everything here runs on the Trio loop; reads are page-cache reads.
"""

from __future__ import annotations

from typing import NamedTuple

import trio

from kafka_compat.replica import FetchIsolation, OffsetNotAvailable, Partition
from protocol.errors import ErrorCode
from storage.errors import LogError

EMPTY = b""


class FetchPartition(NamedTuple):
    """One partition a fetch asks for: the fields `fetch_records` reads, named as in the
    Fetch request's own FetchPartition, which the handler passes as it is."""

    partition: int
    fetch_offset: int
    current_leader_epoch: int = -1
    partition_max_bytes: int = 1 << 20


class FetchResult(NamedTuple):
    """One partition's answer to `fetch_records` (Kafka's FetchPartitionData)."""

    error_code: int
    high_watermark: int = -1
    last_stable_offset: int = -1
    log_start_offset: int = -1
    preferred_read_replica: int = -1
    records: bytes = EMPTY
    # read_committed: the aborted transactions overlapping `records` (else None)
    aborted_transactions: list | None = None


# A NamedTuple built without its Python-level __new__: per partition on the data path.
_new_tuple = tuple.__new__
_UNKNOWN_PARTITION = FetchResult(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)


class FetchRead:
    """The reads of one fetch: each partition's answer and the bytes it holds, and,
    while the fetch waits, an estimate of what each would hold now."""

    __slots__ = (
        "wanted",
        "partitions",
        "max_bytes",
        "isolation",
        "follower_reads",
        "selector",
        "sizes",
        "estimates",
        "marks",
        "total",
        "has_error",
    )

    def __init__(self, wanted, partitions, max_bytes, isolation, follower_reads, selector):
        self.wanted = wanted
        self.partitions = partitions
        self.max_bytes = max_bytes
        self.isolation = isolation
        self.follower_reads = follower_reads
        self.selector = selector
        self.sizes = [0] * len(wanted)
        self.estimates: list[int] = []
        self.marks: list = []
        self.total = 0
        self.has_error = False

    def read_all(self) -> list[FetchResult]:
        """Every partition in request order, sharing max_bytes (the first batch of the
        response comes whole, KIP-74)."""
        results = []
        sizes = self.sizes
        read = self._read
        max_bytes = self.max_bytes
        total = 0
        for i in range(len(sizes)):
            result = read(i, max_bytes - total, total == 0)
            sizes[i] = size = len(result[5])  # records
            total += size
            results.append(result)
        self.total = total
        return results

    def mark(self) -> None:
        """Remember where each partition's readable bytes end and its role, before a
        wait (Kafka's DelayedFetch keeps the fetch offsets' positions)."""
        self.estimates = list(self.sizes)
        self.marks = [
            None if p is None else (p.position(self.isolation), p.leader_id, p.leader_epoch)
            for p in self.partitions
        ]

    def satisfied(self, indices, min_bytes: int) -> bool:
        """Whether the partitions at `indices`, which moved, now make the answer worth
        sending: a role change, or min_bytes readable counting what they gained since
        `mark` (each up to its partition_max_bytes). No partition is read."""
        for i in indices:
            partition = self.partitions[i]
            position, leader, epoch = self.marks[i]
            if (partition.leader_id, partition.leader_epoch) != (leader, epoch):
                return True
            gained = partition.position(self.isolation) - position
            self.estimates[i] = min(self.sizes[i] + gained, self.wanted[i][1].partition_max_bytes)
        return sum(self.estimates) >= min_bytes

    def _read(self, i: int, remaining: int, min_one_batch: bool) -> FetchResult:
        wanted = self.wanted[i][1]
        partition = self.partitions[i]
        if partition is None:
            self.has_error = True
            return _UNKNOWN_PARTITION
        preferred = high_watermark = last_stable_offset = log_start_offset = -1
        records = EMPTY
        aborted = None
        error = ErrorCode.NONE
        try:
            on_follower = (
                self.follower_reads
                and not partition.is_leader
                and wanted.current_leader_epoch >= 0  # stale clients get fenced
            )
            if not on_follower:
                partition.check_leader()
            partition.check_epoch(wanted.current_leader_epoch)
            if on_follower and wanted.fetch_offset > partition.log_end_offset:
                # Behind the consumer: not an offset to reset from, wait (retriable).
                raise OffsetNotAvailable(f"{partition}: this replica is behind the offset")
            high_watermark = partition.high_watermark
            last_stable_offset = partition.last_stable_offset
            log_start_offset = partition.log_start_offset
            if self.selector is not None and partition.is_leader:
                preferred = self.selector.preferred(partition, wanted.fetch_offset)
            if preferred < 0:  # else no records: the client reads from `preferred`
                fetch_offset = wanted.fetch_offset
                isolation = self.isolation
                if isolation is FetchIsolation.HIGH_WATERMARK:
                    bound = high_watermark
                elif isolation is FetchIsolation.LOG_END:
                    bound = partition.log_end_offset
                else:
                    bound = last_stable_offset
                if fetch_offset == bound and fetch_offset >= log_start_offset:
                    # Caught up: nothing to read (most partitions of a quiet consumer).
                    if isolation is FetchIsolation.TXN_COMMITTED:
                        aborted = []
                else:
                    records, _, _, aborted = partition.read(
                        fetch_offset,
                        min(wanted.partition_max_bytes, max(0, remaining)),
                        isolation,
                        min_one_batch=min_one_batch,
                    )
        except LogError as exc:  # OFFSET_OUT_OF_RANGE (with the bounds), not leader, ...
            self.has_error = True
            error = exc.error_code
        return _new_tuple(
            FetchResult,
            (
                error,
                high_watermark,
                last_stable_offset,
                log_start_offset,
                preferred,
                records,
                aborted,
            ),
        )

    async def wait(
        self, results: list[FetchResult], min_bytes: int, max_wait_ms: int
    ) -> list[FetchResult]:
        """The first read (`results`) was short of min_bytes: wait until what became
        readable since (counted from the partitions' byte positions, not read) reaches
        it, a partition's role changes, or max_wait_ms passes; then read the response
        once (Kafka's DelayedFetch: tryComplete counts, onComplete reads)."""
        partitions = self.partitions
        isolation = self.isolation
        woken: set[int] = set()
        arrived = trio.Event()
        positions: dict[int, list[int]] = {}
        for i, partition in enumerate(partitions):
            if partition is not None:
                positions.setdefault(id(partition), []).append(i)

        def wake(partition: Partition) -> None:
            woken.update(positions[id(partition)])
            arrived.set()

        waiting = [p for p in partitions if p is not None]
        self.mark()
        deadline = trio.current_time() + max_wait_ms / 1000
        moved = False
        try:
            for partition in waiting:
                partition.add_fetch_waiter(wake, isolation)
            while True:
                with trio.move_on_at(deadline):
                    await arrived.wait()
                if not woken:
                    break  # max_wait_ms passed
                moved = True
                if self.satisfied(woken, min_bytes):
                    break
                arrived = trio.Event()
                for i in woken:  # a waiter is called once: ask the woken ones again
                    partitions[i].add_fetch_waiter(wake, isolation)
                woken.clear()
        finally:
            for partition in waiting:
                partition.remove_fetch_waiter(wake)
        # The response, read once in request order (nothing moved: the first read holds).
        return self.read_all() if moved else results
