"""How the tools log in: Kafka's client properties (`--command-config client.properties`,
as Kafka's scripts take them) for TLS and SASL.

    security.protocol   PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL
    sasl.mechanism      PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512
    sasl.jaas.config    ... required username="alice" password="...";
    ssl.truststore.location / ssl.keystore.location   PEM files (type PEM); the
                        keystore holds the client's key and certificate
    ssl.key.password    the key's password, if it has one
    ssl.endpoint.identification.algorithm   empty: no host name check (Kafka's https default)

Left out: JKS/PKCS12 stores, OAUTHBEARER and GSSAPI logins.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from kafka_compat.properties import PropertiesError, parse_properties


class LoginError(Exception):
    """A client property or a login that does not work (the connection turns it into a
    ToolError: this module is below tools/connection.py)."""


PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SCRAM_HASHES = {"SCRAM-SHA-256": hashlib.sha256, "SCRAM-SHA-512": hashlib.sha512}


@dataclass(frozen=True)
class ClientSecurity:
    protocol: str = "PLAINTEXT"
    mechanism: str = "PLAIN"
    username: str | None = None
    password: str | None = None
    truststore: str | None = None
    keystore: str | None = None
    key_password: str | None = None
    check_hostname: bool = True

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    def wrap(self, sock: socket.socket, host: str) -> socket.socket:
        if not self.tls:
            return sock
        context = ssl.create_default_context(cafile=self.truststore)
        context.check_hostname = self.check_hostname
        if self.keystore:
            context.load_cert_chain(self.keystore, password=self.key_password)
        try:
            return context.wrap_socket(sock, server_hostname=host)
        except (ssl.SSLError, OSError) as exc:
            sock.close()
            raise LoginError(f"TLS handshake with {host} failed: {exc}") from None


def read_properties(path: str) -> dict[str, str]:
    """A Java properties file (a client config), as Java reads it."""
    try:
        text = Path(path).read_text("utf-8")
    except OSError as exc:
        raise LoginError(f"cannot read {path}: {exc}") from None
    try:
        return parse_properties(text)
    except PropertiesError as exc:
        raise LoginError(f"{path}: {exc}") from None


def from_properties(props: dict[str, str]) -> ClientSecurity:
    protocol = props.get("security.protocol", "PLAINTEXT").upper()
    if protocol not in PROTOCOLS:
        raise LoginError(f"security.protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}")
    mechanism = props.get("sasl.mechanism", "PLAIN").upper()
    if protocol.startswith("SASL") and mechanism != "PLAIN" and mechanism not in SCRAM_HASHES:
        raise LoginError(f"sasl.mechanism {mechanism} is not supported by the tools")
    jaas = props.get("sasl.jaas.config", "")
    username = re.search(r'username\s*=\s*"([^"]*)"', jaas)
    password = re.search(r'password\s*=\s*"([^"]*)"', jaas)
    for kind in ("truststore", "keystore"):
        store_type = props.get(f"ssl.{kind}.type", "PEM").upper()
        if props.get(f"ssl.{kind}.location") and store_type != "PEM":
            raise LoginError(f"ssl.{kind}.type {store_type}: the tools read PEM files only")
    return ClientSecurity(
        protocol=protocol,
        mechanism=mechanism,
        username=username[1] if username else None,
        password=password[1] if password else None,
        truststore=props.get("ssl.truststore.location") or None,
        keystore=props.get("ssl.keystore.location") or None,
        key_password=props.get("ssl.key.password") or None,
        check_hostname=props.get("ssl.endpoint.identification.algorithm", "https") != "",
    )


# ---- SASL, client side ----


def _saslname(name: str) -> str:
    return name.replace("=", "=3D").replace(",", "=2C")


class ScramClient:
    """RFC 5802 / 7677 client, as Kafka's ScramSaslClient speaks it."""

    def __init__(self, mechanism: str, username: str, password: str) -> None:
        self.hash = SCRAM_HASHES[mechanism]
        self.password = password.encode()
        self.nonce = base64.b64encode(secrets.token_bytes(24)).decode()
        self.client_first_bare = f"n={_saslname(username)},r={self.nonce}"
        self.server_signature = b""

    def first(self) -> bytes:
        return f"n,,{self.client_first_bare}".encode()

    def final(self, server_first: bytes) -> bytes:
        text = server_first.decode()
        fields = dict(item.split("=", 1) for item in text.split(","))
        if not fields.get("r", "").startswith(self.nonce):
            raise LoginError("SCRAM: the server's nonce does not extend ours")
        salted = hashlib.pbkdf2_hmac(
            self.hash().name, self.password, base64.b64decode(fields["s"]), int(fields["i"])
        )
        client_key = hmac.digest(salted, b"Client Key", self.hash)
        stored_key = self.hash(client_key).digest()
        without_proof = f"c=biws,r={fields['r']}"
        auth_message = f"{self.client_first_bare},{text},{without_proof}".encode()
        signature = hmac.digest(stored_key, auth_message, self.hash)
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        server_key = hmac.digest(salted, b"Server Key", self.hash)
        self.server_signature = hmac.digest(server_key, auth_message, self.hash)
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()

    def verify(self, server_final: bytes) -> None:
        text = server_final.decode()
        if text.startswith("e="):
            raise LoginError(f"SCRAM: {text[2:]}")
        if not text.startswith("v=") or base64.b64decode(text[2:]) != self.server_signature:
            raise LoginError("SCRAM: the server's signature does not match")


def authenticate(connection, security: ClientSecurity) -> None:
    """SaslHandshake, then SaslAuthenticate round trips for the configured mechanism."""
    from protocol import messages
    from protocol.api_keys import ApiKey
    from protocol.errors import ErrorCode

    if security.username is None or security.password is None:
        raise LoginError('sasl.jaas.config needs username="..." and password="..."')
    handshake = connection.request(
        ApiKey.SASL_HANDSHAKE,
        messages.request_type(ApiKey.SASL_HANDSHAKE)(mechanism=security.mechanism),
    )
    if handshake.error_code:
        offered = ", ".join(handshake.mechanisms)
        raise LoginError(
            f"{connection.address} does not take SASL {security.mechanism} (it takes {offered})"
        )
    Authenticate = messages.request_type(ApiKey.SASL_AUTHENTICATE)

    def step(token: bytes) -> bytes:
        answer = connection.request(ApiKey.SASL_AUTHENTICATE, Authenticate(auth_bytes=token))
        if answer.error_code:
            detail = answer.error_message or ErrorCode(answer.error_code).name
            raise LoginError(f"{connection.address}: authentication failed: {detail}")
        return bytes(answer.auth_bytes or b"")

    if security.mechanism == "PLAIN":
        step(f"\0{security.username}\0{security.password}".encode())
        return
    scram = ScramClient(security.mechanism, security.username, security.password)
    server_first = step(scram.first())
    scram.verify(step(scram.final(server_first)))
