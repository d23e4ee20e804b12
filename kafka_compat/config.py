"""Broker and topic configuration with Kafka's key names, defaults and synonyms.

A broker reads `server.properties` (Java properties syntax); command-line flags
override the file. Every value is parsed and checked at start-up: an invalid one
stops the broker with a `ConfigError` naming the key.

Topic-level keys (`retention.ms`, `max.message.bytes`, ...) each have a broker
synonym (`log.retention.ms`, `message.max.bytes`, ...) that supplies the default;
DescribeConfigs reports which one a value came from.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from kafka_compat.config_values import (
    COMPRESSION_TYPE,
    LONG_MAX,
    MESSAGE_FORMAT_VERSION_DEFAULT,
    ConfigError,
    at_least,
    authorizer_class,
    cleanup_policy,
    host_port,
    in_range,
    ip_count_overrides,
    level_between,
    message_format_version,
    non_negative,
    one_of,
    parse_bool,
    parse_list,
    ratio,
    remote_storage_enable,
    store_type,
    throttled_replicas,
)
from kafka_compat.properties import PropertiesError, parse_properties
from kafka_compat.security.listeners import (
    DEFAULT_PROTOCOL_MAP,
    LISTENER_PREFIX,
    Endpoint,
    ListenerError,
    inter_broker_listener,
    parse_endpoints,
    parse_protocol_map,
)

log = logging.getLogger(__name__)


class Key(NamedTuple):
    name: str
    parse: Callable[[str], Any]
    default: str | None
    doc: str = ""


BROKER_KEYS: dict[str, Key] = {
    k.name: k
    for k in [
        Key("broker.id", non_negative(int), "0"),
        Key("broker.rack", str, None),
        Key("listeners", str, "PLAINTEXT://127.0.0.1:9092"),
        Key("advertised.listeners", str, None),
        Key("log.dirs", str, None),
        Key("log.dir", str, "./data"),
        Key("zookeeper.connect", str, None),
        # The HTTP listener (/metrics; kafka_compat/http/): off unless set; `kafka-compat
        # serve` sets 127.0.0.1:9644 unless told otherwise (--http-port).
        Key("http.listener", host_port, ""),
        # The console's write actions (http/console/): unset, allowed unless an
        # authorizer is configured (the console has no login); true/false decide.
        Key("http.console.write.enable", parse_bool, None),
        # ACLs (security/authorizer.py): Kafka's authorizer classes turn them on.
        Key("authorizer.class.name", authorizer_class, ""),
        Key("super.users", str, ""),
        Key("allow.everyone.if.no.acl.found", parse_bool, "false"),
        # Client quotas (quotas/): the rate's samples and their length.
        Key("quota.window.num", at_least(1), "11"),
        Key("quota.window.size.seconds", at_least(1), "1"),
        # The controller mutation quota's token bucket (KIP-599): burst = quota x num x size.
        Key("controller.quota.window.num", at_least(1), "11"),
        Key("controller.quota.window.size.seconds", at_least(1), "1"),
        Key("num.partitions", at_least(1), "1"),
        Key("default.replication.factor", at_least(1), "1"),
        Key("min.insync.replicas", at_least(1), "1"),
        Key("auto.create.topics.enable", parse_bool, "true"),
        Key("delete.topic.enable", parse_bool, "true"),
        Key("message.max.bytes", non_negative(int), "1048588"),
        Key("socket.request.max.bytes", at_least(1), "104857600"),
        Key("socket.listen.backlog.size", at_least(1), "50"),
        # Negative: idle connections are never closed (Kafka's Selector).
        Key("connections.max.idle.ms", int, "600000"),
        Key("log.segment.bytes", at_least(14), "1073741824"),
        Key("log.index.size.max.bytes", at_least(4), "10485760"),
        Key("log.index.interval.bytes", non_negative(int), "4096"),
        Key("log.roll.ms", at_least(1), None),
        Key("log.roll.hours", at_least(1), "168"),
        Key("log.roll.jitter.ms", non_negative(int), None),
        Key("log.roll.jitter.hours", non_negative(int), "0"),
        Key("log.retention.ms", int, None),
        Key("log.retention.minutes", int, None),
        Key("log.retention.hours", int, "168"),
        Key("log.retention.bytes", int, "-1"),
        Key("log.retention.check.interval.ms", at_least(1), "300000"),
        Key("log.cleanup.policy", cleanup_policy, "delete"),
        Key("log.cleaner.enable", parse_bool, "true"),
        Key("log.cleaner.backoff.ms", non_negative(int), "15000"),
        Key("log.flush.offset.checkpoint.interval.ms", at_least(1), "60000"),
        Key("log.cleaner.delete.retention.ms", non_negative(int), "86400000"),
        Key("log.cleaner.min.cleanable.ratio", ratio, "0.5"),
        Key("log.cleaner.min.compaction.lag.ms", non_negative(int), "0"),
        Key("log.cleaner.max.compaction.lag.ms", at_least(1), str(LONG_MAX)),
        Key("log.segment.delete.delay.ms", non_negative(int), "60000"),
        Key("log.flush.interval.messages", at_least(1), str(LONG_MAX)),
        Key("log.flush.interval.ms", non_negative(int), None),
        Key("log.message.format.version", message_format_version, MESSAGE_FORMAT_VERSION_DEFAULT),
        Key("log.message.timestamp.type", one_of("CreateTime", "LogAppendTime"), "CreateTime"),
        Key("log.message.timestamp.difference.max.ms", non_negative(int), str(LONG_MAX)),
        Key("log.message.timestamp.before.max.ms", non_negative(int), str(LONG_MAX)),
        Key("log.message.timestamp.after.max.ms", non_negative(int), str(LONG_MAX)),
        Key("log.local.retention.ms", at_least(-2), "-2"),
        Key("log.local.retention.bytes", at_least(-2), "-2"),
        Key("log.message.downconversion.enable", parse_bool, "true"),
        Key("log.preallocate", parse_bool, "false"),
        Key("compression.type", COMPRESSION_TYPE, "producer"),
        Key("unclean.leader.election.enable", parse_bool, "false"),
        Key("auto.leader.rebalance.enable", parse_bool, "true"),
        Key("leader.imbalance.check.interval.seconds", at_least(1), "300"),
        Key("leader.imbalance.per.broker.percentage", at_least(0), "10"),
        Key("offsets.topic.replication.factor", at_least(1), "3"),
        Key("offsets.topic.num.partitions", at_least(1), "50"),
        Key("offsets.topic.segment.bytes", at_least(1), "104857600"),
        Key("offsets.load.buffer.size", at_least(1), "5242880"),
        Key("offsets.retention.minutes", at_least(1), "10080"),
        Key("offsets.retention.check.interval.ms", at_least(1), "600000"),
        Key("offset.metadata.max.bytes", non_negative(int), "4096"),
        Key("group.initial.rebalance.delay.ms", non_negative(int), "3000"),
        Key("group.min.session.timeout.ms", non_negative(int), "6000"),
        Key("group.max.session.timeout.ms", non_negative(int), "1800000"),
        Key("group.max.size", at_least(1), "2147483647"),
        Key("group.consumer.session.timeout.ms", at_least(1), "45000"),
        Key("group.consumer.heartbeat.interval.ms", at_least(1), "5000"),
        Key("group.consumer.max.size", at_least(1), "2147483647"),
        Key("group.consumer.assignors", parse_list, "uniform,range"),
        Key("transaction.state.log.replication.factor", at_least(1), "3"),
        Key("transaction.state.log.min.isr", at_least(1), "2"),
        Key("transaction.state.log.num.partitions", at_least(1), "50"),
        Key("transaction.state.log.segment.bytes", at_least(1), "104857600"),
        Key("transaction.state.log.load.buffer.size", at_least(1), "5242880"),
        Key("transaction.max.timeout.ms", at_least(1), "900000"),
        Key("transactional.id.expiration.ms", at_least(1), "604800000"),
        Key("transaction.abort.timed.out.transaction.cleanup.interval.ms", at_least(1), "10000"),
        Key("transaction.remove.expired.transaction.cleanup.interval.ms", at_least(1), "3600000"),
        Key("transaction.partition.verification.enable", parse_bool, "true"),
        Key("producer.id.expiration.ms", at_least(1), "86400000"),
        Key("producer.id.expiration.check.interval.ms", at_least(1), "600000"),
        Key("replica.lag.time.max.ms", at_least(1), "30000"),
        Key("replica.fetch.wait.max.ms", at_least(0), "500"),
        Key(
            "replica.selector.class",
            one_of(
                "org.apache.kafka.common.replica.RackAwareReplicaSelector",
                "org.apache.kafka.common.replica.LeaderSelector",
            ),
            None,
        ),
        Key("replica.fetch.max.bytes", at_least(0), "1048576"),
        Key("replica.fetch.response.max.bytes", at_least(0), "10485760"),
        Key("replica.fetch.backoff.ms", at_least(0), "1000"),
        Key("max.incremental.fetch.session.cache.slots", at_least(0), "1000"),
        Key("replica.high.watermark.checkpoint.interval.ms", at_least(1), "5000"),
        Key("zookeeper.session.timeout.ms", at_least(1), "18000"),
        Key("zookeeper.connection.timeout.ms", at_least(1), None),
        Key("controlled.shutdown.enable", parse_bool, "true"),
        Key("controlled.shutdown.max.retries", at_least(0), "3"),
        Key("controlled.shutdown.retry.backoff.ms", at_least(0), "5000"),
        Key("controller.socket.timeout.ms", at_least(1), "30000"),
        Key("request.timeout.ms", at_least(1), "30000"),
    ]
}

# Dynamic broker configs (kafka-configs --entity-type brokers, AlterConfigs) that
# Kafka's tools and clients set and that change nothing here: thread counts,
# cleaner buffers, SASL/Kerberos logins, replication throttles. Accepted,
# stored and shown (dynamic_config.py).
BROKER_KEYS.update(
    {
        k.name: k
        for k in [
            Key("num.io.threads", at_least(1), "8"),
            Key("num.network.threads", at_least(1), "3"),
            Key("num.replica.fetchers", at_least(1), "1"),
            Key("num.recovery.threads.per.data.dir", at_least(1), "1"),
            Key("background.threads", at_least(1), "10"),
            Key("log.cleaner.threads", non_negative(int), "1"),
            Key("log.cleaner.dedupe.buffer.size", int, "134217728"),
            Key("log.cleaner.io.buffer.size", non_negative(int), "524288"),
            Key("log.cleaner.io.buffer.load.factor", float, "0.9"),
            Key("log.cleaner.io.max.bytes.per.second", float, "1.7976931348623157E308"),
            Key("leader.replication.throttled.rate", non_negative(int), str(LONG_MAX)),
            Key("follower.replication.throttled.rate", non_negative(int), str(LONG_MAX)),
            Key("replica.alter.log.dirs.io.max.bytes.per.second", non_negative(int), str(LONG_MAX)),
            Key("sasl.kerberos.service.name", str, None),
            Key("sasl.kerberos.kinit.cmd", str, "/usr/bin/kinit"),
            Key("sasl.kerberos.ticket.renew.window.factor", float, "0.8"),
            Key("sasl.kerberos.ticket.renew.jitter", float, "0.05"),
            Key("sasl.kerberos.min.time.before.relogin", int, "60000"),
            Key("sasl.kerberos.principal.to.local.rules", str, "DEFAULT"),
            Key("sasl.login.refresh.window.factor", float, "0.8"),
            Key("sasl.login.refresh.window.jitter", float, "0.05"),
            Key("sasl.login.refresh.min.period.seconds", int, "60"),
            Key("sasl.login.refresh.buffer.seconds", int, "300"),
            # OAUTHBEARER with signed JWTs (security/oauthbearer.py).
            Key("sasl.oauthbearer.jwks.endpoint.url", str, None),
            Key("sasl.oauthbearer.jwks.endpoint.refresh.ms", non_negative(int), "3600000"),
            Key("sasl.oauthbearer.jwks.endpoint.retry.backoff.ms", non_negative(int), "100"),
            Key("sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms", non_negative(int), "10000"),
            # The broker's own OAUTHBEARER login to its peers (security/login.py).
            Key("sasl.login.callback.handler.class", str, None),
            Key("sasl.oauthbearer.token.endpoint.url", str, None),
            Key("sasl.oauthbearer.expected.audience", str, None),
            Key("sasl.oauthbearer.expected.issuer", str, None),
            Key("sasl.oauthbearer.scope.claim.name", str, "scope"),
            Key("sasl.oauthbearer.sub.claim.name", str, "sub"),
            Key("sasl.oauthbearer.clock.skew.seconds", non_negative(int), "30"),
        ]
    }
)

# Connection limits (quotas/connection_quotas.py), dynamic; max.connections and
# max.connection.creation.rate also per listener (listener.name.<l>.). Their rates use
# the client quotas' window (quota.window.num, quota.window.size.seconds).
BROKER_KEYS.update(
    {
        k.name: k
        for k in [
            Key("max.connections", non_negative(int), "2147483647"),
            Key("max.connections.per.ip", non_negative(int), "2147483647"),
            Key("max.connections.per.ip.overrides", ip_count_overrides, ""),
            Key("max.connection.creation.rate", non_negative(int), "2147483647"),
        ]
    }
)

# Listeners, TLS and SASL (security/listeners.py, tls.py, sasl.py), Kafka's names and
# defaults. Each ssl.* and sasl.* key may be set per listener under
# listener.name.<listener>.; those overrides live in BrokerConfig.listener_props.
BROKER_KEYS.update(
    {
        k.name: k
        for k in [
            Key("listener.security.protocol.map", str, DEFAULT_PROTOCOL_MAP),
            Key("inter.broker.listener.name", str, None),
            Key("security.inter.broker.protocol", str, None),
            Key("ssl.keystore.type", store_type, "JKS"),
            Key("ssl.keystore.location", str, None),
            Key("ssl.keystore.password", str, None),
            Key("ssl.keystore.key", str, None),
            Key("ssl.keystore.certificate.chain", str, None),
            Key("ssl.key.password", str, None),
            Key("ssl.truststore.type", store_type, "JKS"),
            Key("ssl.truststore.location", str, None),
            Key("ssl.truststore.password", str, None),
            Key("ssl.truststore.certificates", str, None),
            Key("ssl.client.auth", one_of("required", "requested", "none"), "none"),
            Key("ssl.enabled.protocols", str, "TLSv1.2,TLSv1.3"),
            Key("ssl.protocol", str, "TLSv1.3"),
            Key("ssl.cipher.suites", str, ""),
            Key("ssl.principal.mapping.rules", str, "DEFAULT"),
            # A reloaded key store must keep the subject DN and SANs unless these say.
            Key("ssl.allow.dn.changes", parse_bool, "false"),
            Key("ssl.allow.san.changes", parse_bool, "false"),
            Key("ssl.endpoint.identification.algorithm", str, "https"),
            Key("ssl.keymanager.algorithm", str, "SunX509"),
            Key("ssl.trustmanager.algorithm", str, "PKIX"),
            Key("ssl.secure.random.implementation", str, None),
            Key("ssl.provider", str, None),
            Key("sasl.enabled.mechanisms", str, "GSSAPI"),
            Key("sasl.mechanism.inter.broker.protocol", str, "GSSAPI"),
            Key("sasl.jaas.config", str, None),
            Key("connection.failed.authentication.delay.ms", non_negative(int), "100"),
            Key("connections.max.reauth.ms", non_negative(int), "0"),
            # Delegation tokens (KIP-48, security/delegation_tokens.py): served once a
            # secret key is set (master.key: its deprecated alias).
            Key("delegation.token.secret.key", str, None),
            Key("delegation.token.master.key", str, None),
            Key("delegation.token.max.lifetime.ms", at_least(1), "604800000"),
            Key("delegation.token.expiry.time.ms", at_least(1), "86400000"),
            Key("delegation.token.expiry.check.interval.ms", at_least(1), "3600000"),
        ]
    }
)


class TopicKey(NamedTuple):
    name: str
    parse: Callable[[str], Any]
    synonym: str  # the broker key that supplies the default
    kafka_default: str  # used when the broker synonym has no value of its own
    # Coarser broker keys that also set it (log.retention.minutes/hours), finest first.
    coarser: tuple[str, ...] = ()

    @property
    def broker_synonyms(self) -> tuple[str, ...]:
        return (self.synonym, *self.coarser)


TOPIC_KEYS: dict[str, TopicKey] = {
    k.name: k
    for k in [
        TopicKey("cleanup.policy", cleanup_policy, "log.cleanup.policy", "delete"),
        TopicKey("compression.type", COMPRESSION_TYPE, "compression.type", "producer"),
        # The levels of KIP-390, used when compression.type names a codec (lz4 has no -1).
        TopicKey("compression.gzip.level", level_between(1, 9), "compression.gzip.level", "-1"),
        TopicKey("compression.lz4.level", in_range(1, 17), "compression.lz4.level", "9"),
        TopicKey(
            "compression.zstd.level", level_between(-131072, 22), "compression.zstd.level", "3"
        ),
        TopicKey(
            "delete.retention.ms",
            non_negative(int),
            "log.cleaner.delete.retention.ms",
            "86400000",
        ),
        TopicKey("file.delete.delay.ms", non_negative(int), "log.segment.delete.delay.ms", "60000"),
        TopicKey("flush.messages", at_least(1), "log.flush.interval.messages", str(LONG_MAX)),
        TopicKey("flush.ms", non_negative(int), "log.flush.interval.ms", str(LONG_MAX)),
        TopicKey("index.interval.bytes", non_negative(int), "log.index.interval.bytes", "4096"),
        TopicKey(
            "max.compaction.lag.ms",
            at_least(1),
            "log.cleaner.max.compaction.lag.ms",
            str(LONG_MAX),
        ),
        TopicKey("max.message.bytes", non_negative(int), "message.max.bytes", "1048588"),
        TopicKey(
            "message.format.version",
            message_format_version,
            "log.message.format.version",
            MESSAGE_FORMAT_VERSION_DEFAULT,
        ),
        TopicKey(
            "message.timestamp.type",
            one_of("CreateTime", "LogAppendTime"),
            "log.message.timestamp.type",
            "CreateTime",
        ),
        TopicKey(
            "message.downconversion.enable",
            parse_bool,
            "log.message.downconversion.enable",
            "true",
        ),
        TopicKey("min.cleanable.dirty.ratio", ratio, "log.cleaner.min.cleanable.ratio", "0.5"),
        TopicKey(
            "min.compaction.lag.ms", non_negative(int), "log.cleaner.min.compaction.lag.ms", "0"
        ),
        TopicKey("min.insync.replicas", at_least(1), "min.insync.replicas", "1"),
        # Enforced on append (storage/log_validator.py); the deprecated difference
        # applies where before/after are left at their default.
        TopicKey(
            "message.timestamp.difference.max.ms",
            non_negative(int),
            "log.message.timestamp.difference.max.ms",
            str(LONG_MAX),
        ),
        TopicKey(
            "message.timestamp.before.max.ms",
            non_negative(int),
            "log.message.timestamp.before.max.ms",
            str(LONG_MAX),
        ),
        TopicKey(
            "message.timestamp.after.max.ms",
            non_negative(int),
            "log.message.timestamp.after.max.ms",
            str(LONG_MAX),
        ),
        # Replication throttles (kafka-reassign-partitions --throttle): shown, not applied.
        # No broker synonym ("").
        TopicKey("leader.replication.throttled.replicas", throttled_replicas, "", ""),
        TopicKey("follower.replication.throttled.replicas", throttled_replicas, "", ""),
        # Tiered storage is not there: remote.storage.enable=true is refused, the rest
        # keep their defaults' meaning.
        TopicKey("remote.storage.enable", remote_storage_enable, "", "false"),
        TopicKey("local.retention.ms", at_least(-2), "log.local.retention.ms", "-2"),
        TopicKey("local.retention.bytes", at_least(-2), "log.local.retention.bytes", "-2"),
        TopicKey("remote.log.copy.disable", parse_bool, "", "false"),
        TopicKey("remote.log.delete.on.disable", parse_bool, "", "false"),
        TopicKey("preallocate", parse_bool, "log.preallocate", "false"),
        TopicKey("retention.bytes", int, "log.retention.bytes", "-1"),
        TopicKey(
            "retention.ms",
            int,
            "log.retention.ms",
            "604800000",
            ("log.retention.minutes", "log.retention.hours"),
        ),
        TopicKey("segment.bytes", at_least(14), "log.segment.bytes", "1073741824"),
        TopicKey("segment.index.bytes", at_least(4), "log.index.size.max.bytes", "10485760"),
        TopicKey(
            "segment.jitter.ms",
            non_negative(int),
            "log.roll.jitter.ms",
            "0",
            ("log.roll.jitter.hours",),
        ),
        TopicKey("segment.ms", at_least(1), "log.roll.ms", "604800000", ("log.roll.hours",)),
        TopicKey(
            "unclean.leader.election.enable",
            parse_bool,
            "unclean.leader.election.enable",
            "false",
        ),
    ]
}


# Keys whose values are comma-separated lists (IncrementalAlterConfigs APPEND/SUBTRACT).
LIST_TOPIC_KEYS = frozenset(
    {
        "cleanup.policy",
        "leader.replication.throttled.replicas",
        "follower.replication.throttled.replicas",
    }
)


# Keys that configure security this broker does not serve yet. A broker must never
# serve a listener with less security than configured: any of them stops start-up,
# naming the key. Served: every listener protocol, TLS (PEM and PKCS12 stores), SASL
# PLAIN, SCRAM (delegation tokens too) and OAUTHBEARER, between brokers too (their
# OAUTHBEARER token from a file only: a token endpoint over HTTP is refused).
_SECURITY_PREFIXES = ("ssl.", "sasl.", "listener.name.")
_SECURITY_KEYS = frozenset(
    {
        "principal.builder.class",
        "security.providers",
        "client.quota.callback.class",
    }
)
SERVED_SASL_MECHANISMS = frozenset({"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"})
# Connection limits honoured per listener (quotas/connection_quotas.py).
LISTENER_CONNECTION_KEYS = ("max.connections", "max.connection.creation.rate")
# Per-listener keys honoured under listener.name.<l>. (besides the ssl.*/sasl.* keys above).
_LISTENER_MECHANISM_KEYS = frozenset(
    {
        "plain.sasl.jaas.config",
        "scram-sha-256.sasl.jaas.config",
        "scram-sha-512.sasl.jaas.config",
        "oauthbearer.sasl.jaas.config",
        "oauthbearer.sasl.server.callback.handler.class",
        "oauthbearer.sasl.login.callback.handler.class",
    }
)


def _refuse(key: str, why: str) -> ConfigError:
    return ConfigError(
        f"Configuration {key} is not supported yet: {why}; this broker will not start "
        "with less security than configured"
    )


def _listeners(props: Mapping[str, str]) -> tuple[dict[str, str], list[Endpoint], list[Endpoint]]:
    """(protocol map, listeners, advertised listeners), ConfigError if they do not parse."""
    try:
        protocol_map = parse_protocol_map(props.get("listener.security.protocol.map"))
        listeners = parse_endpoints(
            props.get("listeners", BROKER_KEYS["listeners"].default), "listeners", protocol_map
        )
        advertised = (
            parse_endpoints(props["advertised.listeners"], "advertised.listeners", protocol_map)
            if props.get("advertised.listeners")
            else []
        )
    except ListenerError as exc:
        raise ConfigError(str(exc)) from None
    names = {e.listener for e in listeners}
    for endpoint in advertised:
        if endpoint.listener not in names:
            raise ConfigError(
                f"Invalid value {props['advertised.listeners']!r} for configuration "
                f"advertised.listeners: listener {endpoint.listener} is not in listeners"
            )
    return protocol_map, listeners, advertised


def _refuse_unserved_security(props: Mapping[str, str]) -> None:
    """ConfigError for the first security setting we cannot honour."""
    _, listeners, _ = _listeners(props)
    if props.get("zookeeper.connect"):
        try:
            name = inter_broker_listener(
                listeners,
                props.get("inter.broker.listener.name"),
                props.get("security.inter.broker.protocol"),
            )
        except ListenerError as exc:
            raise ConfigError(str(exc)) from None
        endpoint = next(e for e in listeners if e.listener == name)
        if endpoint.sasl and "sasl.mechanism.inter.broker.protocol" not in props:
            raise _refuse(
                "sasl.mechanism.inter.broker.protocol",
                f"the inter-broker listener {name} is {endpoint.protocol} and Kafka's default "
                "inter-broker mechanism is GSSAPI (Kerberos), which is not served; set it "
                f"to one of {', '.join(sorted(SERVED_SASL_MECHANISMS))}",
            )
        mechanism = props.get("sasl.mechanism.inter.broker.protocol", "").strip().upper()
        enabled_key = f"{LISTENER_PREFIX}{name.lower()}.sasl.enabled.mechanisms"
        enabled = props.get(enabled_key, props.get("sasl.enabled.mechanisms"))
        if endpoint.sasl and enabled is not None:
            if mechanism not in (m.upper() for m in parse_list(enabled)):
                # Kafka's KafkaConfig check: the brokers must accept their own login.
                raise ConfigError(
                    f"sasl.mechanism.inter.broker.protocol must be included in "
                    f"sasl.enabled.mechanisms when SASL is used for inter-broker "
                    f"communication ({mechanism} is not in {enabled_key} or "
                    "sasl.enabled.mechanisms)"
                )
    for key, value in props.items():
        if key == "security.inter.broker.protocol":
            continue  # checked against the listeners by BrokerConfig
        sub = key
        if key.startswith(LISTENER_PREFIX):
            _, _, sub = key[len(LISTENER_PREFIX) :].partition(".")
            if sub in _LISTENER_MECHANISM_KEYS:
                continue
            mechanism, _, rest = sub.partition(".")
            if rest == "connections.max.reauth.ms" and mechanism.upper() in SERVED_SASL_MECHANISMS:
                # Kafka's per-mechanism session limit (SaslChannelBuilder), e.g.
                # listener.name.sasl_ssl.oauthbearer.connections.max.reauth.ms
                if not value.strip().isdigit():
                    raise _refuse(key, f"expected a number of milliseconds >= 0, not {value!r}")
                continue
            if not (
                sub in BROKER_KEYS
                and (
                    sub.startswith(("ssl.", "sasl."))
                    or sub in ("connections.max.reauth.ms", *LISTENER_CONNECTION_KEYS)
                )
            ):
                raise _refuse(key, "this per-listener setting is not honoured")
        if sub in ("sasl.enabled.mechanisms", "sasl.mechanism.inter.broker.protocol"):
            unserved = [m for m in parse_list(value) if m.upper() not in SERVED_SASL_MECHANISMS]
            if unserved:
                raise _refuse(
                    key,
                    f"SASL mechanism {unserved[0]} is not served (served: "
                    f"{', '.join(sorted(SERVED_SASL_MECHANISMS))})",
                )
        if key == "client.quota.callback.class" and value.strip():
            raise _refuse(
                key,
                "a Java ClientQuotaCallback cannot be loaded here; the default callback "
                "(user and client-id quotas set with AlterClientQuotas) is served",
            )
        if sub == "sasl.oauthbearer.token.endpoint.url" and not value.startswith("file:"):
            raise _refuse(
                key,
                "the broker's own OAUTHBEARER login reads its token from a file:// URL "
                "only; a token endpoint over HTTP is not served",
            )
        if key in BROKER_KEYS or sub in BROKER_KEYS:
            continue  # known (e.g. sasl.kerberos.* settings, which weaken nothing)
        if key in _SECURITY_KEYS or key.startswith(_SECURITY_PREFIXES):
            raise _refuse(key, "this broker does not serve it")
    for endpoint in listeners:
        if not endpoint.sasl:
            continue
        key = f"{LISTENER_PREFIX}{endpoint.listener.lower()}.sasl.enabled.mechanisms"
        if key not in props and "sasl.enabled.mechanisms" not in props:
            # Kafka's default is GSSAPI (Kerberos), which is not served.
            raise _refuse(
                "sasl.enabled.mechanisms",
                f"listener {endpoint.listener} would use Kafka's default mechanism GSSAPI "
                "(Kerberos), which is not served; set sasl.enabled.mechanisms=PLAIN",
            )


def advertisable(endpoint: Endpoint) -> Endpoint:
    """The address a listener is advertised at by default: its own, 127.0.0.1 for a
    wildcard (0.0.0.0 cannot be dialled)."""
    if endpoint.host in ("", "0.0.0.0", "::"):
        return Endpoint(endpoint.listener, "127.0.0.1", endpoint.port, endpoint.protocol)
    return endpoint


class BrokerConfig:
    """Parsed broker configuration. `values` holds every known key, parsed."""

    def __init__(self, props: Mapping[str, str] | None = None):
        props = dict(props or {})
        _refuse_unserved_security(props)
        self.explicit: dict[str, str] = {}  # server.properties and flags (static)
        # Dynamic broker configs (dynamic_config.py): this broker's, the cluster default.
        self.dynamic_broker: dict[str, str] = {}
        self.dynamic_default: dict[str, str] = {}
        self.values: dict[str, Any] = {}
        # listener.name.<listener>.<key>: per-listener overrides (security/listeners.py).
        self.listener_props = {k: v for k, v in props.items() if k.startswith(LISTENER_PREFIX)}
        self.static_listener_props = dict(self.listener_props)
        for name, value in props.items():
            if name in self.listener_props:
                continue
            if name not in BROKER_KEYS and name not in TOPIC_KEYS:
                log.warning("The configuration '%s' was supplied but isn't a known config.", name)
                continue
            self.explicit[name] = value
        self._resolve()

        # Listeners: every endpoint, advertised by name (a listener left out of
        # advertised.listeners is advertised at its own address).
        self.protocol_map, self.listeners, advertised = _listeners(props)
        by_name = {e.listener: e for e in advertised}
        self.advertised_listeners = [
            advertisable(by_name.get(e.listener, e)) for e in self.listeners
        ]
        try:
            self.inter_broker_listener = inter_broker_listener(
                self.listeners,
                props.get("inter.broker.listener.name"),
                props.get("security.inter.broker.protocol"),
            )
        except ListenerError as exc:
            raise ConfigError(str(exc)) from None
        first = self.listeners[0]
        self.host, self.port = first.host, first.port
        self.advertised_host = self.advertised_listeners[0].host
        self.advertised_port = self.advertised_listeners[0].port
        self.broker_id: int = self.values["broker.id"]
        log_dirs = parse_list(self.values["log.dirs"] or "")
        # JBOD: every directory of log.dirs; the first also keeps a single node's metadata.
        self.log_dirs = [Path(d) for d in log_dirs] if log_dirs else [Path(self.values["log.dir"])]
        self.log_dir = self.log_dirs[0]

    def set_dynamic(self, default: Mapping[str, str], broker: Mapping[str, str]) -> set[str]:
        """Take new dynamic values (validated: never a static key); the keys whose
        value changed."""
        before = dict(self.values)
        self.dynamic_default, self.dynamic_broker = dict(default), dict(broker)
        self._resolve()
        changed = {name for name, value in self.values.items() if before.get(name) != value}
        # listener.name.<l>.ssl.* key stores (dynamic_config.RELOADABLE_SSL_KEYS).
        listener_props = dict(self.static_listener_props)
        for level in (self.dynamic_default, self.dynamic_broker):
            listener_props.update((k, v) for k, v in level.items() if k.startswith(LISTENER_PREFIX))
        for name in listener_props.keys() | self.listener_props.keys():
            if listener_props.get(name) != self.listener_props.get(name):
                changed.add(name)
        self.listener_props = listener_props
        return changed

    def _resolve(self) -> None:
        """values in Kafka's precedence: dynamic per-broker, dynamic cluster default,
        static, default; and the values derived from them."""
        props = {**self.explicit, **self.dynamic_default, **self.dynamic_broker}
        values = {}
        for name, key in BROKER_KEYS.items():
            raw = props.get(name, key.default)
            values[name] = None if raw is None else _parse(key.name, key.parse, raw)
        self.values = values
        # Kafka derives the topic defaults below from the finest-grained key given.
        self.retention_ms = _first_set(
            self.values["log.retention.ms"],
            _scaled(self.values["log.retention.minutes"], 60_000),
            _scaled(self.values["log.retention.hours"], 3_600_000),
        )
        self.roll_ms = _first_set(
            self.values["log.roll.ms"], _scaled(self.values["log.roll.hours"], 3_600_000)
        )
        self.roll_jitter_ms = _first_set(
            self.values["log.roll.jitter.ms"],
            _scaled(self.values["log.roll.jitter.hours"], 3_600_000),
        )

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def parse_key(self, name: str, raw: str) -> Any:
        """A broker key's value parsed from a string (a listener.name.<l>. override)."""
        key = BROKER_KEYS.get(name)
        return raw if key is None else _parse(name, key.parse, raw)

    def broker_value(self, broker_key: str) -> str | None:
        """The broker-level value of a topic config's synonym, as a string."""
        if broker_key == "log.retention.ms":
            return str(self.retention_ms)
        if broker_key == "log.roll.ms":
            return str(self.roll_ms)
        if broker_key == "log.roll.jitter.ms":
            return str(self.roll_jitter_ms)
        value = self.values.get(broker_key)
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    def topic_defaults(self) -> dict[str, str]:
        """Topic-level key -> default string value from this broker's config."""
        defaults = {}
        for name, key in TOPIC_KEYS.items():
            value = self.broker_value(key.synonym)
            if value is None and key.synonym in TOPIC_KEYS:
                # compression.gzip/zstd.level: the broker key has the topic key's name.
                value = self.explicit.get(key.synonym)
            defaults[name] = key.kafka_default if value is None else value
        return defaults


def _parse(name: str, parse: Callable[[str], Any], raw: str) -> Any:
    try:
        return parse(raw)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"Invalid value {raw!r} for configuration {name}: {exc}") from None


def _scaled(value: int | None, factor: int) -> int | None:
    return None if value is None else value * factor


def _first_set(*values: int | None) -> int:
    return next(v for v in values if v is not None)


def validate_topic_configs(configs: Mapping[str, str | None]) -> dict[str, str]:
    """Check topic-level overrides; raise ConfigError naming the first bad key."""
    checked: dict[str, str] = {}
    for name, value in configs.items():
        key = TOPIC_KEYS.get(name)
        if key is None:
            raise ConfigError(f"Unknown topic config name: {name}")
        if value is None:
            raise ConfigError(f"Null value not supported for topic configs: {name}")
        _parse(name, key.parse, value)
        checked[name] = value
    return checked


def load_broker_config(
    config_file: str | Path | None, overrides: Mapping[str, str]
) -> BrokerConfig:
    """Read server.properties (if given), apply command-line overrides, validate."""
    props: dict[str, str] = {}
    if config_file is not None:
        try:
            text = Path(config_file).read_text()
        except OSError as exc:
            raise ConfigError(f"Cannot read config file {config_file}: {exc.strerror}") from None
        try:
            props.update(parse_properties(text))
        except PropertiesError as exc:
            raise ConfigError(f"Config file {config_file}: {exc}") from None
    props.update(overrides)
    return BrokerConfig(props)
