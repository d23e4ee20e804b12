"""Topic configs: set at creation, described with sources and synonyms, altered
(whole or incrementally), validated, persisted across restarts."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewTopic,
)


def describe(admin: AdminClient, topic: str) -> dict:
    resource = ConfigResource("topic", topic)
    return admin.describe_configs([resource])[resource].result(10)


def incremental(admin: AdminClient, topic: str, *changes: tuple[str, str | None, object]):
    resource = ConfigResource(
        "topic",
        topic,
        incremental_configs=[
            ConfigEntry(name, value, incremental_operation=op) for name, value, op in changes
        ],
    )
    return admin.incremental_alter_configs([resource])[resource]


def test_describe_reports_sources_and_synonyms(broker_factory):
    broker = broker_factory(log_retention_hours="2")
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("described", 1, config={"segment.bytes": "123456"})])[
        "described"
    ].result(10)
    resource = ConfigResource("topic", "described")
    entries = admin.describe_configs([resource])[resource].result(
        10
    )  # librdkafka asks for synonyms

    segment = entries["segment.bytes"]
    assert segment.value == "123456"
    assert segment.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert [(s.name, s.source) for s in segment.synonyms.values()] == [
        ("segment.bytes", ConfigSource.DYNAMIC_TOPIC_CONFIG.value),
        ("log.segment.bytes", ConfigSource.DEFAULT_CONFIG.value),
    ]
    retention = entries["retention.ms"]  # from server.properties' log.retention.hours
    assert retention.value == str(2 * 3_600_000)
    assert retention.source == ConfigSource.STATIC_BROKER_CONFIG.value
    cleanup = entries["cleanup.policy"]
    assert (cleanup.value, cleanup.source) == ("delete", ConfigSource.DEFAULT_CONFIG.value)


def test_incremental_set_delete_append_subtract_persist_across_restart(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("altered", 1, config={"retention.ms": "1000"})])[
        "altered"
    ].result(10)
    incremental(
        admin,
        "altered",
        ("max.message.bytes", "2000000", AlterConfigOpType.SET),
        ("retention.ms", None, AlterConfigOpType.DELETE),
        ("cleanup.policy", "compact", AlterConfigOpType.APPEND),
    ).result(10)
    broker.restart()
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    entries = describe(admin, "altered")
    assert entries["max.message.bytes"].value == "2000000"
    assert entries["retention.ms"].source == ConfigSource.DEFAULT_CONFIG.value
    assert entries["cleanup.policy"].value == "delete,compact"

    incremental(admin, "altered", ("cleanup.policy", "delete", AlterConfigOpType.SUBTRACT)).result(
        10
    )
    assert describe(admin, "altered")["cleanup.policy"].value == "compact"


@pytest.mark.filterwarnings("ignore:alter_configs has been deprecated")
def test_alter_configs_replaces_the_whole_set(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("replaced", 1, config={"retention.ms": "1000"})])[
        "replaced"
    ].result(10)
    resource = ConfigResource("topic", "replaced", set_config={"segment.bytes": "50000"})
    admin.alter_configs([resource])[resource].result(10)
    entries = describe(admin, "replaced")
    assert entries["segment.bytes"].value == "50000"
    assert entries["retention.ms"].source == ConfigSource.DEFAULT_CONFIG.value


@pytest.mark.parametrize(
    "name, value, op",
    [
        ("retention.mss", "1", AlterConfigOpType.SET),
        ("retention.ms", "soon", AlterConfigOpType.SET),
        ("cleanup.policy", "forever", AlterConfigOpType.SET),
        ("retention.ms", "5", AlterConfigOpType.APPEND),
    ],
)
def test_invalid_changes_are_refused_with_invalid_config_and_change_nothing(
    broker, name, value, op
):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("guarded", 1)])["guarded"].result(10)
    with pytest.raises(KafkaException) as refused:
        incremental(admin, "guarded", (name, value, op)).result(10)
    assert refused.value.args[0].code() == KafkaError.INVALID_CONFIG
    assert name in refused.value.args[0].str()
    assert describe(admin, "guarded")["retention.ms"].source == ConfigSource.DEFAULT_CONFIG.value


# AlterConfigs on purpose: librdkafka's own test (0092) sets the key with it.
@pytest.mark.filterwarnings("ignore:alter_configs has been deprecated")
def test_deprecated_message_format_version_is_accepted_shown_and_ignored(broker_factory):
    """Kafka 3.9 still accepts message.format.version (librdkafka's tests set it) and
    ignores it: records stay v2. log.message.format.version is its broker synonym."""
    broker = broker_factory(log_message_format_version="2.8")
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics(
        [
            NewTopic("old-format", 1, config={"message.format.version": "0.10.0-IV1"}),
            NewTopic("plain", 1),
        ]
    )["old-format"].result(10)
    entry = describe(admin, "old-format")["message.format.version"]
    assert (entry.value, entry.source) == ("0.10.0-IV1", ConfigSource.DYNAMIC_TOPIC_CONFIG.value)
    entry = describe(admin, "plain")["message.format.version"]
    assert (entry.value, entry.source) == ("2.8", ConfigSource.STATIC_BROKER_CONFIG.value)

    # librdkafka's 0092-mixed_msgver sets it so, then reads back what it produced.
    config = {"message.format.version": "0.10.0.0"}
    resource = ConfigResource("topic", "plain", set_config=config)
    admin.alter_configs([resource])[resource].result(10)
    assert describe(admin, "plain")["message.format.version"].value == "0.10.0.0"
    incremental(admin, "plain", ("message.format.version", "0.9.0", AlterConfigOpType.SET)).result(
        10
    )
    assert describe(admin, "plain")["message.format.version"].value == "0.9.0"
    with pytest.raises(KafkaException) as refused:
        incremental(
            admin, "plain", ("message.format.version", "9.9-IV0", AlterConfigOpType.SET)
        ).result(10)
    assert refused.value.args[0].code() == KafkaError.INVALID_CONFIG

    brokers = ConfigResource("broker", "0")
    entry = admin.describe_configs([brokers])[brokers].result(10)["log.message.format.version"]
    assert (entry.value, entry.source) == ("2.8", ConfigSource.STATIC_BROKER_CONFIG.value)

    # Ignored: a consumer still reads what a producer wrote, headers (v2 only) included.
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    producer.produce("old-format", b"value", key=b"key", headers=[("h", b"1")])
    assert producer.flush(10) == 0
    consumer = Consumer(
        {"bootstrap.servers": broker.bootstrap, "group.id": "g", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe(["old-format"])
    try:
        message = None
        for _ in range(30):
            message = consumer.poll(1)
            if message is not None and message.error() is None:
                break
        assert message is not None and message.error() is None
        assert (message.key(), message.value(), message.headers()) == (
            b"key",
            b"value",
            [("h", b"1")],
        )
    finally:
        consumer.close()


# Kafka 3.9's topic configs that a client may set or list (kafka-configs --describe
# --all, kafka-reassign-partitions --throttle) besides the ones above.
KAFKA_39_TOPIC_KEYS = {
    "compression.gzip.level": "-1",
    "compression.lz4.level": "9",
    "compression.zstd.level": "3",
    "message.timestamp.difference.max.ms": str(2**63 - 1),
    "message.timestamp.before.max.ms": str(2**63 - 1),
    "message.timestamp.after.max.ms": str(2**63 - 1),
    "leader.replication.throttled.replicas": "",
    "follower.replication.throttled.replicas": "",
    "remote.storage.enable": "false",
    "local.retention.ms": "-2",
    "local.retention.bytes": "-2",
    "remote.log.copy.disable": "false",
    "remote.log.delete.on.disable": "false",
}


def test_every_kafka_39_topic_key_is_described_settable_and_checked(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    settings = {
        "compression.gzip.level": "5",
        "message.timestamp.after.max.ms": "3600000",
        "leader.replication.throttled.replicas": "0:0",
        "follower.replication.throttled.replicas": "*",
        "local.retention.ms": "-2",
    }
    admin.create_topics([NewTopic("all-keys", 1, config=settings), NewTopic("defaults", 1)])[
        "all-keys"
    ].result(10)
    defaults = describe(admin, "defaults")
    assert len(defaults) == 36  # Kafka 3.9's LogConfig
    for name, value in KAFKA_39_TOPIC_KEYS.items():
        assert (defaults[name].value or "", defaults[name].source) == (
            value,
            ConfigSource.DEFAULT_CONFIG.value,
        ), name
    described = describe(admin, "all-keys")
    for name, value in settings.items():
        assert (described[name].value, described[name].source) == (
            value,
            ConfigSource.DYNAMIC_TOPIC_CONFIG.value,
        ), name
    # Throttled replica lists take APPEND, as Kafka's LIST keys.
    incremental(
        admin,
        "all-keys",
        ("leader.replication.throttled.replicas", "1:0", AlterConfigOpType.APPEND),
    ).result(10)
    assert describe(admin, "all-keys")["leader.replication.throttled.replicas"].value == "0:0,1:0"

    for name, value in [
        ("remote.storage.enable", "true"),  # no tiered storage (as Kafka without it)
        ("compression.gzip.level", "10"),
        ("compression.lz4.level", "-1"),  # lz4 has no "default" level, as Kafka
        ("leader.replication.throttled.replicas", "zero"),
        ("local.retention.ms", "-3"),
    ]:
        with pytest.raises(KafkaException) as refused:
            incremental(admin, "all-keys", (name, value, AlterConfigOpType.SET)).result(10)
        assert refused.value.args[0].code() == KafkaError.INVALID_CONFIG, name

    # message.timestamp.after.max.ms applies: a record an hour and more ahead is refused.
    producer = Producer({"bootstrap.servers": broker.bootstrap, "retries": 0})
    results = []
    producer.produce(
        "all-keys",
        b"future",
        timestamp=int(time.time() * 1000) + 7_200_000,
        on_delivery=lambda err, msg: results.append(err),
    )
    producer.flush(10)
    assert results and results[0] is not None
    assert results[0].code() == KafkaError.INVALID_TIMESTAMP


def test_broker_level_timestamp_bounds_are_every_topics_default(broker_factory):
    """log.message.timestamp.after.max.ms in the broker config is the default of every
    topic's message.timestamp.after.max.ms (Kafka's synonym), shown as STATIC_BROKER."""
    broker = broker_factory(log_message_timestamp_after_max_ms="3600000")
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("bounded", 1)])["bounded"].result(10)
    entry = describe(admin, "bounded")["message.timestamp.after.max.ms"]
    assert (entry.value, entry.source) == ("3600000", ConfigSource.STATIC_BROKER_CONFIG.value)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "retries": 0})
    results = []
    for ahead_ms in (0, 7_200_000):
        producer.produce(
            "bounded",
            b"v",
            timestamp=int(time.time() * 1000) + ahead_ms,
            on_delivery=lambda err, msg: results.append(err),
        )
        producer.flush(10)
    assert results[0] is None
    assert results[1] is not None and results[1].code() == KafkaError.INVALID_TIMESTAMP
