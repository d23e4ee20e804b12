"""The broker's own SASL login to its peers' inter-broker listener, as Kafka's
LoginModules configure it (`sasl.mechanism.inter.broker.protocol` picks the mechanism;
the JAAS config is the listener's `listener.name.<l>.<mechanism lower>.sasl.jaas.config`,
else `sasl.jaas.config`):

- PLAIN: PlainLoginModule's `username` / `password`.
- SCRAM-SHA-256 / SCRAM-SHA-512: ScramLoginModule's `username` / `password`
  (security/scram_client.py). The credential must exist in the metadata store
  before the brokers need it (Kafka: `kafka-configs --zookeeper ... --alter
  --add-config 'SCRAM-SHA-512=[password=...]' --entity-type users --entity-name broker`).
- OAUTHBEARER: OAuthBearerLoginModule. Without a login callback handler, Kafka's
  unsecured tokens (OAuthBearerUnsecuredLoginCallbackHandler: unsecuredLoginStringClaim_
  <claim>, -NumberClaim_, -ListClaim_, -Extension_<name>, -PrincipalClaimName (sub),
  -LifetimeSeconds (3600)); with OAuthBearerLoginCallbackHandler, the token read from
  `sasl.oauthbearer.token.endpoint.url` when it is a file:// URL (Kafka's
  FileTokenRetriever; re-read at each login, so a renewed token is picked up). A
  token endpoint over HTTP(S) (client credentials) is not served: start-up says so.

`inter_broker_login(config, listener)` returns (mechanism, principal name or None, a
factory of SaslClient objects for cluster/client.py), or raises ConfigError naming
the key.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from kafka_compat.config import ConfigError
from kafka_compat.security.credentials import SCRAM_MECHANISMS
from kafka_compat.security.listeners import listener_config
from kafka_compat.security.oauthbearer import LOGIN_MODULE as OAUTHBEARER_LOGIN_MODULE
from kafka_compat.security.plain import parse_jaas, plain_login
from kafka_compat.security.scram_client import ScramClient

__all__ = ["OAuthBearerClient", "PlainClient", "inter_broker_login"]

SCRAM_LOGIN_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"
LOGIN_CALLBACK_HANDLER = (
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler"
)
_LOGIN_CALLBACK_HANDLERS = {
    LOGIN_CALLBACK_HANDLER,
    "org.apache.kafka.common.security.oauthbearer.secured.OAuthBearerLoginCallbackHandler",
}
UNSECURED_LOGIN_HANDLER = (
    "org.apache.kafka.common.security.oauthbearer.internals.unsecured."
    "OAuthBearerUnsecuredLoginCallbackHandler"
)


class PlainClient:
    """RFC 4616: one message, `NUL user NUL password`."""

    def __init__(self, username: str, password: str) -> None:
        self.username, self.password = username, password

    def initial(self) -> bytes:
        return b"\x00%s\x00%s" % (self.username.encode(), self.password.encode())

    def evaluate(self, challenge: bytes) -> bytes | None:
        return None


class OAuthBearerClient:
    """RFC 7628's client message with a bearer token; an error challenge from the
    server is acknowledged with ^A (the server then fails the login with it)."""

    def __init__(self, token: str, extensions: dict[str, str] | None = None) -> None:
        self.token = token
        self.extensions = extensions or {}
        self._answered = False

    def initial(self) -> bytes:
        pairs = "".join(f"{k}={v}\x01" for k, v in sorted(self.extensions.items()))
        return f"n,,\x01auth=Bearer {self.token}\x01{pairs}\x01".encode()

    def evaluate(self, challenge: bytes) -> bytes | None:
        if challenge and not self._answered:
            self._answered = True
            return b"\x01"
        return None


def _jaas(config: Any, listener: str, mechanism: str, module: str) -> tuple[str, dict[str, str]]:
    """The listener's JAAS config for `mechanism` (its key, its options)."""
    key = f"listener.name.{listener.lower()}.{mechanism.lower()}.sasl.jaas.config"
    text = listener_config(config, listener, f"{mechanism.lower()}.sasl.jaas.config")
    if text is None:
        key, text = "sasl.jaas.config", listener_config(config, listener, "sasl.jaas.config")
    if text is None:
        raise ConfigError(
            f"The inter-broker listener {listener} logs in with {mechanism} but has no JAAS "
            f"config: set listener.name.{listener.lower()}.{mechanism.lower()}.sasl.jaas.config "
            f'to {module} required username="..." password="...";'
        )
    found, options = parse_jaas(text, key)
    if found != module:
        raise ConfigError(f"Invalid JAAS configuration in {key}: expected {module}")
    return key, options


def inter_broker_login(config: Any, listener: str) -> tuple[str, str | None, Callable[[], Any]]:
    """(mechanism, the principal name when known in advance, SaslClient factory)."""
    mechanism = config["sasl.mechanism.inter.broker.protocol"].strip().upper()
    if mechanism == "PLAIN":
        username, password = plain_login(config, listener)
        return mechanism, username, lambda: PlainClient(username, password)
    if mechanism in SCRAM_MECHANISMS:
        key, options = _jaas(config, listener, mechanism, SCRAM_LOGIN_MODULE)
        if "username" not in options or "password" not in options:
            raise ConfigError(
                f"The {mechanism} JAAS config {key} of the inter-broker listener {listener} "
                'needs username="..." password="..." (this broker\'s own login)'
            )
        username, password = options["username"], options["password"]
        return mechanism, username, lambda: ScramClient(mechanism, username, password)
    if mechanism == "OAUTHBEARER":
        return _oauthbearer_login(config, listener)
    raise ConfigError(
        f"Configuration sasl.mechanism.inter.broker.protocol: {mechanism} is not served"
    )


def _oauthbearer_login(config: Any, listener: str) -> tuple[str, str | None, Callable[[], Any]]:
    _, options = _jaas(config, listener, "OAUTHBEARER", OAUTHBEARER_LOGIN_MODULE)
    handler_key = "oauthbearer.sasl.login.callback.handler.class"
    handler = listener_config(config, listener, handler_key) or listener_config(
        config, listener, "sasl.login.callback.handler.class"
    )
    if handler in _LOGIN_CALLBACK_HANDLERS:
        url = listener_config(config, listener, "sasl.oauthbearer.token.endpoint.url")
        parsed = urlparse(url or "")
        if parsed.scheme != "file":
            raise ConfigError(
                f"Configuration sasl.oauthbearer.token.endpoint.url {url!r}: the broker's "
                "own OAUTHBEARER login reads its token from a file:// URL only (a token "
                "endpoint over HTTP is not served); this broker will not start"
            )
        path = Path(unquote(parsed.path))
        principal = _token_subject(_read_token(path))
        return "OAUTHBEARER", principal, lambda: OAuthBearerClient(_read_token(path))
    if handler not in (None, UNSECURED_LOGIN_HANDLER):
        raise ConfigError(
            f"Configuration listener.name.{listener.lower()}.{handler_key} {handler!r} is not "
            f"supported: use {LOGIN_CALLBACK_HANDLER} or leave it unset (unsecured tokens)"
        )
    principal_claim = options.get("unsecuredLoginPrincipalClaimName", "sub")
    principal = options.get(f"unsecuredLoginStringClaim_{principal_claim}")
    if not principal:
        raise ConfigError(
            f"The OAUTHBEARER JAAS config of the inter-broker listener {listener} needs "
            f'unsecuredLoginStringClaim_{principal_claim}="<broker principal>" (an unsecured '
            "token), or the login callback handler "
            f"{LOGIN_CALLBACK_HANDLER} with a file:// sasl.oauthbearer.token.endpoint.url"
        )
    try:
        lifetime_s = int(options.get("unsecuredLoginLifetimeSeconds", "3600"))
    except ValueError:
        raise ConfigError("unsecuredLoginLifetimeSeconds must be a number") from None
    extensions = {
        k[len("unsecuredLoginExtension_") :]: v
        for k, v in options.items()
        if k.startswith("unsecuredLoginExtension_")
    }
    return (
        "OAUTHBEARER",
        principal,
        lambda: OAuthBearerClient(unsecured_token(options, lifetime_s), extensions),
    )


def unsecured_token(options: dict[str, str], lifetime_s: int) -> str:
    """An unsigned JWT (alg none) as OAuthBearerUnsecuredLoginCallbackHandler makes it."""
    now_ms = int(time.time() * 1000)  # truncated, as Kafka's: never after the validator's now
    claims: dict[str, Any] = {"iat": now_ms / 1000, "exp": (now_ms + lifetime_s * 1000) / 1000}
    for name, value in options.items():
        kind, _, claim = name.partition("_")
        if kind == "unsecuredLoginStringClaim":
            claims[claim] = value
        elif kind == "unsecuredLoginNumberClaim":
            claims[claim] = float(value) if "." in value else int(value)
        elif kind == "unsecuredLoginListClaim" and value:
            # Kafka: the first character is the delimiter.
            claims[claim] = [v for v in value[1:].split(value[0]) if v]
    header = _b64url(json.dumps({"alg": "none"}).encode())
    return f"{header}.{_b64url(json.dumps(claims).encode())}."


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _read_token(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise ConfigError(
            f"Cannot read the OAUTHBEARER token file {path} "
            f"(sasl.oauthbearer.token.endpoint.url): {exc.strerror}"
        ) from None


def _token_subject(token: str) -> str | None:
    """The token's `sub` (for the start-up check of the brokers' ACLs), if readable."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return str(claims["sub"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None
