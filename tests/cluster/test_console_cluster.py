"""The console in a 3-broker cluster: each broker's console shows the cluster as its
metadata knows it (racks, the controller, which broker is alive), and a partition led
by another broker is answered with its leader rather than pretended."""

from __future__ import annotations

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from tests.cluster.cluster_fixtures import cluster_factory_fixture  # noqa: F401
from tests.cluster.test_metrics_cluster import GUARD_S, http_port, wait_for
from tests.http.test_console_api import Http


class BrokerConsole(Http):
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}/api"


def test_each_console_shows_the_cluster_and_names_the_leader_of_other_partitions(
    cluster_factory,
):
    racks = {i: {"broker.rack": f"rack-{i}"} for i in (1, 2, 3)}  # broker ids
    cluster = cluster_factory(http_listener="127.0.0.1:0", per_broker=racks)
    consoles = {i: BrokerConsole(http_port(b)) for i, b in cluster.brokers.items()}
    topic = "two-replicas"
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 2)])[topic].result(GUARD_S)
    producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
    producer.produce(topic, key=b"k", value=b"replicated")
    assert producer.flush(GUARD_S) == 0
    partition = admin.list_topics(topic, timeout=30).topics[topic].partitions[0]
    leader, replicas = partition.leader, list(partition.replicas)
    outsider = next(i for i in cluster.brokers if i not in replicas)
    follower = next(i for i in replicas if i != leader)

    for broker_id, http in consoles.items():
        status, info = http("GET", "/cluster")
        assert status == 200 and info["mode"] == "cluster" and info["node_id"] == broker_id
        assert [b["id"] for b in info["brokers"]] == sorted(cluster.brokers)
        assert all(b["alive"] and b["rack"] == f"rack-{b['id']}" for b in info["brokers"])
        assert sum(b["controller"] for b in info["brokers"]) == 1

    # Every console describes the partition from its metadata.
    status, described = consoles[outsider]("GET", f"/topics/{topic}")
    [state] = described["partitions"]
    assert (state["leader"], sorted(state["replicas"])) == (leader, sorted(replicas))
    assert state["local"] is None  # no replica on that broker

    # Messages: a follower reads its own replica, up to its high watermark (which
    # follows the leader's on its next fetch); a broker without one names the leader.
    def follower_page():
        status, page = consoles[follower](
            "GET", f"/topics/{topic}/partitions/0/messages?from=beginning"
        )
        assert status == 200 and page["replica"] == "follower"
        return page if page["messages"] else None

    page = wait_for(follower_page, "the follower's replica shows the message")
    assert [m["offset"] for m in page["messages"]] == [0]
    status, answer = consoles[outsider]("GET", f"/topics/{topic}/partitions/0/messages")
    assert status == 409 and answer["leader"]["id"] == leader
    assert f"led by broker {leader}" in answer["error"]
    # Produce only on the leader; elsewhere the answer names it.
    status, answer = consoles[follower]("POST", f"/topics/{topic}/messages", {"value": "x"})
    assert status == 409 and answer["leader"]["id"] == leader
    status, done = consoles[leader](
        "POST", f"/topics/{topic}/messages", {"value": "from the console"}
    )
    assert status == 200 and done["offset"] == 1

    # A dead broker shows as not alive on the others' consoles.
    cluster.brokers[outsider].kill()
    survivor = consoles[leader]

    def outsider_dead():
        brokers = {b["id"]: b for b in survivor("GET", "/cluster")[1]["brokers"]}
        return outsider in brokers and not brokers[outsider]["alive"]

    wait_for(outsider_dead, f"broker {outsider} shown as not alive")
