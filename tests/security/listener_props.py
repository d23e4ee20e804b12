"""What the listener tests (test_listeners_tls_sasl.py, test_sasl_reauthentication.py,
test_key_store_reload.py) share: a JAAS config with PLAIN users, the TLS settings of a
listener, and the address a client dials; their fixtures are in conftest.py."""

from __future__ import annotations

from tests.conftest import BrokerHandle
from tests.security.certs import Certs

GUARD_S = 30.0  # failure guard for waits, never a timing
JAAS = (
    "org.apache.kafka.common.security.plain.PlainLoginModule required "
    'username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-pw";'
)


def tls_props(certs: Certs, prefix: str = "") -> dict[str, str]:
    return {
        f"{prefix}ssl.keystore.type": "PEM",
        f"{prefix}ssl.keystore.location": str(certs.broker_keystore),
        f"{prefix}ssl.truststore.type": "PEM",
        f"{prefix}ssl.truststore.location": str(certs.ca),
    }


def address(handle: BrokerHandle, listener: str) -> str:
    return f"127.0.0.1:{handle.broker.bound_ports[listener]}"
