"""Per-topic log settings, with Kafka's topic-level config names and defaults.

A field's Kafka name is its Python name with dots: `segment_bytes` is
"segment.bytes". `LogConfig.from_topic_configs(overrides, defaults)` applies a
topic's overrides (strings, as CreateTopics/AlterConfigs carry them) to the broker's
defaults (built by kafka_compat/config.py from the `log.*` server properties).
Kafka topic keys we accept but do not act on are kept in `extra` so that
DescribeConfigs shows them back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

from storage.errors import InvalidConfiguration

LONG_MAX = 2**63 - 1

CLEANUP_POLICIES = frozenset({"delete", "compact"})
TIMESTAMP_TYPES = frozenset({"CreateTime", "LogAppendTime"})
COMPRESSION_TYPES = frozenset({"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"})

# Kafka topic configs stored (and described) but with no effect here.
PASSIVE_TOPIC_CONFIGS = frozenset(
    {
        "follower.replication.throttled.replicas",
        "leader.replication.throttled.replicas",
        "local.retention.bytes",
        "local.retention.ms",
        "message.format.version",
        "remote.storage.enable",
        "remote.log.copy.disable",
        "remote.log.delete.on.disable",
    }
)
# Deprecated alias: sets both message.timestamp.before.max.ms and .after.max.ms.
_TIMESTAMP_DIFFERENCE = "message.timestamp.difference.max.ms"


@dataclass(slots=True)
class LogConfig:
    cleanup_policy: str = "delete"  # comma-separated: "delete", "compact", "compact,delete"
    compression_type: str = "producer"
    # The levels the broker compresses at when compression.type names a codec (KIP-390).
    compression_gzip_level: int = -1  # -1: Deflater's default (6)
    compression_lz4_level: int = 9
    compression_zstd_level: int = 3
    delete_retention_ms: int = 86400000
    file_delete_delay_ms: int = 60000
    flush_messages: int = LONG_MAX
    flush_ms: int = LONG_MAX
    index_interval_bytes: int = 4096
    max_compaction_lag_ms: int = LONG_MAX
    max_message_bytes: int = 1048588
    message_timestamp_after_max_ms: int = LONG_MAX
    message_timestamp_before_max_ms: int = LONG_MAX
    message_timestamp_type: str = "CreateTime"
    message_downconversion_enable: bool = True  # Fetch v0-3 may be answered (down-converted)
    min_cleanable_dirty_ratio: float = 0.5
    min_compaction_lag_ms: int = 0
    min_insync_replicas: int = 1
    preallocate: bool = False
    retention_bytes: int = -1
    retention_ms: int = 604800000
    segment_bytes: int = 1073741824
    segment_index_bytes: int = 10485760
    segment_jitter_ms: int = 0
    segment_ms: int = 604800000
    unclean_leader_election_enable: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def log_append_time(self) -> bool:
        return self.message_timestamp_type == "LogAppendTime"

    @property
    def compact(self) -> bool:
        return "compact" in self.cleanup_policy.split(",")

    @property
    def delete(self) -> bool:
        return "delete" in self.cleanup_policy.split(",")

    @classmethod
    def from_topic_configs(
        cls, overrides: Mapping[str, str | None], defaults: LogConfig | None = None
    ) -> LogConfig:
        """`defaults` with a topic's overrides applied; raises InvalidConfiguration
        (INVALID_CONFIG)."""
        base = defaults if defaults is not None else cls()
        changes: dict[str, object] = {}
        extra = dict(base.extra)
        difference: int | None = None
        for key, raw in overrides.items():
            if raw is None:
                continue
            value = str(raw).strip()
            name = key.replace(".", "_")
            if key in _FIELD_TYPES:
                changes[name] = _parse(key, value, _FIELD_TYPES[key])
            elif key in PASSIVE_TOPIC_CONFIGS:
                extra[key] = value
            elif key == _TIMESTAMP_DIFFERENCE:
                extra[key] = value
                difference = _parse(key, value, int)
            else:
                raise InvalidConfiguration(f"Unknown topic config name: {key}")
        if difference is not None:
            # As Kafka 3.6+: a newer bound left at its default (LONG_MAX) takes the
            # deprecated difference, whatever the order the keys came in.
            for name in ("message_timestamp_before_max_ms", "message_timestamp_after_max_ms"):
                if changes.get(name, LONG_MAX) == LONG_MAX:
                    changes[name] = difference
        changes["extra"] = extra
        config = dataclasses.replace(base, **changes)
        config.validate()
        return config

    def to_topic_configs(self) -> dict[str, str]:
        """Every setting under its Kafka name, as DescribeConfigs shows them."""
        out = {}
        for key, kind in _FIELD_TYPES.items():
            value = getattr(self, key.replace(".", "_"))
            out[key] = str(value).lower() if kind is bool else str(value)
        out.update(self.extra)
        return out

    def validate(self) -> None:
        """Kafka's range checks (3.x limits); raises InvalidConfiguration naming the key."""
        policies = [p.strip() for p in self.cleanup_policy.split(",") if p.strip()]
        if not set(policies) <= CLEANUP_POLICIES:
            _invalid("cleanup.policy", self.cleanup_policy)
        if self.message_timestamp_type not in TIMESTAMP_TYPES:
            _invalid("message.timestamp.type", self.message_timestamp_type)
        if self.compression_type not in COMPRESSION_TYPES:
            _invalid("compression.type", self.compression_type)
        for key, minimum in _MINIMA.items():
            value = getattr(self, key.replace(".", "_"))
            if value < minimum:
                _invalid(key, value, f"must be at least {minimum}")
        if not 0.0 <= self.min_cleanable_dirty_ratio <= 1.0:
            _invalid("min.cleanable.dirty.ratio", self.min_cleanable_dirty_ratio)


_FIELD_TYPES: dict[str, type] = {
    f.name.replace("_", "."): {"int": int, "str": str, "bool": bool, "float": float}[f.type]
    for f in dataclasses.fields(LogConfig)
    if f.name != "extra"
}

_MINIMA = {
    "delete.retention.ms": 0,
    "file.delete.delay.ms": 0,
    "flush.messages": 1,
    "flush.ms": 0,
    "index.interval.bytes": 0,
    "max.compaction.lag.ms": 1,
    "max.message.bytes": 0,
    "message.timestamp.after.max.ms": 0,
    "message.timestamp.before.max.ms": 0,
    "min.compaction.lag.ms": 0,
    "min.insync.replicas": 1,
    "retention.bytes": -1,
    "retention.ms": -1,
    "segment.bytes": 14,  # Kafka 3.x's lower bound (LegacyRecord.RECORD_OVERHEAD_V0)
    "segment.index.bytes": 4,
    "segment.jitter.ms": 0,
    "segment.ms": 1,
}


def _parse(key: str, value: str, kind: type) -> object:
    try:
        if kind is bool:
            lowered = value.lower()
            if lowered not in ("true", "false"):
                raise ValueError(value)
            return lowered == "true"
        if kind is int:
            return int(value)
        if kind is float:
            return float(value)
        return value
    except ValueError:
        _invalid(key, value)


def _invalid(key: str, value: object, why: str = "") -> None:
    message = f"Invalid value {value} for configuration {key}"
    raise InvalidConfiguration(message + (": " + why if why else ""))


from_topic_configs = LogConfig.from_topic_configs
