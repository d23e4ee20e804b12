"""Dynamic broker configs on one node (Kafka's DynamicBrokerConfig), through
confluent-kafka's AdminClient: AlterConfigs / IncrementalAlterConfigs on BROKER
resources, per broker ("0") and cluster default (""), shown by DescribeConfigs with
their sources, applied to the logs at once, kept across a restart. The cluster case
(every broker applies a cluster default) is in
compat-tests/kafka-tools/test_topics_configs_acls.py.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from kafka_compat.tools.connection import Connection
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

TIMEOUT_S = 30
BROKER, TOPIC = 4, 2  # ConfigResource.Type
SET, DELETE = 0, 1  # AlterConfigOp.OpType
# ConfigSource
DYNAMIC_BROKER, DYNAMIC_DEFAULT, STATIC, DEFAULT = 2, 3, 4, 5

# librdkafka refuses the cluster default's resource name (""): these requests are
# sent as the Java AdminClient and kafka-configs send them.
IncrementalAlter = messages.request_type(ApiKey.INCREMENTAL_ALTER_CONFIGS)
Describe = messages.request_type(ApiKey.DESCRIBE_CONFIGS)


@dataclass
class Entry:
    value: str | None
    source: int
    read_only: bool
    synonyms: list[tuple[str, str | None, int]]


def _alter(broker, name: str, *ops: tuple[str, str | None, int]) -> tuple[int, str | None]:
    """IncrementalAlterConfigs of one BROKER resource: (error code, message)."""
    configs = [
        IncrementalAlter.AlterableConfig(name=k, config_operation=op, value=v) for k, v, op in ops
    ]
    resource = IncrementalAlter.AlterConfigsResource(
        resource_type=BROKER, resource_name=name, configs=configs
    )
    with _connect(broker) as conn:
        answer = conn.request(
            ApiKey.INCREMENTAL_ALTER_CONFIGS,
            IncrementalAlter(resources=[resource], validate_only=False),
        )
    [result] = answer.responses
    return result.error_code, result.error_message


def _describe(broker, kind: int, name: str) -> dict[str, Entry]:
    resource = Describe.DescribeConfigsResource(
        resource_type=kind, resource_name=name, configuration_keys=None
    )
    with _connect(broker) as conn:
        answer = conn.request(
            ApiKey.DESCRIBE_CONFIGS, Describe(resources=[resource], include_synonyms=True)
        )
    [result] = answer.results
    assert result.error_code == ErrorCode.NONE, result.error_message
    return {
        c.name: Entry(
            c.value,
            c.config_source,
            c.read_only,
            [(s.name, s.value, s.source) for s in c.synonyms],
        )
        for c in result.configs
    }


def _connect(broker) -> Connection:
    host, port = broker.bootstrap.rsplit(":", 1)
    return Connection(host, int(port), TIMEOUT_S)


def _ok(outcome: tuple[int, str | None]) -> None:
    assert outcome[0] == ErrorCode.NONE, outcome


def _admin(broker) -> AdminClient:
    return AdminClient({"bootstrap.servers": broker.bootstrap})


def test_per_broker_over_cluster_default_over_static(broker_factory):
    broker = broker_factory(log_retention_hours="48")
    _ok(_alter(broker, "", ("log.retention.ms", "7200000", SET)))
    _ok(_alter(broker, "0", ("log.retention.ms", "3600000", SET)))

    configs = _describe(broker, BROKER, "0")
    entry = configs["log.retention.ms"]
    assert (entry.value, entry.source, entry.read_only) == ("3600000", DYNAMIC_BROKER, False)
    assert entry.synonyms == [
        ("log.retention.ms", "3600000", DYNAMIC_BROKER),
        ("log.retention.ms", "7200000", DYNAMIC_DEFAULT),
        ("log.retention.hours", "48", STATIC),
        ("log.retention.hours", "168", DEFAULT),
    ]
    assert configs["log.dirs"].read_only
    # The cluster default ("") lists only its own dynamic configs.
    default = _describe(broker, BROKER, "")
    assert {name: (e.value, e.source) for name, e in default.items()} == {
        "log.retention.ms": ("7200000", DYNAMIC_DEFAULT)
    }
    # Topics without an override of their own take it as their default.
    topic = f"dyn-{uuid.uuid4().hex[:8]}"
    admin = _admin(broker)
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=TIMEOUT_S)
    retention = _describe(broker, TOPIC, topic)["retention.ms"]
    assert (retention.value, retention.source) == ("3600000", DYNAMIC_BROKER)

    # DELETE takes the broker's own value away: the cluster default shows through.
    _ok(_alter(broker, "0", ("log.retention.ms", None, DELETE)))
    retention = _describe(broker, TOPIC, topic)["retention.ms"]
    assert (retention.value, retention.source) == ("7200000", DYNAMIC_DEFAULT)


def test_read_only_keys_bad_values_and_other_brokers_are_refused(broker):
    code, message = _alter(broker, "0", ("log.dirs", "/elsewhere", SET))
    assert code == ErrorCode.INVALID_REQUEST
    assert message == "Cannot update these configs dynamically: Set(log.dirs)"
    code, message = _alter(broker, "0", ("log.retention.ms", "soon", SET))
    assert code == ErrorCode.INVALID_REQUEST and "log.retention.ms" in message
    code, message = _alter(broker, "7", ("log.retention.ms", "1000", SET))
    assert code == ErrorCode.INVALID_REQUEST
    assert message == "Unexpected broker id, expected 0, but received 7"
    # Per-listener (SASL) configs are per broker only; per broker they are accepted.
    code, message = _alter(broker, "", ("sasl.kerberos.min.time.before.relogin", "58000", SET))
    assert code == ErrorCode.INVALID_REQUEST and "broker id must be specified" in message
    _ok(_alter(broker, "0", ("sasl.kerberos.min.time.before.relogin", "58000", SET)))
    entry = _describe(broker, BROKER, "0")["sasl.kerberos.min.time.before.relogin"]
    assert (entry.value, entry.source, entry.read_only) == ("58000", DYNAMIC_BROKER, False)
    # Nothing was stored by the refused changes.
    assert _describe(broker, BROKER, "") == {}


def test_message_max_bytes_default_applies_at_once_and_survives_a_restart(broker):
    admin = _admin(broker)
    topic, own = f"dyn-{uuid.uuid4().hex[:8]}", f"dyn-own-{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=TIMEOUT_S)
    admin.create_topics([NewTopic(own, 1, 1, config={"max.message.bytes": "100000"})])[own].result(
        timeout=TIMEOUT_S
    )
    _ok(_alter(broker, "", ("message.max.bytes", "2000", SET)))

    def produce(name: str) -> int | None:
        outcome: list[KafkaError | None] = []
        producer = Producer({"bootstrap.servers": broker.bootstrap})
        producer.produce(name, b"x" * 10000, on_delivery=lambda err, _msg: outcome.append(err))
        producer.flush(TIMEOUT_S)
        return None if outcome[0] is None else outcome[0].code()

    assert produce(topic) == KafkaError.MSG_SIZE_TOO_LARGE
    assert produce(own) is None  # its own override wins

    broker.restart()
    entry = _describe(broker, BROKER, "0")["message.max.bytes"]
    assert (entry.value, entry.source) == ("2000", DYNAMIC_DEFAULT)
    assert produce(topic) == KafkaError.MSG_SIZE_TOO_LARGE
    _ok(_alter(broker, "", ("message.max.bytes", None, DELETE)))
    assert produce(topic) is None


def test_min_insync_replicas_default_applies_to_acks_all(broker):
    topic = f"dyn-isr-{uuid.uuid4().hex[:8]}"
    admin = _admin(broker)
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=TIMEOUT_S)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "retries": 0})

    def produce() -> int | None:
        outcome: list[KafkaError | None] = []
        producer.produce(topic, b"v", on_delivery=lambda err, _msg: outcome.append(err))
        producer.flush(TIMEOUT_S)
        return None if outcome[0] is None else outcome[0].code()

    assert produce() is None
    # One replica cannot satisfy min.insync.replicas=2 for acks=all writes.
    _ok(_alter(broker, "0", ("min.insync.replicas", "2", SET)))
    assert produce() == KafkaError.NOT_ENOUGH_REPLICAS
    _ok(_alter(broker, "0", ("min.insync.replicas", None, DELETE)))
    assert produce() is None
