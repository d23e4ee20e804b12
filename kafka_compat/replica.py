"""Partition state on this broker: role, leader epoch, ISR, high watermark, and the
requests waiting on them (Kafka's Partition and the delayed produce/fetch waits).

A leader appends what producers send, tracks every follower's log end offset from
the offsets they fetch, and keeps the high watermark at the smallest log end offset
over the ISR; consumers read below it. A follower takes the leader's batches with
`append_as_follower` (the follower fetcher, replica_manager.py) and the leader's
high watermark from its answers.

Single node: this broker leads every partition and the ISR is itself, so the high
watermark follows the log end offset at each append, as Kafka's does when the ISR
is only the leader.

Waits are events, never polling: a waiting fetch registers a waiter that only what
can satisfy it calls (a log-end advance for a follower's fetch, a high-watermark
advance for a consumer's, a role change for both); `acks=all` produces wait on the
`hw_advanced` signal. The partition owns its read bound (`read(..., isolation)`).
"""

from __future__ import annotations

import enum
import logging
import os
from collections import deque
from collections.abc import Awaitable, Callable

import trio

from kafka_compat.clock import Clock, wall_clock_ms
from kafka_compat.events import Signal
from protocol.errors import ErrorCode
from storage.errors import LogError, OffsetOutOfRange, StorageError
from storage.log import (
    EARLIEST_TIMESTAMP,
    LATEST_TIMESTAMP,
    AppendOrigin,
    FetchDataInfo,
    Log,
    LogAppendInfo,
)
from storage.producer_state import ProducerStateEntry
from storage.segment import LogSegment, TimestampAndOffset

log = logging.getLogger(__name__)


class OfflineLog:
    """A partition whose log could not be opened (I/O error at start-up): it stays
    listed, and every read or write answers KAFKA_STORAGE_ERROR with the reason."""

    first_unstable_offset = None

    def __init__(self, name: str, reason: str):
        self.name = name
        self.reason = reason
        self.config = None

    def on_high_watermark_updated(self, high_watermark: int) -> None:
        pass

    def _refuse(self, *args, **kwargs):
        raise StorageError(f"log {self.name} is offline: {self.reason}")

    append = read = offset_for_timestamp = maybe_increment_log_start_offset = _refuse
    append_as_follower = truncate_to = end_offset_for_epoch = active_producers = _refuse
    log_start_offset = log_end_offset = latest_epoch = property(_refuse)


# ListOffsets special timestamps of tiered storage (KIP-405; v8 and v9).
EARLIEST_LOCAL_TIMESTAMP = -4
LATEST_TIERED_TIMESTAMP = -5


def _last_modified_ms(segment: LogSegment) -> int:
    try:
        return os.stat(segment.log_path).st_mtime_ns // 1_000_000
    except OSError:
        return segment.created_ms


class NotLeaderOrFollower(LogError):
    """NOT_LEADER_OR_FOLLOWER: this broker does not lead the partition."""

    error_code = ErrorCode.NOT_LEADER_OR_FOLLOWER


class RemoteLog:
    """Cluster mode: a partition of a known topic that this broker does not host.
    It is listed so that requests for it answer NOT_LEADER_OR_FOLLOWER (clients then
    refresh their metadata) rather than UNKNOWN_TOPIC_OR_PARTITION."""

    config = None
    remote = True
    first_unstable_offset = None

    def __init__(self, name: str):
        self.name = name

    def on_high_watermark_updated(self, high_watermark: int) -> None:
        pass

    def _refuse(self, *args, **kwargs):
        raise NotLeaderOrFollower(f"This server does not host {self.name}")

    append = read = offset_for_timestamp = maybe_increment_log_start_offset = _refuse
    append_as_follower = truncate_to = end_offset_for_epoch = active_producers = _refuse
    maybe_assign_epoch_start_offset = _refuse
    log_start_offset = log_end_offset = latest_epoch = property(_refuse)


class NotEnoughReplicas(LogError):
    """NOT_ENOUGH_REPLICAS: the ISR is smaller than min.insync.replicas (acks=all)."""

    error_code = ErrorCode.NOT_ENOUGH_REPLICAS


class NotEnoughReplicasAfterAppend(LogError):
    """NOT_ENOUGH_REPLICAS_AFTER_APPEND: written, but the ISR shrank below
    min.insync.replicas before it was replicated."""

    error_code = ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND


class RequestTimedOut(LogError):
    error_code = ErrorCode.REQUEST_TIMED_OUT


class OffsetNotAvailable(LogError):
    """OFFSET_NOT_AVAILABLE: a new leader's high watermark has not caught up yet, or a
    follower a consumer reads from (KIP-392) is behind the consumer's offset."""

    error_code = ErrorCode.OFFSET_NOT_AVAILABLE


class FencedLeaderEpoch(LogError):
    error_code = ErrorCode.FENCED_LEADER_EPOCH


class UnknownLeaderEpoch(LogError):
    error_code = ErrorCode.UNKNOWN_LEADER_EPOCH


class FetchIsolation(enum.Enum):
    """How far a read may go (Kafka's FetchIsolation)."""

    LOG_END = "log end"  # a follower replicating
    HIGH_WATERMARK = "high watermark"  # a consumer, read_uncommitted
    TXN_COMMITTED = "last stable offset"  # a consumer, read_committed


# A waiting fetch's wake-up call: called with the partition that may now satisfy it.
FetchWaiter = Callable[["Partition"], None]


class FollowerState:
    """What the leader knows of one follower (Kafka's Replica)."""

    __slots__ = ("log_end_offset", "last_caught_up_ms", "last_fetch_leader_leo", "last_fetch_ms")

    def __init__(self, now_ms: int, in_sync: bool):
        self.log_end_offset = -1  # unknown until its first fetch
        # ISR members get the benefit of the doubt for a lag period (as Kafka does).
        self.last_caught_up_ms = now_ms if in_sync else 0
        self.last_fetch_leader_leo = -1
        self.last_fetch_ms = 0

    def update(self, fetch_offset: int, leader_leo: int, now_ms: int) -> None:
        if fetch_offset >= leader_leo:
            self.last_caught_up_ms = max(self.last_caught_up_ms, now_ms)
        elif fetch_offset >= self.last_fetch_leader_leo:
            self.last_caught_up_ms = max(self.last_caught_up_ms, self.last_fetch_ms)
        self.log_end_offset = fetch_offset
        self.last_fetch_leader_leo = leader_leo
        self.last_fetch_ms = now_ms


# An ISR change the leader asks its metadata store for: (partition, new ISR) ->
# whether the store accepted it (a version check in ZooKeeper may refuse).
IsrUpdater = Callable[["Partition", list[int]], Awaitable[bool]]


class Partition:
    __slots__ = (
        "topic",
        "index",
        "log",
        "local_id",
        "leader_id",
        "leader_epoch",
        "replicas",
        "isr",
        "zk_version",
        "high_watermark",
        "followers",
        "_hw_waiters",
        "_leo_waiters",
        "hw_advanced",
        "time_ms",
        "_isr_pending",
        "hosted",
        "fetcher",
        "_end_position",
        "_hw_position",
        "_stable_position",
        "_positions",
        "epoch_start_offset",
    )

    def __init__(
        self,
        topic: str,
        index: int,
        log: Log | OfflineLog,
        leader_epoch: int = 0,
        local_id: int = 0,
        high_watermark: int | None = None,
        leader_id: int | None = None,
        time_ms: Clock = wall_clock_ms,
    ):
        self.topic = topic
        self.index = index
        self.log = log
        self.local_id = local_id
        # Single node unless told otherwise: this broker leads, the ISR is itself.
        self.leader_id = local_id if leader_id is None else leader_id
        self.leader_epoch = leader_epoch
        self.replicas: list[int] = [local_id]
        self.isr: list[int] = [local_id]
        self.zk_version = 0
        self.followers: dict[int, FollowerState] = {}
        self.time_ms = time_ms
        # Waiting fetches: consumers wake on a high-watermark advance, followers on a
        # log-end advance; both on a role change.
        self._hw_waiters: set[FetchWaiter] = set()
        self._leo_waiters: set[FetchWaiter] = set()
        self.hw_advanced = Signal()  # acks=all waits
        self._isr_pending = False
        # Cluster mode: whether a LeaderAndIsr made this broker a replica of it.
        self.hosted = False
        self.fetcher = None  # the FollowerFetcher fetching it (replica_manager.py)
        # The log end offset when this broker became leader: until the high watermark
        # reaches it, the latest offset is not known (KIP-207: OFFSET_NOT_AVAILABLE).
        self.epoch_start_offset = 0
        # Bytes appended through this partition object, at the log end and at the high
        # watermark, and (end offset, bytes) of each append the high watermark has not
        # passed yet: what a waiting fetch counts to know when it has enough (Kafka's
        # LogOffsetMetadata positions), without reading.
        self._end_position = 0
        self._hw_position = 0
        # Bytes below the last stable offset while it lags the high watermark (an
        # estimate once it moved: what lies below the high watermark then).
        self._stable_position = 0
        self._positions: deque[tuple[int, int]] = deque()
        try:
            end = log.log_end_offset
        except LogError:
            end = 0
        self.high_watermark = end if high_watermark is None else min(high_watermark, end)
        log.on_high_watermark_updated(self.high_watermark)
        self._maybe_increment_hw()

    def __repr__(self) -> str:
        return f"{self.topic}-{self.index}"

    # ---- role ----------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        return self.leader_id == self.local_id

    @property
    def log_start_offset(self) -> int:
        return self.log.log_start_offset

    @property
    def compression_type(self) -> str:
        """The topic's compression.type (Fetch below v10 refuses zstd topics)."""
        config = self.log.config
        return "producer" if config is None else config.compression_type

    @property
    def downconversion_enabled(self) -> bool:
        """message.downconversion.enable: may Fetch v0-3 read this partition?"""
        config = self.log.config
        return config is None or config.message_downconversion_enable

    @property
    def min_insync_replicas(self) -> int:
        config = self.log.config
        return 1 if config is None else config.min_insync_replicas

    def make_leader(
        self, leader_epoch: int, isr: list[int], replicas: list[int], zk_version: int
    ) -> bool:
        """Become (or stay) the leader; returns whether this is a new leadership."""
        new = not self.is_leader or leader_epoch != self.leader_epoch
        self.leader_id = self.local_id
        self.leader_epoch = leader_epoch
        self.replicas = list(replicas)
        self.isr = list(isr)
        self.zk_version = zk_version
        if new:
            now = self.time_ms()
            try:
                self.epoch_start_offset = self.log.log_end_offset
            except LogError:
                self.epoch_start_offset = 0
            self.followers = {
                r: FollowerState(now, r in isr) for r in replicas if r != self.local_id
            }
        else:
            now = self.time_ms()
            for r in replicas:
                if r != self.local_id and r not in self.followers:
                    self.followers[r] = FollowerState(now, r in isr)
        self._maybe_increment_hw()
        self._wake_all()
        return new

    def make_follower(
        self,
        leader_id: int,
        leader_epoch: int,
        isr: list[int],
        replicas: list[int],
        zk_version: int,
    ) -> bool:
        """Follow `leader_id`; returns whether the leader or epoch changed."""
        new = leader_id != self.leader_id or leader_epoch != self.leader_epoch
        self.leader_id = leader_id
        self.leader_epoch = leader_epoch
        self.replicas = list(replicas)
        self.isr = list(isr)
        self.zk_version = zk_version
        self.followers = {}
        self._wake_all()
        return new

    def _wake_all(self) -> None:
        """Role or epoch changed: every waiter re-checks (and answers an error)."""
        self._wake(self._hw_waiters)
        self._wake(self._leo_waiters)
        self.hw_advanced.fire()

    def check_epoch(self, current_leader_epoch: int) -> None:
        """Fetch/ListOffsets/OffsetForLeaderEpoch v9+/v4+ fencing (KIP-320)."""
        if current_leader_epoch < 0 or current_leader_epoch == self.leader_epoch:
            return
        if current_leader_epoch < self.leader_epoch:
            raise FencedLeaderEpoch(f"{self}: epoch {current_leader_epoch} is fenced")
        raise UnknownLeaderEpoch(f"{self}: epoch {current_leader_epoch} is not known yet")

    def check_leader(self) -> None:
        if self.leader_id != self.local_id:
            raise NotLeaderOrFollower(f"This server is not the leader of {self}")

    # ---- leader: append, high watermark --------------------------------------------

    def append(
        self, records: memoryview | bytes, origin: AppendOrigin = AppendOrigin.CLIENT
    ) -> LogAppendInfo:
        if self.leader_id != self.local_id:
            raise NotLeaderOrFollower(f"This server is not the leader of {self}")
        info = self.log.append(records, leader_epoch=self.leader_epoch, origin=origin)
        if not info.duplicate and info.first_offset >= 0:
            self._appended(len(records))
        if self._leo_waiters:
            self._wake(self._leo_waiters)
        if len(self.isr) == 1:
            # Only the leader in sync: committed as soon as it is written.
            self._advance_hw(self.log.log_end_offset)
        return info

    def append_to_leader(
        self, records: memoryview | bytes, required_acks: int, origin: AppendOrigin
    ) -> LogAppendInfo:
        """A producer's (or coordinator's) append: leader only; acks=all needs
        min.insync.replicas in the ISR before anything is written."""
        if required_acks == -1 and len(self.isr) < self.min_insync_replicas:
            raise NotEnoughReplicas(
                f"The size of the current ISR {self.isr} is insufficient to satisfy the "
                f"min.isr requirement of {self.min_insync_replicas} for {self}"
            )
        return self.append(records, origin)

    async def wait_replicated(self, offset: int, deadline: float) -> int:
        """acks=all: wait until the high watermark passes `offset`; an error code."""
        epoch = self.leader_epoch
        while self.high_watermark <= offset:
            if self.leader_id != self.local_id:
                return NotLeaderOrFollower.error_code
            if self.leader_epoch != epoch and not self._holds(offset, epoch):
                return NotLeaderOrFollower.error_code
            event = self.hw_advanced.waiter()
            with trio.move_on_at(deadline):
                await event.wait()
            if trio.current_time() >= deadline and self.high_watermark <= offset:
                if len(self.isr) < self.min_insync_replicas:
                    return NotEnoughReplicasAfterAppend.error_code
                return RequestTimedOut.error_code
        if self.leader_id != self.local_id:
            return NotLeaderOrFollower.error_code
        if len(self.isr) < self.min_insync_replicas:
            return NotEnoughReplicasAfterAppend.error_code
        return ErrorCode.NONE

    def _holds(self, offset: int, epoch: int) -> bool:
        """Whether the batch appended at `offset` in leader epoch `epoch` is still in the
        log. A new epoch on the same leader (the controller changed the ISR) keeps the
        log, and the wait goes on, as Kafka's delayed produce does; leadership lost and
        regained in between may have truncated it."""
        try:
            found = self.log.end_offset_for_epoch(epoch)
        except LogError:
            return False
        return found is not None and found[0] == epoch and found[1] > offset

    def _maybe_increment_hw(self) -> bool:
        if self.leader_id != self.local_id:
            return False
        try:
            new = self.log.log_end_offset
        except LogError:
            return False
        for replica in self.isr:
            if replica != self.local_id:
                follower = self.followers.get(replica)
                if follower is None or follower.log_end_offset < 0:
                    # Unknown position: the HW stays where it is.
                    return False
                new = min(new, follower.log_end_offset)
        return self._advance_hw(new)

    def _advance_hw(self, new: int) -> bool:
        if new <= self.high_watermark:
            return False
        # Without open or unreplicated transactions the LSO is the HW: nothing to track.
        unstable = self.log.first_unstable_offset is not None
        if unstable:
            stable = self.last_stable_offset
            if stable >= self.high_watermark:
                self._stable_position = self._hw_position
        self.high_watermark = new
        positions = self._positions
        while positions and positions[0][0] <= new:
            self._hw_position = positions.popleft()[1]
        if unstable:
            # Markers the high watermark passed stop holding the LSO (Kafka's rule).
            self.log.on_high_watermark_updated(new)
            if self.last_stable_offset > stable:
                self._stable_position = self._hw_position
        self.hw_advanced.fire()
        if self._hw_waiters:
            self._wake(self._hw_waiters)
        return True

    def update_follower(self, replica_id: int, fetch_offset: int) -> None:
        """A follower fetched from `fetch_offset`: it has everything below it."""
        leader_end = self.log.log_end_offset
        if fetch_offset > leader_end:
            return  # ahead of us: it must truncate first (the read answers out of range)
        follower = self.followers.get(replica_id)
        if follower is None:
            if replica_id not in self.replicas:
                return
            follower = self.followers[replica_id] = FollowerState(self.time_ms(), False)
        follower.update(fetch_offset, leader_end, self.time_ms())
        self._maybe_increment_hw()

    # ---- ISR maintenance ------------------------------------------------------------

    def isr_to_expand(self) -> list[int] | None:
        """A follower out of the ISR that caught up to the HW: the wider ISR."""
        if not self.is_leader or self._isr_pending:
            return None
        joined = [
            r
            for r, f in self.followers.items()
            if r not in self.isr
            and r in self.replicas
            and f.log_end_offset >= self.high_watermark
            and f.log_end_offset >= self.epoch_start_offset
        ]
        if not joined:
            return None
        return self.isr + joined

    def isr_to_shrink(self, lag_max_ms: int, now_ms: int) -> list[int] | None:
        """Followers not caught up within `lag_max_ms` leave; the narrower ISR."""
        if not self.is_leader or self._isr_pending:
            return None
        out = [
            r
            for r in self.isr
            if r != self.local_id
            and (f := self.followers.get(r)) is not None
            and now_ms - f.last_caught_up_ms > lag_max_ms
        ]
        if not out:
            return None
        return [r for r in self.isr if r not in out]

    def isr_change_pending(self) -> None:
        """A change is on its way (`change_isr` was scheduled): propose no other."""
        self._isr_pending = True

    async def change_isr(self, new_isr: list[int], updater: IsrUpdater) -> bool:
        """Ask the store for `new_isr` (it checks the version); apply it if accepted."""
        self._isr_pending = True
        epoch = self.leader_epoch
        try:
            accepted = await updater(self, new_isr)
        finally:
            self._isr_pending = False
        if accepted and self.is_leader and self.leader_epoch == epoch:
            log.info("%s: ISR %s -> %s", self, self.isr, new_isr)
            self.isr = list(new_isr)
            self._maybe_increment_hw()
            self._wake_all()
        return accepted

    # ---- follower ---------------------------------------------------------------------

    def append_as_follower(self, records: memoryview | bytes, leader_hw: int) -> None:
        if records:
            self.log.append_as_follower(records)
            self._appended(len(records))
            self._wake(self._leo_waiters)
        self.follower_hw(leader_hw)

    def follower_hw(self, leader_hw: int) -> None:
        # Wakes consumers reading from this follower (KIP-392).
        self._advance_hw(min(leader_hw, self.log.log_end_offset))

    def truncate_to(self, offset: int) -> None:
        self.log.truncate_to(offset)
        self.high_watermark = min(self.high_watermark, self.log.log_end_offset)
        self.log.on_high_watermark_updated(self.high_watermark)
        positions = self._positions
        while positions and positions[-1][0] > self.log.log_end_offset:
            positions.pop()  # the bytes are gone; positions only count what is written
        self._end_position = positions[-1][1] if positions else self._hw_position

    def _appended(self, size: int) -> None:
        self._end_position += size
        self._positions.append((self.log.log_end_offset, self._end_position))

    def position(self, isolation: FetchIsolation) -> int:
        """Bytes appended so far below the bound a read with `isolation` stops at: the
        difference between two calls is what became readable in between. Below the
        last stable offset, while it lags the high watermark, the count stays until the
        LSO moves (then it counts up to the high watermark: an over-estimate, once)."""
        if isolation is FetchIsolation.LOG_END:
            return self._end_position
        if isolation is FetchIsolation.TXN_COMMITTED:
            if self.last_stable_offset < self.high_watermark:
                return self._stable_position
        return self._hw_position

    # ---- reads ------------------------------------------------------------------------

    @property
    def log_end_offset(self) -> int:
        return self.log.log_end_offset

    @property
    def last_stable_offset(self) -> int:
        """Kafka's LSO: the first offset of the oldest transaction still open or whose
        marker the high watermark has not passed yet, else the high watermark (leaders
        and followers alike, each from its own log and high watermark)."""
        first = self.log.first_unstable_offset
        high_watermark = self.high_watermark
        return high_watermark if first is None or first >= high_watermark else first

    def read(
        self,
        fetch_offset: int,
        max_bytes: int,
        isolation: FetchIsolation,
        min_one_batch: bool = True,
    ) -> FetchDataInfo:
        """Whole batches from the one holding `fetch_offset`, below the isolation's bound
        (OFFSET_OUT_OF_RANGE outside [log start, log end]). read_committed reads stop
        at the LSO and carry the aborted transactions overlapping what they return
        (an empty list when none or nothing is returned; None for other reads)."""
        if isolation is FetchIsolation.HIGH_WATERMARK:
            return self.log.read(fetch_offset, max_bytes, self.high_watermark, min_one_batch)
        if isolation is FetchIsolation.LOG_END:
            return self.log.read(fetch_offset, max_bytes, None, min_one_batch)
        info = self.log.read(fetch_offset, max_bytes, self.last_stable_offset, min_one_batch)
        aborted = (
            self.log.collect_aborted_transactions(fetch_offset, info.next_offset)
            if info.records
            else []
        )
        return info._replace(aborted_transactions=aborted)

    def latest_offset(self, isolation: FetchIsolation = FetchIsolation.HIGH_WATERMARK) -> int:
        """ListOffsets LATEST: the high watermark (the LSO for read_committed), once a
        new leader's has caught up to its epoch start (KIP-207: OFFSET_NOT_AVAILABLE
        until then)."""
        end = self.log.log_end_offset  # an offline log raises KAFKA_STORAGE_ERROR
        if isolation is FetchIsolation.LOG_END:
            return end  # a replica or a debugging client: no KIP-207 wait either
        if self.high_watermark < self.epoch_start_offset:
            raise OffsetNotAvailable(f"{self}: the high watermark is catching up")
        if isolation is FetchIsolation.TXN_COMMITTED:
            return self.last_stable_offset
        return self.high_watermark

    def offset_for_timestamp(
        self, timestamp: int, isolation: FetchIsolation = FetchIsolation.HIGH_WATERMARK
    ):
        """The first committed offset at or after `timestamp` (or the log's special
        answers for -2/-3), as (timestamp, offset, leader epoch); None if there is none.
        Bounded by the high watermark, or the LSO for read_committed (as Kafka).
        Without tiered storage (KIP-405), the earliest local offset (-4) is the log
        start offset and the latest tiered one (-5) is -1, as Kafka's UnifiedLog."""
        if timestamp in (EARLIEST_TIMESTAMP, EARLIEST_LOCAL_TIMESTAMP):
            start = self.log.log_start_offset
            # The epoch of the log start, when the epoch cache still knows it.
            entry = self.log.leader_epoch_cache.earliest_entry
            epoch = entry.epoch if entry is not None and entry.start_offset <= start else -1
            return TimestampAndOffset(-1, start, epoch)
        if timestamp == LATEST_TIERED_TIMESTAMP:
            self.log.log_start_offset  # noqa: B018 -- an offline log raises KAFKA_STORAGE_ERROR
            return TimestampAndOffset(-1, -1, -1)
        if isolation is FetchIsolation.TXN_COMMITTED:
            bound = self.last_stable_offset
        elif isolation is FetchIsolation.HIGH_WATERMARK:
            bound = self.high_watermark
        else:
            bound = self.log.log_end_offset
        return self.log.offset_for_timestamp(timestamp, max_offset=bound)

    def legacy_offsets_before(
        self, timestamp: int, max_num_offsets: int, from_consumer: bool
    ) -> list[int]:
        """ListOffsets v0 (Kafka's legacyFetchOffsetsBefore): up to `max_num_offsets`
        offsets, newest first, from the segment base offsets (and the log end offset)
        whose segment was last modified at or before `timestamp`; -1 starts at the log
        end, -2 at the log start. A consumer's list starts at most at the high
        watermark."""
        start = self.log.log_start_offset
        segments = list(self.log.segments)
        entries = [(max(s.base_offset, start), _last_modified_ms(s)) for s in segments]
        if segments[-1].size > 0:
            entries.append((self.log.log_end_offset, self.time_ms()))
        if timestamp == LATEST_TIMESTAMP:
            index = len(entries) - 1
        elif timestamp == EARLIEST_TIMESTAMP:
            index = 0
        else:
            index = len(entries) - 1
            while index >= 0 and entries[index][1] > timestamp:
                index -= 1
        count = max(0, min(max_num_offsets, index + 1))
        offsets = sorted((entries[index - j][0] for j in range(count)), reverse=True)
        high_watermark = self.high_watermark
        if from_consumer and any(o > high_watermark for o in offsets):
            offsets = [high_watermark, *(o for o in offsets if o <= high_watermark)]
        return offsets

    def has_open_transaction(self, producer_id: int, epoch: int) -> bool:
        """Whether the producer (at this epoch) has a transaction open here: KIP-890's
        check is needed only before its first batch on the partition."""
        state = getattr(self.log, "producer_state", None)  # None: offline or not hosted
        entry = None if state is None else state.last_entry(producer_id)
        return (
            entry is not None
            and entry.current_txn_first_offset is not None
            and entry.producer_epoch == epoch
        )

    def active_producers(self) -> list[ProducerStateEntry]:
        """DescribeProducers: the producers the log's state holds (leader or follower,
        as Kafka's Partition.activeProducerState)."""
        return self.log.active_producers()

    def end_offset_for_epoch(self, epoch: int) -> tuple[int, int] | None:
        """OffsetForLeaderEpoch: (largest epoch <= `epoch`, its end offset), None if unknown."""
        return self.log.end_offset_for_epoch(epoch)

    def delete_records_on_leader(self, offset: int) -> int:
        """DeleteRecords: move the log start offset to `offset` (-1: the high watermark),
        never past the high watermark; the new log start offset."""
        self.check_leader()
        high_watermark = self.high_watermark
        if offset == -1:
            offset = high_watermark
        if not 0 <= offset <= high_watermark:
            raise OffsetOutOfRange(f"offset {offset} is past the high watermark {high_watermark}")
        self.log.maybe_increment_log_start_offset(offset)
        return self.log.log_start_offset

    # ---- fetch waits ----------------------------------------------------------------

    def _wake(self, waiters: set[FetchWaiter]) -> None:
        woken = list(waiters)
        waiters.clear()
        for waiter in woken:
            waiter(self)

    def add_fetch_waiter(self, waiter: FetchWaiter, isolation: FetchIsolation) -> None:
        """`waiter(self)` is called once, at the next advance of the bound a read with
        `isolation` stops at (or a role change)."""
        if isolation is FetchIsolation.LOG_END:
            self._leo_waiters.add(waiter)
        else:
            self._hw_waiters.add(waiter)

    def remove_fetch_waiter(self, waiter: FetchWaiter) -> None:
        self._hw_waiters.discard(waiter)
        self._leo_waiters.discard(waiter)
