"""Incremental fetch sessions (KIP-227): the broker's session cache and the context
of one Fetch request (Kafka 3.9's FetchSession.scala: FetchManager, FetchSessionCache,
the full, incremental, sessionless and session-error FetchContexts).

A full fetch (epoch 0) may create a session holding every partition it asked for, with
the request's parameters and the high watermark and log start offset last answered.
An incremental fetch (epoch > 0, the session's expected epoch) names only the
partitions whose parameters changed and those to forget; the broker reads every
partition of the session and answers only those that changed: records, a new high
watermark or log start offset, a preferred read replica, or an error. A partition
that returned records moves to the end of the session, so each gets its turn at the
response's max_bytes. Epoch -1 is a sessionless full fetch (and closes the session it
names). From Fetch v13 partitions are named by topic id: such a session's keys are
(topic id, partition), so a topic deleted and re-created under the same name is
another partition, and an incremental fetch must use topic ids exactly when its
session does (else FETCH_SESSION_TOPIC_ID_ERROR). The cache holds
`max.incremental.fetch.session.cache.slots` sessions; a new one may evict a session
unused for 120 s, or else the least valuable evictable one (followers' sessions rank
above consumers', bigger above smaller).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from kafka_compat.clock import Clock, wall_clock_ms
from kafka_compat.delayed_fetch import FetchResult
from protocol.errors import ErrorCode

INVALID_SESSION_ID = 0
INITIAL_EPOCH = 0
FINAL_EPOCH = -1
# Kafka's KafkaServer.MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS (not a config key).
MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS = 120_000
_INT32_MAX = 2**31 - 1


def next_epoch(epoch: int) -> int:
    """The epoch that follows `epoch` (Kafka's FetchMetadata.nextEpoch)."""
    if epoch < 0:
        return FINAL_EPOCH
    return 1 if epoch == _INT32_MAX else epoch + 1


class CachedPartition:
    """One partition of a session: its last request parameters (the request's own
    FetchPartition object) and what was last answered for it. `topic` is the topic's
    key in the session: its name, or its topic id (bytes) in a v13+ session."""

    __slots__ = ("topic", "request", "high_watermark", "log_start_offset")

    def __init__(
        self, topic: str | bytes, request, high_watermark: int = -1, log_start_offset: int = -1
    ):
        self.topic = topic
        self.request = request
        self.high_watermark = high_watermark
        self.log_start_offset = log_start_offset


class FetchSession:
    __slots__ = (
        "id",
        "privileged",
        "partitions",
        "creation_ms",
        "last_used_ms",
        "epoch",
        "cached_size",
        "evictable_by_all",
        "evictable_by_privileged",
        "uses_topic_ids",
    )

    def __init__(
        self,
        session_id: int,
        privileged: bool,
        partitions: dict,
        now: int,
        uses_topic_ids: bool = False,
    ):
        self.id = session_id
        self.privileged = privileged  # a follower's
        self.uses_topic_ids = uses_topic_ids  # opened by a v13+ fetch
        # (topic name or id, partition) -> CachedPartition, in fetch order
        self.partitions: dict[tuple[str | bytes, int], CachedPartition] = partitions
        self.creation_ms = now
        self.last_used_ms = now
        self.epoch = next_epoch(INITIAL_EPOCH)  # the epoch the next request must carry
        self.cached_size = -1
        self.evictable_by_all = False
        self.evictable_by_privileged = False

    def eviction_key(self) -> tuple[bool, int, int]:
        return (self.privileged, self.cached_size, self.id)

    def __repr__(self) -> str:
        return (
            f"FetchSession(id={self.id}, privileged={self.privileged}, "
            f"partitions={len(self.partitions)}, epoch={self.epoch})"
        )


class FetchSessionCache:
    """The broker's fetch sessions (Kafka's FetchSessionCache, one shard)."""

    def __init__(
        self,
        max_entries: int,
        eviction_ms: int = MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS,
        clock: Clock = wall_clock_ms,
    ):
        self.max_entries = max_entries
        self.eviction_ms = eviction_ms
        self.clock = clock
        # id -> session, least recently used first (touch moves a session to the end)
        self.sessions: dict[int, FetchSession] = {}
        self.evictions = 0

    def __len__(self) -> int:
        return len(self.sessions)

    @property
    def total_partitions(self) -> int:
        return sum(max(0, s.cached_size) for s in self.sessions.values())

    def get(self, session_id: int) -> FetchSession | None:
        return self.sessions.get(session_id)

    def remove(self, session_id: int) -> FetchSession | None:
        return self.sessions.pop(session_id, None)

    def touch(self, session: FetchSession, now: int) -> None:
        """Mark the session used now; it becomes evictable (by followers' sessions, or
        by all once old enough) as Kafka's touch decides."""
        self.sessions.pop(session.id, None)
        self.sessions[session.id] = session
        session.last_used_ms = now
        session.cached_size = len(session.partitions)
        old = now - session.creation_ms > self.eviction_ms
        session.evictable_by_privileged = not session.privileged or old
        session.evictable_by_all = old

    def maybe_create_session(
        self,
        privileged: bool,
        size: int,
        create: Callable[[], dict],
        uses_topic_ids: bool = False,
    ) -> int:
        """A new session's id, or INVALID_SESSION_ID when the cache is full and nothing
        may be evicted for it."""
        now = self.clock()
        if len(self.sessions) >= self.max_entries and not self._try_evict(privileged, size, now):
            return INVALID_SESSION_ID
        session = FetchSession(self._new_session_id(), privileged, create(), now, uses_topic_ids)
        self.touch(session, now)
        return session.id

    def _new_session_id(self) -> int:
        while True:
            session_id = random.randint(1, _INT32_MAX - 1)
            if session_id not in self.sessions:
                return session_id

    def _try_evict(self, privileged: bool, size: int, now: int) -> bool:
        """Evict a stale session (unused for eviction_ms), else the least valuable
        evictable one if the new session is worth more: a follower's over a
        consumer's, then more partitions (ties keep the old one)."""
        if not self.sessions:
            return False
        oldest = next(iter(self.sessions.values()))
        if now - oldest.last_used_ms > self.eviction_ms:
            self._evict(oldest)
            return True
        if privileged:
            candidates = [s for s in self.sessions.values() if s.evictable_by_privileged]
        else:
            candidates = [s for s in self.sessions.values() if s.evictable_by_all]
        if not candidates:
            return False
        victim = min(candidates, key=FetchSession.eviction_key)
        if (privileged, size, 0) < victim.eviction_key():
            return False
        self._evict(victim)
        return True

    def _evict(self, session: FetchSession) -> None:
        del self.sessions[session.id]
        self.evictions += 1

    # ---- contexts --------------------------------------------------------------------

    def new_context(
        self,
        session_id: int,
        epoch: int,
        wanted: list[tuple[str | bytes, object]],
        forgotten: list[tuple[str | bytes, int]],
        is_follower: bool,
        uses_topic_ids: bool = False,
    ) -> FetchContext:
        """The context of one Fetch request (Kafka's FetchManager.newContext). `wanted`
        holds the request's (topic, FetchPartition) pairs in order, the topic named by
        its id (bytes) when `uses_topic_ids` (Fetch v13+)."""
        if epoch in (INITIAL_EPOCH, FINAL_EPOCH):  # a full fetch
            if session_id != INVALID_SESSION_ID:
                self.remove(session_id)  # a full fetch closes the session it names
            if epoch == FINAL_EPOCH:
                return FetchContext(wanted)
            return FullFetchContext(self, wanted, is_follower, uses_topic_ids)
        session = self.sessions.get(session_id)
        if session is None:
            return SessionErrorContext(ErrorCode.FETCH_SESSION_ID_NOT_FOUND)
        if session.epoch != epoch:
            return SessionErrorContext(ErrorCode.INVALID_FETCH_SESSION_EPOCH)
        if session.uses_topic_ids != uses_topic_ids:
            # A session opened with topic ids continued without them, or the reverse.
            return SessionErrorContext(ErrorCode.FETCH_SESSION_TOPIC_ID_ERROR)
        partitions = session.partitions
        for topic, request in wanted:
            key = (topic, request.partition)
            cached = partitions.get(key)
            if cached is None:
                partitions[key] = CachedPartition(topic, request)
            else:
                cached.request = request
        for key in forgotten:
            partitions.pop(key, None)
        if not partitions:
            # Nothing left: close the session, answer what was asked without one.
            self.remove(session.id)
            return FetchContext(wanted)
        self.touch(session, self.clock())
        session.epoch = next_epoch(session.epoch)
        return IncrementalFetchContext(session, epoch)


class FetchContext:
    """A sessionless fetch: read what was asked, answer all of it, session id 0."""

    error_code = ErrorCode.NONE

    def __init__(self, wanted: list[tuple[str | bytes, object]]):
        self.wanted = wanted

    def respond(self, results: list[FetchResult]) -> tuple[int, int, list[int] | None]:
        """(error code, session id, indices of `wanted` to answer; None: all)."""
        return ErrorCode.NONE, INVALID_SESSION_ID, None


class SessionErrorContext(FetchContext):
    """The session is unknown or the epoch wrong: nothing is read, the error is the
    response's; the client goes back to a full fetch."""

    def __init__(self, error_code: int):
        super().__init__([])
        self.error_code = error_code

    def respond(self, results):
        return self.error_code, INVALID_SESSION_ID, []


class FullFetchContext(FetchContext):
    """A full fetch (epoch 0): answers all; once answered, caches a new session with
    the partitions and what they were answered, when the cache has room."""

    def __init__(
        self, cache: FetchSessionCache, wanted, is_follower: bool, uses_topic_ids: bool = False
    ):
        super().__init__(wanted)
        self.cache = cache
        self.is_follower = is_follower
        self.uses_topic_ids = uses_topic_ids

    def respond(self, results):
        def create() -> dict:
            partitions = {}
            for (topic, request), result in zip(self.wanted, results, strict=True):
                partitions[(topic, request.partition)] = CachedPartition(
                    topic, request, result[1], result[3]
                )
            return partitions

        session_id = self.cache.maybe_create_session(
            self.is_follower, len(self.wanted), create, self.uses_topic_ids
        )
        return ErrorCode.NONE, session_id, None


class IncrementalFetchContext(FetchContext):
    """An incremental fetch: reads the session's partitions and answers those that
    changed since they were last answered."""

    def __init__(self, session: FetchSession, request_epoch: int):
        self.session = session
        self.request_epoch = request_epoch
        self.cached = list(session.partitions.values())
        self.wanted = [(c.topic, c.request) for c in self.cached]

    def respond(self, results):
        session = self.session
        if session.epoch != next_epoch(self.request_epoch):
            # Another request of this session got in meanwhile (a duplicate).
            return ErrorCode.INVALID_FETCH_SESSION_EPOCH, session.id, []
        selected = []
        moved = []
        for i, cached in enumerate(self.cached):
            error, high_watermark, _, log_start, preferred, records, _ = results[i]
            must = False
            if records:
                must = True
                moved.append(cached)
            if cached.high_watermark != high_watermark:
                cached.high_watermark = high_watermark
                must = True
            if cached.log_start_offset != log_start:
                cached.log_start_offset = log_start
                must = True
            if error:
                # Answered again once the error has gone.
                cached.high_watermark = -1
                must = True
            elif preferred >= 0:
                must = True
            if must:
                selected.append(i)
        if moved:  # who returned records goes to the back of the line
            partitions = session.partitions
            for cached in moved:
                key = (cached.topic, cached.request.partition)
                if partitions.get(key) is cached:
                    del partitions[key]
                    partitions[key] = cached
        return ErrorCode.NONE, session.id, selected
