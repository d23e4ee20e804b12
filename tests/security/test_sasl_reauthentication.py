"""SASL sessions and their lifetime (KIP-368): clients re-authenticate on the same
connection before connections.max.reauth.ms ends, a session past it is closed on its
next request, and the per-mechanism limit wins over the listener's."""

from __future__ import annotations

import logging
import socket
import struct
import time

import pytest
from confluent_kafka import Producer

from tests.security.listener_props import GUARD_S, JAAS, address


def test_clients_re_authenticate_on_the_same_connection(start_broker, certs, caplog):
    broker = start_broker(
        {
            "listeners": "SASL_PLAINTEXT://127.0.0.1:0",
            "security.inter.broker.protocol": "SASL_PLAINTEXT",
            "sasl.enabled.mechanisms": "PLAIN",
            "sasl.jaas.config": JAAS,
            "connections.max.reauth.ms": "1000",
        }
    )
    producer = Producer(
        {
            "bootstrap.servers": address(broker, "SASL_PLAINTEXT"),
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "PLAIN",
            "sasl.username": "alice",
            "sasl.password": "alice-pw",
            "linger.ms": 0,
        }
    )
    delivered = []
    deadline = time.monotonic() + GUARD_S
    with caplog.at_level(logging.INFO, logger="kafka_compat"):
        # librdkafka logs in again before its session (1 s) ends; produce meanwhile.
        while "re-authenticated as User:alice" not in caplog.text:
            assert time.monotonic() < deadline, "no re-authentication"
            producer.produce("reauth", b"x", on_delivery=lambda err, msg: delivered.append(err))
            assert producer.flush(GUARD_S) == 0
    assert delivered and all(err is None for err in delivered)
    # No connection was closed for an expired session: the client logged in again in time.
    assert "expired" not in caplog.text


def _plain_login(sock: socket.socket) -> bytes:
    """SaslHandshake v1 (PLAIN) and SaslAuthenticate v1 as alice: the latter's answer."""

    def exchange(api_key: int, version: int, body: bytes) -> bytes:
        header = struct.pack(">hhih", api_key, version, 1, 1) + b"t"
        sock.sendall(struct.pack(">i", len(header) + len(body)) + header + body)
        size = struct.unpack(">i", _recv(sock, 4))[0]
        return _recv(sock, size)

    exchange(17, 1, struct.pack(">h", 5) + b"PLAIN")
    token = b"\x00alice\x00alice-pw"
    return exchange(36, 1, struct.pack(">i", len(token)) + token)


def test_a_session_past_its_lifetime_is_closed_on_its_next_request(start_broker, certs):
    broker = start_broker(
        {
            "listeners": "SASL_PLAINTEXT://127.0.0.1:0",
            "security.inter.broker.protocol": "SASL_PLAINTEXT",
            "sasl.enabled.mechanisms": "PLAIN",
            "sasl.jaas.config": JAAS,
            "connections.max.reauth.ms": "300",
        }
    )
    port = broker.broker.bound_ports["SASL_PLAINTEXT"]
    with socket.create_connection(("127.0.0.1", port), timeout=GUARD_S) as sock:
        response = _plain_login(sock)
        # correlation id, error 0, null message, empty auth bytes, lifetime 300 ms
        assert response[4:] == struct.pack(">hhiq", 0, -1, 0, 300)
        time.sleep(0.5)  # the session's lifetime passes
        header = struct.pack(">hhih", 3, 1, 2, 1) + b"t"
        sock.sendall(struct.pack(">i", len(header) + 4) + header + struct.pack(">i", -1))
        assert sock.recv(4096) == b""  # closed without an answer


def test_a_per_mechanism_session_limit_wins_over_the_listeners(start_broker, certs):
    # Kafka's listener.name.<l>.<mechanism>.connections.max.reauth.ms (SaslChannelBuilder).
    broker = start_broker(
        {
            "listeners": "SASL_PLAINTEXT://127.0.0.1:0",
            "security.inter.broker.protocol": "SASL_PLAINTEXT",
            "sasl.enabled.mechanisms": "PLAIN",
            "sasl.jaas.config": JAAS,
            "listener.name.sasl_plaintext.connections.max.reauth.ms": "900000",
            "listener.name.sasl_plaintext.plain.connections.max.reauth.ms": "4000",
        }
    )
    port = broker.broker.bound_ports["SASL_PLAINTEXT"]
    with socket.create_connection(("127.0.0.1", port), timeout=GUARD_S) as sock:
        response = _plain_login(sock)
        assert response[4:] == struct.pack(">hhiq", 0, -1, 0, 4000)


def test_a_per_mechanism_session_limit_that_is_not_a_number_stops_start_up(tmp_path, certs):
    from kafka_compat.config import BrokerConfig, ConfigError

    key = "listener.name.sasl_plaintext.plain.connections.max.reauth.ms"
    with pytest.raises(ConfigError, match=key):
        BrokerConfig(
            {
                "listeners": "SASL_PLAINTEXT://127.0.0.1:0",
                "sasl.enabled.mechanisms": "PLAIN",
                "sasl.jaas.config": JAAS,
                key: "an hour",
                "log.dirs": str(tmp_path),
            }
        )


def _recv(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, "connection closed"
        data += chunk
    return data
