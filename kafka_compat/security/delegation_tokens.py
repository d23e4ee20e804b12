"""Delegation tokens (KIP-48), as Kafka 3.9's DelegationTokenManager(Zk) keeps them.

A token is a TokenInformation (id, owner, requester, renewers, issue / max / expiry
timestamps) and its HMAC: HMAC-SHA512 of the token id, keyed with
`delegation.token.secret.key` (`delegation.token.master.key`, the deprecated alias).
The HMAC is the token's password: a client logs in with SCRAM-SHA-256/512, user name
= token id, password = base64(HMAC), and the client-first extension `tokenauth=true`
(security/scram.py). Only TokenInformation is stored; the HMAC is recomputed from the
secret, which every broker of a cluster must share, as in Kafka.

Lifetimes, as Kafka's: max timestamp = issue + min(requested max lifetime,
`delegation.token.max.lifetime.ms`) (a requested lifetime <= 0: the broker's);
expiry = min(max timestamp, now + `delegation.token.expiry.time.ms`) on creation,
min(max timestamp, now + renew period) on renewal (a negative period: the default),
min(max timestamp, now + period) on expire (a negative period removes the token at
once). A token past its expiry or max timestamp cannot be renewed or expired
(DELEGATION_TOKEN_EXPIRED), cannot log in, and is removed by the expiry check every
`delegation.token.expiry.check.interval.ms` (in a cluster by the controller, as Kafka).

Storage (security/token_store.py): ZooKeeper's `/delegation_token/tokens/<tokenId>`
in Kafka's JSON with a `/delegation_token/token_changes/token_change_N` notification
(the token id), which every broker applies; a single node keeps the same JSON in its
metadata file.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from kafka_compat.clock import wall_clock_ms
from kafka_compat.dynamic_config import desanitize_entity, sanitize_entity
from kafka_compat.security.credentials import SCRAM_MECHANISMS, ScramCredential
from kafka_compat.security.session import KafkaPrincipal
from protocol.errors import ErrorCode

if TYPE_CHECKING:
    from kafka_compat.config import BrokerConfig

__all__ = [
    "ERROR_TIMESTAMP",
    "DelegationToken",
    "DelegationTokenManager",
    "TokenInformation",
    "create_hmac",
    "parse_principal",
    "secret_key",
]

log = logging.getLogger(__name__)

ERROR_TIMESTAMP = -1  # Kafka's DelegationTokenManager.ErrorTimestamp
_JSON_VERSION = 3  # Kafka's DelegationTokenManagerZk.CurrentVersion


def secret_key(config: BrokerConfig) -> str | None:
    """The secret key, None (tokens disabled) when neither key is set or it is empty."""
    key = config["delegation.token.secret.key"] or config["delegation.token.master.key"]
    return key or None


def create_hmac(token_id: str, secret: str) -> bytes:
    """Kafka's DelegationTokenManager.createHmac: HmacSHA512(secret, token id)."""
    return hmac.new(secret.encode(), token_id.encode(), "sha512").digest()


def parse_principal(text: str) -> KafkaPrincipal:
    """Kafka's SecurityUtils.parseKafkaPrincipal: "Type:name"; ValueError otherwise."""
    kind, sep, name = text.partition(":")
    if not sep or not kind or not name:
        raise ValueError(f"Invalid principal {text!r}: expected Type:name")
    return KafkaPrincipal(kind, name)


@dataclass
class TokenInformation:
    """Kafka's TokenInformation (what ZooKeeper keeps of a token)."""

    token_id: str
    owner: KafkaPrincipal
    requester: KafkaPrincipal
    renewers: list[KafkaPrincipal]
    issue_timestamp: int
    max_timestamp: int
    expiry_timestamp: int

    def owner_or_renewer(self, principal: KafkaPrincipal) -> bool:
        """Kafka's ownerOrRenewer: the owner, the requester or a renewer."""
        return principal in (self.owner, self.requester) or principal in self.renewers

    def expired(self, now_ms: int) -> bool:
        return self.max_timestamp < now_ms or self.expiry_timestamp < now_ms

    def to_json(self) -> bytes:
        """Kafka's DelegationTokenInfoZNode JSON (principals sanitized as Kafka does)."""
        return json.dumps(
            {
                "version": _JSON_VERSION,
                "owner": sanitize_entity(str(self.owner)),
                "tokenRequester": sanitize_entity(str(self.requester)),
                "renewers": [sanitize_entity(str(r)) for r in self.renewers],
                "issueTimestamp": self.issue_timestamp,
                "maxTimestamp": self.max_timestamp,
                "expiryTimestamp": self.expiry_timestamp,
                "tokenId": self.token_id,
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> TokenInformation:
        """Kafka's DelegationTokenManagerZk.fromBytes (versions 1-3; before 3 the
        requester is the owner); ValueError if it does not parse."""
        try:
            data = json.loads(raw)
            version = data["version"]
            if not 0 < version <= _JSON_VERSION:
                raise ValueError(f"unknown version {version}")
            owner = parse_principal(desanitize_entity(data["owner"]))
            requester = owner
            if version >= 3:
                requester = parse_principal(desanitize_entity(data["tokenRequester"]))
            return cls(
                data["tokenId"],
                owner,
                requester,
                [parse_principal(desanitize_entity(r)) for r in data["renewers"]],
                int(data["issueTimestamp"]),
                int(data["maxTimestamp"]),
                int(data["expiryTimestamp"]),
            )
        except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
            raise ValueError(f"Invalid delegation token JSON: {exc!r}") from None


@dataclass
class DelegationToken:
    """A token as the APIs answer it: its information and its HMAC."""

    info: TokenInformation
    hmac: bytes


@dataclass
class _Cached:
    info: TokenInformation
    hmac: bytes
    # SCRAM credentials per mechanism, made on the first login with the token (PBKDF2
    # at 4096 iterations, as Kafka's prepareScramCredentials, but not for every token
    # at load).
    credentials: dict[str, ScramCredential] = field(default_factory=dict)


class DelegationTokenManager:
    """The token cache and Kafka's create / renew / expire / describe rules. The
    store (LocalTokenStore or ZkTokenStore) writes, and calls `updated` / `removed`
    for every change it reads, this broker's or another's."""

    def __init__(self, config: BrokerConfig, clock_ms: Callable[[], int] = wall_clock_ms):
        self.secret = secret_key(config)
        self.max_lifetime_ms: int = config["delegation.token.max.lifetime.ms"]
        self.renew_time_ms: int = config["delegation.token.expiry.time.ms"]
        self.check_interval_ms: int = config["delegation.token.expiry.check.interval.ms"]
        self.clock_ms = clock_ms
        self.store: Any = None  # its token_store.TokenStore (that module imports this one)
        self._tokens: dict[str, _Cached] = {}
        self._by_hmac: dict[bytes, str] = {}

    @property
    def enabled(self) -> bool:
        return self.secret is not None

    # ---- the cache, kept by the store ----

    def updated(self, info: TokenInformation) -> None:
        assert self.secret is not None
        mac = create_hmac(info.token_id, self.secret)
        old = self._tokens.get(info.token_id)
        self._tokens[info.token_id] = _Cached(info, mac, old.credentials if old else {})
        self._by_hmac[mac] = info.token_id

    def removed(self, token_id: str) -> None:
        cached = self._tokens.pop(token_id, None)
        if cached is not None:
            self._by_hmac.pop(cached.hmac, None)

    def tokens(self) -> list[TokenInformation]:
        return [c.info for c in self._tokens.values()]

    # ---- logins (security/scram.py) ----

    def login(self, token_id: str, mechanism: str) -> tuple[TokenInformation, ScramCredential]:
        """The token and its SCRAM credential for `mechanism`; KeyError if there is no
        such token or it expired (Kafka's login finds it only until it is removed)."""
        cached = self._tokens.get(token_id)
        if cached is None or cached.info.expired(self.clock_ms()):
            raise KeyError(token_id)
        credential = cached.credentials.get(mechanism)
        if credential is None:
            password = base64.b64encode(cached.hmac).decode()
            minimum = SCRAM_MECHANISMS[mechanism].min_iterations
            credential = ScramCredential.from_password(mechanism, password, iterations=minimum)
            cached.credentials[mechanism] = credential
        return cached.info, credential

    # ---- the APIs (apis/delegation_tokens.py) ----

    async def create(
        self,
        owner: KafkaPrincipal,
        requester: KafkaPrincipal,
        renewers: list[KafkaPrincipal],
        max_lifetime_ms: int,
    ) -> DelegationToken:
        assert self.store is not None and self.secret is not None
        # Kafka's CoreUtils.generateUuidAsBase64: a random UUID, URL-safe, unpadded.
        token_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        now = self.clock_ms()
        lifetime = (
            self.max_lifetime_ms
            if max_lifetime_ms <= 0
            else min(max_lifetime_ms, self.max_lifetime_ms)
        )
        max_timestamp = now + lifetime
        info = TokenInformation(
            token_id,
            owner,
            requester,
            list(renewers),
            now,
            max_timestamp,
            min(max_timestamp, now + self.renew_time_ms),
        )
        await self.store.save(info)
        log.info("Created a delegation token: %s for owner: %s", info.token_id, owner)
        return DelegationToken(info, create_hmac(info.token_id, self.secret))

    def _renewable(self, principal: KafkaPrincipal, mac: bytes) -> TokenInformation | int:
        """The token with this HMAC if `principal` may renew or expire it (Kafka's
        allowedToRenew: the owner or a renewer, not the requester), else the error."""
        token_id = self._by_hmac.get(bytes(mac))
        if token_id is None:
            return ErrorCode.DELEGATION_TOKEN_NOT_FOUND
        info = self._tokens[token_id].info
        if principal != info.owner and principal not in info.renewers:
            return ErrorCode.DELEGATION_TOKEN_OWNER_MISMATCH
        return info

    async def renew(self, principal: KafkaPrincipal, mac: bytes, period_ms: int) -> tuple[int, int]:
        """(error code, expiry timestamp) as Kafka's renewToken."""
        info = self._renewable(principal, mac)
        now = self.clock_ms()
        if isinstance(info, int):
            return info, ERROR_TIMESTAMP
        if info.expired(now):
            return ErrorCode.DELEGATION_TOKEN_EXPIRED, ERROR_TIMESTAMP
        period = self.renew_time_ms if period_ms < 0 else period_ms
        expiry = min(info.max_timestamp, now + period)
        await self.store.save(replace(info, expiry_timestamp=expiry))
        log.info("Delegation token renewed for token: %s for owner: %s", info.token_id, info.owner)
        return ErrorCode.NONE, expiry

    async def expire(
        self, principal: KafkaPrincipal, mac: bytes, period_ms: int
    ) -> tuple[int, int]:
        """(error code, expiry timestamp) as Kafka's expireToken."""
        info = self._renewable(principal, mac)
        now = self.clock_ms()
        if isinstance(info, int):
            return info, ERROR_TIMESTAMP
        if period_ms < 0:  # expire at once
            await self.store.remove(info.token_id)
            log.info("Token expired for token: %s for owner: %s", info.token_id, info.owner)
            return ErrorCode.NONE, now
        if info.expired(now):
            return ErrorCode.DELEGATION_TOKEN_EXPIRED, ERROR_TIMESTAMP
        expiry = min(info.max_timestamp, now + period_ms)
        await self.store.save(replace(info, expiry_timestamp=expiry))
        log.info("Updated expiry time for token: %s for owner: %s", info.token_id, info.owner)
        return ErrorCode.NONE, expiry

    def describe(self, eligible: Callable[[TokenInformation], bool]) -> list[DelegationToken]:
        return [DelegationToken(c.info, c.hmac) for c in self._tokens.values() if eligible(c.info)]

    async def remove_expired(self) -> int:
        """Kafka's expireTokens: remove every token past its expiry or max timestamp."""
        now = self.clock_ms()
        gone = 0
        for info in self.tokens():
            if info.expired(now):
                log.info(
                    "Delegation token expired for token: %s for owner: %s",
                    info.token_id,
                    info.owner,
                )
                await self.store.remove(info.token_id)
                gone += 1
        return gone
