"""The SASL mechanism interface (Kafka's SaslServer): what every mechanism's server
side provides, and the registry of mechanisms by name.

A minimal version of the interface in the issue 13 brief, so SCRAM and OAUTHBEARER
can be written against it; the SASL transport (SaslHandshake/SaslAuthenticate)
drives it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from kafka_compat.apis.registry import Components
    from kafka_compat.config import BrokerConfig


class SaslAuthenticationError(Exception):
    """The exchange failed; str(exc) is the message the client gets."""


class SaslServer(Protocol):
    complete: bool  # the exchange is over and succeeded
    authorization_id: str  # the user name, once complete
    session_lifetime_ms: int | None  # OAUTHBEARER token expiry (KIP-368)

    def evaluate(self, token: bytes) -> bytes:
        """The next challenge (b"" if none); raises SaslAuthenticationError."""
        ...


@dataclass
class SaslContext:
    listener: str
    mechanism: str
    config: BrokerConfig
    components: Components


MECHANISMS: dict[str, Callable[[SaslContext], SaslServer]] = {}
