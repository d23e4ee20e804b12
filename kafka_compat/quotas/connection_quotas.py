"""Connection limits, as Kafka 3.9's ConnectionQuotas (SocketServer.scala).

What the acceptor asks before it hands a new connection to a task (`inc`), in
Kafka's order:

1. The connection creation rate, broker-wide (`max.connection.creation.rate`) and
   per listener (`listener.name.<l>.max.connection.creation.rate`, else the
   broker-wide value): the connection is recorded, and if a rate goes over its
   quota the acceptor waits (it stops accepting on that listener) for the time that
   brings the rate back to the quota, at most one quota window.
2. A free slot: the listener's count under its limit (`listener.name.<l>.
   max.connections`, else `max.connections`) and, except on the inter-broker
   listener when there are several, the broker's count under `max.connections`.
   Until then the acceptor waits; a closed connection or a config change wakes it.
   Clients queue in the listen backlog meanwhile: connected, but not answered.
3. The per-IP connection creation rate (the `ip` entity's
   `connection_creation_rate` quota, AlterClientQuotas): over it, the connection is
   not counted and is closed after the throttle time (Kafka's delayed close).
4. The per-IP count (`max.connections.per.ip`, `max.connections.per.ip.overrides`):
   at it, the connection is closed at once (logged, counted in `rejected_per_ip`).

The inter-broker listener is protected: its connections count towards the broker's
total but are never held back by it; when the total goes over `max.connections`
the least recently active connection of another listener is closed (Kafka's
Processor.closeExcessConnections), and the same happens when `max.connections` is
lowered at run time.

Rates are Kafka's `Rate` over a `SampledStat`: `quota.window.num` windows of
`quota.window.size.seconds` each, and while fewer windows than that have passed
since the oldest sample the rate divides by (num - 1) whole windows. So a fresh
broker takes a burst of up to rate x (num - 1) connections before it throttles,
exactly as Kafka does; the throttle time is (rate - quota) / quota x window.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import trio

from kafka_compat.config import BROKER_KEYS
from kafka_compat.config_values import ConfigError, parse_ip_count_overrides

log = logging.getLogger(__name__)

INT_MAX = 2**31 - 1
IP_CONNECTION_RATE_DEFAULT = float(INT_MAX)  # Kafka's QuotaConfig.IP_CONNECTION_RATE_DEFAULT
_IP_SENSOR_EXPIRY_S = 3600.0  # Kafka's ConnectionQuotaEntity: an idle IP's sensor goes


class TooManyConnections(Exception):
    """The address already has its maximum number of connections."""

    def __init__(self, ip: str, count: int) -> None:
        super().__init__(ip, count)
        self.ip, self.count = ip, count


class ConnectionThrottled(Exception):
    """The address is over its connection creation rate: close after `throttle_s`."""

    def __init__(self, ip: str, throttle_s: float) -> None:
        super().__init__(ip, throttle_s)
        self.ip, self.throttle_s = ip, throttle_s


class Rate:
    """Kafka's Rate (per second) over a SampledStat of summed values, with its
    quota check (Sensor.checkQuotas, QuotaUtils.throttleTime)."""

    __slots__ = ("samples", "windows", "window_ms", "current", "bound", "last_record_ms")

    def __init__(self, bound: float, windows: int, window_ms: float) -> None:
        self.bound = bound
        self.windows = windows
        self.window_ms = window_ms
        self.samples: list[list[float]] = []  # [start ms, last event ms, sum]
        self.current = 0
        self.last_record_ms = 0.0

    def record(self, value: float, now_ms: float) -> None:
        self.last_record_ms = now_ms
        if not self.samples:
            self.samples.append([now_ms, now_ms, 0.0])
        sample = self.samples[self.current]
        if now_ms - sample[0] >= self.window_ms:
            # One more sample than windows: the one overlapping the window's start.
            self.current = (self.current + 1) % (self.windows + 1)
            if self.current >= len(self.samples):
                self.samples.append([now_ms, now_ms, 0.0])
            else:
                self.samples[self.current] = [now_ms, now_ms, 0.0]
            sample = self.samples[self.current]
        sample[1] = now_ms
        sample[2] += value

    def _total_and_window_ms(self, now_ms: float) -> tuple[float, float]:
        """Kafka's purgeObsoleteSamples, then the samples' sum and Rate.windowSize,
        in one pass."""
        expire = self.windows * self.window_ms
        total, oldest = 0.0, now_ms
        for sample in self.samples:
            if now_ms - sample[1] >= expire:  # by its last event, as Kafka 3.8+
                sample[0] = sample[1] = now_ms
                sample[2] = 0.0
            total += sample[2]
            if sample[0] < oldest:
                oldest = sample[0]
        elapsed = now_ms - oldest
        full = int(elapsed // self.window_ms)
        if full < self.windows - 1:
            elapsed += (self.windows - 1 - full) * self.window_ms
        return total, max(elapsed, 1.0)

    def window_size_ms(self, now_ms: float) -> float:
        return self._total_and_window_ms(now_ms)[1]

    def measure(self, now_ms: float) -> float:
        total, window_ms = self._total_and_window_ms(now_ms)
        return total / (window_ms / 1000.0)

    def record_and_throttle_ms(self, now_ms: float, max_throttle_ms: float) -> float:
        """Record one connection; the delay that brings the rate back to the quota
        (0 if within it), at most `max_throttle_ms`."""
        self.record(1.0, now_ms)
        if self.bound >= INT_MAX:
            return 0.0  # no quota: nothing can go over it
        total, window_ms = self._total_and_window_ms(now_ms)
        value = total / (window_ms / 1000.0)
        if value <= self.bound:
            return 0.0
        if self.bound <= 0:
            return max_throttle_ms  # Kafka: an infinite throttle, bounded to the window
        throttle = round((value - self.bound) / self.bound * window_ms)
        return float(min(throttle, max_throttle_ms))


# Connection.last_active while a request is being handled: the connection is neither
# idle (connections.max.idle.ms) nor the least recently used.
BUSY = float("inf")


class Connection:
    """One accepted, counted connection: its listener and address, when it last
    answered a request (monotonic seconds; BUSY while handling one: for choosing the
    least recently used and closing idle ones), and the scope that closes it."""

    __slots__ = ("listener", "ip", "last_active", "cancel_scope", "closed")

    def __init__(self, listener: str, ip: str, now: float) -> None:
        self.listener = listener
        self.ip = ip
        self.last_active = now
        self.cancel_scope = trio.CancelScope()
        self.closed = False


def normalize_ip(host: str) -> str:
    """An address as a key: IPv4-mapped IPv6 as IPv4, IPv6 compressed."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def resolve_overrides(overrides: Mapping[str, int]) -> dict[str, int]:
    """max.connections.per.ip.overrides by address: host names resolved (Kafka's
    InetAddress.getByName: the first address). Raises ConfigError naming the key."""
    resolved = {}
    for host, count in overrides.items():
        address = host
        if not _is_ip(host):
            try:
                address = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][4][0]
            except (OSError, UnicodeError) as exc:  # "a..b": UnicodeError (idna)
                raise ConfigError(
                    f"Invalid value for configuration max.connections.per.ip.overrides: "
                    f"cannot resolve host {host!r} ({exc})"
                ) from None
        resolved[normalize_ip(address)] = count
    return resolved


class ConnectionQuotas:
    """The broker's connection counts and limits (one per broker, shared by every
    listener's accept loop); `reconfigure` takes new values at once."""

    def __init__(
        self,
        config: Any,
        listeners: Iterable[str],
        inter_broker_listener: str | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self.listeners = list(listeners)
        self.inter_broker_listener = inter_broker_listener
        self.windows = int(config["quota.window.num"])
        self.window_ms = float(config["quota.window.size.seconds"]) * 1000.0
        self.max_throttle_ms = self.window_ms
        self.counts: dict[str, int] = {}  # address -> open connections
        self.listener_counts = dict.fromkeys(self.listeners, 0)
        self.total = 0
        self.connections: set[Connection] = set()
        self.broker_rate = Rate(INT_MAX, self.windows, self.window_ms)
        self.listener_rates = {
            name: Rate(INT_MAX, self.windows, self.window_ms) for name in self.listeners
        }
        self.listener_max = dict.fromkeys(self.listeners, INT_MAX)
        self.ip_rates: dict[str, Rate] = {}
        self.ip_rate_quotas: dict[str, float] = {}
        self.default_ip_rate = IP_CONNECTION_RATE_DEFAULT
        # What Kafka logs or meters: connections closed over the per-IP count, closed
        # over the per-IP rate, and the seconds acceptors spent waiting.
        self.rejected_per_ip = 0
        self.throttled_per_ip = 0
        self.blocked_s = 0.0
        self.forced_closes = 0
        # When the latest connections were counted (monotonic seconds): the accept rate
        # as the broker saw it.
        self.recent_accepts: deque[float] = deque(maxlen=1000)
        self._wakeup = trio.Event()
        self._waiting = 0  # acceptors in _wait_for_slot
        self.overrides: dict[str, int] = {}
        self._overrides_generation = 0
        self.reconfigure(config, at_start=True)

    # ---- configuration ----

    def reconfigure(self, config: Any, at_start: bool = False) -> None:
        """Take the current max.connections* and max.connection.creation.rate values
        (static, dynamic, per listener). Waiting acceptors re-check at once. At start
        a host name in the overrides that does not resolve raises ConfigError."""
        # Everything is read (and may fail) before anything changes.
        max_per_ip = int(config["max.connections.per.ip"])
        overrides = parse_ip_count_overrides(config["max.connections.per.ip.overrides"] or "")
        if max_per_ip == 0 and not overrides:
            raise ConfigError(
                "max.connections.per.ip can be set to zero only if "
                "max.connections.per.ip.overrides property is set."
            )
        self._overrides_generation += 1
        if not at_start and _in_trio() and not all(map(_is_ip, overrides)):
            # A change at run time that names hosts: resolved off the event loop, then
            # applied; the previous overrides hold meanwhile.
            resolved = self.overrides
            trio.lowlevel.spawn_system_task(
                self._resolve_later, overrides, self._overrides_generation
            )
        else:
            resolved = resolve_overrides(overrides)
        broker_max = int(config["max.connections"])
        broker_rate = float(config["max.connection.creation.rate"])
        listener_max, listener_rate = {}, {}
        for name in self.listeners:
            # Kafka's valuesWithPrefixOverride: the listener's value, else the broker's.
            limit = _listener_value(config, name, "max.connections")
            listener_max[name] = broker_max if limit is None else limit
            rate = _listener_value(config, name, "max.connection.creation.rate")
            listener_rate[name] = broker_rate if rate is None else float(rate)
        limits = (max_per_ip, resolved, broker_max, broker_rate, listener_max, listener_rate)
        if limits != getattr(self, "_limits", limits):  # a change at run time
            log.info(
                "Connection limits: max.connections=%d, max.connections.per.ip=%d "
                "(overrides %s), max.connection.creation.rate=%g; per listener %s",
                broker_max,
                max_per_ip,
                resolved or "none",
                broker_rate,
                {n: (listener_max[n], listener_rate[n]) for n in self.listeners},
            )
        self._limits = limits
        self.max_per_ip, self.overrides = max_per_ip, resolved
        self.broker_max, self.broker_rate.bound = broker_max, broker_rate
        self.listener_max = listener_max
        for name, rate in listener_rate.items():
            self.listener_rates[name].bound = rate
        self._notify()
        self.close_excess()

    async def _resolve_later(self, overrides: dict[str, int], generation: int) -> None:
        try:
            resolved = await trio.to_thread.run_sync(resolve_overrides, overrides)
        except Exception as exc:  # a system task must not fail: log and keep
            log.error("Keeping max.connections.per.ip.overrides: %s", exc)
            return
        if generation == self._overrides_generation:  # no newer change meanwhile
            self.overrides = resolved
            log.info("max.connections.per.ip.overrides now %s", resolved)

    def update_ip_quota(self, ip: str | None, rate: float | None) -> None:
        """The `ip` entity's connection_creation_rate quota (AlterClientQuotas): `ip`
        None is the default for every address, `rate` None removes the quota."""
        if ip is None:
            self.default_ip_rate = IP_CONNECTION_RATE_DEFAULT if rate is None else float(rate)
            log.info("Updated default max IP connection rate to %s", self.default_ip_rate)
        else:
            ip = normalize_ip(ip)
            if rate is None:
                self.ip_rate_quotas.pop(ip, None)
                log.info("Removing max connection rate override for %s", ip)
            else:
                self.ip_rate_quotas[ip] = float(rate)
                log.info("Updating max connection rate override for %s to %s", ip, rate)
        for address, sensor in self.ip_rates.items():
            sensor.bound = self.connection_rate_for_ip(address)

    def set_ip_quotas(self, rates: Mapping[str | None, float]) -> None:
        """Every `ip` entity's connection_creation_rate at once (None: the default),
        e.g. as loaded from the metadata store at start-up; the others are removed."""
        self.default_ip_rate = float(rates.get(None, IP_CONNECTION_RATE_DEFAULT))
        self.ip_rate_quotas = {
            normalize_ip(ip): float(rate) for ip, rate in rates.items() if ip is not None
        }
        for address, sensor in self.ip_rates.items():
            sensor.bound = self.connection_rate_for_ip(address)

    def connection_rate_for_ip(self, ip: str) -> float:
        return self.ip_rate_quotas.get(ip, self.default_ip_rate)

    def max_for_ip(self, ip: str) -> int:
        return self.overrides.get(ip, self.max_per_ip)

    # ---- the accept path ----

    def _protected(self, listener: str) -> bool:
        return listener == self.inter_broker_listener and len(self.listeners) > 1

    def _slot_available(self, listener: str) -> bool:
        if self.listener_counts[listener] >= self.listener_max[listener]:
            return False
        return self._protected(listener) or self.total < self.broker_max

    def _record_connection(self, listener: str, now_ms: float) -> float:
        """Record the connection in the broker's and listener's rates; the longer
        delay (ms). The inter-broker listener answers to its own rate only."""
        throttle = 0.0
        if not self._protected(listener):
            throttle = self.broker_rate.record_and_throttle_ms(now_ms, self.max_throttle_ms)
        listener_throttle = self.listener_rates[listener].record_and_throttle_ms(
            now_ms, self.max_throttle_ms
        )
        return max(throttle, listener_throttle)

    async def inc(self, listener: str, ip: str) -> Connection:
        """Count a new connection from `ip` on `listener`, waiting while a creation
        rate is over its quota or no slot is free. Raises ConnectionThrottled or
        TooManyConnections (the connection is then not counted)."""
        now = self.clock()
        throttle_s = self._record_connection(listener, now * 1000.0) / 1000.0
        if throttle_s > 0 or not self._slot_available(listener):
            await self._wait_for_slot(listener, now, now + throttle_s)
        if self.ip_rate_quotas or self.default_ip_rate != IP_CONNECTION_RATE_DEFAULT:
            self._record_ip_connection(listener, ip)
        count = self.counts.get(ip, 0)
        if count >= self.max_for_ip(ip):
            self.rejected_per_ip += 1
            raise TooManyConnections(ip, self.max_for_ip(ip))
        self.counts[ip] = count + 1
        self.total += 1
        self.listener_counts[listener] += 1
        connection = Connection(listener, ip, self.clock())
        self.connections.add(connection)
        self.recent_accepts.append(connection.last_active)
        if self.total > self.broker_max and self._protected(listener):
            self.close_excess()
        return connection

    async def _wait_for_slot(self, listener: str, start: float, end: float) -> None:
        self._waiting += 1
        try:
            while True:
                remaining = end - self.clock()
                if remaining <= 0 and self._slot_available(listener):
                    break
                wakeup = self._wakeup
                with trio.move_on_after(remaining if remaining > 0 else math.inf):
                    await wakeup.wait()
        finally:
            self._waiting -= 1
            self.blocked_s += self.clock() - start

    def _record_ip_connection(self, listener: str, ip: str) -> None:
        quota = self.connection_rate_for_ip(ip)
        if quota == IP_CONNECTION_RATE_DEFAULT:
            return
        sensor = self.ip_rates.get(ip)
        if sensor is None:
            if len(self.ip_rates) > 1000:
                self._expire_ip_sensors()
            sensor = self.ip_rates[ip] = Rate(quota, self.windows, self.window_ms)
        now_ms = self.clock() * 1000.0
        throttle_ms = sensor.record_and_throttle_ms(now_ms, self.max_throttle_ms)
        if throttle_ms > 0:
            # Not accepted: take it back out of every rate it was recorded in.
            sensor.record(-1.0, now_ms)
            if not self._protected(listener):
                self.broker_rate.record(-1.0, now_ms)
            self.listener_rates[listener].record(-1.0, now_ms)
            self.throttled_per_ip += 1
            raise ConnectionThrottled(ip, throttle_ms / 1000.0)

    def _expire_ip_sensors(self) -> None:
        cutoff = (self.clock() - _IP_SENSOR_EXPIRY_S) * 1000.0
        for ip in [ip for ip, s in self.ip_rates.items() if s.last_record_ms < cutoff]:
            del self.ip_rates[ip]

    def dec(self, connection: Connection) -> None:
        """A counted connection closed (or is being closed): free its slot."""
        if connection.closed:
            return
        connection.closed = True
        self.connections.discard(connection)
        count = self.counts.get(connection.ip, 0)
        if count <= 1:
            self.counts.pop(connection.ip, None)
        else:
            self.counts[connection.ip] = count - 1
        self.total -= 1
        self.listener_counts[connection.listener] -= 1
        self._notify()

    def close_excess(self) -> None:
        """Over max.connections (the inter-broker listener went past it, or it was
        lowered): close the least recently active connections of the other listeners
        until back within it."""
        while self.total > self.broker_max:
            victims = [c for c in self.connections if not self._protected(c.listener)]
            if not victims:
                return
            victim = min(victims, key=lambda c: c.last_active)
            log.info(
                "Closing connection from %s on listener %s: broker over max.connections (%d)",
                victim.ip,
                victim.listener,
                self.broker_max,
            )
            self.forced_closes += 1
            victim.cancel_scope.cancel()
            self.dec(victim)

    def _notify(self) -> None:
        if self._waiting:
            self._wakeup.set()
            self._wakeup = trio.Event()

    def get(self, ip: str) -> int:
        """Open connections from `ip`."""
        return self.counts.get(normalize_ip(ip), 0)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _in_trio() -> bool:
    try:
        trio.lowlevel.current_trio_token()
    except RuntimeError:
        return False
    return True


def _listener_value(config: Any, listener: str, key: str) -> int | None:
    name = f"listener.name.{listener.lower()}.{key}"
    raw = config.listener_props.get(name)
    if raw is None:
        return None
    try:
        return BROKER_KEYS[key].parse(raw.strip())
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"Invalid value {raw!r} for configuration {name}: {exc}") from None
