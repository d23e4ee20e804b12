"""SCRAM-SHA-256 and SCRAM-SHA-512, the client side (RFC 5802, RFC 7677), as Kafka's
ScramSaslClient: what a broker logs in to its peers' inter-broker listener with.

    client-first   n,,n=<saslname>,r=<client nonce>
    server-first   r=<client nonce><server nonce>,s=<base64 salt>,i=<iterations>
    client-final   c=biws,r=<nonce>,p=<base64 proof>
    server-final   v=<base64 server signature>   (or e=<error>)

The server's nonce must start with ours, the iterations must be the mechanism's
minimum or more (Kafka's client refuses fewer), and the server's signature is checked
in constant time: a peer that does not know our credential cannot pass for the broker.
The salted password is remembered per (salt, iterations): PBKDF2 runs once per
credential, not once per connection.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import secrets

from kafka_compat.security.credentials import SCRAM_MECHANISMS, ScramMechanism
from kafka_compat.security.scram import user_to_sasl_name

__all__ = ["ScramClient", "ScramClientError"]

_SERVER_FIRST = re.compile(
    r"(?:m=[^,]*,)?r=(?P<nonce>[\x21-\x2b\x2d-\x7e]+),s=(?P<salt>[a-zA-Z0-9+/]+=*),"
    r"i=(?P<iterations>[0-9]+)(?:,.*)?",
    re.DOTALL,
)
_SERVER_FINAL = re.compile(r"(?:e=(?P<error>[^,]*)|v=(?P<signature>[a-zA-Z0-9+/]+=*))(?:,.*)?")


class ScramClientError(Exception):
    """The server's answer is malformed, or it did not prove it knows the credential."""


class ScramClient:
    """One SCRAM login: `initial()`, then `evaluate()` each server message until it
    returns None (the SaslClient shape of kafka_compat/cluster/client.py)."""

    # (mechanism, user, password, salt, iterations) -> salted password, process-wide.
    _salted: dict[tuple[str, str, str, bytes, int], bytes] = {}

    def __init__(self, mechanism: str, username: str, password: str, *, nonce: str = "") -> None:
        self.mechanism_name = mechanism
        self.mechanism: ScramMechanism = SCRAM_MECHANISMS[mechanism]
        self.username = username
        self.password = password
        # Kafka's client nonce: a secure random string (here 130 bits, base 36).
        self._client_nonce = nonce or _random_nonce()
        self._client_first_bare = ""
        self._server_signature = b""
        self.complete = False

    def initial(self) -> bytes:
        self._client_first_bare = f"n={user_to_sasl_name(self.username)},r={self._client_nonce}"
        return f"n,,{self._client_first_bare}".encode()

    def evaluate(self, challenge: bytes) -> bytes | None:
        if self._server_signature:
            self._server_final(challenge)
            return None
        return self._client_final(challenge)

    def _client_final(self, challenge: bytes) -> bytes:
        text = challenge.decode("utf-8", "replace")
        match = _SERVER_FIRST.fullmatch(text)
        if match is None:
            raise ScramClientError("invalid SCRAM server-first message")
        nonce = match["nonce"]
        if not nonce.startswith(self._client_nonce) or nonce == self._client_nonce:
            raise ScramClientError("invalid server nonce: it does not extend the client's")
        iterations = int(match["iterations"])
        m = self.mechanism
        if iterations < m.min_iterations:
            raise ScramClientError(
                f"requested iterations {iterations} is less than the minimum "
                f"{m.min_iterations} for {m.name}"
            )
        try:
            salt = base64.b64decode(match["salt"], validate=True)
        except binascii.Error:
            raise ScramClientError("invalid salt in the SCRAM server-first message") from None
        key = (m.name, self.username, self.password, salt, iterations)
        salted = self._salted.get(key)
        if salted is None:
            salted = self._salted[key] = m.salted_password(self.password, salt, iterations)
        without_proof = f"c=biws,r={nonce}"
        auth_message = f"{self._client_first_bare},{text},{without_proof}".encode()
        client_key = m.hmac(salted, b"Client Key")
        client_signature = m.hmac(m.hash(client_key), auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, client_signature, strict=True))
        self._server_signature = m.hmac(m.hmac(salted, b"Server Key"), auth_message)
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()

    def _server_final(self, challenge: bytes) -> None:
        match = _SERVER_FINAL.fullmatch(challenge.decode("utf-8", "replace"))
        if match is None:
            raise ScramClientError("invalid SCRAM server-final message")
        if match["error"] is not None:
            raise ScramClientError(f"the server refused the login: {match['error']}")
        try:
            signature = base64.b64decode(match["signature"], validate=True)
        except binascii.Error:
            raise ScramClientError("invalid server signature encoding") from None
        if not hmac.compare_digest(signature, self._server_signature):
            raise ScramClientError(
                "invalid server signature: the server does not know this user's credential"
            )
        self.complete = True


def _random_nonce() -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    n, out = secrets.randbits(130), ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out or "0"
