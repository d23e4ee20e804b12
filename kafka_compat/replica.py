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

Waits are events, never polling: fetches waiting for data add an event that the
next append (follower fetches) or high-watermark advance (consumer fetches) sets;
`acks=all` produces wait on `_hw_advanced`, replaced at every advance.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import trio

from storage.errors import LogError, StorageError
from storage.log import AppendOrigin, Log, LogAppendInfo

log = logging.getLogger(__name__)


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
    append_as_follower = truncate_to = end_offset_for_epoch = _refuse
    log_start_offset = log_end_offset = latest_epoch = property(_refuse)


class NotLeaderOrFollower(LogError):
    """NOT_LEADER_OR_FOLLOWER: this broker does not lead the partition."""

    error_code = 6


class RemoteLog:
    """Cluster mode: a partition of a known topic that this broker does not host.
    It is listed so that requests for it answer NOT_LEADER_OR_FOLLOWER (clients then
    refresh their metadata) rather than UNKNOWN_TOPIC_OR_PARTITION."""

    config = None
    remote = True

    def __init__(self, name: str):
        self.name = name

    def _refuse(self, *args, **kwargs):
        raise NotLeaderOrFollower(f"This server does not host {self.name}")

    append = read = offset_for_timestamp = maybe_increment_log_start_offset = _refuse
    append_as_follower = truncate_to = end_offset_for_epoch = _refuse
    maybe_assign_epoch_start_offset = _refuse
    log_start_offset = log_end_offset = latest_epoch = property(_refuse)


class NotEnoughReplicas(LogError):
    """NOT_ENOUGH_REPLICAS: the ISR is smaller than min.insync.replicas (acks=all)."""

    error_code = 19


class NotEnoughReplicasAfterAppend(LogError):
    """NOT_ENOUGH_REPLICAS_AFTER_APPEND: written, but the ISR shrank below
    min.insync.replicas before it was replicated."""

    error_code = 20


class RequestTimedOut(LogError):
    error_code = 7


class OffsetNotAvailable(LogError):
    """OFFSET_NOT_AVAILABLE: a new leader's high watermark has not caught up yet, or a
    follower a consumer reads from (KIP-392) is behind the consumer's offset."""

    error_code = 78


class FencedLeaderEpoch(LogError):
    error_code = 74


class UnknownLeaderEpoch(LogError):
    error_code = 75


def _now_ms() -> int:
    return int(time.time() * 1000)


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
        "_waiters",
        "_hw_advanced",
        "_isr_pending",
        "hosted",
        "fetcher",
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
        self._waiters: set[trio.Event] = set()
        self._hw_advanced = trio.Event()
        self._isr_pending = False
        # Cluster mode: whether a LeaderAndIsr made this broker a replica of it.
        self.hosted = False
        self.fetcher = None  # the FollowerFetcher fetching it (replica_manager.py)
        # The log end offset when this broker became leader: until the high watermark
        # reaches it, the latest offset is not known (KIP-207: OFFSET_NOT_AVAILABLE).
        self.epoch_start_offset = 0
        try:
            end = log.log_end_offset
        except LogError:
            end = 0
        self.high_watermark = end if high_watermark is None else min(high_watermark, end)
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
            now = _now_ms()
            try:
                self.epoch_start_offset = self.log.log_end_offset
            except LogError:
                self.epoch_start_offset = 0
            self.followers = {
                r: FollowerState(now, r in isr) for r in replicas if r != self.local_id
            }
        else:
            now = _now_ms()
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

    def update_leader_and_isr(self, isr: list[int], zk_version: int) -> None:
        self.isr = list(isr)
        self.zk_version = zk_version

    def _wake_all(self) -> None:
        """Role or epoch changed: every waiter re-checks (and answers an error)."""
        self._notify_waiters()
        self._hw_advanced.set()
        self._hw_advanced = trio.Event()

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
        if len(self.isr) == 1:
            # Only the leader in sync: committed as soon as it is written.
            self.high_watermark = self.log.log_end_offset
            self._hw_advanced.set()
            self._hw_advanced = trio.Event()
        self._notify_waiters()
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
            if self.leader_id != self.local_id or self.leader_epoch != epoch:
                return NotLeaderOrFollower.error_code
            event = self._hw_advanced
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
        return 0

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
        if new > self.high_watermark:
            self.high_watermark = new
            self._hw_advanced.set()
            self._hw_advanced = trio.Event()
            self._notify_waiters()
            return True
        return False

    def update_follower(self, replica_id: int, fetch_offset: int) -> None:
        """A follower fetched from `fetch_offset`: it has everything below it."""
        leader_end = self.log.log_end_offset
        if fetch_offset > leader_end:
            return  # ahead of us: it must truncate first (the read answers out of range)
        follower = self.followers.get(replica_id)
        if follower is None:
            if replica_id not in self.replicas:
                return
            follower = self.followers[replica_id] = FollowerState(_now_ms(), False)
        follower.update(fetch_offset, leader_end, _now_ms())
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
            self._notify_waiters()
        self.follower_hw(leader_hw)

    def follower_hw(self, leader_hw: int) -> None:
        new = min(leader_hw, self.log.log_end_offset)
        if new > self.high_watermark:
            self.high_watermark = new
            self._notify_waiters()  # consumers reading from this follower (KIP-392)

    def truncate_to(self, offset: int) -> None:
        self.log.truncate_to(offset)
        self.high_watermark = min(self.high_watermark, self.log.log_end_offset)

    # ---- fetch waits ----------------------------------------------------------------

    def _notify_waiters(self) -> None:
        if self._waiters:
            for event in self._waiters:
                event.set()
            self._waiters.clear()

    def add_waiter(self, event: trio.Event) -> None:
        """`event` is set at the next append or high-watermark advance."""
        self._waiters.add(event)

    def remove_waiter(self, event: trio.Event) -> None:
        self._waiters.discard(event)
