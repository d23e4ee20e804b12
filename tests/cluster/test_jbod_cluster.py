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
