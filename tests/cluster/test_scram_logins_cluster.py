"""SCRAM logins on a 3-broker cluster: a user created through one broker logs in on
every broker (each broker's EXTERNAL SASL_PLAINTEXT listener), a deleted one nowhere.
Brokers talk over INTERNAL (PLAINTEXT)."""

from __future__ import annotations

import re
import time

from kafka_compat.tools.connection import Connection
from kafka_compat.tools.users import delete_user, set_password
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode
from tests.cluster.cluster_fixtures import cluster_factory_fixture  # noqa: F401
from tests.kafka_compat.test_scram import ScramClient

GUARD_S = 30  # failure guard, never a timing
PROPS = {
    "listeners": "INTERNAL://127.0.0.1:0,EXTERNAL://127.0.0.1:0",
    "listener.security.protocol.map": "INTERNAL:PLAINTEXT,EXTERNAL:SASL_PLAINTEXT",
    "inter.broker.listener.name": "INTERNAL",
    "listener.name.external.sasl.enabled.mechanisms": "SCRAM-SHA-256,SCRAM-SHA-512",
    "listener.name.external.scram-sha-256.sasl.jaas.config": (
        "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    ),
    "listener.name.external.scram-sha-512.sasl.jaas.config": (
        "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    ),
}


def external_port(broker) -> int:
    log = broker.log_tail(200_000)
    return int(re.findall(r"listener EXTERNAL \(SASL_PLAINTEXT\) on [\d.]+:(\d+)", log)[-1])


def scram_login(port: int, mechanism: str, user: str, password: str) -> tuple[int, str | None]:
    """SaslHandshake v1 then SaslAuthenticate, as a client does: (error code, message)."""
    handshake = messages.request_type(ApiKey.SASL_HANDSHAKE)
    authenticate = messages.request_type(ApiKey.SASL_AUTHENTICATE)
    with Connection("127.0.0.1", port, 10.0) as conn:
        answer = conn.request(ApiKey.SASL_HANDSHAKE, handshake(mechanism=mechanism), 1)
        assert answer.error_code == ErrorCode.NONE, answer
        client = ScramClient(mechanism, user, password)
        first = conn.request(ApiKey.SASL_AUTHENTICATE, authenticate(auth_bytes=client.first()), 1)
        if first.error_code:
            return first.error_code, first.error_message
        final = conn.request(
            ApiKey.SASL_AUTHENTICATE, authenticate(auth_bytes=client.final(first.auth_bytes)), 1
        )
        return final.error_code, final.error_message


def test_a_user_created_through_one_broker_logs_in_on_every_broker(cluster_factory):
    cluster = cluster_factory(3, **PROPS)
    external = {i: external_port(b) for i, b in cluster.brokers.items()}
    with Connection("127.0.0.1", cluster.brokers[1].port, 10.0) as conn:
        set_password(conn, "alice", "alice-secret", "SCRAM-SHA-512", iterations=8192)

    start = time.monotonic()
    for broker_id, port in external.items():
        while scram_login(port, "SCRAM-SHA-512", "alice", "alice-secret")[0] != ErrorCode.NONE:
            assert time.monotonic() - start < GUARD_S, f"broker {broker_id} never let alice in"
            time.sleep(0.05)
    took = time.monotonic() - start
    assert took < 1.0, f"alice could log in everywhere only after {took:.2f}s"

    code, message = scram_login(external[2], "SCRAM-SHA-512", "alice", "wrong")
    assert code == ErrorCode.SASL_AUTHENTICATION_FAILED
    assert message == (
        "Authentication failed during authentication due to invalid credentials with "
        "SASL mechanism SCRAM-SHA-512"
    )

    with Connection("127.0.0.1", cluster.brokers[3].port, 10.0) as conn:
        delete_user(conn, "alice")
    for broker_id, port in external.items():
        while scram_login(port, "SCRAM-SHA-512", "alice", "alice-secret")[0] == ErrorCode.NONE:
            assert time.monotonic() - start < GUARD_S, f"broker {broker_id} still lets alice in"
            time.sleep(0.05)
