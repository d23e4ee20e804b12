"""The brokers lose ZooKeeper for longer than a session while they serve clients.

A cuttable link between the 3 brokers and a running ZooKeeper is cut for three
session timeouts: ZooKeeper expires every broker's session (their registrations and
/controller go), while the brokers, cut off, must keep serving what they can with
the leaders and ISRs they have and change nothing (no write can be made, so no
election and no ISR change). Once the link heals every broker registers again in a
new session, there is a controller, topics can be created and a leader's death still
moves leadership. An idempotent acks=all producer runs throughout; every acknowledged
message is read back exactly once, in order.
"""

from __future__ import annotations

import time

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic
from kazoo.client import KazooClient

from tests.cluster.cluster_fixtures import Cluster, CuttableLink
from tests.cluster.test_failover import (
    GUARD_S,
    PRODUCER,
    TOPIC,
    check_exactly_once,
    controller_of,
    create_topic,
    leader_of,
    wait_leader_not,
)
from tests.integration.test_crash_recovery import SequenceProducer

SESSION_TIMEOUT_S = 4  # FAST_CLUSTER's zookeeper.session.timeout.ms


def _partitions(bootstrap: str) -> dict[int, tuple[int, list[int]]]:
    """partition -> (leader, ISR) as the brokers' metadata shows it."""
    meta = AdminClient({"bootstrap.servers": bootstrap}).list_topics(TOPIC, timeout=10)
    return {i: (p.leader, sorted(p.isrs)) for i, p in meta.topics[TOPIC].partitions.items()}


def _registrations(zk: KazooClient) -> dict[int, int]:
    """broker id -> the zxid that created its /brokers/ids znode (its broker epoch)."""
    found = {}
    for child in zk.get_children("/brokers/ids"):
        stat = zk.exists(f"/brokers/ids/{child}")
        if stat is not None:
            found[int(child)] = stat.czxid
    return found


def test_the_cluster_serves_through_a_zookeeper_outage_longer_than_a_session(
    zookeeper, zk_connect, tmp_path
):
    link = CuttableLink(zookeeper.connect)
    chroot = zk_connect[zk_connect.index("/") :]
    cluster = Cluster(tmp_path, link.address + chroot, 3, {})
    zk = KazooClient(hosts=zk_connect)  # the test's own view, not through the link
    producer = None
    try:
        cluster.start()  # creates the chroot
        zk.start(GUARD_S)
        create_topic(cluster.bootstrap, TOPIC, min_insync_replicas="2")
        before = _partitions(cluster.bootstrap)
        registered = _registrations(zk)
        assert set(registered) == set(cluster.brokers)
        producer = SequenceProducer(cluster.bootstrap, TOPIC, PRODUCER, pause_s=0.002)
        producer.thread.start()
        producer.wait_for_more_acks(1000)

        link.cut()
        cut_at = time.monotonic()
        producer.wait_for_more_acks(2000)
        # What needs ZooKeeper is refused, retriably, after the store's request timeout.
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
        creation = admin.create_topics([NewTopic("during-outage", 1, 3)])["during-outage"]
        with pytest.raises(KafkaException) as refused:
            creation.result(GUARD_S)
        assert refused.value.args[0].code() == KafkaError.REQUEST_TIMED_OUT
        time.sleep(max(0.0, cut_at + 3 * SESSION_TIMEOUT_S - time.monotonic()))
        # ZooKeeper has expired every session: no broker is registered, no controller.
        assert zk.get_children("/brokers/ids") == []
        assert zk.exists("/controller") is None
        # The brokers serve on, unchanged: same leaders, same ISRs, acks=all still works.
        producer.wait_for_more_acks(1000)
        assert _partitions(cluster.bootstrap) == before
        link.heal()

        deadline = time.monotonic() + GUARD_S
        while True:
            now = _registrations(zk)
            if set(now) == set(registered) and all(now[i] > registered[i] for i in now):
                break  # every broker registered again, in a new session
            assert time.monotonic() < deadline, f"registrations {now}, before {registered}"
            time.sleep(0.2)
        cluster.wait_for_brokers()
        while controller_of(cluster.bootstrap) < 0:
            assert time.monotonic() < deadline, "no controller after the outage"
            time.sleep(0.2)
        producer.wait_for_more_acks(2000)
        create_topic(cluster.bootstrap, "after-outage", partitions=1, rf=3)
        assert "during-outage" not in admin.list_topics(timeout=10).topics

        # Leadership still moves: the leader of partition 0 dies, then comes back.
        leader = leader_of(cluster.bootstrap, TOPIC, 0)
        cluster.brokers[leader].kill()
        survivors = ",".join(b.bootstrap for b in cluster.brokers.values() if b.alive)
        wait_leader_not(survivors, TOPIC, 0, leader)
        producer.wait_for_more_acks(2000)
        cluster.brokers[leader].start()
        producer.wait_for_more_acks(1000)
        producer.finish()
        check_exactly_once(producer, cluster.bootstrap)
    finally:
        if producer is not None:
            producer.stopping.set()
        cluster.stop()
        link.close()
        zk.stop()
        zk.close()
