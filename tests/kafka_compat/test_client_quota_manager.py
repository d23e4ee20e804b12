"""Kafka's ClientQuotaManager rules, without a broker: which quota applies to a
(user, client-id), which connections share a rate, and the throttle time."""

from __future__ import annotations

import pytest

from kafka_compat.quotas.client_quotas import ClientQuotaManager, ClientQuotas
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
