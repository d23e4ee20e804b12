"""Internal topics belong to their coordinators: clients cannot write to them or
reshape them, and asking for __consumer_offsets creates it with Kafka's settings."""

from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions


def test_consumer_offsets_is_created_compacted_with_50_partitions(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    metadata = admin.list_topics("__consumer_offsets", timeout=10)
    assert len(metadata.topics["__consumer_offsets"].partitions) == 50
    resource = ConfigResource("topic", "__consumer_offsets")
    configs = admin.describe_configs([resource])[resource].result(10)
    assert configs["cleanup.policy"].value == "compact"


def test_clients_cannot_append_to_or_grow_internal_topics(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.list_topics("__consumer_offsets", timeout=10)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "message.timeout.ms": 5000})
    outcome = []
    producer.produce(
        "__consumer_offsets", value=b"x", partition=0, on_delivery=lambda e, m: outcome.append(e)
    )
    producer.flush(10)
    assert [e.code() for e in outcome] == [KafkaError.TOPIC_EXCEPTION]

    future = admin.create_partitions([NewPartitions("__consumer_offsets", 60)])[
        "__consumer_offsets"
    ]
    assert future.exception(10).args[0].code() == KafkaError.INVALID_REQUEST
    assert len(admin.list_topics(timeout=10).topics["__consumer_offsets"].partitions) == 50
