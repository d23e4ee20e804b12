"""Delegation tokens (KIP-48) over the protocol: CreateDelegationToken,
RenewDelegationToken, ExpireDelegationToken and DescribeDelegationToken with Kafka
3.9's errors and lifetimes, and SCRAM logins with `tokenauth=true`, against an
in-process broker (the Java client and Kafka's tool: compat-tests)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import ssl
import time

import pytest
import trio
from confluent_kafka.admin import AdminClient, ConfigResource

from kafka_compat.cluster.client import (
    INTER_BROKER_SECURITY,
    BrokerAuthenticationFailed,
    BrokerClient,
    InterBrokerSecurity,
)
from kafka_compat.security.acl_types import AclOperation, PatternType, Permission, ResourceType
from kafka_compat.security.authorizer import AccessControlEntry, AclBinding, ResourcePattern
from kafka_compat.security.credentials import ScramCredential
from kafka_compat.security.scram_client import ScramClient
from kafka_compat.tools.connection import Connection
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode
from tests.kafka_compat.test_scram import ScramClient as RawScramClient
from tests.security.listener_props import GUARD_S

SECRET = "token-secret"
USERS = {"admin": "admin-pw", "alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"}
DAY_MS, WEEK_MS = 86_400_000, 604_800_000
CreateRequest = messages.request_type(ApiKey.CREATE_DELEGATION_TOKEN)
Renewer = CreateRequest.CreatableRenewers
RenewRequest = messages.request_type(ApiKey.RENEW_DELEGATION_TOKEN)
ExpireRequest = messages.request_type(ApiKey.EXPIRE_DELEGATION_TOKEN)
DescribeRequest = messages.request_type(ApiKey.DESCRIBE_DELEGATION_TOKEN)
Owner = DescribeRequest.DescribeDelegationTokenOwner


class TokenScramClient(ScramClient):
    """The client side of a token login: the client-first message carries tokenauth=true."""

    def initial(self) -> bytes:
        super().initial()
        # An extension is part of client-first-message-bare (the proof covers it).
        self._client_first_bare += ",tokenauth=true"
        return f"n,,{self._client_first_bare}".encode()


def _props(**extra: str) -> dict[str, str]:
    return {
        "listeners": "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
        "inter.broker.listener.name": "PLAINTEXT",
        "sasl.enabled.mechanisms": "SCRAM-SHA-256,SCRAM-SHA-512",
        "authorizer.class.name": "kafka.security.authorizer.AclAuthorizer",
        "super.users": "User:admin",
        **extra,
    }


@pytest.fixture
def token_broker(start_broker):
    broker = start_broker(_props(**{"delegation.token.secret.key": SECRET}))
    _add_users(broker)
    return broker


def _add_users(broker) -> None:
    for user, password in USERS.items():
        configs = {
            m: ScramCredential.from_password(m, password).to_kafka()
            for m in ("SCRAM-SHA-256", "SCRAM-SHA-512")
        }
        broker.call(broker.broker.store.update_user_configs, user, configs, set())


def _login(
    user: str, password: str | None = None, mechanism: str = "SCRAM-SHA-512", *, token=False
):
    make = TokenScramClient if token else ScramClient
    secret = USERS[user] if password is None else password
    return InterBrokerSecurity(
        sasl_mechanism=mechanism, sasl_client=lambda: make(mechanism, user, secret)
    )


def call(broker, login, *requests: tuple[int, int, object]) -> list:
    """Send the requests in order on one connection (SASL_PLAINTEXT with `login`, or
    PLAINTEXT when None); their responses."""
    listener = "PLAINTEXT" if login is None else "SASL_PLAINTEXT"
    port = broker.broker.bound_ports[listener]

    async def run() -> list:
        INTER_BROKER_SECURITY.set(login)
        async with BrokerClient("127.0.0.1", port, "token-test", request_timeout=GUARD_S) as c:
            return [await c.send(key, version, request) for key, version, request in requests]

    return trio.run(run)


def create(max_lifetime_ms: int = -1, renewers=(), owner=None, version: int = 3):
    kind, _, name = (owner or ":").partition(":")
    return (
        ApiKey.CREATE_DELEGATION_TOKEN,
        version,
        CreateRequest(
            owner_principal_type=kind or None,
            owner_principal_name=name or None,
            renewers=[Renewer(principal_type=t, principal_name=n) for t, n in renewers],
            max_lifetime_ms=max_lifetime_ms,
        ),
    )


def describe(owners=None, version: int = 3):
    listed = (
        None if owners is None else [Owner(principal_type=t, principal_name=n) for t, n in owners]
    )
    return ApiKey.DESCRIBE_DELEGATION_TOKEN, version, DescribeRequest(owners=listed)


def renew(mac: bytes, period_ms: int = -1):
    return ApiKey.RENEW_DELEGATION_TOKEN, 2, RenewRequest(hmac=mac, renew_period_ms=period_ms)


def expire(mac: bytes, period_ms: int = -1):
    return (
        ApiKey.EXPIRE_DELEGATION_TOKEN,
        2,
        ExpireRequest(hmac=mac, expiry_time_period_ms=period_ms),
    )


def token_login(created) -> InterBrokerSecurity:
    password = base64.b64encode(bytes(created.hmac)).decode()
    return _login(created.token_id, password, token=True)


def test_a_token_is_made_with_kafkas_lifetimes_and_hmac(token_broker):
    before = int(time.time() * 1000)
    (default, short) = call(token_broker, _login("alice"), create(), create(max_lifetime_ms=5000))
    for made in (default, short):
        assert made.error_code == ErrorCode.NONE
        assert (made.principal_type, made.principal_name) == ("User", "alice")
        assert (made.token_requester_principal_type, made.token_requester_principal_name) == (
            "User",
            "alice",
        )
        assert made.issue_timestamp_ms >= before
        assert (
            bytes(made.hmac) == hmac.new(SECRET.encode(), made.token_id.encode(), "sha512").digest()
        )
        # Kafka's generateUuidAsBase64: 16 random bytes, URL-safe base64 without padding.
        assert len(base64.urlsafe_b64decode(made.token_id + "==")) == 16
    assert default.max_timestamp_ms == default.issue_timestamp_ms + WEEK_MS
    assert default.expiry_timestamp_ms == default.issue_timestamp_ms + DAY_MS
    assert short.max_timestamp_ms == short.expiry_timestamp_ms == short.issue_timestamp_ms + 5000
    assert default.token_id != short.token_id


def test_the_owner_logs_in_with_the_token_and_may_not_manage_tokens_from_there(
    token_broker, caplog
):
    (made,) = call(token_broker, _login("alice"), create())
    with caplog.at_level(logging.INFO, logger="kafka_compat"):
        answers = call(token_broker, token_login(made), create(), describe(), renew(made.hmac))
    # The connection's principal is the token's owner.
    assert "authenticated as User:alice on listener SASL_PLAINTEXT (SCRAM-SHA-512)" in caplog.text
    assert [a.error_code for a in answers] == [ErrorCode.DELEGATION_TOKEN_REQUEST_NOT_ALLOWED] * 3
    assert answers[0].expiry_timestamp_ms == -1 and answers[0].token_id == ""
    # SCRAM-SHA-256 logs in with the same token.
    login = token_login(made)
    login.sasl_mechanism = "SCRAM-SHA-256"
    login.sasl_client = lambda: TokenScramClient(
        "SCRAM-SHA-256", made.token_id, base64.b64encode(bytes(made.hmac)).decode()
    )
    (refused,) = call(token_broker, login, describe())
    assert refused.error_code == ErrorCode.DELEGATION_TOKEN_REQUEST_NOT_ALLOWED


@pytest.mark.parametrize("why", ["unknown token", "wrong hmac", "no tokenauth"])
def test_a_bad_token_login_fails_with_kafkas_message(token_broker, why):
    (made,) = call(token_broker, _login("alice"), create())
    password = base64.b64encode(bytes(made.hmac)).decode()
    login = {
        "unknown token": _login("AAAAAAAAAAAAAAAAAAAAAA", password, token=True),
        "wrong hmac": _login(made.token_id, base64.b64encode(b"x" * 64).decode(), token=True),
        "no tokenauth": _login(made.token_id, password),
    }[why]
    with pytest.raises(BrokerAuthenticationFailed) as failed:
        call(token_broker, login, describe())
    assert (
        "Authentication failed during authentication due to invalid credentials with SASL "
        "mechanism SCRAM-SHA-512" in str(failed.value)
    )


def test_plaintext_and_anonymous_connections_may_not_create_tokens(token_broker):
    answers = call(token_broker, None, create(), describe(), renew(b"x"), expire(b"x"))
    assert [a.error_code for a in answers] == [ErrorCode.DELEGATION_TOKEN_REQUEST_NOT_ALLOWED] * 4
    assert (answers[0].principal_type, answers[0].principal_name) == ("User", "ANONYMOUS")
    assert answers[2].expiry_timestamp_ms == answers[3].expiry_timestamp_ms == -1


def test_renew_and_expire_by_owner_and_renewers_only(token_broker):
    (made,) = call(token_broker, _login("alice"), create(renewers=[("User", "bob")]))
    before = int(time.time() * 1000)
    carol = call(token_broker, _login("carol"), renew(made.hmac), expire(made.hmac, 1000))
    assert [a.error_code for a in carol] == [ErrorCode.DELEGATION_TOKEN_OWNER_MISMATCH] * 2
    (renewed,) = call(token_broker, _login("bob"), renew(made.hmac, 60_000))
    assert renewed.error_code == ErrorCode.NONE
    assert before + 60_000 <= renewed.expiry_timestamp_ms <= int(time.time() * 1000) + 60_000
    # A renew period longer than the token's life stops at its max timestamp; a
    # negative one is the broker's default.
    (longest, default) = call(
        token_broker, _login("alice"), renew(made.hmac, 10 * WEEK_MS), renew(made.hmac, -1)
    )
    assert longest.expiry_timestamp_ms == made.max_timestamp_ms
    assert default.expiry_timestamp_ms >= made.issue_timestamp_ms + DAY_MS
    (expiring,) = call(token_broker, _login("bob"), expire(made.hmac, 30_000))
    assert expiring.error_code == ErrorCode.NONE
    assert expiring.expiry_timestamp_ms <= int(time.time() * 1000) + 30_000
    (listed,) = call(token_broker, _login("alice"), describe())
    assert [t.expiry_timestamp for t in listed.tokens] == [expiring.expiry_timestamp_ms]
    # A negative expiry period removes the token: gone from Describe, no more logins.
    (gone,) = call(token_broker, _login("alice"), expire(made.hmac, -1))
    assert gone.error_code == ErrorCode.NONE
    after = call(token_broker, _login("alice"), describe(), renew(made.hmac), expire(made.hmac))
    assert after[0].tokens == []
    assert [a.error_code for a in after[1:]] == [ErrorCode.DELEGATION_TOKEN_NOT_FOUND] * 2
    with pytest.raises(BrokerAuthenticationFailed):
        call(token_broker, token_login(made), describe())


def test_an_expired_token_cannot_be_renewed_and_is_removed_by_the_expiry_check(start_broker):
    broker = start_broker(
        _props(
            **{
                "delegation.token.secret.key": SECRET,
                "delegation.token.expiry.check.interval.ms": "100",
            }
        )
    )
    _add_users(broker)
    (made,) = call(broker, _login("alice"), create(max_lifetime_ms=1))
    time.sleep(0.01)  # its one millisecond of life passes
    (renewed,) = call(broker, _login("alice"), renew(made.hmac))
    # Found (the check may not have run yet) but expired, or already removed.
    assert renewed.error_code in (
        ErrorCode.DELEGATION_TOKEN_EXPIRED,
        ErrorCode.DELEGATION_TOKEN_NOT_FOUND,
    )
    deadline = time.monotonic() + GUARD_S
    while call(broker, _login("alice"), describe())[0].tokens:
        assert time.monotonic() < deadline, "the expired token was not removed"
        time.sleep(0.05)
    with pytest.raises(BrokerAuthenticationFailed):
        call(broker, token_login(made), describe())


def test_renewers_must_be_users(token_broker):
    (made,) = call(token_broker, _login("alice"), create(renewers=[("Group", "g")]))
    assert made.error_code == ErrorCode.INVALID_PRINCIPAL_TYPE
    assert made.token_id == "" and bytes(made.hmac) == b""


def test_a_token_for_another_owner_needs_create_tokens_on_that_user(token_broker):
    (refused,) = call(token_broker, _login("alice"), create(owner="User:bob"))
    assert refused.error_code == ErrorCode.DELEGATION_TOKEN_AUTHORIZATION_FAILED
    assert (refused.principal_name, refused.token_requester_principal_name) == ("bob", "alice")
    allow = AclBinding(
        ResourcePattern(ResourceType.USER, "User:bob", PatternType.LITERAL),
        AccessControlEntry("User:alice", "*", AclOperation.CREATE_TOKENS, Permission.ALLOW),
    )
    token_broker.call(token_broker.broker.components.acls.create, [allow])
    (made,) = call(token_broker, _login("alice"), create(owner="User:bob"))
    assert made.error_code == ErrorCode.NONE
    assert (made.principal_name, made.token_requester_principal_name) == ("bob", "alice")
    # The owner and the requester both see it.
    for user in ("alice", "bob"):
        (listed,) = call(token_broker, _login(user), describe())
        assert [
            (t.token_id, t.principal_name, t.token_requester_principal_name) for t in listed.tokens
        ] == [(made.token_id, "bob", "alice")]
    # The requester may not renew it (Kafka: owner or renewers only).
    (renewed,) = call(token_broker, _login("alice"), renew(made.hmac))
    assert renewed.error_code == ErrorCode.DELEGATION_TOKEN_OWNER_MISMATCH


def test_describe_shows_what_each_principal_may_see(token_broker):
    (alices, bobs) = (
        call(token_broker, _login(u), create(renewers=[("User", "carol")] if u == "bob" else []))[0]
        for u in ("alice", "bob")
    )
    ids = lambda response: sorted(t.token_id for t in response.tokens)  # noqa: E731
    # Their own (bob's renewer carol sees it); the super user sees every token.
    assert ids(call(token_broker, _login("alice"), describe())[0]) == [alices.token_id]
    assert ids(call(token_broker, _login("carol"), describe())[0]) == [bobs.token_id]
    assert ids(call(token_broker, _login("admin"), describe())[0]) == sorted(
        [alices.token_id, bobs.token_id]
    )
    # An owners filter (owner, requester or renewer) and an empty one.
    (by_owner, none) = call(
        token_broker, _login("admin"), describe([("User", "carol")]), describe([])
    )
    assert ids(by_owner) == [bobs.token_id] and none.tokens == []
    # DESCRIBE_TOKENS on User:alice, DESCRIBE on one DelegationToken resource.
    grants = [
        AclBinding(
            ResourcePattern(ResourceType.USER, "User:alice", PatternType.LITERAL),
            AccessControlEntry("User:carol", "*", AclOperation.DESCRIBE_TOKENS, Permission.ALLOW),
        ),
        AclBinding(
            ResourcePattern(ResourceType.DELEGATION_TOKEN, bobs.token_id, PatternType.LITERAL),
            AccessControlEntry("User:alice", "*", AclOperation.DESCRIBE, Permission.ALLOW),
        ),
    ]
    token_broker.call(token_broker.broker.components.acls.create, grants)
    both = sorted([alices.token_id, bobs.token_id])
    assert ids(call(token_broker, _login("carol"), describe())[0]) == both
    assert ids(call(token_broker, _login("alice"), describe())[0]) == both
    # Versions before 3 carry no requester; the rest is the same.
    (v1,) = call(token_broker, _login("alice"), describe(version=1))
    assert ids(v1) == both and {t.token_requester_principal_name for t in v1.tokens} == {""}


def test_tokens_survive_a_restart(token_broker):
    (made,) = call(token_broker, _login("alice"), create(renewers=[("User", "bob")]))
    token_broker.restart()
    (listed,) = call(token_broker, _login("alice"), describe())
    assert [
        (t.token_id, bytes(t.hmac), [r.principal_name for r in t.renewers]) for t in listed.tokens
    ] == [(made.token_id, bytes(made.hmac), ["bob"])]
    assert call(token_broker, token_login(made), describe())[0].error_code == (
        ErrorCode.DELEGATION_TOKEN_REQUEST_NOT_ALLOWED
    )


def test_without_a_secret_key_the_apis_are_listed_and_answer_disabled(start_broker):
    broker = start_broker(_props())
    _add_users(broker)
    versions = trio.run(_api_versions, broker.broker.bound_ports["PLAINTEXT"])
    assert {k: versions[k] for k in range(38, 42)} == {
        38: (0, 3),
        39: (0, 2),
        40: (0, 2),
        41: (0, 3),
    }
    answers = call(broker, _login("alice"), create(), describe(), renew(b"x"), expire(b"x"))
    assert [a.error_code for a in answers] == [ErrorCode.DELEGATION_TOKEN_AUTH_DISABLED] * 4
    with pytest.raises(BrokerAuthenticationFailed):
        call(broker, _login("AAAAAAAAAAAAAAAAAAAAAA", "x", token=True), describe())


async def _api_versions(port: int) -> dict[int, tuple[int, int]]:
    async with BrokerClient("127.0.0.1", port, "token-test") as client:
        return await client.api_versions()


def test_the_deprecated_master_key_enables_tokens(start_broker):
    broker = start_broker(_props(**{"delegation.token.master.key": SECRET}))
    _add_users(broker)
    (made,) = call(broker, _login("alice"), create())
    assert made.error_code == ErrorCode.NONE
    assert (
        bytes(made.hmac)
        == hmac.new(SECRET.encode(), made.token_id.encode(), hashlib.sha512).digest()
    )


def test_the_secret_key_is_a_sensitive_static_config(token_broker):
    port = token_broker.broker.bound_ports["SASL_PLAINTEXT"]
    admin = AdminClient(
        {
            "bootstrap.servers": f"127.0.0.1:{port}",
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": "admin",
            "sasl.password": USERS["admin"],
        }
    )
    resource = ConfigResource(ConfigResource.Type.BROKER, "0")
    configs = admin.describe_configs([resource])[resource].result(GUARD_S)
    secret = configs["delegation.token.secret.key"]
    assert (secret.value, secret.is_sensitive, secret.is_read_only) == (None, True, True)
    assert configs["delegation.token.max.lifetime.ms"].value == str(WEEK_MS)
    assert configs["delegation.token.expiry.check.interval.ms"].value == "3600000"


def test_a_token_sessions_lifetime_is_the_tokens_and_sha_256_logs_in_too(token_broker):
    (made,) = call(token_broker, _login("alice"), create(max_lifetime_ms=600_000))
    port = token_broker.broker.bound_ports["SASL_PLAINTEXT"]
    handshake = messages.request_type(ApiKey.SASL_HANDSHAKE)
    authenticate = messages.request_type(ApiKey.SASL_AUTHENTICATE)
    password = base64.b64encode(bytes(made.hmac)).decode()
    before = int(time.time() * 1000)
    with Connection("127.0.0.1", port, GUARD_S) as conn:
        mechanism = handshake(mechanism="SCRAM-SHA-256")
        assert conn.request(ApiKey.SASL_HANDSHAKE, mechanism, 1).error_code == ErrorCode.NONE
        client = RawScramClient("SCRAM-SHA-256", made.token_id, password)
        first = client.first(",tokenauth=true")
        answer = conn.request(ApiKey.SASL_AUTHENTICATE, authenticate(auth_bytes=first), 1)
        final = client.final(answer.auth_bytes)
        done = conn.request(ApiKey.SASL_AUTHENTICATE, authenticate(auth_bytes=final), 1)
    assert done.error_code == ErrorCode.NONE
    # KIP-368: the session ends when the token expires (10 minutes from its issue).
    after = int(time.time() * 1000)
    lifetime = done.session_lifetime_ms
    assert made.expiry_timestamp_ms - after <= lifetime <= made.expiry_timestamp_ms - before


def test_ssl_needs_a_client_certificate_to_manage_tokens(start_broker, certs):
    broker = start_broker(
        {
            "listeners": "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0",
            "inter.broker.listener.name": "PLAINTEXT",
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(certs.broker_keystore),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(certs.ca),
            "ssl.client.auth": "requested",
            "delegation.token.secret.key": SECRET,
        }
    )
    port = broker.broker.bound_ports["SSL"]

    async def create_over_tls(with_certificate: bool):
        context = ssl.create_default_context(cafile=str(certs.ca))
        if with_certificate:
            context.load_cert_chain(str(certs.client_cert), str(certs.client_key))
        INTER_BROKER_SECURITY.set(InterBrokerSecurity(ssl_context=context))
        async with BrokerClient("127.0.0.1", port, "token-test", request_timeout=GUARD_S) as c:
            return await c.send(*create())

    # One-way TLS is User:ANONYMOUS, refused as Kafka's allowTokenRequests does.
    anonymous = trio.run(create_over_tls, False)
    assert anonymous.error_code == ErrorCode.DELEGATION_TOKEN_REQUEST_NOT_ALLOWED
    assert anonymous.principal_name == "ANONYMOUS"
    # With a client certificate the principal is its DN, which may own a token.
    made = trio.run(create_over_tls, True)
    assert made.error_code == ErrorCode.NONE
    assert (made.principal_type, made.principal_name) == ("User", "CN=client,OU=eng,O=acme")
