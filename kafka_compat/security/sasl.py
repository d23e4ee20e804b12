"""SASL mechanisms' server side: the interface each mechanism implements, and the
registry SaslHandshake picks from (`mechanism_server`, by Kafka's mechanism name).

A mechanism is a small state machine: `evaluate` takes the client's token and returns
the next challenge (b"" if none) until `complete`; a failed login raises
SaslAuthenticationError, whose message goes to the client (SaslAuthenticate's
error_message).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import Any, Protocol

from kafka_compat.config import BrokerConfig


class SaslAuthenticationError(Exception):
    """A failed login; str(exc) is sent to the client. `user`: who tried, if known."""

    def __init__(self, message: str, user: str | None = None) -> None:
        super().__init__(message)
        self.user = user


class SaslServer(Protocol):
    complete: bool  # the exchange is over and succeeded
    authorization_id: str  # the user name, once complete
    session_lifetime_ms: int | None  # OAUTHBEARER / delegation token expiry (KIP-368)
    token_authenticated: bool  # logged in with a delegation token (SCRAM tokenauth)

    def evaluate(self, token: bytes) -> bytes:
        """The next challenge (b"" if none); raises SaslAuthenticationError."""
        ...


@dataclass
class SaslContext:
    listener: str
    mechanism: str
    config: BrokerConfig
    components: Any  # apis.registry.Components (a higher layer)


# Each mechanism's module adds itself on import (plain.py: "PLAIN"; scram.py,
# oauthbearer.py likewise), which mechanism_server does on first use.
MECHANISMS: dict[str, Callable[[SaslContext], SaslServer]] = {}

# The module of each mechanism we serve: imported when a listener enables it, so a
# broker without SASL never loads SCRAM's hashing, JWT checks or the JWKS client's
# HTTP stack (start-up time).
_MECHANISM_MODULES = {
    "PLAIN": "plain",
    "SCRAM-SHA-256": "scram",
    "SCRAM-SHA-512": "scram",
    "OAUTHBEARER": "oauthbearer",
}


def mechanism_server(name: str) -> Callable[[SaslContext], SaslServer] | None:
    """The server side of mechanism `name` (Kafka's name), None if we have none."""
    if name not in MECHANISMS and name in _MECHANISM_MODULES:
        import_module(f"kafka_compat.security.{_MECHANISM_MODULES[name]}")
    return MECHANISMS.get(name)


@dataclass
class SaslExchange:
    """A connection's SASL login in progress (Session.sasl): the mechanism's server,
    and whether tokens come raw (after SaslHandshake v0) or in SaslAuthenticate."""

    mechanism: str
    server: SaslServer
    raw: bool
    reauthentication: bool = False  # KIP-368: the principal must stay the same
