"""SASL PLAIN (RFC 4616) with Kafka's PlainLoginModule users: the listener's
`listener.name.<l>.plain.sasl.jaas.config`, else `sasl.jaas.config`, e.g.

    org.apache.kafka.common.security.plain.PlainLoginModule required
        username="admin" password="admin-secret" user_admin="admin-secret" user_alice="pw";

`user_<name>="<password>"` entries are the accounts; username/password are what the
broker itself would log in with (inter-broker). Passwords compare in constant time.
"""

from __future__ import annotations

import hmac
import re

from kafka_compat.config import ConfigError
from kafka_compat.security.listeners import listener_config
from kafka_compat.security.sasl import MECHANISMS, SaslAuthenticationError, SaslContext

PLAIN_LOGIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"
_HEAD = re.compile(r"(\S+)\s+(required|requisite|sufficient|optional)(?=[\s;])(.*)", re.DOTALL)
_OPTION = re.compile(r'\s*([A-Za-z0-9_.\-]+)\s*=\s*("(?:\\.|[^"\\])*"|[^\s;"]+)')


def parse_jaas(text: str, key: str) -> tuple[str, dict[str, str]]:
    """Kafka's one-entry JAAS syntax: `<LoginModule> <flag> key="value" ... ;`."""
    head = _HEAD.match(text.strip())
    if head is None:
        raise ConfigError(
            f"Invalid JAAS configuration in {key}: expected '<LoginModule> required ...;'"
        )
    parts, rest = [head[1], head[2]], head[3]  # "Module required;" has no options
    options: dict[str, str] = {}
    position = 0
    while True:
        match = _OPTION.match(rest, position)
        if match is None:
            break
        value = match.group(2)
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        options[match.group(1)] = value
        position = match.end()
    if rest[position:].strip() != ";":
        raise ConfigError(f"Invalid JAAS configuration in {key}: it must end with ';'")
    return parts[0], options


def plain_users(config, listener: str) -> dict[str, str]:
    """user name -> password from the listener's PLAIN JAAS config."""
    options = _plain_options(config, listener)
    return {name[5:]: pw for name, pw in options.items() if name.startswith("user_")}


def plain_login(config, listener: str) -> tuple[str, str]:
    """(username, password) this broker logs in with to its peers' `listener`."""
    options = _plain_options(config, listener)
    if "username" not in options or "password" not in options:
        raise ConfigError(
            f"The PLAIN JAAS config of the inter-broker listener {listener} needs "
            'username="..." password="..." (this broker\'s own login)'
        )
    return options["username"], options["password"]


def _plain_options(config, listener: str) -> dict[str, str]:
    key = f"listener.name.{listener.lower()}.plain.sasl.jaas.config"
    text = listener_config(config, listener, "plain.sasl.jaas.config")
    if text is None:
        key, text = "sasl.jaas.config", listener_config(config, listener, "sasl.jaas.config")
    if text is None:
        raise ConfigError(
            f"Listener {listener} enables SASL PLAIN but has no JAAS config: set {key} "
            f'(or sasl.jaas.config) to {PLAIN_LOGIN_MODULE} required user_<name>="<password>";'
        )
    module, options = parse_jaas(text, key)
    if module != PLAIN_LOGIN_MODULE:
        raise ConfigError(f"Invalid JAAS configuration in {key}: expected {PLAIN_LOGIN_MODULE}")
    return options


class PlainServer:
    """One message: `authzid NUL authcid NUL password`; the authzid, if any, must be
    the user itself (as Kafka's PlainSaslServer)."""

    def __init__(self, context: SaslContext) -> None:
        self.users = plain_users(context.config, context.listener)
        self.complete = False
        self.authorization_id = ""
        self.token_authenticated = False
        self.session_lifetime_ms: int | None = None

    def evaluate(self, token: bytes) -> bytes:
        parts = token.split(b"\x00")
        if len(parts) != 3:
            raise SaslAuthenticationError(
                "Invalid SASL/PLAIN response: expected 3 tokens, got " + str(len(parts))
            )
        authzid, user_bytes, password = parts
        user = user_bytes.decode("utf-8", "replace")
        if not user:
            raise SaslAuthenticationError("Authentication failed: username not specified")
        if not password:
            raise SaslAuthenticationError("Authentication failed: password not specified", user)
        if authzid and authzid != user_bytes:
            raise SaslAuthenticationError(
                "Authentication failed: Client requested an authorization id that is "
                "different from username",
                user,
            )
        expected = self.users.get(user)
        # Compare even for an unknown user, so timing does not tell which users exist.
        matches = hmac.compare_digest((expected or "\x00unknown").encode(), password)
        if expected is None or not matches:
            raise SaslAuthenticationError(
                "Authentication failed: Invalid username or password", user
            )
        self.authorization_id = user
        self.complete = True
        return b""


MECHANISMS["PLAIN"] = PlainServer
