"""ConnectionQuotas (quotas/connection_quotas.py) on its own, under Trio's autojump
clock: Kafka's rate arithmetic, the per-IP limits, the waits for a slot, the
inter-broker listener's protection and the per-IP creation rate quota."""

from __future__ import annotations

import pytest
import trio

from kafka_compat.config import BrokerConfig, ConfigError
from kafka_compat.quotas.connection_quotas import (
    ConnectionQuotas,
    ConnectionThrottled,
    Rate,
    TooManyConnections,
)


def quotas(props: dict[str, str] | None = None, listeners=("PLAINTEXT",), inter_broker=None):
    config = BrokerConfig(
        {
            "listeners": ",".join(f"{name}://127.0.0.1:0" for name in listeners),
            "listener.security.protocol.map": ",".join(f"{n}:PLAINTEXT" for n in listeners),
            **({"inter.broker.listener.name": inter_broker} if inter_broker else {}),
            **(props or {}),
        }
    )
    return config, ConnectionQuotas(
        config, list(listeners), inter_broker or listeners[0], clock=trio.current_time
    )


def test_kafka_rate_allows_a_burst_of_rate_times_window_count_minus_one():
    # Kafka's Rate: until num - 1 windows have passed, it divides by num - 1 windows.
    rate = Rate(5, windows=11, window_ms=1000)
    assert [rate.record_and_throttle_ms(0, 1000) for _ in range(50)] == [0] * 50
    # The 51st: 51 / 10 s = 5.1/s, 0.1 over 5/s: 0.1 / 5 x 10 s = 200 ms.
    assert rate.record_and_throttle_ms(0, 1000) == 200
    # Throttle times are bounded by one window.
    assert max(rate.record_and_throttle_ms(0, 1000) for _ in range(100)) == 1000
    # Eleven windows after the last event everything has expired.
    assert rate.record_and_throttle_ms(11_000, 1000) == 0


def test_kafka_rate_with_two_windows():
    rate = Rate(5, windows=2, window_ms=1000)
    assert [rate.record_and_throttle_ms(0, 1000) for _ in range(5)] == [0] * 5
    assert rate.record_and_throttle_ms(0, 1000) == 200  # 6/s over 5/s, 1 s window


async def test_per_ip_limit_and_override(autojump_clock):
    config, q = quotas(
        {"max.connections.per.ip": "2", "max.connections.per.ip.overrides": "10.0.0.9:3"}
    )
    a = [await q.inc("PLAINTEXT", "10.0.0.1") for _ in range(2)]
    with pytest.raises(TooManyConnections) as exc:
        await q.inc("PLAINTEXT", "10.0.0.1")
    assert (exc.value.ip, exc.value.count) == ("10.0.0.1", 2)
    assert q.rejected_per_ip == 1 and q.get("10.0.0.1") == 2 and q.total == 2
    for _ in range(3):
        await q.inc("PLAINTEXT", "10.0.0.9")
    with pytest.raises(TooManyConnections):
        await q.inc("PLAINTEXT", "10.0.0.9")
    q.dec(a[0])
    q.dec(a[0])  # twice: counted once
    await q.inc("PLAINTEXT", "10.0.0.1")
    assert q.get("10.0.0.1") == 2


def test_overrides_resolve_host_names_and_bad_ones_stop_start_up():
    _, q = quotas({"max.connections.per.ip.overrides": "localhost:7, ::1:4"})
    assert q.max_for_ip("127.0.0.1") == 7 and q.max_for_ip("::1") == 4
    with pytest.raises(ConfigError, match="max.connections.per.ip.overrides"):
        BrokerConfig({"max.connections.per.ip.overrides": "bad host!:3"})
    with pytest.raises(ConfigError, match="max.connections.per.ip.overrides"):
        BrokerConfig({"max.connections.per.ip.overrides": "127.0.0.1:many"})
    with pytest.raises(ConfigError, match="max.connections.per.ip.overrides"):
        quotas({"max.connections.per.ip.overrides": "no-such-host.invalid:3"})
    with pytest.raises(ConfigError, match="max.connections.per.ip.overrides"):
        quotas({"max.connections.per.ip.overrides": "a..b:3"})
    with pytest.raises(ConfigError, match="max.connections.per.ip"):
        quotas({"max.connections.per.ip": "0"})


async def test_max_connections_holds_the_acceptor_until_one_closes(autojump_clock):
    _, q = quotas({"max.connections": "2"})
    first = await q.inc("PLAINTEXT", "10.0.0.1")
    await q.inc("PLAINTEXT", "10.0.0.2")
    accepted = trio.Event()

    async def third():
        await q.inc("PLAINTEXT", "10.0.0.3")
        accepted.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(third)
        await trio.sleep(30)
        assert not accepted.is_set()
        q.dec(first)
        await accepted.wait()
    assert q.total == 2


async def test_raising_max_connections_at_run_time_releases_the_acceptor(autojump_clock):
    config, q = quotas({"max.connections": "1"})
    await q.inc("PLAINTEXT", "10.0.0.1")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(q.inc, "PLAINTEXT", "10.0.0.2")
        await trio.sleep(5)
        assert q.total == 1
        config.set_dynamic({"max.connections": "5"}, {})
        q.reconfigure(config)
    assert q.total == 2


async def test_listener_limit_defaults_to_the_broker_limit_and_may_be_lower(autojump_clock):
    config, q = quotas(
        {"max.connections": "10", "listener.name.external.max.connections": "1"},
        listeners=("INTERNAL", "EXTERNAL"),
    )
    assert q.listener_max == {"INTERNAL": 10, "EXTERNAL": 1}
    await q.inc("EXTERNAL", "10.0.0.1")
    with trio.move_on_after(5) as waited:
        await q.inc("EXTERNAL", "10.0.0.2")
    assert waited.cancelled_caught
    await q.inc("INTERNAL", "10.0.0.2")  # the other listener is not held


async def test_creation_rate_throttles_the_acceptor(autojump_clock):
    _, q = quotas({"max.connection.creation.rate": "5", "quota.window.num": "2"})
    start = trio.current_time()
    times = []
    for i in range(20):
        await q.inc("PLAINTEXT", f"10.0.0.{i}")
        times.append(trio.current_time() - start)
    # Kafka's arithmetic: a burst of 5, then each waits until the rate over (elapsed
    # + one window) is back at 5/s: 9 in the first second, 20 after 3 s.
    assert sum(t < 1 for t in times) == 9
    assert times[-1] == pytest.approx(3.0)
    assert q.blocked_s == pytest.approx(3.0)


async def test_inter_broker_listener_is_protected(autojump_clock):
    _, q = quotas({"max.connections": "2"}, listeners=("CLIENT", "BROKER"), inter_broker="BROKER")
    old = await q.inc("CLIENT", "10.0.0.1")
    await trio.sleep(1)
    recent = await q.inc("CLIENT", "10.0.0.2")
    recent.last_active = trio.current_time()
    # The broker is full, yet the inter-broker listener still accepts, and the least
    # recently active client connection is closed to make room.
    peer = await q.inc("BROKER", "10.0.0.3")
    assert old.cancel_scope.cancel_called and not recent.cancel_scope.cancel_called
    assert q.total == 2 and q.forced_closes == 1 and not peer.closed
    # Clients still wait for a slot.
    with trio.move_on_after(5) as waited:
        await q.inc("CLIENT", "10.0.0.4")
    assert waited.cancelled_caught


async def test_lowering_max_connections_closes_the_least_recently_used(autojump_clock):
    config, q = quotas()
    conns = []
    for i in range(4):
        conns.append(await q.inc("PLAINTEXT", f"10.0.0.{i}"))
        await trio.sleep(1)
    conns[0].last_active = trio.current_time()  # busy
    config.set_dynamic({"max.connections": "2"}, {})
    q.reconfigure(config)
    assert [c.cancel_scope.cancel_called for c in conns] == [False, True, True, False]
    assert q.total == 2


async def test_ip_connection_rate_quota(autojump_clock):
    _, q = quotas({"quota.window.num": "2"})
    q.update_ip_quota("10.0.0.1", 2)
    for _ in range(2):
        await q.inc("PLAINTEXT", "10.0.0.1")
    with pytest.raises(ConnectionThrottled) as exc:
        await q.inc("PLAINTEXT", "10.0.0.1")
    assert exc.value.throttle_s == pytest.approx(0.5)  # 3/s over 2/s, 1 s window
    assert q.throttled_per_ip == 1 and q.get("10.0.0.1") == 2
    for _ in range(5):  # other addresses are not limited
        await q.inc("PLAINTEXT", "10.0.0.2")
    # The default for every address, then removed.
    q.update_ip_quota(None, 1)
    await q.inc("PLAINTEXT", "10.0.0.3")
    with pytest.raises(ConnectionThrottled):
        await q.inc("PLAINTEXT", "10.0.0.3")
    q.update_ip_quota(None, None)
    q.update_ip_quota("10.0.0.1", None)
    for _ in range(5):
        await q.inc("PLAINTEXT", "10.0.0.3")
        await q.inc("PLAINTEXT", "10.0.0.1")
    assert q.throttled_per_ip == 2


def test_per_listener_limits_are_honoured_and_other_per_listener_keys_still_refused():
    config, q = quotas(
        {
            "listener.name.plaintext.max.connections": "7",
            "listener.name.plaintext.max.connection.creation.rate": "3",
        }
    )
    assert q.listener_max["PLAINTEXT"] == 7 and q.listener_rates["PLAINTEXT"].bound == 3
    with pytest.raises(ConfigError, match="listener.name.plaintext.max.connections.per.ip"):
        BrokerConfig({"listener.name.plaintext.max.connections.per.ip": "3"})
    with pytest.raises(ConfigError, match="listener.name.plaintext.max.connections"):
        quotas({"listener.name.plaintext.max.connections": "many"})


async def test_set_ip_quotas_replaces_them_all(autojump_clock):
    _, q = quotas({"quota.window.num": "2"})
    q.update_ip_quota("10.0.0.1", 5)
    q.set_ip_quotas({None: 3, "::ffff:10.0.0.2": 1})
    assert q.connection_rate_for_ip("10.0.0.1") == 3  # the default now
    assert q.connection_rate_for_ip("10.0.0.2") == 1
    await q.inc("PLAINTEXT", "10.0.0.2")
    with pytest.raises(ConnectionThrottled):
        await q.inc("PLAINTEXT", "10.0.0.2")
    q.set_ip_quotas({})
    assert q.connection_rate_for_ip("10.0.0.2") == q.default_ip_rate == 2**31 - 1
    await q.inc("PLAINTEXT", "10.0.0.2")


def test_a_zero_rate_throttles_every_connection_by_one_window():
    rate = Rate(0, windows=11, window_ms=1000)
    assert rate.record_and_throttle_ms(0, 1000) == 1000


async def test_host_names_in_overrides_changed_at_run_time_resolve_off_the_loop():
    config, q = quotas({"max.connections.per.ip.overrides": "127.0.0.9:2"})
    config.set_dynamic({"max.connections.per.ip.overrides": "localhost:5,10.0.0.1:3"}, {})
    q.reconfigure(config)
    assert q.max_for_ip("127.0.0.9") == 2  # the old overrides until resolved
    with trio.fail_after(30):
        while q.max_for_ip("127.0.0.1") != 5:
            await trio.sleep(0.01)
    assert q.overrides == {"127.0.0.1": 5, "10.0.0.1": 3}
    # One that does not resolve keeps the previous ones (logged).
    config.set_dynamic({"max.connections.per.ip.overrides": "no-such-host.invalid:1"}, {})
    q.reconfigure(config)
    config.set_dynamic({"max.connections.per.ip.overrides": "10.0.0.2:4"}, {})
    q.reconfigure(config)  # IP addresses only: at once
    assert q.overrides == {"10.0.0.2": 4}
