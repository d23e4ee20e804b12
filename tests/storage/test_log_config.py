"""LogConfig: Kafka topic-level config names, defaults and validation."""

import pytest

from storage.errors import InvalidConfiguration
from storage.log_config import LogConfig, from_topic_configs


def test_defaults_are_kafkas():
    config = LogConfig()
    assert config.segment_bytes == 1073741824
    assert config.max_message_bytes == 1048588
    assert config.retention_ms == 604800000
    assert config.message_timestamp_type == "CreateTime"
    assert config.cleanup_policy == "delete"


def test_topic_overrides_apply_over_broker_defaults():
    broker = LogConfig(segment_bytes=5000, retention_ms=1000)
    config = from_topic_configs(
        {
            "segment.bytes": "2048",
            "message.timestamp.type": "LogAppendTime",
            "cleanup.policy": "compact,delete",
            "unclean.leader.election.enable": "TRUE",
            "min.cleanable.dirty.ratio": "0.1",
        },
        broker,
    )
    assert config.segment_bytes == 2048
    assert config.retention_ms == 1000  # broker default kept
    assert config.log_append_time and config.compact and config.delete
    assert config.unclean_leader_election_enable is True
    assert broker.segment_bytes == 5000  # defaults untouched


def test_described_configs_use_kafka_names():
    config = from_topic_configs({"retention.ms": "-1", "remote.storage.enable": "false"})
    described = config.to_topic_configs()
    assert described["retention.ms"] == "-1"
    assert described["preallocate"] == "false"
    assert described["remote.storage.enable"] == "false"  # accepted, kept, not acted on
    assert set(described) >= {"segment.bytes", "max.message.bytes", "cleanup.policy"}


def test_deprecated_timestamp_difference_sets_both_bounds_unless_given():
    config = from_topic_configs({"message.timestamp.difference.max.ms": "100"})
    assert config.message_timestamp_before_max_ms == 100
    assert config.message_timestamp_after_max_ms == 100
    config = from_topic_configs(
        {"message.timestamp.after.max.ms": "5", "message.timestamp.difference.max.ms": "100"}
    )
    assert config.message_timestamp_after_max_ms == 5
    assert config.message_timestamp_before_max_ms == 100


@pytest.mark.parametrize(
    "overrides",
    [
        {"no.such.config": "1"},
        {"segment.bytes": "big"},
        {"segment.bytes": "10"},
        {"message.timestamp.type": "WallTime"},
        {"cleanup.policy": "shred"},
        {"compression.type": "brotli"},
        {"preallocate": "yes"},
        {"min.cleanable.dirty.ratio": "2"},
    ],
)
def test_invalid_configs_are_refused_naming_the_key(overrides):
    with pytest.raises(InvalidConfiguration) as excinfo:
        from_topic_configs(overrides)
    assert excinfo.value.error_code == 40
    assert next(iter(overrides)) in str(excinfo.value)
