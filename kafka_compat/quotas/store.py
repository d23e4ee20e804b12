"""Where quotas are kept: Kafka's ZooKeeper layout, in the metadata store.

    /config/users/<user>                      user quotas, beside SCRAM credentials
    /config/users/<user>/clients/<client-id>  (user, client-id) quotas
    /config/clients/<client-id>               client-id quotas
    /config/ips/<ip>                          connection_creation_rate

Names are sanitized as Kafka does (URL-encoded, dynamic_config.sanitize_entity); a
default entity is the literal `<default>`. The user level shares the user's znode
with the SCRAM credentials: it is changed key by key (update_user_configs), never
replaced. The other paths are the store's `quota_configs`, keyed by the path under
/config ("clients/<c>", "users/<u>/clients/<c>", "ips/<ip>"). In a cluster every
change posts a /config/changes notification, which every broker applies; on a single
node the local store keeps them in its file.

An entity is a dict {entity type: name}, name None for the default (Kafka's
ClientQuotaEntity). Values are doubles on the wire and strings in the store, as
Kafka writes them ("1024" for the LONG keys, "12.5" for the DOUBLE ones).
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

import trio

from kafka_compat.dynamic_config import DEFAULT_ENTITY, desanitize_entity, sanitize_entity

if TYPE_CHECKING:
    from kafka_compat.cluster.store import MetadataStore

__all__ = [
    "CLIENT_ID",
    "CLIENT_QUOTA_KEYS",
    "IP",
    "IP_QUOTA_KEYS",
    "USER",
    "InvalidQuota",
    "QuotaEntity",
    "QuotaStore",
    "check_ip_entity",
    "entity_path",
    "validate_ops",
]

USER, CLIENT_ID, IP = "user", "client-id", "ip"  # Kafka's ClientQuotaEntity types
PRODUCER_BYTE_RATE = "producer_byte_rate"
CONSUMER_BYTE_RATE = "consumer_byte_rate"
REQUEST_PERCENTAGE = "request_percentage"
CONTROLLER_MUTATION_RATE = "controller_mutation_rate"
CONNECTION_CREATION_RATE = "connection_creation_rate"
# Kafka's QuotaConfig: the key and its ConfigDef type.
CLIENT_QUOTA_KEYS = {
    PRODUCER_BYTE_RATE: "LONG",
    CONSUMER_BYTE_RATE: "LONG",
    REQUEST_PERCENTAGE: "DOUBLE",
    CONTROLLER_MUTATION_RATE: "DOUBLE",
}
IP_QUOTA_KEYS = {CONNECTION_CREATION_RATE: "INT"}
_LIMITS = {"LONG": 2**63 - 1, "INT": 2**31 - 1}

QuotaEntity = dict[str, str | None]


class InvalidQuota(ValueError):
    """Kafka's InvalidRequestException for a quota entity or alteration."""


def _znode_name(name: str | None) -> str:
    return DEFAULT_ENTITY if name is None else sanitize_entity(name)


def _entity_name(znode: str) -> str | None:
    return None if znode == DEFAULT_ENTITY else desanitize_entity(znode)


def entity_path(entity: QuotaEntity) -> tuple[str, dict[str, str]]:
    """The path under /config of a valid entity and the keys it takes (Kafka's
    ZkAdminManager.alterClientQuotas); InvalidQuota with Kafka's message if not."""
    if not entity:
        raise InvalidQuota("Invalid empty client quota entity")
    for entity_type, name in entity.items():
        if entity_type not in (USER, CLIENT_ID, IP):
            raise InvalidQuota(f"Unhandled client quota entity type: {entity_type}")
        if name is not None and not name:
            raise InvalidQuota(f"Empty {entity_type} not supported")
    if IP in entity:
        if len(entity) > 1:
            raise InvalidQuota(
                "Invalid quota entity combination, IP entity should not be used with "
                "user/client ID entity."
            )
        return f"ips/{_znode_name(entity[IP])}", IP_QUOTA_KEYS
    if USER in entity and CLIENT_ID in entity:
        user, client = _znode_name(entity[USER]), _znode_name(entity[CLIENT_ID])
        return f"users/{user}/clients/{client}", CLIENT_QUOTA_KEYS
    if USER in entity:
        return f"users/{_znode_name(entity[USER])}", CLIENT_QUOTA_KEYS
    return f"clients/{_znode_name(entity[CLIENT_ID])}", CLIENT_QUOTA_KEYS


async def check_ip_entity(entity: QuotaEntity) -> None:
    """Kafka's DynamicConfig.Ip.isValidIpEntity: an IP entity names an address or a
    host that resolves (looked up off the event loop); InvalidQuota if not."""
    ip = entity.get(IP)
    if ip is None:
        return
    try:
        ipaddress.ip_address(ip)
        return
    except ValueError:
        pass
    try:
        await trio.socket.getaddrinfo(ip, None)
    except (OSError, UnicodeError):
        raise InvalidQuota(f"{ip} is not a valid IP or resolvable host.") from None


def validate_ops(
    keys: dict[str, str], ops: list[tuple[str, float | None]]
) -> tuple[dict[str, str], set[str]]:
    """(keys to set as stored strings, keys to remove) for the (key, value-or-None)
    operations; InvalidQuota with Kafka's message for an unknown key, a fractional
    LONG/INT or a value that is not positive."""
    set_keys: dict[str, str] = {}
    removed: set[str] = set()
    for key, value in ops:
        if value is None:
            removed.add(key)
            set_keys.pop(key, None)
            continue
        kind = keys.get(key)
        if kind is None:
            raise InvalidQuota(f"Invalid configuration key {key}")
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidQuota(f"Configuration {key} must be a {kind} value")
        # Kafka's ZooKeeper path stores these unchecked; its controller (and every
        # quota's meaning) needs them positive, so we refuse as KRaft does.
        if value <= 0 and not (kind == "INT" and value == 0):
            raise InvalidQuota(f"Quota {key} must be greater than 0")
        if kind == "DOUBLE":
            set_keys[key] = repr(float(value))
        else:
            whole = int(value + 1e-6)
            if abs(whole - value) > 1e-6 or whole > _LIMITS[kind]:
                raise InvalidQuota(f"Configuration {key} must be a {kind} value")
            set_keys[key] = str(whole)
        removed.discard(key)
    return set_keys, removed


def _doubles(configs: dict[str, str], keys: dict[str, str]) -> dict[str, float]:
    found = {}
    for key, value in configs.items():
        if key in keys:
            try:
                found[key] = float(value)
            except ValueError:
                continue  # written by hand: Kafka fails the describe; we skip it
    return found


class QuotaStore:
    """The quota entities in the metadata store (module docstring); reads come from the
    store's caches (no I/O)."""

    def __init__(self, store: MetadataStore | None = None) -> None:
        self.store = store

    def entries(self) -> list[tuple[QuotaEntity, dict[str, float]]]:
        """Every entity with at least one quota, with its values."""
        store = self.store
        if store is None:
            return []
        found: list[tuple[QuotaEntity, dict[str, float]]] = []
        for user, configs in store.user_configs.items():
            values = _doubles(configs, CLIENT_QUOTA_KEYS)
            if values:
                found.append(({USER: None if user == DEFAULT_ENTITY else user}, values))
        for path, configs in getattr(store, "quota_configs", {}).items():
            parts = path.split("/")
            if len(parts) == 2 and parts[0] == "clients":
                entity: QuotaEntity = {CLIENT_ID: _entity_name(parts[1])}
            elif len(parts) == 4 and parts[0] == "users" and parts[2] == "clients":
                entity = {USER: _entity_name(parts[1]), CLIENT_ID: _entity_name(parts[3])}
            elif len(parts) == 2 and parts[0] == "ips":
                entity = {IP: _entity_name(parts[1])}
            else:
                continue
            values = _doubles(configs, IP_QUOTA_KEYS if IP in entity else CLIENT_QUOTA_KEYS)
            if values:
                found.append((entity, values))
        return found

    async def alter(self, entity: QuotaEntity, set_keys: dict[str, str], removed: set[str]) -> None:
        """Write the change (checked with entity_path and validate_ops first)."""
        assert self.store is not None, "the metadata store is not open yet"
        path, _ = entity_path(entity)
        if path.startswith("users/") and "/clients/" not in path:
            user = entity[USER]
            name = DEFAULT_ENTITY if user is None else user
            current = self.store.user_configs.get(name, {})
            # Removing a key that is not set is no error in Kafka.
            await self.store.update_user_configs(name, set_keys, removed & set(current))
        else:
            await self.store.update_quota_configs(path, set_keys, removed)
