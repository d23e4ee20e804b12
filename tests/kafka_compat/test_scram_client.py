"""The broker's SCRAM client (security/scram_client.py): RFC 7677's example exchange,
a login against our own server, and a server that cannot prove it knows the
credential."""

from __future__ import annotations

import base64

import pytest

from kafka_compat.security.credentials import ScramCredential
from kafka_compat.security.scram import ScramSaslServer
from kafka_compat.security.scram_client import ScramClient, ScramClientError


class Store:
    def __init__(self, credential: ScramCredential) -> None:
        self.credential = credential

    def get(self, user: str, mechanism: str) -> ScramCredential | None:
        return self.credential if user == "broker" else None


def test_rfc_7677_example():
    client = ScramClient("SCRAM-SHA-256", "user", "pencil", nonce="rOprNGfwEbeRWgbNEkqO")
    assert client.initial() == b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    server_first = (
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    )
    assert client.evaluate(server_first) == (
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    )
    assert client.evaluate(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=") is None
    assert client.complete


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_logs_in_to_our_server(mechanism):
    server = ScramSaslServer(mechanism, Store(ScramCredential.from_password(mechanism, "pw")))
    client = ScramClient(mechanism, "broker", "pw")
    final = client.evaluate(server.evaluate(client.initial()))
    assert client.evaluate(server.evaluate(final)) is None
    assert server.complete and client.complete and server.authorization_id == "broker"


def test_a_server_without_the_credential_is_not_believed():
    client = ScramClient("SCRAM-SHA-512", "broker", "pw", nonce="abc")
    salt = base64.b64encode(b"salt").decode()
    client.evaluate(f"r=abcdef,s={salt},i=4096".encode())
    with pytest.raises(ScramClientError, match="invalid server signature"):
        client.evaluate(b"v=" + base64.b64encode(b"\x00" * 64))


@pytest.mark.parametrize(
    "server_first, why",
    [
        (b"r=xyz,s=c2FsdA==,i=4096", "nonce"),  # does not extend ours
        (b"r=abc,s=c2FsdA==,i=4096", "nonce"),  # adds nothing
        (b"r=abcdef,s=c2FsdA==,i=1024", "iterations"),
        (b"garbage", "server-first"),
    ],
)
def test_bad_server_first_messages(server_first, why):
    client = ScramClient("SCRAM-SHA-256", "broker", "pw", nonce="abc")
    with pytest.raises(ScramClientError, match=why):
        client.evaluate(server_first)


def test_a_server_error_is_reported():
    client = ScramClient("SCRAM-SHA-256", "broker", "pw", nonce="abc")
    client.evaluate(b"r=abcdef,s=c2FsdA==,i=4096")
    with pytest.raises(ScramClientError, match="invalid-proof"):
        client.evaluate(b"e=invalid-proof")
