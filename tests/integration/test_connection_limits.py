"""Connection limits over real sockets (Kafka's ConnectionQuotas,
quotas/connection_quotas.py): max.connections.per.ip and its overrides,
max.connections (broker-wide and per listener, the inter-broker listener protected),
connection creation rates (broker-wide and the per-IP quota), and changes through
IncrementalAlterConfigs that apply without a restart.

Raw sockets ask ApiVersions v0 and see one of three things: an answer (served), the
broker closing the connection (refused), or nothing yet (accepted by the kernel,
held back by the broker's acceptor, as Kafka's acceptor blocks). Other addresses
are 127.0.0.2 and up: Linux routes all of 127/8 to the loopback interface.
"""

from __future__ import annotations

import socket
import struct
import time

import pytest
import trio
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from kafka_compat.tools.connection import Connection
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode
from protocol.headers import encode_request_header

TIMEOUT_S = 30
BROKER = 4  # ConfigResource.Type
SET, DELETE = 0, 1  # AlterConfigOp.OpType
IncrementalAlter = messages.request_type(ApiKey.INCREMENTAL_ALTER_CONFIGS)
AlterClientQuotas = messages.request_type(ApiKey.ALTER_CLIENT_QUOTAS)
ApiVersions = messages.request_type(ApiKey.API_VERSIONS)
Describe = messages.request_type(ApiKey.DESCRIBE_CONFIGS)
_SIZE = struct.Struct(">i")


def _api_versions_request(correlation: int = 1) -> bytes:
    payload = encode_request_header(ApiKey.API_VERSIONS, 0, correlation, "limits-test")
    payload += messages.encode_request(ApiKey.API_VERSIONS, 0, ApiVersions())
    return _SIZE.pack(len(payload)) + payload


def open_raw(port: int, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((source, 0))
    sock.settimeout(TIMEOUT_S)
    sock.connect(("127.0.0.1", port))
    return sock


def ask(sock: socket.socket, timeout: float = TIMEOUT_S) -> bool:
    """ApiVersions on a raw connection: True if answered, False if the broker closed
    it; socket.timeout if neither happened within `timeout`."""
    sock.settimeout(timeout)
    try:
        sock.sendall(_api_versions_request())
        return _answered(sock)
    except (ConnectionResetError, BrokenPipeError):
        return False


def _answered(sock: socket.socket) -> bool:
    try:
        head = _recv_exactly(sock, 4)
        if head is None:
            return False
        (size,) = _SIZE.unpack(head)
        return _recv_exactly(sock, size) is not None
    except ConnectionResetError:
        return False


def _recv_exactly(sock: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def quotas(handle):
    return handle.broker.connection_quotas


def _alter(conn: Connection, *ops: tuple[str, str | None, int], entity: str = "0"):
    configs = [
        IncrementalAlter.AlterableConfig(name=k, config_operation=op, value=v) for k, v, op in ops
    ]
    resource = IncrementalAlter.AlterConfigsResource(
        resource_type=BROKER, resource_name=entity, configs=configs
    )
    answer = conn.request(
        ApiKey.INCREMENTAL_ALTER_CONFIGS,
        IncrementalAlter(resources=[resource], validate_only=False),
    )
    [result] = answer.responses
    return result.error_code, result.error_message


def _describe(conn: Connection, *names: str) -> dict[str, tuple[str | None, bool]]:
    """This broker's configs `names`: (value, read_only)."""
    resource = Describe.DescribeConfigsResource(
        resource_type=BROKER, resource_name="0", configuration_keys=list(names)
    )
    answer = conn.request(ApiKey.DESCRIBE_CONFIGS, Describe(resources=[resource]))
    [result] = answer.results
    return {c.name: (c.value, c.read_only) for c in result.configs}


def _connect(port: int) -> Connection:
    return Connection("127.0.0.1", port, TIMEOUT_S)


def _admin_works(bootstrap: str, timeout: float) -> bool:
    admin = AdminClient({"bootstrap.servers": bootstrap, "reconnect.backoff.max.ms": 200})
    try:
        admin.list_topics(timeout=timeout)
        return True
    except KafkaException:
        return False


def test_connections_over_the_per_ip_limit_are_closed_at_once(broker_factory):
    broker = broker_factory(max_connections_per_ip="3")
    held = [open_raw(broker.port) for _ in range(3)]
    assert all(ask(s) for s in held)
    extra = open_raw(broker.port)
    assert ask(extra) is False  # accepted, then closed by the broker
    assert quotas(broker).rejected_per_ip == 1
    assert quotas(broker).get("127.0.0.1") == 3
    # Another address has its own count.
    other = open_raw(broker.port, source="127.0.0.2")
    assert ask(other)
    # A real client cannot get in while the address is at its limit ...
    assert not _admin_works(broker.bootstrap, timeout=3)
    assert all(ask(s) for s in held)  # ... and the held connections keep working
    for sock in held:
        sock.close()
    # Once they close, it can (the broker sees the closes asynchronously: retry).
    deadline = time.monotonic() + TIMEOUT_S
    while quotas(broker).get("127.0.0.1") > 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _admin_works(broker.bootstrap, timeout=TIMEOUT_S)
    other.close()
    extra.close()


def test_per_ip_override_by_address_and_by_host_name(broker_factory):
    broker = broker_factory(
        max_connections_per_ip="1",
        max_connections_per_ip_overrides="localhost:4,127.0.0.3:2",
    )
    assert quotas(broker).max_for_ip("127.0.0.1") == 4  # localhost resolved
    local = [open_raw(broker.port) for _ in range(4)]
    assert all(ask(s) for s in local)
    assert ask(open_raw(broker.port)) is False
    third = [open_raw(broker.port, "127.0.0.3") for _ in range(3)]
    assert [ask(s) for s in third] == [True, True, False]
    second = [open_raw(broker.port, "127.0.0.2") for _ in range(2)]
    assert [ask(s) for s in second] == [True, False]
    for sock in local + third + second:
        sock.close()


def test_a_bad_override_stops_start_up(broker_factory):
    with pytest.raises(Exception, match="max.connections.per.ip.overrides"):
        broker_factory(max_connections_per_ip_overrides="127.0.0.1=3")


def test_max_connections_holds_new_connections_until_one_closes(broker_factory):
    broker = broker_factory(max_connections="3")
    held = [open_raw(broker.port) for _ in range(3)]
    assert all(ask(s) for s in held)
    waiting = open_raw(broker.port)  # the kernel accepts it; the broker does not yet
    with pytest.raises(socket.timeout):
        ask(waiting, timeout=1.0)
    assert quotas(broker).total == 3
    assert all(ask(s) for s in held[1:])  # the others are still served
    held[0].close()
    waiting.settimeout(TIMEOUT_S)
    assert _answered(waiting)  # its request, sent while it waited, is answered now
    assert quotas(broker).blocked_s > 0.5
    for sock in held[1:] + [waiting]:
        sock.close()


def _two_listeners(broker_factory, **props):
    broker = broker_factory(
        listeners="BROKER://127.0.0.1:0,CLIENT://127.0.0.1:0",
        listener_security_protocol_map="BROKER:PLAINTEXT,CLIENT:PLAINTEXT",
        inter_broker_listener_name="BROKER",
        **props,
    )
    return broker, broker.broker.bound_ports["BROKER"], broker.broker.bound_ports["CLIENT"]


def test_the_inter_broker_listener_is_protected(broker_factory):
    broker, inter, client = _two_listeners(broker_factory, max_connections="2")
    first, second = open_raw(client), open_raw(client)
    assert ask(first) and ask(second) and ask(first)  # `second` is least recently used
    queued = open_raw(client)
    with pytest.raises(socket.timeout):
        ask(queued, timeout=1.0)
    # The broker is full, but a connection on the inter-broker listener is served,
    # and the least recently used client connection is closed to make room.
    peer = open_raw(inter)
    assert ask(peer)
    assert ask(second) is False
    assert ask(first)
    assert quotas(broker).forced_closes == 1 and quotas(broker).total == 2
    for sock in (first, second, queued, peer):
        sock.close()


def test_per_listener_max_connections(broker_factory):
    broker, inter, client = _two_listeners(broker_factory, listener_name_client_max_connections="1")
    one = open_raw(client)
    assert ask(one)
    two = open_raw(client)
    with pytest.raises(socket.timeout):
        ask(two, timeout=1.0)
    others = [open_raw(inter) for _ in range(3)]  # the other listener is not held
    assert all(ask(s) for s in others)
    one.close()
    two.settimeout(TIMEOUT_S)
    assert _answered(two)
    for sock in [two, *others]:
        sock.close()


def _answer_times(socks: list[socket.socket], meanwhile=None) -> list[float]:
    """Send ApiVersions on each, then the monotonic time each answer came (the
    acceptor takes them in order); `meanwhile()` runs after the first answer."""
    for sock in socks:
        sock.sendall(_api_versions_request())
    times = []
    for sock in socks:
        sock.settimeout(TIMEOUT_S)
        assert _answered(sock)
        times.append(time.monotonic())
        if meanwhile is not None and len(times) == 1:
            meanwhile()
    return times


def test_connection_creation_rate_throttles_the_acceptor(broker_factory):
    # Two 1 s windows keep Kafka's initial burst small: rate x (windows - 1) = 5.
    broker = broker_factory(max_connection_creation_rate="5", quota_window_num="2")
    existing = _connect(broker.port)
    socks = [open_raw(broker.port) for _ in range(20)]
    served = []

    def use_existing() -> None:  # while the acceptor is throttled
        existing.request(ApiKey.API_VERSIONS, ApiVersions())
        served.append(time.monotonic())

    times = _answer_times(socks, use_existing)
    # As the broker counted them: Kafka's arithmetic lets 9 through in the first
    # second (see the unit test), at most rate x 2 windows, and 20 take 3 s.
    accepted = list(quotas(broker).recent_accepts)[-20:]
    assert sum(t - accepted[0] < 1.0 for t in accepted) <= 10
    assert accepted[-1] - accepted[0] >= 2.0
    assert quotas(broker).blocked_s >= 2.0
    assert times[-1] - times[0] >= 2.0  # what the clients saw
    assert served[0] < times[-1]  # open connections are served meanwhile
    existing.close()
    for sock in socks:
        sock.close()


def test_kafka_default_windows_allow_a_burst_before_throttling(broker_factory):
    # quota.window.num=11: a fresh broker takes rate x 10 connections before it waits.
    broker = broker_factory(max_connection_creation_rate="5")
    socks = [open_raw(broker.port) for _ in range(55)]
    _answer_times(socks)
    # The first 50 pass without a wait; the 51st waits 200 ms, and so on.
    accepted = list(quotas(broker).recent_accepts)
    assert accepted[49] - accepted[0] < accepted[54] - accepted[49]
    assert accepted[54] - accepted[49] >= 0.8
    assert quotas(broker).blocked_s >= 0.8
    for sock in socks:
        sock.close()


def _wait_total(broker, total: int) -> None:
    """Until the broker has seen the closes (it notices them asynchronously)."""
    deadline = time.monotonic() + TIMEOUT_S
    while quotas(broker).total != total and time.monotonic() < deadline:
        time.sleep(0.02)
    assert quotas(broker).total == total


def test_limits_change_through_alter_configs_without_restart(broker_factory):
    broker = broker_factory()
    admin = _connect(broker.port)
    held = [open_raw(broker.port) for _ in range(3)]
    assert all(ask(s) for s in held)
    # The per-IP limit: 4 connections from 127.0.0.1 are open (admin + 3).
    assert _alter(admin, ("max.connections.per.ip", "4", SET))[0] == ErrorCode.NONE
    assert ask(open_raw(broker.port)) is False
    other = open_raw(broker.port, "127.0.0.2")
    assert ask(other)
    assert _alter(admin, ("max.connections.per.ip.overrides", "127.0.0.1:6", SET))[0] == 0
    extra = open_raw(broker.port)
    assert ask(extra)
    shown = _describe(admin, "max.connections.per.ip.overrides", "max.connections.per.ip")
    assert shown == {
        "max.connections.per.ip.overrides": ("127.0.0.1:6", False),
        "max.connections.per.ip": ("4", False),
    }
    assert _alter(admin, ("max.connections.per.ip", None, DELETE))[0] == 0
    assert _alter(admin, ("max.connections.per.ip.overrides", None, DELETE))[0] == 0
    # Lowering max.connections below the open count closes the least recently used:
    # `other`, `extra` and held[0] (admin's request is the most recent).
    _wait_total(broker, 6)
    assert all(ask(s) for s in held)
    assert _alter(admin, ("max.connections", "3", SET))[0] == 0
    assert quotas(broker).total == 3
    assert [ask(s) for s in [other, extra, *held]] == [False, False, False, True, True]
    admin.request(ApiKey.API_VERSIONS, ApiVersions())
    # A per-listener limit, set at the cluster default level as Kafka allows; 0 is
    # refused as Kafka refuses it.
    code, message = _alter(admin, ("listener.name.plaintext.max.connections", "0", SET), entity="")
    assert code == ErrorCode.INVALID_REQUEST and "max.connections" in message
    assert _alter(admin, ("max.connections", None, DELETE))[0] == 0
    assert _alter(admin, ("listener.name.plaintext.max.connections", "50", SET), entity="")[0] == 0
    assert quotas(broker).listener_max["PLAINTEXT"] == 50
    assert quotas(broker).broker_max == 2**31 - 1
    admin.close()
    for sock in [*held, extra, other]:
        sock.close()


def _set_ip_quota(broker, ip: str | None, rate: float | None) -> None:
    trio.from_thread.run_sync(
        quotas(broker).update_ip_quota, ip, rate, trio_token=broker.trio_token
    )


def test_ip_connection_creation_rate_quota(broker_factory):
    broker = broker_factory(quota_window_num="2")
    _set_ip_quota(broker, "127.0.0.1", 2)
    first = [open_raw(broker.port) for _ in range(2)]
    assert all(ask(s) for s in first)
    # The third within the second: not served, and closed once its throttle time
    # (3/s over 2/s over a 1 s window: 500 ms) has passed, as Kafka delays the close.
    opened = time.monotonic()
    assert ask(open_raw(broker.port)) is False
    assert time.monotonic() - opened >= 0.4
    assert quotas(broker).throttled_per_ip == 1
    assert ask(open_raw(broker.port, "127.0.0.2"))  # other addresses are not limited
    assert all(ask(s) for s in first)
    _set_ip_quota(broker, "127.0.0.1", None)
    assert ask(open_raw(broker.port))
    for sock in first:
        sock.close()


def test_ip_connection_creation_rate_quota_through_alter_client_quotas(broker_factory):
    broker = broker_factory(quota_window_num="2")
    with _connect(broker.port) as admin:
        entry = AlterClientQuotas.EntryData(
            entity=[AlterClientQuotas.EntityData(entity_type="ip", entity_name="127.0.0.1")],
            ops=[AlterClientQuotas.OpData(key="connection_creation_rate", value=1.0, remove=False)],
        )
        answer = admin.request(ApiKey.ALTER_CLIENT_QUOTAS, AlterClientQuotas(entries=[entry]))
        assert [e.error_code for e in answer.entries] == [ErrorCode.NONE]
    assert quotas(broker).connection_rate_for_ip("127.0.0.1") == 1.0
    socks = [open_raw(broker.port) for _ in range(2)]
    assert [ask(s) for s in socks] == [True, False]  # 1/s
    assert ask(open_raw(broker.port, "127.0.0.2"))
    for sock in socks:
        sock.close()
