"""/metrics' client quota metrics (Kafka's per-client quota sensors, jmx_exporter's
names) after real clients went over their quotas: a producer over producer_byte_rate,
an admin over controller_mutation_rate."""

from __future__ import annotations

import math

from confluent_kafka import Producer

from kafka_compat.tools.connection import Connection
from protocol.errors import ErrorCode
from tests.http.test_metrics import GUARD_S, create_topic, scrape
from tests.integration.test_client_quotas import alter
from tests.integration.test_controller_mutation_quota import create


def test_quota_metrics_show_rates_throttles_and_tokens(broker_factory) -> None:
    broker = broker_factory(http_listener="127.0.0.1:0", controller_quota_window_num="5")
    with Connection("127.0.0.1", broker.port, GUARD_S, client_id="setup") as conn:
        alter(conn, {"client-id": "metered-producer"}, {"producer_byte_rate": 1000.0})
        alter(conn, {"client-id": "metered-admin"}, {"controller_mutation_rate": 2.0})
    create_topic(broker.bootstrap, "metered")

    producer = Producer(
        {"bootstrap.servers": broker.bootstrap, "client.id": "metered-producer", "linger.ms": 200}
    )
    for _ in range(20):
        producer.produce("metered", b"v" * 1000)
    assert producer.flush(GUARD_S) == 0
    with Connection("127.0.0.1", broker.port, GUARD_S, client_id="metered-admin") as conn:
        _, errors = create(conn, {"m1": 10, "m2": 5, "m3": 1})  # a bucket of 10: m3 refused
    assert errors["m3"][0] == ErrorCode.THROTTLING_QUOTA_EXCEEDED

    samples = scrape(broker.broker.http_port)

    def sample(name: str, resource: str, client_id: str) -> float | None:
        labels = frozenset({"resource": resource, "clientId": client_id}.items())
        return samples.get((f"kafka_server_quota_{name}", labels))

    assert sample("byte_rate", "Produce", "metered-producer") > 0
    assert sample("throttle_time", "Produce", "metered-producer") > 0
    assert sample("mutation_rate", "ControllerMutation", "metered-admin") > 0
    assert sample("tokens", "ControllerMutation", "metered-admin") < 0
    assert sample("throttle_time", "ControllerMutation", "metered-admin") > 0
    # create_topic's admin (librdkafka's client-id) has no quota: measured while another
    # client has one, as in Kafka, never throttled (Kafka's Avg of nothing: NaN).
    assert sample("mutation_rate", "ControllerMutation", "rdkafka") > 0
    unthrottled = sample("throttle_time", "ControllerMutation", "rdkafka")
    assert unthrottled is not None and math.isnan(unthrottled)
