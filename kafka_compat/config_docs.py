"""Each configuration key's type (Kafka's ConfigDef.Type) and a one-line description,
for DescribeConfigs v3+ (ConfigType, and Documentation when asked for).

The types are Kafka 3.9's, from its ConfigDef definitions (KafkaConfig, LogConfig,
CleanerConfig, ServerLogConfigs ...); the descriptions are ours, shorter than Kafka's.
tests/kafka_compat/test_config.py checks that every broker and topic key has both.
"""

from __future__ import annotations

import enum

__all__ = ["BROKER_CONFIG_DOCS", "TOPIC_CONFIG_DOCS", "ConfigType"]


class ConfigType(enum.IntEnum):
    """DescribeConfigsResponse.ConfigType: the ids on the wire."""

    UNKNOWN = 0
    BOOLEAN = 1
    STRING = 2
    INT = 3
    SHORT = 4
    LONG = 5
    DOUBLE = 6
    LIST = 7
    CLASS = 8
    PASSWORD = 9


B, S, I, SH, L, D, LI = (  # noqa: E741 -- the table below reads better with short names
    ConfigType.BOOLEAN,
    ConfigType.STRING,
    ConfigType.INT,
    ConfigType.SHORT,
    ConfigType.LONG,
    ConfigType.DOUBLE,
    ConfigType.LIST,
)

BROKER_CONFIG_DOCS: dict[str, tuple[ConfigType, str]] = {
    "broker.id": (I, "The broker's id in the cluster."),
    "broker.rack": (S, "The broker's rack, for rack-aware replica placement and fetching."),
    "listeners": (S, "The addresses the broker listens on, as PROTOCOL://host:port."),
    "advertised.listeners": (S, "The addresses clients are told to use, if not listeners."),
    "log.dirs": (
        S,
        "The log directories, comma-separated (JBOD: a new partition goes to the one "
        "with the fewest partitions).",
    ),
    "log.dir": (S, "The log directory, when log.dirs is not set."),
    "zookeeper.connect": (S, "The ZooKeeper connection string (host:port[,...][/chroot])."),
    "authorizer.class.name": (
        S,
        "The authorizer: kafka.security.authorizer.AclAuthorizer (or KRaft's "
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer) enforces ACLs; empty: none.",
    ),
    "super.users": (S, "Principals allowed everything, semicolon-separated (User:admin;User:b)."),
    "allow.everyone.if.no.acl.found": (
        B,
        "Whether a resource without any ACL is open to everyone (else only super users).",
    ),
    "num.partitions": (I, "The number of partitions of a topic created without one."),
    "default.replication.factor": (I, "The replication factor of a topic created without one."),
    "min.insync.replicas": (I, "The in-sync replicas an acks=all write needs."),
    "auto.create.topics.enable": (B, "Whether a metadata request for a topic creates it."),
    "delete.topic.enable": (B, "Whether topics can be deleted."),
    "message.max.bytes": (I, "The largest record batch a topic accepts, by default."),
    "socket.request.max.bytes": (I, "The largest request the broker reads."),
    "log.segment.bytes": (I, "The size at which a log segment is rolled."),
    "log.index.size.max.bytes": (I, "The largest size of an offset or time index."),
    "log.index.interval.bytes": (I, "The bytes between two offset index entries."),
    "log.roll.ms": (L, "The age at which a segment is rolled (ms)."),
    "log.roll.hours": (I, "The age at which a segment is rolled (hours), if log.roll.ms is unset."),
    "log.roll.jitter.ms": (L, "The most subtracted at random from the roll age (ms)."),
    "log.roll.jitter.hours": (I, "The roll jitter in hours, if log.roll.jitter.ms is unset."),
    "log.retention.ms": (L, "How long a log keeps a segment before deleting it (ms)."),
    "log.retention.minutes": (I, "Retention in minutes, if log.retention.ms is unset."),
    "log.retention.hours": (I, "Retention in hours, if neither ms nor minutes is set."),
    "log.retention.bytes": (L, "The size a partition's log is trimmed to (-1: no limit)."),
    "log.retention.check.interval.ms": (L, "How often retention is checked (ms)."),
    "log.cleanup.policy": (LI, "delete and/or compact: what happens to old segments."),
    "log.cleaner.enable": (B, "Whether the log cleaner compacts compacted topics."),
    "log.cleaner.backoff.ms": (L, "How long the cleaner sleeps when nothing needs cleaning."),
    "log.flush.offset.checkpoint.interval.ms": (I, "How often the recovery points are saved."),
    "log.cleaner.delete.retention.ms": (L, "How long tombstones stay after compaction (ms)."),
    "log.cleaner.min.cleanable.ratio": (D, "The dirty ratio at which a log is compacted."),
    "log.cleaner.min.compaction.lag.ms": (L, "The least time a record stays uncompacted."),
    "log.cleaner.max.compaction.lag.ms": (L, "The most time a record stays uncompacted."),
    "log.segment.delete.delay.ms": (L, "How long a deleted segment's files are kept."),
    "log.flush.interval.messages": (L, "The records appended before a log is flushed."),
    "log.flush.interval.ms": (L, "The time between flushes of a log (ms)."),
    "log.message.format.version": (S, "Deprecated, ignored: records are always stored as v2."),
    "log.message.timestamp.type": (S, "CreateTime or LogAppendTime: the records' timestamps."),
    "log.message.timestamp.difference.max.ms": (
        L,
        "Deprecated: the default of before/after.max.ms where they are unset.",
    ),
    "log.message.timestamp.before.max.ms": (L, "Default: how far in the past a timestamp may be."),
    "log.message.timestamp.after.max.ms": (L, "Default: how far in the future a timestamp may be."),
    "log.local.retention.ms": (L, "Tiered storage's local retention time (no effect)."),
    "log.local.retention.bytes": (L, "Tiered storage's local retention size (no effect)."),
    "log.message.downconversion.enable": (
        B,
        "false: Fetch v0-3 (old formats) get UNSUPPORTED_VERSION.",
    ),
    "log.preallocate": (B, "Whether segment files are preallocated."),
    "compression.type": (S, "A topic's compression: producer keeps the producer's codec."),
    "unclean.leader.election.enable": (B, "Whether a replica outside the ISR may lead."),
    "auto.leader.rebalance.enable": (B, "Whether leadership moves back to preferred replicas."),
    "leader.imbalance.check.interval.seconds": (L, "How often leader balance is checked."),
    "leader.imbalance.per.broker.percentage": (I, "The imbalance allowed before a rebalance."),
    "offsets.topic.replication.factor": (SH, "The replication factor of __consumer_offsets."),
    "offsets.topic.num.partitions": (I, "The partitions of __consumer_offsets."),
    "offsets.topic.segment.bytes": (I, "The segment size of __consumer_offsets."),
    "offsets.load.buffer.size": (I, "The read size when loading groups' offsets."),
    "offsets.retention.minutes": (I, "How long an empty group's committed offsets are kept."),
    "offsets.retention.check.interval.ms": (L, "How often expired offsets are removed."),
    "offset.metadata.max.bytes": (I, "The largest metadata string of a committed offset."),
    "group.initial.rebalance.delay.ms": (I, "How long a new group waits for more members."),
    "group.min.session.timeout.ms": (I, "The shortest session timeout a member may ask for."),
    "group.max.session.timeout.ms": (I, "The longest session timeout a member may ask for."),
    "group.max.size": (I, "The most members a group may have."),
    "group.consumer.session.timeout.ms": (I, "KIP-848 groups: a member's session timeout."),
    "group.consumer.heartbeat.interval.ms": (I, "KIP-848 groups: how often members heartbeat."),
    "group.consumer.max.size": (I, "KIP-848 groups: the most members a group may have."),
    "group.consumer.assignors": (LI, "KIP-848 groups: server assignors, the first the default."),
    "transaction.state.log.replication.factor": (SH, "The replication of __transaction_state."),
    "transaction.state.log.min.isr": (I, "The min.insync.replicas of __transaction_state."),
    "transaction.state.log.num.partitions": (I, "The partitions of __transaction_state."),
    "transaction.state.log.segment.bytes": (I, "The segment size of __transaction_state."),
    "transaction.state.log.load.buffer.size": (I, "The read size when loading transactions."),
    "transaction.max.timeout.ms": (I, "The longest transaction timeout a producer may ask for."),
    "transactional.id.expiration.ms": (I, "How long an idle transactional id is kept."),
    "transaction.abort.timed.out.transaction.cleanup.interval.ms": (
        I,
        "How often transactions past their timeout are aborted.",
    ),
    "transaction.remove.expired.transaction.cleanup.interval.ms": (
        I,
        "How often expired transactional ids are removed.",
    ),
    "transaction.partition.verification.enable": (
        B,
        "Whether a transactional write must be to a partition added to its transaction.",
    ),
    "producer.id.expiration.ms": (I, "How long an idle producer's state is kept."),
    "producer.id.expiration.check.interval.ms": (I, "How often idle producers are removed."),
    "replica.lag.time.max.ms": (L, "How long a follower may lag before it leaves the ISR."),
    "replica.fetch.wait.max.ms": (I, "How long a follower's fetch waits for data."),
    "replica.selector.class": (S, "The class choosing a replica for a consumer to fetch from."),
    "replica.fetch.max.bytes": (I, "The bytes a follower fetches per partition."),
    "max.incremental.fetch.session.cache.slots": (
        I,
        "How many incremental fetch sessions (KIP-227) the broker keeps.",
    ),
    "replica.fetch.response.max.bytes": (I, "The bytes a follower's fetch returns at most."),
    "replica.fetch.backoff.ms": (I, "How long a follower waits after a fetch error."),
    "replica.high.watermark.checkpoint.interval.ms": (L, "How often high watermarks are saved."),
    "zookeeper.session.timeout.ms": (I, "The ZooKeeper session timeout."),
    "zookeeper.connection.timeout.ms": (I, "How long to wait for a ZooKeeper connection."),
    "controlled.shutdown.enable": (B, "Whether a stopping broker hands its leaderships over."),
    "controlled.shutdown.max.retries": (I, "How often a controlled shutdown is retried."),
    "controlled.shutdown.retry.backoff.ms": (L, "The wait between controlled shutdown tries."),
    "controller.socket.timeout.ms": (I, "The controller's timeout for its requests to brokers."),
    "request.timeout.ms": (I, "How long the broker waits for its own requests' answers."),
    # Dynamic broker configs accepted and shown, with no effect here (config.py).
    "num.io.threads": (I, "Kafka's request handler threads (no effect: one event loop)."),
    "num.network.threads": (I, "Kafka's network threads (no effect: one event loop)."),
    "num.replica.fetchers": (I, "Kafka's fetcher threads per source broker (no effect)."),
    "num.recovery.threads.per.data.dir": (I, "Kafka's log recovery threads (no effect)."),
    "background.threads": (I, "Kafka's background task threads (no effect)."),
    "log.cleaner.threads": (I, "Kafka's log cleaner threads (no effect: one cleaner)."),
    "log.cleaner.dedupe.buffer.size": (L, "Kafka's cleaner dedupe memory (no effect)."),
    "log.cleaner.io.buffer.size": (I, "Kafka's cleaner I/O buffer (no effect)."),
    "log.cleaner.io.buffer.load.factor": (D, "Kafka's cleaner dedupe load factor (no effect)."),
    "log.cleaner.io.max.bytes.per.second": (D, "Kafka's cleaner I/O throttle (no effect)."),
    "max.connections": (I, "Kafka's connection limit (no effect)."),
    "max.connections.per.ip": (I, "Kafka's connection limit per address (no effect)."),
    "max.connection.creation.rate": (I, "Kafka's connection rate limit (no effect)."),
    "leader.replication.throttled.rate": (L, "Replication throttle, leader side (no effect)."),
    "follower.replication.throttled.rate": (L, "Replication throttle, follower (no effect)."),
    "replica.alter.log.dirs.io.max.bytes.per.second": (L, "Log dir move throttle (no effect)."),
    "sasl.kerberos.service.name": (S, "Kerberos service name (no effect: no SASL)."),
    "sasl.kerberos.kinit.cmd": (S, "Kerberos kinit command (no effect: no SASL)."),
    "sasl.kerberos.ticket.renew.window.factor": (D, "Kerberos renewal window (no effect)."),
    "sasl.kerberos.ticket.renew.jitter": (D, "Kerberos renewal jitter (no effect)."),
    "sasl.kerberos.min.time.before.relogin": (L, "Kerberos relogin interval (no effect)."),
    "sasl.kerberos.principal.to.local.rules": (LI, "Kerberos principal rules (no effect)."),
    "sasl.login.refresh.window.factor": (D, "SASL login refresh window (no effect)."),
    "sasl.login.refresh.window.jitter": (D, "SASL login refresh jitter (no effect)."),
    "sasl.login.refresh.min.period.seconds": (SH, "SASL login refresh period (no effect)."),
    "sasl.login.refresh.buffer.seconds": (SH, "SASL login refresh buffer (no effect)."),
}

TOPIC_CONFIG_DOCS: dict[str, tuple[ConfigType, str]] = {
    "cleanup.policy": (LI, "delete and/or compact: what happens to old segments."),
    "compression.type": (S, "The compression the topic stores; producer keeps the producer's."),
    "compression.gzip.level": (I, "The gzip level for compression.type=gzip (shown only)."),
    "compression.zstd.level": (I, "The zstd level for compression.type=zstd (shown only)."),
    "delete.retention.ms": (L, "How long tombstones stay after compaction (ms)."),
    "file.delete.delay.ms": (L, "How long a deleted segment's files are kept."),
    "flush.messages": (L, "The records appended before the log is flushed."),
    "flush.ms": (L, "The time between flushes of the log (ms)."),
    "index.interval.bytes": (I, "The bytes between two offset index entries."),
    "max.compaction.lag.ms": (L, "The most time a record stays uncompacted."),
    "max.message.bytes": (I, "The largest record batch the topic accepts."),
    "message.format.version": (S, "Deprecated, ignored: records are always stored as v2."),
    "message.timestamp.type": (S, "CreateTime or LogAppendTime: the records' timestamps."),
    "message.downconversion.enable": (
        B,
        "false: Fetch v0-3 (old formats) get UNSUPPORTED_VERSION.",
    ),
    "min.cleanable.dirty.ratio": (D, "The dirty ratio at which the log is compacted."),
    "min.compaction.lag.ms": (L, "The least time a record stays uncompacted."),
    "min.insync.replicas": (I, "The in-sync replicas an acks=all write needs."),
    "preallocate": (B, "Whether segment files are preallocated."),
    "retention.bytes": (L, "The size the partition's log is trimmed to (-1: no limit)."),
    "retention.ms": (L, "How long a segment is kept before deletion (ms; -1: forever)."),
    "segment.bytes": (I, "The size at which a segment is rolled."),
    "segment.index.bytes": (I, "The largest size of an offset or time index."),
    "segment.jitter.ms": (L, "The most subtracted at random from the roll age (ms)."),
    "segment.ms": (L, "The age at which a segment is rolled (ms)."),
    "unclean.leader.election.enable": (B, "Whether a replica outside the ISR may lead."),
    "message.timestamp.difference.max.ms": (L, "Deprecated: before/after.max.ms where unset."),
    "message.timestamp.before.max.ms": (L, "How far in the past a record timestamp may be."),
    "message.timestamp.after.max.ms": (L, "How far in the future a record timestamp may be."),
    "leader.replication.throttled.replicas": (LI, "Throttled leader replicas (not applied)."),
    "follower.replication.throttled.replicas": (LI, "Throttled follower replicas (not applied)."),
    "remote.storage.enable": (B, "Tiered storage: not available, only false."),
    "local.retention.ms": (L, "Tiered storage's local retention time (-2: retention.ms)."),
    "local.retention.bytes": (L, "Tiered storage's local retention size (-2: retention.bytes)."),
    "remote.log.copy.disable": (B, "Tiered storage: stop copying segments to remote."),
    "remote.log.delete.on.disable": (B, "Tiered storage: delete remote data on disable."),
}
