"""SCRAM-SHA-256/512 server side (security/scram.py), without a broker: RFC 7677's
test vector, a client written here (RFC 5802), Kafka's error messages, and
librdkafka's repeated-nonce quirk (before 2.6.1)."""

from __future__ import annotations

import base64
import secrets

import pytest

from kafka_compat.security.credentials import (
    SCRAM_MECHANISMS,
    ScramCredential,
    ScramCredentialStore,
)
from kafka_compat.security.sasl import MECHANISMS, SaslAuthenticationError
from kafka_compat.security.scram import ScramSaslServer, sasl_name_to_user, user_to_sasl_name


class Store:
    def __init__(self) -> None:
        self.user_configs: dict[str, dict[str, str]] = {}

    def add(self, user: str, mechanism: str, password: str, iterations: int = 4096) -> None:
        cred = ScramCredential.from_password(mechanism, password, iterations=iterations)
        self.user_configs.setdefault(user, {})[mechanism] = cred.to_kafka()


def credentials(*users: tuple[str, str, str]) -> ScramCredentialStore:
    store = Store()
    for user, mechanism, password in users:
        store.add(user, mechanism, password)
    return ScramCredentialStore(store)


class ScramClient:
    """RFC 5802's client side, enough to log in (and to misbehave on purpose)."""

    def __init__(self, mechanism: str, user: str, password: str, authzid: str = "") -> None:
        self.m = SCRAM_MECHANISMS[mechanism]
        self.user, self.password = user, password
        self.gs2 = f"n,{'a=' + user_to_sasl_name(authzid) if authzid else ''},"
        self.nonce = secrets.token_urlsafe(18)

    def first(self, extensions: str = "") -> bytes:
        self.bare = f"n={user_to_sasl_name(self.user)},r={self.nonce}{extensions}"
        return (self.gs2 + self.bare).encode()

    def final(self, server_first: bytes, *, repeat_client_nonce: bool = False) -> bytes:
        self.server_first = server_first.decode()
        fields = dict(p.split("=", 1) for p in self.server_first.split(","))
        nonce = fields["r"]
        assert nonce.startswith(self.nonce)
        sent_nonce = self.nonce + nonce if repeat_client_nonce else nonce
        salted = self.m.salted_password(
            self.password, base64.b64decode(fields["s"]), int(fields["i"])
        )
        client_key = self.m.hmac(salted, b"Client Key")
        channel = base64.b64encode(self.gs2.encode()).decode()
        without_proof = f"c={channel},r={sent_nonce}"
        auth = f"{self.bare},{self.server_first},{without_proof}".encode()
        signature = self.m.hmac(self.m.hash(client_key), auth)
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        self.expected_server = self.m.hmac(self.m.hmac(salted, b"Server Key"), auth)
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()


def login(server: ScramSaslServer, client: ScramClient, **quirks) -> bytes:
    server_first = server.evaluate(client.first())
    return server.evaluate(client.final(server_first, **quirks))


def test_rfc7677_test_vector() -> None:
    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    cred = ScramCredential.from_password("SCRAM-SHA-256", "pencil", salt=salt, iterations=4096)
    store = Store()
    store.user_configs["user"] = {"SCRAM-SHA-256": cred.to_kafka()}
    server = ScramSaslServer(
        "SCRAM-SHA-256",
        ScramCredentialStore(store),
        nonce_suffix="%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
    )
    server_first = server.evaluate(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
    assert server_first == (
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    )
    server_final = server.evaluate(
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    )
    assert server_final == b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    assert server.complete and server.authorization_id == "user"


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_login_and_server_signature(mechanism: str) -> None:
    server = ScramSaslServer(mechanism, credentials(("alice", mechanism, "alice-secret")))
    client = ScramClient(mechanism, "alice", "alice-secret")
    assert not server.complete
    server_final = login(server, client)
    assert server_final == b"v=" + base64.b64encode(client.expected_server)
    assert server.complete
    assert server.authorization_id == "alice"
    assert server.session_lifetime_ms is None


def test_librdkafka_repeated_client_nonce_is_accepted() -> None:
    server = ScramSaslServer("SCRAM-SHA-256", credentials(("bob", "SCRAM-SHA-256", "pw-of-bob")))
    login(server, ScramClient("SCRAM-SHA-256", "bob", "pw-of-bob"), repeat_client_nonce=True)
    assert server.complete


def test_names_with_comma_and_equals_and_authzid() -> None:
    user = "svc,team=a"
    assert sasl_name_to_user(user_to_sasl_name(user)) == user
    server = ScramSaslServer("SCRAM-SHA-512", credentials((user, "SCRAM-SHA-512", "pw")))
    login(server, ScramClient("SCRAM-SHA-512", user, "pw", authzid=user))
    assert server.authorization_id == user


INVALID = (
    "Authentication failed during authentication due to invalid credentials with "
    "SASL mechanism SCRAM-SHA-256"
)


def test_wrong_password_unknown_user_and_wrong_mechanism_fail_alike() -> None:
    creds = credentials(("carol", "SCRAM-SHA-512", "right"))
    for mechanism, user, password in [
        ("SCRAM-SHA-256", "carol", "right"),  # no SHA-256 credential
        ("SCRAM-SHA-256", "nobody", "right"),
    ]:
        server = ScramSaslServer(mechanism, creds)
        with pytest.raises(SaslAuthenticationError) as failed:
            server.evaluate(ScramClient(mechanism, user, password).first())
        assert str(failed.value) == INVALID
    server = ScramSaslServer("SCRAM-SHA-512", creds)
    with pytest.raises(SaslAuthenticationError) as failed:
        login(server, ScramClient("SCRAM-SHA-512", "carol", "wrong"))
    assert str(failed.value) == INVALID.replace("256", "512")
    assert not server.complete


def test_nonce_that_does_not_end_with_the_servers_fails() -> None:
    server = ScramSaslServer("SCRAM-SHA-256", credentials(("dan", "SCRAM-SHA-256", "pw")))
    client = ScramClient("SCRAM-SHA-256", "dan", "pw")
    server_first = server.evaluate(client.first())
    final = client.final(server_first).decode()
    tampered = final.replace(",p=", "x,p=")  # the nonce gains a character at its end
    with pytest.raises(SaslAuthenticationError, match="invalid credentials"):
        server.evaluate(tampered.encode())
    assert not server.complete


def test_authzid_other_than_user_is_refused() -> None:
    server = ScramSaslServer("SCRAM-SHA-256", credentials(("eve", "SCRAM-SHA-256", "pw")))
    with pytest.raises(SaslAuthenticationError) as failed:
        server.evaluate(ScramClient("SCRAM-SHA-256", "eve", "pw", authzid="admin").first())
    assert "authorization id that is different from username" in str(failed.value)


@pytest.mark.parametrize(
    "first",
    [
        b"",
        b"garbage",
        b"y,,n=eve,r=abc",  # the client thinks the server supports channel binding
        b"p=tls-unique,,n=eve,r=abc",
        b"n,,n=eve",
        b"\xff\xfe",
        b"n,,n=eve,r=abc,tokenauth=true",  # eve is a user, not a token (none enabled)
    ],
)
def test_malformed_client_first(first: bytes) -> None:
    server = ScramSaslServer("SCRAM-SHA-256", credentials(("eve", "SCRAM-SHA-256", "pw")))
    with pytest.raises(SaslAuthenticationError, match="invalid credentials"):
        server.evaluate(first)


def test_messages_after_the_exchange_fail() -> None:
    server = ScramSaslServer("SCRAM-SHA-256", credentials(("fay", "SCRAM-SHA-256", "pw")))
    login(server, ScramClient("SCRAM-SHA-256", "fay", "pw"))
    with pytest.raises(SaslAuthenticationError):
        server.evaluate(b"c=biws,r=x,p=AAAA")


def test_credential_text_is_kafkas() -> None:
    cred = ScramCredential.from_password("SCRAM-SHA-256", "pw", salt=b"salty", iterations=8192)
    text = cred.to_kafka()
    assert text.startswith("salt=c2FsdHk=,stored_key=")
    assert text.endswith(",iterations=8192")
    assert ScramCredential.from_kafka(text) == cred


def test_mechanisms_are_registered() -> None:
    assert {"SCRAM-SHA-256", "SCRAM-SHA-512"} <= set(MECHANISMS)


def test_user_znode_names_are_kafkas_sanitized_names() -> None:
    from kafka_compat.cluster.zk_data import desanitize_entity, sanitize_entity

    # Java's URLEncoder plus Kafka's Sanitizer: "*" is %2A, a space %20, "~" %7E.
    assert sanitize_entity("alice") == "alice"
    assert sanitize_entity("a.b-c_d") == "a.b-c_d"
    assert sanitize_entity("user@example.com") == "user%40example.com"
    assert sanitize_entity("a b*c~,=/") == "a%20b%2Ac%7E%2C%3D%2F"
    for name in ("alice", "a b*c~,=/", "ünï", "a+b"):
        assert desanitize_entity(sanitize_entity(name)) == name
