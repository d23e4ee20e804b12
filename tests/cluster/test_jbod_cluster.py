"""JBOD in a 3-broker cluster: a log dir of a partition's leader fails while an
idempotent acks=all producer writes. The broker tells the controller
(/log_dir_event_notification), which moves leadership to another ISR member; the
producer goes on, and every acknowledged message is there exactly once. The broker
keeps serving its other dir; DescribeLogDirs shows the failed one offline. After the
disk comes back and the broker restarts, it catches up and rejoins the ISR.
"""

from __future__ import annotations

import os
import time

import trio
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaAdminClient, TopicPartition, TopicPartitionReplica
from kafka.errors import NoError, ReplicaNotAvailableError

from kafka_compat.cluster.client import BrokerClient
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode
from tests.cluster.cluster_fixtures import cluster_factory_fixture  # noqa: F401
from tests.cluster.test_failover import (
    GUARD_S,
    PRODUCER,
    TOPIC,
    _isr,
    check_exactly_once,
    create_topic,
    leader_of,
    wait_leader_not,
)
from tests.integration.test_crash_recovery import SequenceProducer

DescribeRequest = messages.request_type(ApiKey.DESCRIBE_LOG_DIRS)


def describe_log_dirs(bootstrap: str) -> dict[str, tuple[int, set]]:
    host, port = bootstrap.rsplit(":", 1)

    async def go():
        async with BrokerClient(host, int(port), "jbod-cluster-test") as client:
            with trio.fail_after(GUARD_S):
                return await client.send(ApiKey.DESCRIBE_LOG_DIRS, 4, DescribeRequest(topics=None))

    response = trio.run(go)
    return {
        r.log_dir: (
            r.error_code,
            {(t.name, p.partition_index) for t in r.topics for p in t.partitions},
        )
        for r in response.results
    }


def test_a_failed_log_dir_moves_leadership_and_loses_nothing(cluster_factory, tmp_path):
    dirs = {i: [str(tmp_path / f"broker-{i}-disk-{d}") for d in "ab"] for i in (1, 2, 3)}
    cluster = cluster_factory(3, per_broker={i: {"log.dirs": ",".join(d)} for i, d in dirs.items()})
    create_topic(cluster.bootstrap, TOPIC, min_insync_replicas="2")
    producer = SequenceProducer(cluster.bootstrap, TOPIC, PRODUCER, pause_s=0.002)
    producer.thread.start()
    try:
        producer.wait_for_more_acks(2000)
        leader = leader_of(cluster.bootstrap, TOPIC, 0)
        [failing] = [d for d in dirs[leader] if os.path.isdir(os.path.join(d, f"{TOPIC}-0"))]
        # The disk goes away: its next write (a checkpoint within a second, a segment
        # roll) fails, and the dir goes offline with its partitions.
        os.rename(failing, failing + ".gone")
        wait_leader_not(cluster.bootstrap, TOPIC, 0, leader)
        producer.wait_for_more_acks(2000)
        deadline = time.monotonic() + GUARD_S
        while leader in _isr(cluster.bootstrap, TOPIC, 0):
            assert time.monotonic() < deadline, "the failed replica stayed in the ISR"
            time.sleep(0.2)
        described = describe_log_dirs(cluster.brokers[leader].bootstrap)
        assert described[failing][0] == ErrorCode.KAFKA_STORAGE_ERROR
        [healthy] = [d for d in dirs[leader] if d != failing]
        assert described[healthy][0] == ErrorCode.NONE
        # The broker still serves what its other dir holds.
        assert cluster.brokers[leader].alive
        # The disk comes back; the broker restarts, catches up and rejoins the ISR.
        cluster.brokers[leader].stop()
        os.rename(failing + ".gone", failing)
        cluster.brokers[leader].start()
        producer.wait_for_more_acks(2000)
        while leader not in _isr(cluster.bootstrap, TOPIC, 0):
            assert time.monotonic() < deadline + GUARD_S, "the replica did not rejoin the ISR"
            time.sleep(0.2)
    finally:
        producer.finish()
    check_exactly_once(producer, cluster.bootstrap)


def _dir_of(admin: KafkaAdminClient, broker_id: int, topic: str, partition: int):
    """(log dir, is future) of each replica of the partition on the broker."""
    [answer] = admin.describe_log_dirs(brokers=[broker_id])
    found = []
    for result in answer["log_dirs"]:
        for t in result["topics"]:
            for p in t["partitions"]:
                if t["name"] == topic and p["partition_index"] == partition:
                    found.append((result["log_dir"], p["is_future_key"]))
    return found


def test_replicas_move_between_log_dirs_while_a_producer_writes(cluster_factory, tmp_path):
    """kafka-python's admin client (alter_replica_log_dirs, describe_log_dirs), as
    kafka-reassign-partitions.sh with log dirs uses them."""
    dirs = {i: [str(tmp_path / f"broker-{i}-disk-{d}") for d in "ab"] for i in (1, 2, 3)}
    cluster = cluster_factory(3, per_broker={i: {"log.dirs": ",".join(d)} for i, d in dirs.items()})
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    topic = NewTopic(TOPIC, 3, replica_assignment=[[1, 2], [2, 1], [1, 2]])
    admin.create_topics([topic])[TOPIC].result(GUARD_S)
    producer = SequenceProducer(cluster.bootstrap, TOPIC, PRODUCER, pause_s=0.002)
    producer.thread.start()
    client = KafkaAdminClient(bootstrap_servers=cluster.bootstrap)
    try:
        producer.wait_for_more_acks(2000)
        # Broker 3 does not hold partition 0 yet: REPLICA_NOT_AVAILABLE, and the dir is
        # remembered for when a reassignment brings the replica there.
        wanted = TopicPartitionReplica(TOPIC, 0, 3)
        assert client.alter_replica_log_dirs({wanted: dirs[3][1]}) == {
            wanted: ReplicaNotAvailableError
        }
        client.alter_partition_reassignments({TopicPartition(TOPIC, 0): [3, 2]})
        deadline = time.monotonic() + GUARD_S
        while _dir_of(client, 3, TOPIC, 0) != [(dirs[3][1], False)]:
            assert time.monotonic() < deadline, "the new replica is not in the dir asked"
            time.sleep(0.2)
        # A follower (partition 1 on broker 1) and a leader (partition 2 on broker 1)
        # move to broker 1's other dir while the producer writes.
        moves = {}
        for partition in (1, 2):
            [(current, _)] = _dir_of(client, 1, TOPIC, partition)
            other = next(d for d in dirs[1] if d != current)
            moves[TopicPartitionReplica(TOPIC, partition, 1)] = other
        assert client.alter_replica_log_dirs(moves) == {tpr: NoError for tpr in moves}
        for tpr, other in moves.items():
            while _dir_of(client, 1, TOPIC, tpr.partition) != [(other, False)]:
                assert time.monotonic() < deadline + GUARD_S, f"{tpr} did not move"
                time.sleep(0.2)
        producer.wait_for_more_acks(2000)
    finally:
        producer.finish()
        client.close()
    check_exactly_once(producer, cluster.bootstrap)
