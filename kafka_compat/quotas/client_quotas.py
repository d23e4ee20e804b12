"""Kafka's ClientQuotaManager with its default callback: which quota applies to a
request, the rate it is measured against, and the throttle time when over.

Three managers, as in Kafka: produce (request bytes), fetch (response bytes) and
request (time spent handling the request, as a percentage of one thread); a fourth,
ControllerMutationQuotaManager, resolves controller_mutation_rate the same way and
measures it with a token bucket (controller_mutation.py). A request is measured under
the metric tags (user, client-id) of the most specific level that has a quota
anywhere (Kafka's precedence, highest first):

    /config/users/<user>/clients/<client-id>
    /config/users/<user>/clients/<default>
    /config/users/<user>
    /config/users/<default>/clients/<client-id>
    /config/users/<default>/clients/<default>
    /config/users/<default>
    /config/clients/<client-id>
    /config/clients/<default>

so every connection with the same tags shares one rate. The rate is Kafka's (rate.py:
`quota.window.num` samples of `quota.window.size.seconds`); when it is over the quota
the throttle time is (rate - quota) / quota * window, in ms: not capped for byte
rates, capped at one window for the request quota (Kafka 3.x).

The user is the connection's principal name (User:ANONYMOUS's "ANONYMOUS" on a
plaintext listener). Nothing is measured while no quota is set (`enabled`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

from kafka_compat.quotas.controller_mutation import (
    UNBOUNDED,
    ControllerMutationQuota,
    TokenBucket,
)
from kafka_compat.quotas.rate import Rate
from kafka_compat.quotas.store import (
    CLIENT_ID,
    CONNECTION_CREATION_RATE,
    CONSUMER_BYTE_RATE,
    CONTROLLER_MUTATION_RATE,
    IP,
    PRODUCER_BYTE_RATE,
    REQUEST_PERCENTAGE,
    USER,
    QuotaEntity,
)

__all__ = ["ClientQuotaManager", "ClientQuotas", "ControllerMutationQuotaManager"]

DEFAULT = None  # a default entity's name
# An entity as the managers key it: (user, client-id), each a name, DEFAULT (None)
# for <default>, or "" for "not part of this entity".
Key = tuple[str | None, str | None]
_INACTIVE_MS = 3600 * 1000  # Kafka's InactiveSensorExpirationTimeSeconds


class ClientQuotaManager:
    """One quota type's overrides and rates (module docstring)."""

    def __init__(self, num_samples: int, window_s: int, *, cap_to_window: bool = False) -> None:
        self.num_samples = num_samples
        self.window_ms = window_s * 1000
        self.cap_ms = self.window_ms if cap_to_window else None
        self.overrides: dict[Key, float] = {}
        self.rates: dict[tuple[str, str], Rate] = {}
        # Kafka's throttle-time sensor: the throttles this quota decided, averaged.
        self.throttle_times: dict[tuple[str, str], Rate] = {}
        self.user_quotas = self.client_quotas = self.user_client_quotas = False

    @property
    def enabled(self) -> bool:
        return bool(self.overrides)

    def set_overrides(self, overrides: dict[Key, float]) -> None:
        self.overrides = overrides
        keys = overrides.keys()
        self.user_client_quotas = any(u != "" and c != "" for u, c in keys)
        self.user_quotas = any(u != "" and c == "" for u, c in keys)
        self.client_quotas = any(u == "" and c != "" for u, c in keys)

    def metric_tags(self, user: str, client_id: str) -> tuple[str, str]:
        """Kafka's DefaultQuotaCallback.quotaMetricTags."""
        kinds = (self.user_quotas, self.client_quotas, self.user_client_quotas)
        if kinds in ((False, False, False), (False, True, False)):
            return "", client_id
        if kinds == (True, False, False):
            return user, ""
        if kinds == (False, False, True):
            return user, client_id
        o = self.overrides
        if (user, client_id) in o or (user, DEFAULT) in o:
            return user, client_id
        if (user, "") in o:
            return user, ""
        if (DEFAULT, client_id) in o or (DEFAULT, DEFAULT) in o:
            return user, client_id
        if (DEFAULT, "") in o:
            return user, ""
        return "", client_id

    def quota_limit(self, user: str, client_id: str) -> float | None:
        """Kafka's DefaultQuotaCallback.quotaLimit for the metric tags."""
        o = self.overrides
        if user and client_id:
            keys = ((user, client_id), (user, DEFAULT), (DEFAULT, client_id), (DEFAULT, DEFAULT))
            for key in keys:
                if key in o:
                    return o[key]
        elif user:
            for key in ((user, ""), (DEFAULT, "")):
                if key in o:
                    return o[key]
        elif client_id:
            for key in (("", client_id), ("", DEFAULT)):
                if key in o:
                    return o[key]
        return None

    def record(self, user: str, client_id: str, value: float, now_ms: float) -> int:
        """Record `value` and answer the throttle time in ms (0: within the quota)."""
        tags = self.metric_tags(user, client_id)
        rate = self._rate(tags, now_ms)
        rate.record(value, now_ms)
        bound = self.quota_limit(*tags)
        if bound is None:
            return 0
        observed = rate.measure(now_ms)
        if observed <= bound:
            return 0
        throttle = round((observed - bound) / bound * rate.window_size_ms(now_ms))
        return throttle if self.cap_ms is None else min(throttle, self.cap_ms)

    def unrecord(self, user: str, client_id: str, value: float, now_ms: float) -> None:
        rate = self.rates.get(self.metric_tags(user, client_id))
        if rate is not None:
            rate.record(-value, now_ms)

    def max_value_in_window(self, user: str, client_id: str) -> float | None:
        """Kafka's getMaxValueInQuotaWindow: what a whole window allows (a fetch's
        max_bytes is capped to it), None without a quota."""
        bound = self.quota_limit(*self.metric_tags(user, client_id))
        if bound is None:
            return None
        return bound * (self.num_samples - 1) * self.window_ms / 1000

    def record_throttle(self, user: str, client_id: str, throttle_ms: int, now_ms: float) -> None:
        tags = self.metric_tags(user, client_id)
        stat = self.throttle_times.get(tags)
        if stat is None:
            stat = self.throttle_times[tags] = Rate(self.num_samples, self.window_ms)
        stat.record(throttle_ms, now_ms)

    def client_metrics(self, now_ms: float) -> list[tuple[str, str, float, float]]:
        """(user, client-id, rate, throttle-time) per metric tags measured: Kafka's
        per-client quota metrics (byte-rate / request-time / mutation-rate, and the
        average throttle in ms, NaN when none in the window)."""
        self._expire(now_ms)  # Kafka's sensors go after an hour unused
        nan = float("nan")
        found = []
        for tags in self.rates.keys() | self.throttle_times.keys():
            rate, throttles = self.rates.get(tags), self.throttle_times.get(tags)
            value = rate.measure(now_ms) if rate is not None else 0.0
            found.append((*tags, value, throttles.avg(now_ms) if throttles is not None else nan))
        return found

    def _rate(self, tags: tuple[str, str], now_ms: float) -> Rate:
        """The rate of these metric tags, made on first use (idle ones expire first
        once there are over 1000)."""
        rate = self.rates.get(tags)
        if rate is None:
            if len(self.rates) > 1000:
                self._expire(now_ms)
            rate = self.rates[tags] = Rate(self.num_samples, self.window_ms)
        return rate

    def _expire(self, now_ms: float) -> None:
        for stats in (self.rates, self.throttle_times):
            for tags, rate in list(stats.items()):
                if now_ms - rate.last_event_ms > _INACTIVE_MS:
                    del stats[tags]


class ControllerMutationQuotaManager(ClientQuotaManager):
    """The controller_mutation_rate overrides (ClientQuotaManager's resolution) and a
    token bucket per metric tags (controller_mutation.py)."""

    def __init__(
        self,
        num_samples: int,
        window_s: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(num_samples, window_s)
        self.clock = clock
        self.buckets: dict[tuple[str, str], TokenBucket] = {}

    def now_ms(self) -> float:
        return self.clock() * 1000.0

    def new_quota_for(self, user: str, client_id: str, strict: bool) -> ControllerMutationQuota:
        """The quota one request records its mutations against (UNBOUNDED while no
        controller_mutation_rate is set anywhere)."""
        if not self.enabled:
            return UNBOUNDED
        tags = self.metric_tags(user, client_id)
        lookup, taken = partial(self.bucket, tags), partial(self.taken, tags)
        return ControllerMutationQuota(lookup, taken, self.now_ms, strict)

    def bucket(
        self, tags: tuple[str, str], now_ms: float
    ) -> tuple[TokenBucket, float, float] | None:
        """The bucket of `tags` with its quota and burst; None without a quota."""
        quota = self.quota_limit(*tags)
        if quota is None:
            # Unlimited: Kafka's bucket is refilled to its (huge) burst meanwhile, so it
            # starts full again once a quota is set.
            self.buckets.pop(tags, None)
            return None
        burst = quota * self.num_samples * self.window_ms / 1000.0
        bucket = self.buckets.get(tags)
        if bucket is None:
            if len(self.buckets) > 1000:
                self.expire_buckets(now_ms)
            bucket = self.buckets[tags] = TokenBucket(burst, now_ms)
        return bucket, quota, burst

    def taken(self, tags: tuple[str, str], permits: float, now_ms: float) -> None:
        """Mutations done: Kafka's mutation-rate (the bucket decides, not this rate)."""
        self._rate(tags, now_ms).record(permits, now_ms)

    def tokens(self, user: str, client_id: str) -> float | None:
        """What is left in the bucket of this user / client-id (Kafka's `tokens`
        metric), None without a quota."""
        return self.tokens_of(self.metric_tags(user, client_id))

    def tokens_of(self, tags: tuple[str, str]) -> float | None:
        now = self.now_ms()
        found = self.bucket(tags, now)
        if found is None:
            return None
        bucket, quota, burst = found
        return bucket.measure(quota, burst, now)

    def expire_buckets(self, now_ms: float) -> None:
        for tags, bucket in list(self.buckets.items()):
            if now_ms - bucket.last_update_ms > _INACTIVE_MS:
                del self.buckets[tags]


def _key(entity: QuotaEntity) -> Key:
    user = entity[USER] if USER in entity else ""
    return user, entity[CLIENT_ID] if CLIENT_ID in entity else ""


class ClientQuotas:
    """The four managers and the IP quotas, loaded from the quota store's entries.

    `on_ip_quota_change(callback)`: callback(ip, rate) for each IP entity whose
    connection_creation_rate changed (ip None: the default; rate None: removed); the
    connection limits subscribe to it."""

    def __init__(
        self,
        num_samples: int = 11,
        window_s: int = 1,
        controller_num_samples: int = 11,
        controller_window_s: int = 1,
    ) -> None:
        self.produce = ClientQuotaManager(num_samples, window_s)
        self.fetch = ClientQuotaManager(num_samples, window_s)
        self.request = ClientQuotaManager(num_samples, window_s, cap_to_window=True)
        # controller_mutation_rate: applied by the admin handlers (apis/admin.py).
        self.controller_mutation = ControllerMutationQuotaManager(
            controller_num_samples, controller_window_s
        )
        self.ip_quotas: dict[str | None, float] = {}
        self.enabled = False
        self._ip_listeners: list[Callable[[str | None, float | None], None]] = []

    def on_ip_quota_change(self, callback: Callable[[str | None, float | None], None]) -> None:
        self._ip_listeners.append(callback)
        for ip, rate in self.ip_quotas.items():
            callback(ip, rate)

    def load(self, entries: list[tuple[QuotaEntity, dict[str, float]]]) -> None:
        """Take the quotas now in the store (after any change; cheap: entities are few)."""
        per_type: dict[str, dict[Key, float]] = {
            PRODUCER_BYTE_RATE: {},
            CONSUMER_BYTE_RATE: {},
            REQUEST_PERCENTAGE: {},
            CONTROLLER_MUTATION_RATE: {},
        }
        ips: dict[str | None, float] = {}
        for entity, values in entries:
            if IP in entity:
                if CONNECTION_CREATION_RATE in values:
                    ips[entity[IP]] = values[CONNECTION_CREATION_RATE]
                continue
            for key, overrides in per_type.items():
                if key in values:
                    overrides[_key(entity)] = values[key]
        self.produce.set_overrides(per_type[PRODUCER_BYTE_RATE])
        self.fetch.set_overrides(per_type[CONSUMER_BYTE_RATE])
        self.request.set_overrides(per_type[REQUEST_PERCENTAGE])
        self.controller_mutation.set_overrides(per_type[CONTROLLER_MUTATION_RATE])
        # Any quota set: server.py routes requests through throttling.py.
        self.enabled = any(
            m.enabled for m in (self.produce, self.fetch, self.request, self.controller_mutation)
        )
        before, self.ip_quotas = self.ip_quotas, ips
        for ip in before.keys() | ips.keys():
            if before.get(ip) != ips.get(ip):
                for callback in self._ip_listeners:
                    callback(ip, ips.get(ip))
