"""SCRAM credentials (Kafka's ScramCredential) and where they are kept.

A credential is what the server needs to check a SCRAM login without the password:
the salt, the iteration count, StoredKey = H(HMAC(SaltedPassword, "Client Key")) and
ServerKey = HMAC(SaltedPassword, "Server Key") (RFC 5802). The password is never
stored. They live in the metadata store's per-user configs under the mechanism's
name, in Kafka's text form ("salt=<b64>,stored_key=<b64>,server_key=<b64>,
iterations=4096"): in a cluster that is ZooKeeper's /config/users/<user>, which
every broker watches (config change notifications), so a user created through one
broker logs in on all of them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from kafka_compat.cluster.store import MetadataStore

__all__ = [
    "SCRAM_MECHANISMS",
    "ScramCredential",
    "ScramCredentialStore",
    "ScramMechanism",
]


class ScramMechanism(NamedTuple):
    """Kafka's ScramMechanism: the name, its hash, its type code in the admin APIs
    (1: SCRAM-SHA-256, 2: SCRAM-SHA-512) and the iterations it accepts."""

    name: str
    hash_name: str
    type: int
    min_iterations: int = 4096
    max_iterations: int = 16384

    def hmac(self, key: bytes, data: bytes) -> bytes:
        return hmac.new(key, data, self.hash_name).digest()

    def hash(self, data: bytes) -> bytes:
        return hashlib.new(self.hash_name, data).digest()

    def salted_password(self, password: str, salt: bytes, iterations: int) -> bytes:
        """RFC 5802's Hi(Normalize(password), salt, i): PBKDF2 with the mechanism's HMAC.
        (Kafka does not SASLprep the password either.)"""
        return hashlib.pbkdf2_hmac(self.hash_name, password.encode(), salt, iterations)


SCRAM_MECHANISMS: dict[str, ScramMechanism] = {
    "SCRAM-SHA-256": ScramMechanism("SCRAM-SHA-256", "sha256", 1),
    "SCRAM-SHA-512": ScramMechanism("SCRAM-SHA-512", "sha512", 2),
}
MECHANISMS_BY_TYPE = {m.type: m for m in SCRAM_MECHANISMS.values()}


class ScramCredential(NamedTuple):
    salt: bytes
    stored_key: bytes
    server_key: bytes
    iterations: int

    @classmethod
    def from_salted_password(
        cls, mechanism: str, salt: bytes, salted_password: bytes, iterations: int
    ) -> ScramCredential:
        """What AlterUserScramCredentials carries (the client salts the password)."""
        m = SCRAM_MECHANISMS[mechanism]
        client_key = m.hmac(salted_password, b"Client Key")
        return cls(
            salt,
            m.hash(client_key),
            m.hmac(salted_password, b"Server Key"),
            iterations,
        )

    @classmethod
    def from_password(
        cls, mechanism: str, password: str, *, salt: bytes | None = None, iterations: int = 4096
    ) -> ScramCredential:
        salt = os.urandom(32) if salt is None else salt
        salted = SCRAM_MECHANISMS[mechanism].salted_password(password, salt, iterations)
        return cls.from_salted_password(mechanism, salt, salted, iterations)

    def matches(self, mechanism: str, password: str) -> bool:
        """Whether `password` is the one this credential was made from."""
        again = ScramCredential.from_password(
            mechanism, password, salt=self.salt, iterations=self.iterations
        )
        return hmac.compare_digest(again.stored_key, self.stored_key)

    def to_kafka(self) -> str:
        """Kafka's ScramCredentialUtils.credentialToString."""
        b64 = base64.b64encode
        return (
            f"salt={b64(self.salt).decode()},stored_key={b64(self.stored_key).decode()},"
            f"server_key={b64(self.server_key).decode()},iterations={self.iterations}"
        )

    @classmethod
    def from_kafka(cls, text: str) -> ScramCredential:
        """Kafka's ScramCredentialUtils.credentialFromString; ValueError if malformed."""
        fields = dict(part.split("=", 1) for part in text.split(",") if "=" in part)
        try:
            return cls(
                base64.b64decode(fields["salt"], validate=True),
                base64.b64decode(fields["stored_key"], validate=True),
                base64.b64decode(fields["server_key"], validate=True),
                int(fields["iterations"]),
            )
        except (KeyError, ValueError) as exc:
            raise ValueError(f"Invalid credential: {exc}") from None


class ScramCredentialStore:
    """The SCRAM credentials in the metadata store (module docstring). Reads come from
    the store's cache of user configs (no I/O); the store is set once it is open."""

    def __init__(self, store: MetadataStore | None = None) -> None:
        self.store = store

    def _user_configs(self) -> dict[str, dict[str, str]]:
        return {} if self.store is None else getattr(self.store, "user_configs", {})

    def get(self, user: str, mechanism: str) -> ScramCredential | None:
        text = self._user_configs().get(user, {}).get(mechanism)
        if text is None or mechanism not in SCRAM_MECHANISMS:
            return None
        try:
            return ScramCredential.from_kafka(text)
        except ValueError:
            return None

    def users(self) -> dict[str, dict[str, ScramCredential]]:
        """Every user with at least one SCRAM credential: {user: {mechanism: cred}}."""
        found: dict[str, dict[str, ScramCredential]] = {}
        for user in self._user_configs():
            for mechanism in SCRAM_MECHANISMS:
                cred = self.get(user, mechanism)
                if cred is not None:
                    found.setdefault(user, {})[mechanism] = cred
        return found

    async def alter(
        self, user: str, upserts: dict[str, ScramCredential], deletions: set[str]
    ) -> None:
        """Set and delete the user's credentials in one write (other keys are kept);
        MissingConfigs (kafka_compat.cluster.store) if a credential to delete is not
        in the store."""
        assert self.store is not None, "the metadata store is not open yet"
        await self.store.update_user_configs(
            user, {m: c.to_kafka() for m, c in upserts.items()}, set(deletions)
        )
