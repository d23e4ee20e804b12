"""DescribeLogDirs on a real broker over TCP (what kafka-log-dirs.sh and AdminClient
describeLogDirs send): the one log dir, each hosted partition's size and lag, the
request's topic filter as Kafka applies it, and v4's volume sizes."""

from __future__ import annotations

import os

import trio
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from kafka_compat.cluster.client import BrokerClient
from protocol import messages
from protocol.api_keys import ApiKey

GUARD_S = 60
DescribeLogDirsRequest = messages.request_type(ApiKey.DESCRIBE_LOG_DIRS)


def _setup(bootstrap: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic("dirs-a", 2), NewTopic("dirs-b", 1)])
    for future in futures.values():
        future.result(GUARD_S)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for _ in range(3):
        producer.produce("dirs-a", value=b"x" * 100, partition=1)
        producer.flush(GUARD_S)  # one batch each
    assert len(producer) == 0


async def _describe(broker, version: int, topics):
    async with BrokerClient("127.0.0.1", broker.port, "log-dirs-test") as client:
        with trio.fail_after(GUARD_S):
            return await client.send(
                ApiKey.DESCRIBE_LOG_DIRS, version, DescribeLogDirsRequest(topics=topics)
            )


def _partitions(result) -> dict[str, dict[int, tuple[int, int]]]:
    return {
        t.name: {p.partition_index: (p.partition_size, p.offset_lag) for p in t.partitions}
        for t in result.topics
    }


async def test_describe_log_dirs_sizes_filter_and_volume(broker):
    await trio.to_thread.run_sync(_setup, broker.bootstrap)

    # Null topics: every log, with its size (the bytes of its segments) and lag 0.
    response = await _describe(broker, 4, None)
    assert response.error_code == 0
    [result] = response.results
    assert result.error_code == 0
    assert result.log_dir == os.path.abspath(broker.data_dir)
    every = _partitions(result)
    assert every["dirs-a"][0] == (0, 0)
    size, lag = every["dirs-a"][1]
    assert lag == 0 and 300 < size < 600  # three batches of one 100-byte record
    assert every["dirs-b"] == {0: (0, 0)}
    # v4: the volume the dir is on.
    assert 0 < result.usable_bytes <= result.total_bytes

    # Asked partitions only; as in Kafka, a topic with logs in the dir is listed even
    # when none of its partitions was asked; an unknown partition is left out.
    wanted = [
        DescribeLogDirsRequest.DescribableLogDirTopic(topic="dirs-a", partitions=[1, 9]),
        DescribeLogDirsRequest.DescribableLogDirTopic(topic="nowhere", partitions=[0]),
    ]
    for version in (1, 2, 3, 4):
        response = await _describe(broker, version, wanted)
        [result] = response.results
        filtered = _partitions(result)
        assert filtered["dirs-a"] == {1: (size, 0)}, version
        assert filtered["dirs-b"] == {}, version
        assert "nowhere" not in filtered, version
