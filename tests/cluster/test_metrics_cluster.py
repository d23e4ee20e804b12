"""/metrics in a 3-broker cluster: every broker has its own HTTP listener, exactly one
reports itself as the active controller, and a partition whose follower is down shows
as under-replicated on its leader once the ISR shrinks."""

from __future__ import annotations

import re
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from tests.cluster.cluster_fixtures import cluster_factory_fixture  # noqa: F401
from tests.http.test_metrics import scrape, value

GUARD_S = 120  # failure guard for waits, not a timing
_HTTP = re.compile(r"HTTP listener \(console and /metrics\) on http://[\d.]+:(\d+)")


def http_port(broker) -> int:
    deadline = time.monotonic() + GUARD_S
    while time.monotonic() < deadline:
        found = _HTTP.findall(broker.log_path.read_text(errors="replace"))
        if found:
            return int(found[-1])
        time.sleep(0.05)
    raise AssertionError(f"no HTTP listener in the log of broker {broker.broker_id}")


def wait_for(check, what: str):
    deadline = time.monotonic() + GUARD_S
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_one_active_controller_and_under_replicated_partitions_when_a_follower_is_down(
    cluster_factory,
):
    # The leader's own lag check (replica.lag.time.max.ms, 3 s) must shrink the ISR before
    # the controller drops the dead broker at its session's expiry: only the former counts
    # in the leader's IsrShrinksPerSec, as in Kafka.
    cluster = cluster_factory(http_listener="127.0.0.1:0", zookeeper_session_timeout_ms="10000")
    ports = {i: http_port(b) for i, b in cluster.brokers.items()}
    assert len(set(ports.values())) == 3

    def controllers() -> list[int] | None:
        counts = {
            i: value(scrape(p), "kafka_controller_kafkacontroller_activecontrollercount")
            for i, p in ports.items()
        }
        active = [i for i, count in counts.items() if count == 1]
        return active if len(active) == 1 and sum(counts.values()) == 1 else None

    controller = wait_for(controllers, "exactly one active controller")[0]

    topic = "watched"
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 3)])[topic].result(GUARD_S)
    producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
    for i in range(10):
        producer.produce(topic, b"%d" % i)
    assert producer.flush(GUARD_S) == 0
    leader = admin.list_topics(topic, timeout=30).topics[topic].partitions[0].leader
    labels = {"topic": topic, "partition": "0"}
    assert value(scrape(ports[leader]), "kafka_cluster_partition_underreplicated", **labels) == 0

    follower = next(i for i in cluster.brokers if i not in (leader, controller))
    other = next(i for i in cluster.brokers if i not in (leader, follower))
    # acks=all: both followers appended the batches they fetched.
    replicated = "kafka_server_brokertopicmetrics_replicationbytesin_total"
    assert value(scrape(ports[other]), replicated) > 0
    sent = "kafka_server_brokertopicmetrics_replicationbytesout_total"
    assert value(scrape(ports[leader]), sent) > 0
    cluster.brokers[follower].kill()

    def under_replicated():
        samples = scrape(ports[leader])
        return (
            value(samples, "kafka_cluster_partition_underreplicated", **labels) == 1
            and value(samples, "kafka_server_replicamanager_underreplicatedpartitions") >= 1
            and samples
        )

    samples = wait_for(under_replicated, f"broker {leader} reports {topic}-0 under-replicated")
    assert value(samples, "kafka_server_replicamanager_isrshrinks_total") >= 1
    assert value(samples, "kafka_cluster_partition_insyncreplicascount", **labels) == 2
    # The partition still has a leader: the controller counts no offline partition.
    assert (
        value(scrape(ports[controller]), "kafka_controller_kafkacontroller_offlinepartitionscount")
        == 0
    )
