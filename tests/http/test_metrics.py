"""/metrics seen by a Prometheus scraper: the text parsed with prometheus_client's own
parser, after real clients produced and consumed.

BytesIn and BytesOut count record batch bytes as Kafka does (the produce request's
batches as appended; the batches a fetch response carries), so after one producer
wrote a fresh partition and one consumer read it once, both equal the partition's
segment file size on disk.
"""

from __future__ import annotations

import time
import urllib.request
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from prometheus_client.parser import text_string_to_metric_families

N_RECORDS = 1_000
COMMITTED = 600
GUARD_S = 60.0


def scrape(port: int) -> dict[tuple[str, frozenset], float]:
    """Every sample of /metrics, by (sample name, labels)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=GUARD_S) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = resp.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples, name: str, **labels) -> float:
    """The sum over the samples of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def create_topic(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(GUARD_S)


def test_counters_move_by_what_clients_produced_and_consumed(broker_factory):
    broker = broker_factory(http_listener="127.0.0.1:0", group_initial_rebalance_delay_ms=0)
    port = broker.broker.http_port
    topic = f"metrics-{uuid.uuid4().hex[:8]}"
    create_topic(broker.bootstrap, topic)
    before = scrape(port)

    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 5})
    for i in range(N_RECORDS):
        producer.produce(topic, key=b"k%d" % i, value=b"v" * 100)
    assert producer.flush(GUARD_S) == 0

    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": f"g-{topic}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    seen = 0
    deadline = time.monotonic() + GUARD_S
    while seen < N_RECORDS and time.monotonic() < deadline:
        message = consumer.poll(1.0)
        if message is not None and message.error() is None:
            seen += 1
    assert seen == N_RECORDS
    consumer.commit(offsets=[TopicPartition(topic, 0, COMMITTED)], asynchronous=False)
    consumer.close()

    after = scrape(port)
    segment = broker.data_dir / f"{topic}-0" / "00000000000000000000.log"
    batch_bytes = segment.stat().st_size

    def moved(name: str, **labels) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("kafka_server_brokertopicmetrics_messagesin_total", topic=topic) == N_RECORDS
    assert moved("kafka_server_brokertopicmetrics_bytesin_total", topic=topic) == batch_bytes
    assert moved("kafka_server_brokertopicmetrics_bytesout_total", topic=topic) == batch_bytes
    # The all-topics figure (no topic label) includes ours.
    assert moved("kafka_server_brokertopicmetrics_messagesin_total") >= N_RECORDS
    assert moved("kafka_server_brokertopicmetrics_failedproducerequests_total", topic=topic) == 0

    # Per-API request counters and times (Kafka's RequestMetrics).
    produce = total(after, "kafka_network_requestmetrics_requests_total", request="Produce")
    assert produce >= 1
    assert value(after, "kafka_network_requestmetrics_totaltimems_count", request="Produce") == (
        produce
    )
    for request in ("Fetch", "FetchConsumer", "Metadata", "ApiVersions", "OffsetCommit"):
        moved_by = total(
            after, "kafka_network_requestmetrics_requests_total", request=request
        ) - total(before, "kafka_network_requestmetrics_requests_total", request=request)
        assert moved_by >= 1, request
    assert total(after, "kafka_network_requestmetrics_requests_total", request="FetchFollower") == 0
    quantile = value(
        after, "kafka_network_requestmetrics_totaltimems", request="Produce", quantile="0.99"
    )
    assert quantile > 0

    # The partition's log, and the group's lag against its end.
    labels = {"topic": topic, "partition": "0"}
    assert value(after, "kafka_log_log_logendoffset", **labels) == N_RECORDS
    assert value(after, "kafka_log_log_logstartoffset", **labels) == 0
    assert value(after, "kafka_log_log_size", **labels) == batch_bytes
    group = {"cluster_name": broker.broker.store.cluster_id, "group": f"g-{topic}"}
    assert value(after, "kafka_consumergroup_group_offset", **group, **labels) == COMMITTED
    lag = N_RECORDS - COMMITTED
    assert value(after, "kafka_consumergroup_group_lag", **group, **labels) == lag
    assert value(after, "kafka_consumergroup_group_max_lag", **group) == lag
    assert value(after, "kafka_consumergroup_group_sum_lag", **group) == lag

    # Broker-level gauges of a healthy single node.
    assert value(after, "kafka_controller_kafkacontroller_activecontrollercount") == 1
    assert value(after, "kafka_server_replicamanager_underreplicatedpartitions") == 0
    assert value(after, "kafka_controller_kafkacontroller_offlinepartitionscount") == 0
    assert value(after, "kafka_server_replicamanager_leadercount") >= 1
    connections = {"listener": "PLAINTEXT", "networkProcessor": "0"}
    assert value(after, "kafka_server_socket_server_metrics_connection_creation_total",
                 **connections) >= 2  # fmt: skip
    assert value(after, "kafka_server_socket_server_metrics_connection_count", **connections) >= 0


def test_failed_and_rejected_produce_requests_are_counted(broker_factory):
    """A batch over max.message.bytes is refused: BytesRejected counts it, and it is not
    a failed produce request (Kafka counts only unexpected failures there)."""
    broker = broker_factory(http_listener="127.0.0.1:0")
    port = broker.broker.http_port
    topic = f"rejected-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    new = NewTopic(topic, 1, 1, config={"max.message.bytes": "1000"})
    admin.create_topics([new])[topic].result(GUARD_S)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "message.max.bytes": 100_000})
    errors = []
    producer.produce(topic, value=b"x" * 5_000, on_delivery=lambda err, msg: errors.append(err))
    producer.flush(GUARD_S)
    assert errors and errors[0] is not None
    samples = scrape(port)
    assert value(samples, "kafka_server_brokertopicmetrics_bytesrejected_total", topic=topic) > 0
    assert value(samples, "kafka_server_brokertopicmetrics_messagesin_total", topic=topic) == 0
    assert (
        value(samples, "kafka_server_brokertopicmetrics_failedproducerequests_total", topic=topic)
        == 0
    )
