"""confluent-kafka's AdminClient against a running kafka-compat broker.

Topic lifecycle the way an operator drives it: CreateTopics (with configs, defaults,
validate_only and every error a user meets), Metadata listings, DescribeTopics,
CreatePartitions, DescribeConfigs for topics and the broker, DescribeCluster and
DeleteTopics. Errors are checked by Kafka error code (``KafkaError.<NAME>``), the way
applications branch on them.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import pytest
from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import (
    AdminClient,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    ResourceType,
)

TIMEOUT_S = 60  # hang guard for a future; a healthy broker answers at once


def error_code(future: Future) -> int:
    """The Kafka error code a failed admin future carries."""
    with pytest.raises(KafkaException) as info:
        future.result(timeout=TIMEOUT_S)
    return info.value.args[0].code()


def create(admin: AdminClient, topic: NewTopic, validate_only: bool = False) -> Future:
    """Issue CreateTopics for one topic and return its future."""
    futures = admin.create_topics([topic], validate_only=validate_only, request_timeout=30)
    return futures[topic.topic]


def listed_topics(admin: AdminClient) -> dict[str, Any]:
    """Metadata for all topics, by name."""
    return admin.list_topics(timeout=TIMEOUT_S).topics


def partition_ids(admin: AdminClient, topic: str) -> list[int]:
    """The partition ids a fresh Metadata request reports for ``topic``."""
    md = admin.list_topics(topic=topic, timeout=TIMEOUT_S).topics[topic]
    assert md.error is None, md.error
    return sorted(md.partitions)


def topic_configs(admin: AdminClient, topic: str) -> dict[str, Any]:
    """DescribeConfigs for one topic: name -> ConfigEntry."""
    resource = ConfigResource(ResourceType.TOPIC, topic)
    return admin.describe_configs([resource], request_timeout=30)[resource].result(
        timeout=TIMEOUT_S
    )


def test_create_topic_with_partitions_and_configs(
    admin: AdminClient, topic_name: Callable[[str], str]
) -> None:
    topic = topic_name("")
    config = {"retention.ms": "3600000", "max.message.bytes": "2097152"}

    assert create(admin, NewTopic(topic, 3, 1, config=config)).result(timeout=TIMEOUT_S) is None

    assert topic in listed_topics(admin)
    assert partition_ids(admin, topic) == [0, 1, 2]
    configs = topic_configs(admin, topic)
    for name, value in config.items():
        assert configs[name].value == value
        assert ConfigSource(configs[name].source) == ConfigSource.DYNAMIC_TOPIC_CONFIG
        assert not configs[name].is_default


def test_create_topic_without_partition_count_uses_broker_default(
    admin: AdminClient, topic_name: Callable[[str], str]
) -> None:
    topic = topic_name("")

    create(admin, NewTopic(topic)).result(timeout=TIMEOUT_S)  # -1 / -1: broker defaults

    assert partition_ids(admin, topic) == [0]  # num.partitions=1


def test_validate_only_creates_nothing(
    admin: AdminClient, topic_name: Callable[[str], str]
) -> None:
    topic = topic_name("")

    result = create(admin, NewTopic(topic, 3, 1), validate_only=True).result(timeout=TIMEOUT_S)

    assert result is None
    assert topic not in listed_topics(admin)
    # ... so creating it for real afterwards works.
    create(admin, NewTopic(topic, 3, 1)).result(timeout=TIMEOUT_S)
    assert partition_ids(admin, topic) == [0, 1, 2]


def test_create_existing_topic_fails_with_topic_already_exists(
    admin: AdminClient, topic_name: Callable[[str], str]
) -> None:
    topic = topic_name("")
    create(admin, NewTopic(topic, 2, 1)).result(timeout=TIMEOUT_S)

    assert error_code(create(admin, NewTopic(topic, 4, 1))) == KafkaError.TOPIC_ALREADY_EXISTS
    assert (
        error_code(create(admin, NewTopic(topic, 4, 1), validate_only=True))
        == KafkaError.TOPIC_ALREADY_EXISTS
    )
    assert partition_ids(admin, topic) == [0, 1]  # untouched


@pytest.mark.parametrize(
    "bad_name",
    ["has space", "slash/in/name", "star*", ".", "..", "x" * 250],
    ids=["space", "slash", "star", "dot", "dotdot", "too-long"],
)
def test_invalid_topic_name_fails_with_invalid_topic_exception(
    admin: AdminClient, bad_name: str
) -> None:
    assert error_code(create(admin, NewTopic(bad_name, 1, 1))) == KafkaError.TOPIC_EXCEPTION
    assert bad_name not in listed_topics(admin)


def test_replication_factor_above_broker_count_fails(
    admin: AdminClient, topic_name: Callable[[str], str]
) -> None:
    topic = topic_name("")

    code = error_code(create(admin, NewTopic(topic, 1, 3)))

    assert code == KafkaError.INVALID_REPLICATION_FACTOR
    assert topic not in listed_topics(admin)


def test_invalid_config_value_fails_with_invalid_config(
    admin: AdminClient, topic_name: Callable[[str], str]
) -> None:
    topic = topic_name("")

    code = error_code(create(admin, NewTopic(topic, 1, 1, config={"retention.ms": "soon"})))

    assert code == KafkaError.INVALID_CONFIG
    assert topic not in listed_topics(admin)


def test_describe_topics_reports_partitions_leader_and_replicas(
    admin: AdminClient, topic_name: Callable[[str], str]
) -> None:
    topic = topic_name("")
    create(admin, NewTopic(topic, 3, 1)).result(timeout=TIMEOUT_S)
    node = admin.describe_cluster(request_timeout=30).result(timeout=TIMEOUT_S).nodes[0]

    futures = admin.describe_topics(TopicCollection([topic]), request_timeout=30)
    desc = futures[topic].result(timeout=TIMEOUT_S)

    assert desc.name == topic
    assert not desc.is_internal
    assert [p.id for p in desc.partitions] == [0, 1, 2]
    for part in desc.partitions:
        assert part.leader.id == node.id
        assert [r.id for r in part.replicas] == [node.id]
        assert [r.id for r in part.isr] == [node.id]


def test_describe_unknown_topic_fails_with_unknown_topic_or_partition(
    admin: AdminClient, topic_name: Callable[[str], str]
) -> None:
    topic = topic_name("never-created")

    futures = admin.describe_topics(TopicCollection([topic]), request_timeout=30)

    assert error_code(futures[topic]) == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_create_partitions_grows_and_refuses_to_shrink(
    admin: AdminClient, topic_name: Callable[[str], str]
) -> None:
    topic = topic_name("")
    create(admin, NewTopic(topic, 3, 1)).result(timeout=TIMEOUT_S)

    grow = admin.create_partitions([NewPartitions(topic, 5)], request_timeout=30)
    assert grow[topic].result(timeout=TIMEOUT_S) is None
    assert partition_ids(admin, topic) == [0, 1, 2, 3, 4]

    for count in (2, 5):  # fewer, or as many as it has: both are INVALID_PARTITIONS
        futures = admin.create_partitions([NewPartitions(topic, count)], request_timeout=30)
        assert error_code(futures[topic]) == KafkaError.INVALID_PARTITIONS
    assert partition_ids(admin, topic) == [0, 1, 2, 3, 4]


def test_new_partitions_accept_messages(
    admin: AdminClient, served_broker: Any, topic_name: Callable[[str], str]
) -> None:
    topic = topic_name("")
    create(admin, NewTopic(topic, 1, 1)).result(timeout=TIMEOUT_S)
    admin.create_partitions([NewPartitions(topic, 3)])[topic].result(timeout=TIMEOUT_S)

    producer = Producer({"bootstrap.servers": served_broker.bootstrap, "acks": "all"})
    for partition in range(3):
        producer.produce(topic, value=f"to {partition}", partition=partition)
    assert producer.flush(TIMEOUT_S) == 0

    consumer = Consumer({"bootstrap.servers": served_broker.bootstrap, "group.id": topic})
    try:
        for partition in range(3):
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=TIMEOUT_S
            )
            assert (low, high) == (0, 1)
    finally:
        consumer.close()


def test_describe_configs_for_topic_shows_overrides_and_defaults(
    admin: AdminClient, topic_name: Callable[[str], str]
) -> None:
    topic = topic_name("")
    create(admin, NewTopic(topic, 1, 1, config={"retention.ms": "86400000"})).result(
        timeout=TIMEOUT_S
    )

    configs = topic_configs(admin, topic)

    override = configs["retention.ms"]
    assert override.value == "86400000"
    assert ConfigSource(override.source) == ConfigSource.DYNAMIC_TOPIC_CONFIG
    for name, default in {"cleanup.policy": "delete", "max.message.bytes": "1048588"}.items():
        entry = configs[name]
        assert entry.value == default, name
        assert ConfigSource(entry.source) == ConfigSource.DEFAULT_CONFIG, name
        assert entry.is_default, name


def test_describe_configs_for_unknown_topic_fails(
    admin: AdminClient, topic_name: Callable[[str], str]
) -> None:
    resource = ConfigResource(ResourceType.TOPIC, topic_name("never-created"))

    future = admin.describe_configs([resource], request_timeout=30)[resource]

    assert error_code(future) == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_describe_configs_for_the_broker(admin: AdminClient) -> None:
    node = admin.describe_cluster(request_timeout=30).result(timeout=TIMEOUT_S).nodes[0]
    resource = ConfigResource(ResourceType.BROKER, str(node.id))

    configs = admin.describe_configs([resource], request_timeout=30)[resource].result(
        timeout=TIMEOUT_S
    )

    assert configs["num.partitions"].value == "1"
    assert configs["auto.create.topics.enable"].value == "true"
    assert configs["message.max.bytes"].value == "1048588"
    assert configs["broker.id"].value == str(node.id)


def test_describe_cluster_reports_one_node_that_is_the_controller(
    admin: AdminClient, served_broker: Any
) -> None:
    cluster = admin.describe_cluster(request_timeout=30).result(timeout=TIMEOUT_S)

    assert len(cluster.nodes) == 1
    node = cluster.nodes[0]
    assert (node.host, node.port) == (served_broker.host, served_broker.port)
    assert cluster.controller is not None and cluster.controller.id == node.id
    assert isinstance(cluster.cluster_id, str) and cluster.cluster_id
    # The cluster id is stable across requests.
    again = admin.describe_cluster(request_timeout=30).result(timeout=TIMEOUT_S)
    assert again.cluster_id == cluster.cluster_id


def test_delete_topic_removes_it(admin: AdminClient, topic_name: Callable[[str], str]) -> None:
    topic, kept = topic_name("deleted"), topic_name("kept")
    for name in (topic, kept):
        create(admin, NewTopic(name, 2, 1)).result(timeout=TIMEOUT_S)

    futures = admin.delete_topics([topic], request_timeout=30)

    assert futures[topic].result(timeout=TIMEOUT_S) is None
    topics = listed_topics(admin)
    assert topic not in topics
    assert kept in topics


def test_delete_unknown_topic_fails_with_unknown_topic_or_partition(
    admin: AdminClient, topic_name: Callable[[str], str]
) -> None:
    topic = topic_name("never-created")

    futures = admin.delete_topics([topic], request_timeout=30)

    assert error_code(futures[topic]) == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_recreated_topic_starts_empty(
    admin: AdminClient, served_broker: Any, topic_name: Callable[[str], str]
) -> None:
    topic = topic_name("")
    create(admin, NewTopic(topic, 1, 1)).result(timeout=TIMEOUT_S)
    producer = Producer({"bootstrap.servers": served_broker.bootstrap, "acks": "all"})
    for i in range(5):
        producer.produce(topic, value=f"old {i}", partition=0)
    assert producer.flush(TIMEOUT_S) == 0

    admin.delete_topics([topic], request_timeout=30)[topic].result(timeout=TIMEOUT_S)
    create(admin, NewTopic(topic, 2, 1)).result(timeout=TIMEOUT_S)

    assert partition_ids(admin, topic) == [0, 1]
    consumer = Consumer({"bootstrap.servers": served_broker.bootstrap, "group.id": topic})
    try:
        for partition in (0, 1):
            watermarks = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=TIMEOUT_S
            )
            assert watermarks == (0, 0)
    finally:
        consumer.close()
