"""Dynamic broker configs (Kafka's DynamicBrokerConfig): which broker keys may change
at run time, how a change is validated, and the synonyms DescribeConfigs reports.

Two levels, stored with the cluster's metadata (the local store's file on one node,
/config/brokers/<id> and /config/brokers/<default> in ZooKeeper): this broker's
(resource name "<id>") over the cluster default (resource name ""), both over
server.properties (static) and Kafka's defaults. `BrokerConfig.set_dynamic` takes
them; the admin manager applies what changed (admin_manager.py).

Dynamic here: the broker synonyms of topic configs (log.retention.ms,
log.segment.bytes, message.max.bytes, min.insync.replicas ...: they are the defaults
of every topic without an override, and apply to the logs at once),
log.cleaner.backoff.ms and producer.id.expiration.ms, the connection limits
(max.connections, max.connections.per.ip, max.connections.per.ip.overrides,
max.connection.creation.rate, and listener.name.<l>.max.connections|
max.connection.creation.rate, which Kafka also takes at the cluster level), as in
Kafka; and keys Kafka lets you change that have no effect here (thread counts, cleaner
buffers, SASL/Kerberos, replication throttles), accepted and shown. Every other key
is read-only: changing it is refused with INVALID_REQUEST naming it, as Kafka refuses
its static keys. Kafka also accepts names it does not know (custom configs); we refuse
them the same way, since nothing would read them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import quote, unquote_plus

from kafka_compat.config import BROKER_KEYS, LISTENER_CONNECTION_KEYS, TOPIC_KEYS

DEFAULT_ENTITY = "<default>"  # Kafka's ZooKeeperInternals.DEFAULT_STRING (never sanitized)


def sanitize_entity(name: str) -> str:
    """Kafka's Sanitizer.sanitize: a user name as a znode name (Java's URLEncoder,
    with "*" as %2A and a space as %20)."""
    return quote(name, safe="").replace("~", "%7E")


def desanitize_entity(name: str) -> str:
    return unquote_plus(name)  # Java's URLDecoder: "+" is a space


# Kafka's DynamicLogConfig: the first broker synonym of each topic config, except the
# deprecated message format version.
LOG_KEYS = frozenset(
    key.synonym
    for key in TOPIC_KEYS.values()
    if key.name != "message.format.version" and key.synonym in BROKER_KEYS
)
# Kafka's SocketServer.ReconfigurableConfigs (quotas/connection_quotas.py applies them).
CONNECTION_KEYS = frozenset(
    {
        "max.connections",
        "max.connections.per.ip",
        "max.connections.per.ip.overrides",
        "max.connection.creation.rate",
    }
)
APPLIED_KEYS = LOG_KEYS | CONNECTION_KEYS | {"log.cleaner.backoff.ms", "producer.id.expiration.ms"}
# Kafka's per-listener (SASL) configs: per broker only, never a cluster default.
PER_BROKER_KEYS = frozenset(
    {
        "sasl.kerberos.service.name",
        "sasl.kerberos.kinit.cmd",
        "sasl.kerberos.ticket.renew.window.factor",
        "sasl.kerberos.ticket.renew.jitter",
        "sasl.kerberos.min.time.before.relogin",
        "sasl.kerberos.principal.to.local.rules",
        "sasl.login.refresh.window.factor",
        "sasl.login.refresh.window.jitter",
        "sasl.login.refresh.min.period.seconds",
        "sasl.login.refresh.buffer.seconds",
    }
)
NO_EFFECT_KEYS = PER_BROKER_KEYS | {
    "num.io.threads",
    "num.network.threads",
    "num.replica.fetchers",
    "num.recovery.threads.per.data.dir",
    "background.threads",
    "log.cleaner.threads",
    "log.cleaner.dedupe.buffer.size",
    "log.cleaner.io.buffer.size",
    "log.cleaner.io.buffer.load.factor",
    "log.cleaner.io.max.bytes.per.second",
    "leader.replication.throttled.rate",
    "follower.replication.throttled.rate",
    "replica.alter.log.dirs.io.max.bytes.per.second",
}
DYNAMIC_KEYS = APPLIED_KEYS | NO_EFFECT_KEYS
# Kafka's SSL reconfiguration: a listener's key and trust stores, as
# listener.name.<listener>.ssl.keystore.location etc., per broker only; new
# connections use them (broker.py reloads the listener's TLS context).
RELOADABLE_SSL_KEYS = frozenset(
    {
        "ssl.keystore.type",
        "ssl.keystore.location",
        "ssl.keystore.password",
        "ssl.key.password",
        "ssl.keystore.key",
        "ssl.keystore.certificate.chain",
        "ssl.truststore.type",
        "ssl.truststore.location",
        "ssl.truststore.password",
        "ssl.truststore.certificates",
    }
)


def listener_ssl_key(name: str) -> str | None:
    """The ssl.* key of a `listener.name.<listener>.ssl...` name that may change at run
    time, else None."""
    parts = name.split(".", 3)
    if len(parts) == 4 and parts[:2] == ["listener", "name"] and parts[3] in RELOADABLE_SSL_KEYS:
        return parts[3]
    return None


def listener_connection_key(name: str) -> str | None:
    """The key of a `listener.name.<listener>.max.connections` or `...max.connection.
    creation.rate` name (Kafka's ListenerReconfigurableConfigs), else None."""
    parts = name.split(".", 3)
    if len(parts) == 4 and parts[:2] == ["listener", "name"]:
        if parts[3] in LISTENER_CONNECTION_KEYS:
            return parts[3]
    return None


def is_connection_key(name: str) -> bool:
    """A key the connection limits read (a change re-reads them)."""
    return name in CONNECTION_KEYS or listener_connection_key(name) is not None


# Keys whose values are comma-separated lists (IncrementalAlterConfigs APPEND/SUBTRACT).
LIST_BROKER_KEYS = frozenset({"log.cleanup.policy", "sasl.kerberos.principal.to.local.rules"})


class DynamicConfigError(ValueError):
    """A dynamic broker config change that cannot be made (Kafka: INVALID_REQUEST)."""


def _names(names: Iterable[str]) -> str:
    """Kafka's message form: Scala's Set(a, b)."""
    return f"Set({', '.join(sorted(names))})"


def validate_dynamic(configs: Mapping[str, str | None], per_broker: bool) -> dict[str, str]:
    """Check a whole set of dynamic configs for one level, in Kafka's order: read-only
    keys, values, per-broker keys at the cluster level. Raises DynamicConfigError."""
    static = [
        name
        for name in configs
        if name not in DYNAMIC_KEYS
        and listener_ssl_key(name) is None
        and listener_connection_key(name) is None
    ]
    if static:
        raise DynamicConfigError(f"Cannot update these configs dynamically: {_names(static)}")
    checked = {}
    for name, value in configs.items():
        if value is None:
            raise DynamicConfigError(f"Null value not supported for : {name}")
        key = listener_ssl_key(name) or listener_connection_key(name) or name
        try:
            parsed = BROKER_KEYS[key].parse(value)
        except (ValueError, TypeError) as exc:
            raise DynamicConfigError(
                f"Invalid value {value} for configuration {name}: {exc}"
            ) from None
        if key in LISTENER_CONNECTION_KEYS and parsed <= 0:
            # Kafka's ListenerConnectionQuota.validateReconfiguration.
            raise DynamicConfigError(f"Invalid {key} {parsed} (configuration {name})")
        checked[name] = value
    only_per_broker = PER_BROKER_KEYS.intersection(configs) | {
        name for name in configs if listener_ssl_key(name)
    }
    if not per_broker and only_per_broker:
        raise DynamicConfigError(
            "Cannot update these configs at default cluster level, broker id must be "
            f"specified: {_names(only_per_broker)}"
        )
    return checked


def usable(configs: Mapping[str, str], per_broker: bool) -> dict[str, str]:
    """What a broker takes of stored dynamic configs: Kafka ignores (and logs) the
    entries that would not validate, e.g. written to ZooKeeper by hand."""
    kept = {}
    for name, value in configs.items():
        try:
            kept.update(validate_dynamic({name: value}, per_broker))
        except DynamicConfigError:
            continue
    return kept


def broker_synonym_names(name: str) -> list[str]:
    """Kafka's brokerConfigSynonyms: the keys that set the same value, finest first."""
    for group in (
        ["log.roll.ms", "log.roll.hours"],
        ["log.roll.jitter.ms", "log.roll.jitter.hours"],
        ["log.retention.ms", "log.retention.minutes", "log.retention.hours"],
    ):
        if name in group:
            return group
    return [name]
