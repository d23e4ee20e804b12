"""Kafka's controller mutation quota (KIP-599): the `controller_mutation_rate` client
quota limits how many partitions a user / client-id creates (CreateTopics,
CreatePartitions) and deletes (DeleteTopics) per second.

The quota that applies is found as for the other client quotas (client_quotas.py's
ControllerMutationQuotaManager: the same entities, defaults and precedence, and one
bucket per metric tags); it is measured with Kafka's TokenBucket rather than a sampled
rate. The bucket holds up to burst = quota x `controller.quota.window.num` x
`controller.quota.window.size.seconds` tokens, starts full and refills at `quota`
tokens a second; each partition mutated takes one. The quota is exhausted while the
bucket is below zero, and the time to wait is what brings it back to zero: -tokens /
quota seconds.

A request gets one `ControllerMutationQuota` (Kafka's newQuotaFor), strict or
permissive by its version:
- strict (CreateTopics v6+, CreatePartitions v3+, DeleteTopics v5+: the versions whose
  clients know THROTTLING_QUOTA_EXCEEDED): before each topic's mutations the bucket is
  checked; below zero, that topic is refused (`ThrottlingQuotaExceeded`) and not
  recorded, else its mutations are taken, which may bring the bucket below zero once.
  So a request is let through as long as the bucket is not negative, whatever its size.
- permissive (older versions): every topic's mutations are taken and done; if the
  bucket ends below zero the client is throttled (the response's throttle time, and the
  channel muted), as with the other quotas.
`throttle_time_ms()` is the last throttle less the time since it was computed (Kafka
answers it when the response is sent). Validation happens first: a topic refused for
another reason, or a validate_only request, takes nothing from the bucket.
"""

from __future__ import annotations

from collections.abc import Callable

# What a request's quota asks at a time in ms: its bucket with the quota and burst, or
# None when no quota applies to its user / client-id.
BucketLookup = Callable[[float], "tuple[TokenBucket, float, float] | None"]
# Told (permits, time in ms) of the mutations taken: the mutation-rate metric.
Taken = Callable[[float, float], None]

__all__ = [
    "UNBOUNDED",
    "THROTTLING_QUOTA_EXCEEDED_MESSAGE",
    "ControllerMutationQuota",
    "TokenBucket",
    "ThrottlingQuotaExceeded",
]

# Kafka's Errors.THROTTLING_QUOTA_EXCEEDED message, which its admin managers answer.
THROTTLING_QUOTA_EXCEEDED_MESSAGE = "The throttling quota has been exceeded."


class ThrottlingQuotaExceeded(Exception):
    """A strict quota refused a topic's mutations: retry after `throttle_ms`."""

    def __init__(self, throttle_ms: int) -> None:
        super().__init__(THROTTLING_QUOTA_EXCEEDED_MESSAGE)
        self.throttle_ms = throttle_ms


class TokenBucket:
    """Kafka's TokenBucket stat: `tokens` refilled at the quota per second, at most the
    burst, taken by each record (and possibly below zero)."""

    __slots__ = ("tokens", "last_update_ms")

    def __init__(self, burst: float, now_ms: float) -> None:
        self.tokens = burst
        self.last_update_ms = now_ms

    def measure(self, quota: float, burst: float, now_ms: float) -> float:
        elapsed_s = max(now_ms - self.last_update_ms, 0.0) / 1000.0
        self.tokens = min(burst, self.tokens + quota * elapsed_s)
        self.last_update_ms = now_ms
        return self.tokens

    def record(self, quota: float, burst: float, permits: float, now_ms: float) -> float:
        self.tokens = min(burst, self.measure(quota, burst, now_ms) - permits)
        return self.tokens


class ControllerMutationQuota:
    """One request's quota (Kafka's Strict- / PermissiveControllerMutationQuota)."""

    __slots__ = ("lookup", "taken", "clock_ms", "strict", "_throttle_ms", "_throttled_at_ms")

    def __init__(
        self, lookup: BucketLookup, taken: Taken, clock_ms: Callable[[], float], strict: bool
    ) -> None:
        self.lookup = lookup
        self.taken = taken
        self.clock_ms = clock_ms
        self.strict = strict
        self._throttle_ms = 0
        self._throttled_at_ms = 0.0

    def record(self, permits: float) -> None:
        """Take `permits` partition mutations; strict and exhausted: raises
        ThrottlingQuotaExceeded and takes nothing."""
        now = self.clock_ms()
        found = self.lookup(now)
        if found is None:  # no quota for this user / client-id: only measured
            self.taken(permits, now)
            return
        bucket, quota, burst = found
        if self.strict:
            tokens = bucket.measure(quota, burst, now)
            if tokens < 0:
                self._throttled(tokens, quota, now)
                raise ThrottlingQuotaExceeded(self._throttle_ms)
            bucket.record(quota, burst, permits, now)
        else:
            tokens = bucket.record(quota, burst, permits, now)
            if tokens < 0:
                self._throttled(tokens, quota, now)
        self.taken(permits, now)

    def _throttled(self, tokens: float, quota: float, now_ms: float) -> None:
        # Kafka's throttleTimeMs: the time the refill needs to bring the bucket to zero.
        if quota > 0:
            self._throttle_ms = round(-tokens / quota * 1000)
        else:  # a zero quota written to ZooKeeper by hand, never refilled: Kafka's
            # throttle overflows; a second each time lets the client retry slowly
            self._throttle_ms = 1000
        self._throttled_at_ms = now_ms

    def throttle_time_ms(self) -> int:
        """The throttle still to go (0: not throttled)."""
        if not self._throttle_ms:
            return 0
        elapsed = self.clock_ms() - self._throttled_at_ms
        return max(0, int(self._throttle_ms - elapsed))


class _Unbounded(ControllerMutationQuota):
    """Kafka's UnboundedControllerMutationQuota: no quota set, nothing recorded."""

    __slots__ = ()

    def __init__(self) -> None:
        pass

    def record(self, permits: float) -> None:
        pass

    def throttle_time_ms(self) -> int:
        return 0


UNBOUNDED: ControllerMutationQuota = _Unbounded()
