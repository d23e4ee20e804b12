"""SCRAM-SHA-256 and SCRAM-SHA-512, the server side (RFC 5802, RFC 7677), as Kafka's
ScramSaslServer does them.

    client-first   n,[a=<authzid>],n=<saslname>,r=<client nonce>[,<ext>=<value>...]
    server-first   r=<client nonce><server nonce>,s=<base64 salt>,i=<iterations>
    client-final   c=biws,r=<nonce>,p=<base64 proof>
    server-final   v=<base64 server signature>

The gs2 header must be "n" (no channel binding, as Kafka). User names are SCRAM
sasl names (=2C is ",", =3D is "="). The client-final nonce is accepted when it ends
with the server-first nonce, as Kafka 3.8.1+ does: librdkafka before 2.6.1 repeats
the client's part in front of it. The proof is compared in constant time.

Messages are Kafka's: a failure Kafka reports as a SaslException reaches the client
as "Authentication failed during authentication due to invalid credentials with
SASL mechanism <M>" (unknown user, wrong password, bad nonce, malformed messages);
a requested authorization id other than the user gets its own message.

Delegation tokens (KIP-48): with the client-first extension `tokenauth=true` the user
name is a token id and the password base64(HMAC) (security/delegation_tokens.py); the
connection's principal is the token's owner, marked token-authenticated, and its
session ends when the token expires. An unknown or expired token fails as above.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import secrets
from typing import TYPE_CHECKING

from kafka_compat.security.credentials import (
    SCRAM_MECHANISMS,
    ScramCredential,
    ScramCredentialStore,
    ScramMechanism,
)
from kafka_compat.security.sasl import MECHANISMS, SaslAuthenticationError, SaslContext

if TYPE_CHECKING:
    from kafka_compat.security.delegation_tokens import DelegationTokenManager

__all__ = ["ScramSaslServer", "sasl_name_to_user", "user_to_sasl_name"]

_VALUE = r"[\x21-\x2b\x2d-\x7e]+"  # printable, no ","
_SASL_NAME = r"(?:[\x01-\x2b\x2d-\x3c\x3e-\x7f]|=2C|=3D)+"
_CLIENT_FIRST = re.compile(
    rf"n,(?:a=(?P<authzid>{_SASL_NAME}))?,"
    rf"(?P<bare>(?:m={_VALUE},)?n=(?P<saslname>{_SASL_NAME}),r=(?P<nonce>{_VALUE})"
    rf"(?P<extensions>(?:,[a-zA-Z0-9]+=[\x01-\x2b\x2d-\x7f]*)*))",
    re.DOTALL,
)
_CLIENT_FINAL = re.compile(
    rf"(?P<without_proof>c=(?P<channel>[a-zA-Z0-9+/]+=*),r=(?P<nonce>{_VALUE})"
    r"(?:,[a-zA-Z]=[^,]*)*),p=(?P<proof>[a-zA-Z0-9+/]+=*)",
    re.DOTALL,
)


def sasl_name_to_user(name: str) -> str:
    """RFC 5802's saslname: "=2C" is "," and "=3D" is "=" (Kafka's ScramFormatter)."""
    return name.replace("=2C", ",").replace("=3D", "=")


def user_to_sasl_name(user: str) -> str:
    return user.replace("=", "=3D").replace(",", "=2C")


class ScramSaslServer:
    """One SCRAM exchange (SaslServer, kafka_compat/security/sasl.py)."""

    def __init__(
        self,
        mechanism: str,
        credentials: ScramCredentialStore,
        *,
        tokens: DelegationTokenManager | None = None,
        nonce_suffix: str = "",
    ) -> None:
        self.mechanism: ScramMechanism = SCRAM_MECHANISMS[mechanism]
        self.credentials = credentials
        self.tokens = tokens  # delegation tokens (None: not enabled)
        self.complete = False
        self.authorization_id = ""
        self.session_lifetime_ms: int | None = None
        self.token_authenticated = False
        self._state = "client-first"
        self._client_first_bare = ""
        self._server_first = ""
        self._nonce = ""
        self._gs2_header = ""
        self._credential = None
        self._nonce_suffix = nonce_suffix  # tests: RFC 7677's server nonce
        self._tried = ""  # the user name the client gave, for the broker's log

    def _failed(self, why: str) -> SaslAuthenticationError:
        # Kafka's SaslServerAuthenticator answers a SaslException with this wording;
        # `why` is for the broker's log (exc.__notes__), never the client.
        exc = SaslAuthenticationError(
            "Authentication failed during authentication due to invalid credentials "
            f"with SASL mechanism {self.mechanism.name}",
            user=self._tried or None,
        )
        exc.add_note(why)
        return exc

    def evaluate(self, token: bytes) -> bytes:
        try:
            text = token.decode("utf-8")
        except UnicodeDecodeError:
            raise self._failed("the SCRAM message is not UTF-8") from None
        if self._state == "client-first":
            return self._client_first(text)
        if self._state == "client-final":
            return self._client_final(text)
        raise self._failed(f"unexpected SCRAM message after the exchange ({self._state})")

    def _client_first(self, text: str) -> bytes:
        match = _CLIENT_FIRST.fullmatch(text)
        if match is None:
            self._state = "failed"
            raise self._failed("invalid SCRAM client-first message")
        user = self._tried = sasl_name_to_user(match["saslname"])
        extensions = dict(
            part.split("=", 1) for part in match["extensions"].split(",") if "=" in part
        )
        if extensions.get("tokenauth", "").lower() == "true":
            # A delegation token: the user name is its id, the owner logs in.
            credential = self._token_credential(user)
        else:
            credential = self.credentials.get(user, self.mechanism.name)
            if credential is None:
                self._state = "failed"
                raise self._failed(f"no {self.mechanism.name} credential for user {user!r}")
            self.authorization_id = user
        authzid = match["authzid"]
        if authzid is not None and sasl_name_to_user(authzid) != user:
            self._state = "failed"
            raise SaslAuthenticationError(
                "Authentication failed: Client requested an authorization id that is "
                "different from username",
                user=user,
            )
        if credential.iterations < self.mechanism.min_iterations:
            self._state = "failed"
            raise self._failed(f"iterations {credential.iterations} below the minimum")
        self._credential = credential
        self._gs2_header = text[: match.start("bare")]
        self._client_first_bare = match["bare"]
        # Kafka's secure random string: 130 random bits in base 36.
        self._nonce = match["nonce"] + (self._nonce_suffix or _base36(secrets.randbits(130)))
        self._server_first = (
            f"r={self._nonce},s={base64.b64encode(credential.salt).decode()},"
            f"i={credential.iterations}"
        )
        self._state = "client-final"
        return self._server_first.encode()

    def _token_credential(self, token_id: str) -> ScramCredential:
        tokens = self.tokens
        try:
            if tokens is None or not tokens.enabled:
                raise KeyError(token_id)
            info, credential = tokens.login(token_id, self.mechanism.name)
        except KeyError:
            self._state = "failed"
            raise self._failed(
                f"Token Authentication failed: Invalid tokenId : {token_id}"
            ) from None
        self.authorization_id = info.owner.name
        self.token_authenticated = True
        # Kafka's credential lifetime: the session ends when the token expires (KIP-368).
        self.session_lifetime_ms = max(1, info.expiry_timestamp - tokens.clock_ms())
        return credential

    def _client_final(self, text: str) -> bytes:
        self._state = "failed"
        match = _CLIENT_FINAL.fullmatch(text)
        if match is None:
            raise self._failed("invalid SCRAM client-final message")
        try:
            channel = base64.b64decode(match["channel"], validate=True)
            proof = base64.b64decode(match["proof"], validate=True)
        except binascii.Error:
            raise self._failed("invalid base64 in the SCRAM client-final message") from None
        # "biws" is "n,,"; clients that sent an authzid may still send it (Kafka
        # checks nothing here; the proof covers c= anyway).
        if channel not in (self._gs2_header.encode(), b"n,,"):
            raise self._failed("channel binding does not match the gs2 header")
        if not match["nonce"].endswith(self._nonce):
            raise self._failed("Invalid client nonce in the final client message.")
        m, cred = self.mechanism, self._credential
        auth_message = (
            f"{self._client_first_bare},{self._server_first},{match['without_proof']}"
        ).encode()
        client_signature = m.hmac(cred.stored_key, auth_message)
        if len(proof) != len(client_signature):
            raise self._failed("Invalid client credentials")
        client_key = bytes(a ^ b for a, b in zip(proof, client_signature, strict=True))
        if not hmac.compare_digest(m.hash(client_key), cred.stored_key):
            raise self._failed("Invalid client credentials")
        server_signature = m.hmac(cred.server_key, auth_message)
        self._state = "complete"
        self.complete = True
        return f"v={base64.b64encode(server_signature).decode()}".encode()


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out or "0"


def _scram_server(context: SaslContext) -> ScramSaslServer:
    components = context.components
    return ScramSaslServer(
        context.mechanism, components.credentials, tokens=components.delegation_tokens
    )


for _name in SCRAM_MECHANISMS:
    MECHANISMS[_name] = _scram_server
