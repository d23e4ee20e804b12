"""AlterPartition (KIP-497) in a ZooKeeper cluster (real ZooKeeper, broker processes):
partition leaders ask the controller for ISR changes instead of writing ZooKeeper.

- A follower that stops fetching (SIGSTOP, its ZooKeeper session kept) leaves the
  ISR and comes back once it caught up: two changes in a row, each written by the
  controller with the partition epoch the leader got back from the previous one;
  every broker's metadata shows them.
- The controller checks requests as Kafka 3.9's: STALE_BROKER_EPOCH,
  FENCED_LEADER_EPOCH, INVALID_UPDATE_VERSION, INELIGIBLE_REPLICA (v2+) /
  OPERATION_NOT_ATTEMPTED (v1), UNKNOWN_TOPIC_ID, an already applied change answered
  as is; other brokers answer NOT_CONTROLLER. An accepted change is in ZooKeeper and
  in every broker's metadata.
"""

from __future__ import annotations

import json
import time

from confluent_kafka import Producer
from kazoo.client import KazooClient

from kafka_compat.tools.connection import Connection
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode
from tests.cluster.cluster_fixtures import cluster_factory_fixture  # noqa: F401
from tests.cluster.test_failover import GUARD_S, _isr, controller_of, create_topic, leader_of

AP = messages.request_type(ApiKey.ALTER_PARTITION)
M = messages.request_type(ApiKey.METADATA)


def wait_isr(cluster, topic: str, expected: set[int], paused: int | None = None) -> None:
    """Until every live broker's metadata (but a paused one's) shows `expected` as the
    ISR of partition 0."""
    deadline = time.monotonic() + GUARD_S
    for broker in cluster.brokers.values():
        if not broker.alive or broker.broker_id == paused:
            continue
        while set(isr := _isr(broker.bootstrap, topic, 0)) != expected:
            assert time.monotonic() < deadline, f"broker {broker.broker_id}: ISR {isr}"
            time.sleep(0.2)


def zk_state(zk: KazooClient, topic: str) -> tuple[dict, int]:
    data, stat = zk.get(f"/brokers/topics/{topic}/partitions/0/state")
    return json.loads(data), stat.version


def test_a_lagging_follower_leaves_and_rejoins_the_isr_through_the_controller(
    cluster_factory,
):
    # A long session: the paused follower stays registered, so only its leader's
    # AlterPartition takes it out of the ISR (not the controller's broker change).
    cluster = cluster_factory(size=3, zookeeper_session_timeout_ms="30000")
    create_topic(cluster.bootstrap, "lagging", partitions=1, rf=3)
    leader = leader_of(cluster.bootstrap, "lagging", 0)
    follower = next(i for i in cluster.brokers if i != leader)
    wait_isr(cluster, "lagging", {1, 2, 3})
    zk = KazooClient(hosts=cluster.zk_connect)
    zk.start(timeout=30)
    try:
        _, version_before = zk_state(zk, "lagging")
        cluster.brokers[follower].pause()
        producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "1"})
        producer.produce("lagging", b"while paused", partition=0)
        assert producer.flush(GUARD_S) == 0
        try:
            wait_isr(cluster, "lagging", {1, 2, 3} - {follower}, paused=follower)
        finally:
            cluster.brokers[follower].resume()
        state, version_shrunk = zk_state(zk, "lagging")
        assert follower not in state["isr"] and state["leader"] == leader
        assert version_shrunk > version_before

        wait_isr(cluster, "lagging", {1, 2, 3})
        state, version_expanded = zk_state(zk, "lagging")
        assert sorted(state["isr"]) == [1, 2, 3]
        assert version_expanded > version_shrunk
    finally:
        zk.stop()
        zk.close()
    controller = cluster.brokers[controller_of(cluster.bootstrap)]
    assert "ISR of lagging-0 is now" in controller.log_tail(200_000)


def test_the_controller_checks_alter_partition_as_kafka(cluster_factory):
    cluster = cluster_factory(size=3)
    create_topic(cluster.bootstrap, "checked", partitions=1, rf=3)
    wait_isr(cluster, "checked", {1, 2, 3})
    controller_id = controller_of(cluster.bootstrap)
    controller = cluster.brokers[controller_id]
    other = next(b for i, b in cluster.brokers.items() if i != controller_id)
    zk = KazooClient(hosts=cluster.zk_connect)
    zk.start(timeout=30)
    try:
        state, version = zk_state(zk, "checked")
        leader, epoch, isr = state["leader"], state["leader_epoch"], state["isr"]
        broker_epoch = zk.get(f"/brokers/ids/{leader}")[1].czxid
        with Connection("127.0.0.1", controller.port, 30.0) as conn:
            meta = conn.request(ApiKey.METADATA, M(topics=[M.MetadataRequestTopic(name="checked")]))
            topic_id = meta.topics[0].topic_id

            def alter(new_isr, *, leader_epoch=epoch, partition_epoch=version, v=3, **top):
                part = AP.PartitionData(
                    partition_index=0,
                    leader_epoch=leader_epoch,
                    new_isr=list(new_isr),
                    new_isr_with_epochs=[AP.BrokerState(broker_id=b) for b in new_isr],
                    partition_epoch=partition_epoch,
                )
                named = {"topic_id": topic_id} if v >= 2 else {"topic_name": "checked"}
                request = AP(
                    broker_id=top.get("broker_id", leader),
                    broker_epoch=top.get("broker_epoch", broker_epoch),
                    topics=[AP.TopicData(partitions=[part], **{**named, **top.get("named", {})})],
                )
                answer = conn.request(ApiKey.ALTER_PARTITION, request, v)
                if answer.error_code != ErrorCode.NONE:
                    return answer.error_code, None
                [topic] = answer.topics
                [data] = topic.partitions
                return data.error_code, data

            dropped = next(b for b in isr if b != leader)
            shrunk = [b for b in isr if b != dropped]
            assert conn.versions[ApiKey.ALTER_PARTITION] == (0, 3)
            assert alter(shrunk, broker_epoch=broker_epoch + 1)[0] == ErrorCode.STALE_BROKER_EPOCH
            assert alter(shrunk, leader_epoch=epoch - 1)[0] == ErrorCode.FENCED_LEADER_EPOCH
            assert alter(shrunk, leader_epoch=epoch + 1)[0] == ErrorCode.NOT_CONTROLLER
            assert alter(shrunk, partition_epoch=version - 1)[0] == (
                ErrorCode.INVALID_UPDATE_VERSION
            )
            assert alter([*shrunk, 99])[0] == ErrorCode.INELIGIBLE_REPLICA
            assert alter([*shrunk, 99], v=1)[0] == ErrorCode.OPERATION_NOT_ATTEMPTED
            assert alter(shrunk, named={"topic_id": b"\x07" * 16})[0] == (
                ErrorCode.UNKNOWN_TOPIC_ID
            )
            # Already so: answered with the current state, whatever the partition epoch.
            error, data = alter(isr, partition_epoch=version - 1)
            assert error == ErrorCode.NONE
            assert (data.leader_id, data.leader_epoch, list(data.isr), data.partition_epoch) == (
                leader,
                epoch,
                isr,
                version,
            )
            assert zk_state(zk, "checked") == (state, version)  # nothing written so far

            # Accepted (the last step: the real leader's own state is now behind).
            error, data = alter(shrunk)
            assert error == ErrorCode.NONE
            assert (list(data.isr), data.partition_epoch) == (shrunk, version + 1)
            written, new_version = zk_state(zk, "checked")
            assert (written["isr"], new_version) == (shrunk, version + 1)
            wait_isr(cluster, "checked", set(shrunk))

        with Connection("127.0.0.1", other.port, 30.0) as conn:
            request = AP(broker_id=leader, broker_epoch=broker_epoch, topics=[])
            answer = conn.request(ApiKey.ALTER_PARTITION, request, 3)
            assert answer.error_code == ErrorCode.NOT_CONTROLLER
    finally:
        zk.stop()
        zk.close()
