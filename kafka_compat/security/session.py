"""A connection's security state, as Kafka's RequestContext carries it: the listener
it came in on, the peer's host, and the principal it authenticated as.

Every connection has a principal: `User:ANONYMOUS` on a PLAINTEXT listener (as Kafka),
the certificate's mapped distinguished name with mutual TLS, the SASL user after
SaslAuthenticate. Until a SASL listener's client has authenticated, `authenticated`
is False and only ApiVersions, SaslHandshake and SaslAuthenticate are served.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class KafkaPrincipal(NamedTuple):
    """Kafka's KafkaPrincipal: a type (always "User" here) and a name."""

    type: str
    name: str

    def __str__(self) -> str:
        return f"{self.type}:{self.name}"


ANONYMOUS = KafkaPrincipal("User", "ANONYMOUS")


class Session:
    """One connection's listener, peer and principal (mutable: SASL fills it in)."""

    __slots__ = (
        "listener",
        "security_protocol",
        "peer_host",
        "principal",
        "token_authenticated",
        "authenticated",
        "sasl",
        "sasl_mechanism",
        "expires_at",
        "close_after_response",
        "throttle_ms",
    )

    def __init__(
        self,
        listener: str = "PLAINTEXT",
        security_protocol: str = "PLAINTEXT",
        peer_host: str = "",
        principal: KafkaPrincipal = ANONYMOUS,
        authenticated: bool = True,
    ) -> None:
        self.listener = listener
        self.security_protocol = security_protocol
        self.peer_host = peer_host
        self.principal = principal
        # Logged in with a delegation token (Kafka's KafkaPrincipal.tokenAuthenticated):
        # such a connection may not create, renew or expire tokens.
        self.token_authenticated = False
        self.authenticated = authenticated
        self.sasl: Any = None  # the SASL exchange in progress (mechanism's server side)
        self.sasl_mechanism: str | None = None  # the mechanism of the last login
        # KIP-368: trio.current_time() after which the session must re-authenticate
        # before any other request (None: never).
        self.expires_at: float | None = None
        # Kafka closes the connection once a failed login's answer is sent.
        self.close_after_response = False
        # Client quotas: the channel is muted this long after the response (KIP-219).
        self.throttle_ms = 0
