"""The fetch session cache's eviction (Kafka's FetchSessionCacheShard.tryEvict): a
session unused for 120 s goes first; else a follower's session may evict a consumer's
(fewest partitions first), and any session may evict one created over 120 s ago that
holds fewer partitions."""

from __future__ import annotations

from kafka_compat.fetch_session import (
    INVALID_SESSION_ID,
    MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS,
    FetchSessionCache,
)

EVICTION = MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000

    def __call__(self) -> int:
        return self.now


def _create(cache: FetchSessionCache, size: int, privileged: bool = False) -> int:
    return cache.maybe_create_session(
        privileged, size, lambda: {("t", i): None for i in range(size)}
    )


def test_new_sessions_evict_nothing_young():
    clock = Clock()
    cache = FetchSessionCache(2, clock=clock)
    a, b = _create(cache, 1), _create(cache, 5)
    assert INVALID_SESSION_ID not in (a, b) and a != b
    assert _create(cache, 100) == INVALID_SESSION_ID
    assert set(cache.sessions) == {a, b}


def test_followers_evict_the_smallest_consumer_session():
    cache = FetchSessionCache(2, clock=Clock())
    small, large = _create(cache, 1), _create(cache, 5)
    follower = _create(cache, 1, privileged=True)
    assert set(cache.sessions) == {large, follower}
    # A young follower session is not evicted by another follower's.
    assert _create(cache, 10, privileged=True) != INVALID_SESSION_ID
    assert follower in cache.sessions and small not in cache.sessions


def test_an_unused_session_is_evicted_first():
    clock = Clock()
    cache = FetchSessionCache(2, clock=clock)
    old = _create(cache, 50, privileged=True)
    clock.now += 10
    used = _create(cache, 50, privileged=True)
    clock.now += EVICTION + 1 - 10
    cache.touch(cache.get(used), clock.now)
    new = _create(cache, 1)
    assert set(cache.sessions) == {used, new}
    assert old not in cache.sessions


def test_old_sessions_with_fewer_partitions_give_way():
    clock = Clock()
    cache = FetchSessionCache(1, clock=clock)
    old = _create(cache, 3)
    clock.now += EVICTION + 1
    cache.touch(cache.get(old), clock.now)  # used, but created long ago
    assert _create(cache, 3) == INVALID_SESSION_ID  # a tie keeps the old one
    bigger = _create(cache, 4)
    assert set(cache.sessions) == {bigger}
