"""Kafka's ClientQuotaManager rules, without a broker: which quota applies to a
(user, client-id), which connections share a rate, and the throttle time; and the
controller mutation quota's token bucket, strict and permissive."""

from __future__ import annotations

import pytest

from kafka_compat.quotas.client_quotas import (
    ClientQuotaManager,
    ClientQuotas,
    ControllerMutationQuotaManager,
)
from kafka_compat.quotas.controller_mutation import UNBOUNDED, ThrottlingQuotaExceeded
from kafka_compat.quotas.rate import Rate

D = None  # <default>
# Kafka's precedence, most specific first: (user, client-id) as stored.
LEVELS = [
    ("alice", "app"),
    ("alice", D),
    ("alice", ""),
    (D, "app"),
    (D, D),
    (D, ""),
    ("", "app"),
    ("", D),
]


@pytest.mark.parametrize("level", range(len(LEVELS)))
def test_the_most_specific_quota_set_applies(level):
    manager = ClientQuotaManager(11, 1)
    manager.set_overrides({key: 1000.0 * (i + 1) for i, key in enumerate(LEVELS[level:])})
    tags = manager.metric_tags("alice", "app")
    assert manager.quota_limit(*tags) == 1000.0


def test_connections_under_one_entity_share_its_rate():
    manager = ClientQuotaManager(11, 1)
    manager.set_overrides({("alice", ""): 1000.0})
    assert manager.metric_tags("alice", "a") == manager.metric_tags("alice", "b") == ("alice", "")
    assert manager.quota_limit(*manager.metric_tags("bob", "a")) is None
    manager.set_overrides({("", "app"): 1000.0})
    assert manager.metric_tags("alice", "app") == manager.metric_tags("bob", "app")


def test_throttle_time_is_kafkas_and_the_request_quota_is_capped():
    manager = ClientQuotaManager(11, 1)
    manager.set_overrides({("", "c"): 100.0})
    # The first sample counts as 10 windows: 1000 bytes are just within 100/s.
    assert manager.record("u", "c", 1000, 0) == 0
    # 2000 bytes at 0.5 s, measured over 10.5 s: (2000/10.5 - 100) / 100 * 10.5 s, the
    # time after which 2000 bytes are 100/s.
    assert manager.record("u", "c", 1000, 500) == 9500
    capped = ClientQuotaManager(11, 1, cap_to_window=True)
    capped.set_overrides({("", "c"): 100.0})
    assert capped.record("u", "c", 5000, 0) == 1000


def test_rate_drops_samples_older_than_the_windows():
    rate = Rate(3, 1000)
    rate.record(3000, 0)
    assert rate.measure(0) == 1500  # at least 2 windows
    assert rate.measure(10_000) == 0


def test_ip_quota_changes_reach_the_listeners():
    quotas = ClientQuotas()
    seen = []
    quotas.on_ip_quota_change(lambda ip, rate: seen.append((ip, rate)))
    quotas.load([({"ip": "10.0.0.1"}, {"connection_creation_rate": 5.0})])
    quotas.load([({"ip": None}, {"connection_creation_rate": 7.0})])
    assert seen == [("10.0.0.1", 5.0), ("10.0.0.1", None), (None, 7.0)] or seen == [
        ("10.0.0.1", 5.0),
        (None, 7.0),
        ("10.0.0.1", None),
    ]
    late = []
    quotas.on_ip_quota_change(lambda ip, rate: late.append((ip, rate)))
    assert late == [(None, 7.0)]
    assert not quotas.enabled


# ---- controller_mutation_rate: Kafka's TokenBucket (quotas/controller_mutation.py) ----


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def mutation_manager(quota: float | None = 2.0, windows: int = 5):
    clock = FakeClock()
    manager = ControllerMutationQuotaManager(windows, 1, clock=clock)
    manager.set_overrides({} if quota is None else {("", "c"): quota})
    return manager, clock


def test_strict_quota_lets_a_request_through_while_the_bucket_is_not_negative():
    manager, clock = mutation_manager()  # burst 2/s x 5 windows x 1 s = 10
    quota = manager.new_quota_for("u", "c", strict=True)
    quota.record(8)
    quota.record(7)  # 2 left: allowed, and the bucket goes to -5
    assert manager.tokens("u", "c") == -5
    with pytest.raises(ThrottlingQuotaExceeded) as refused:
        quota.record(1)
    # The time the refill (2/s) needs to bring -5 back to zero; nothing was taken.
    assert refused.value.throttle_ms == 2500 == quota.throttle_time_ms()
    assert str(refused.value) == "The throttling quota has been exceeded."
    assert manager.tokens("u", "c") == -5
    clock.now += 1.0
    assert quota.throttle_time_ms() == 1500  # what is left to wait when answering
    clock.now += 1.5
    assert manager.tokens("u", "c") == 0
    again = manager.new_quota_for("u", "c", strict=True)
    again.record(1)
    assert again.throttle_time_ms() == 0  # a strict quota throttles only what it refuses
    clock.now += 1000
    assert manager.tokens("u", "c") == 10  # refilled up to the burst, no further


def test_permissive_quota_takes_everything_and_throttles():
    manager, _ = mutation_manager()
    quota = manager.new_quota_for("u", "c", strict=False)
    quota.record(8)
    assert quota.throttle_time_ms() == 0
    quota.record(8)
    quota.record(8)
    assert manager.tokens("u", "c") == -14
    assert quota.throttle_time_ms() == 7000


def test_no_quota_no_bucket():
    manager, _ = mutation_manager(quota=None)
    quota = manager.new_quota_for("u", "c", strict=True)
    assert quota is UNBOUNDED
    quota.record(1_000_000)
    assert quota.throttle_time_ms() == 0
    # Another client-id than the one with a quota: not limited.
    manager, _ = mutation_manager()
    other = manager.new_quota_for("u", "other", strict=True)
    for _ in range(100):
        other.record(1000)
    assert other.throttle_time_ms() == 0 and manager.buckets == {}


def test_a_quota_removed_and_set_again_starts_with_a_full_bucket():
    manager, _ = mutation_manager()
    manager.new_quota_for("u", "c", strict=False).record(30)
    assert manager.tokens("u", "c") == -20
    manager.set_overrides({})
    assert manager.tokens("u", "c") is None
    manager.set_overrides({("", "c"): 2.0})
    assert manager.tokens("u", "c") == 10
    # A lower quota caps what is left to its own, smaller burst.
    manager.set_overrides({("", "c"): 1.0})
    assert manager.tokens("u", "c") == 5


def test_mutation_quotas_load_from_the_store_entries():
    quotas = ClientQuotas(controller_num_samples=11, controller_window_s=1)
    quotas.load(
        [({"user": "alice"}, {"controller_mutation_rate": 3.0, "producer_byte_rate": 10.0})]
    )
    assert quotas.controller_mutation.quota_limit("alice", "") == 3.0
    assert quotas.controller_mutation.tokens("alice", "any") == 33.0  # 3 x 11 windows
    assert quotas.controller_mutation.tokens("bob", "any") is None
    assert quotas.produce.quota_limit("alice", "") == 10.0
