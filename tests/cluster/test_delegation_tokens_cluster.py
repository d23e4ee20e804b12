"""Delegation tokens on a 3-broker cluster: a token created through one broker is in
ZooKeeper as Kafka writes it (`/delegation_token/tokens/<id>` and a
`/delegation_token/token_changes` notification) and logs in on every broker; expired
through another, it logs in nowhere; one past its life is removed (by the controller's
expiry check). Clients use each broker's EXTERNAL
SASL_PLAINTEXT listener; the brokers talk over INTERNAL (PLAINTEXT)."""

from __future__ import annotations

import base64
import json
import time

from kazoo.client import KazooClient

from kafka_compat.tools.connection import Connection
from kafka_compat.tools.users import set_password
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode
from tests.cluster.cluster_fixtures import cluster_factory_fixture  # noqa: F401
from tests.cluster.test_scram_logins_cluster import PROPS, external_port
from tests.kafka_compat.test_scram import ScramClient

GUARD_S = 30  # failure guard, never a timing
MECHANISM = "SCRAM-SHA-512"


def login(conn: Connection, user: str, password: str, *, token: bool = False) -> int:
    """SaslHandshake v1 then SaslAuthenticate on `conn`: the error code."""
    handshake = messages.request_type(ApiKey.SASL_HANDSHAKE)
    authenticate = messages.request_type(ApiKey.SASL_AUTHENTICATE)
    assert conn.request(ApiKey.SASL_HANDSHAKE, handshake(mechanism=MECHANISM), 1).error_code == 0
    client = ScramClient(MECHANISM, user, password)
    first = client.first(",tokenauth=true" if token else "")
    answer = conn.request(ApiKey.SASL_AUTHENTICATE, authenticate(auth_bytes=first), 1)
    if answer.error_code:
        return answer.error_code
    final = client.final(answer.auth_bytes)
    return conn.request(ApiKey.SASL_AUTHENTICATE, authenticate(auth_bytes=final), 1).error_code


def token_logs_in(port: int, token_id: str, password: str) -> bool:
    with Connection("127.0.0.1", port, 10.0) as conn:
        return login(conn, token_id, password, token=True) == ErrorCode.NONE


def test_a_token_created_on_one_broker_logs_in_on_every_broker(cluster_factory):
    cluster = cluster_factory(
        3,
        **PROPS,
        **{
            "delegation.token.secret.key": "cluster-secret",
            "delegation.token.expiry.check.interval.ms": "200",
        },
    )
    external = {i: external_port(b) for i, b in cluster.brokers.items()}
    with Connection("127.0.0.1", cluster.brokers[1].port, 10.0) as conn:
        set_password(conn, "alice", "alice-secret", MECHANISM, iterations=4096)

    create = messages.request_type(ApiKey.CREATE_DELEGATION_TOKEN)
    deadline = time.monotonic() + GUARD_S
    while True:  # alice's credential reaches broker 1 through its own watch
        with Connection("127.0.0.1", external[1], 10.0) as conn:
            if login(conn, "alice", "alice-secret") == ErrorCode.NONE:
                made = conn.request(
                    ApiKey.CREATE_DELEGATION_TOKEN, create(renewers=[], max_lifetime_ms=-1), 2
                )
                break
        assert time.monotonic() < deadline, "alice never logged in"
        time.sleep(0.05)
    assert made.error_code == ErrorCode.NONE
    password = base64.b64encode(bytes(made.hmac)).decode()

    start = time.monotonic()
    for broker_id in (2, 3, 1):
        while not token_logs_in(external[broker_id], made.token_id, password):
            assert time.monotonic() - start < GUARD_S, f"broker {broker_id} never took the token"
            time.sleep(0.05)
    print(f"the token logged in on every broker after {time.monotonic() - start:.3f}s")

    zk = KazooClient(hosts=cluster.zk_connect)
    zk.start()
    try:
        data, _ = zk.get(f"/delegation_token/tokens/{made.token_id}")
        assert json.loads(data) == {
            "version": 3,
            "owner": "User%3Aalice",
            "tokenRequester": "User%3Aalice",
            "renewers": [],
            "issueTimestamp": made.issue_timestamp_ms,
            "maxTimestamp": made.max_timestamp_ms,
            "expiryTimestamp": made.expiry_timestamp_ms,
            "tokenId": made.token_id,
        }
        notes = zk.get_children("/delegation_token/token_changes")
        assert any(n.startswith("token_change_") for n in notes)
    finally:
        zk.stop()

    # Expired (at once) through broker 3: no broker lets it in any more.
    expire = messages.request_type(ApiKey.EXPIRE_DELEGATION_TOKEN)
    with Connection("127.0.0.1", external[3], 10.0) as conn:
        assert login(conn, "alice", "alice-secret") == ErrorCode.NONE
        gone = conn.request(
            ApiKey.EXPIRE_DELEGATION_TOKEN, expire(hmac=made.hmac, expiry_time_period_ms=-1), 2
        )
    assert gone.error_code == ErrorCode.NONE
    for broker_id, port in external.items():
        while token_logs_in(port, made.token_id, password):
            assert time.monotonic() - start < GUARD_S, f"broker {broker_id} still takes it"
            time.sleep(0.05)

    # A token with 1 ms of life, made through broker 2, goes from every broker's view.
    with Connection("127.0.0.1", external[2], 10.0) as conn:
        assert login(conn, "alice", "alice-secret") == ErrorCode.NONE
        brief = conn.request(
            ApiKey.CREATE_DELEGATION_TOKEN, create(renewers=[], max_lifetime_ms=1), 2
        )
    assert brief.error_code == ErrorCode.NONE
    describe = messages.request_type(ApiKey.DESCRIBE_DELEGATION_TOKEN)
    for broker_id, port in external.items():
        while True:
            with Connection("127.0.0.1", port, 10.0) as conn:
                assert login(conn, "alice", "alice-secret") == ErrorCode.NONE
                listed = conn.request(ApiKey.DESCRIBE_DELEGATION_TOKEN, describe(owners=None), 2)
            if brief.token_id not in {t.token_id for t in listed.tokens}:
                break
            assert time.monotonic() - start < GUARD_S, f"broker {broker_id} still lists it"
            time.sleep(0.05)
