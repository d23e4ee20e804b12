"""The leader's side of replication: high watermark over the ISR, follower
positions, acks=all waits, ISR shrink and expand, roles."""

from __future__ import annotations

import pytest
import trio

from kafka_compat.replica import FetchIsolation, NotEnoughReplicas, NotLeaderOrFollower, Partition
from protocol.errors import ErrorCode
from protocol.records import build_batch
from storage.log import AppendOrigin, Log
from storage.log_config import LogConfig


def batch():
    return bytearray(build_batch([(None, b"v", [], 1_700_000_000_000)]))


def _partition(tmp_path, min_isr: int = 1) -> Partition:
    config = LogConfig(min_insync_replicas=min_isr)
    return Partition("t", 0, Log(tmp_path / "t-0", config), local_id=1)


def _append(partition: Partition, acks: int = -1):
    return partition.append_to_leader(batch(), acks, AppendOrigin.CLIENT)


def test_single_node_high_watermark_follows_the_log_end(tmp_path):
    partition = _partition(tmp_path)
    _append(partition)
    _append(partition)
    assert partition.high_watermark == partition.log.log_end_offset == 2


def test_high_watermark_is_the_smallest_log_end_over_the_isr(tmp_path):
    partition = _partition(tmp_path)
    partition.make_leader(1, [1, 2, 3], [1, 2, 3], 0)
    for _ in range(3):
        _append(partition)
    assert partition.high_watermark == 0
    partition.update_follower(2, 3)
    assert partition.high_watermark == 0  # follower 3 not heard from yet
    partition.update_follower(3, 2)
    assert partition.high_watermark == 2
    partition.update_follower(3, 3)
    assert partition.high_watermark == 3


async def test_acks_all_waits_for_the_isr(tmp_path):
    partition = _partition(tmp_path)
    partition.make_leader(1, [1, 2], [1, 2], 0)
    info = _append(partition)
    results = []

    async def wait():
        results.append(await partition.wait_replicated(info.last_offset, trio.current_time() + 5))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait)
        await trio.sleep(0.05)
        assert results == []
        partition.update_follower(2, info.last_offset + 1)
    assert results == [0]


async def test_acks_all_times_out(tmp_path):
    partition = _partition(tmp_path, min_isr=2)
    partition.make_leader(1, [1, 2], [1, 2], 0)
    info = _append(partition)
    error = await partition.wait_replicated(info.last_offset, trio.current_time() + 0.1)
    assert error == ErrorCode.REQUEST_TIMED_OUT


def test_min_insync_replicas_refuses_before_the_append(tmp_path):
    partition = _partition(tmp_path, min_isr=2)
    with pytest.raises(NotEnoughReplicas):
        _append(partition)
    assert partition.log.log_end_offset == 0
    _append(partition, acks=1)
    assert partition.log.log_end_offset == 1


def test_a_follower_refuses_appends(tmp_path):
    partition = _partition(tmp_path)
    partition.make_follower(2, 5, [2, 1], [2, 1], 0)
    with pytest.raises(NotLeaderOrFollower):
        _append(partition, acks=1)
    with pytest.raises(NotLeaderOrFollower):
        partition.check_leader()


async def test_isr_shrinks_after_the_lag_time_and_expands_when_caught_up(tmp_path):
    partition = _partition(tmp_path)
    partition.make_leader(1, [1, 2], [1, 2], 0)
    _append(partition)
    now = partition.followers[2].last_caught_up_ms
    assert partition.isr_to_shrink(1000, now + 500) is None
    shrunk = partition.isr_to_shrink(1000, now + 1500)
    assert shrunk == [1]

    async def accept(p, isr):
        return True

    assert await partition.change_isr(shrunk, accept)
    assert partition.isr == [1]
    assert partition.high_watermark == 1  # the leader alone now
    partition.update_follower(2, 0)
    assert partition.isr_to_expand() is None
    partition.update_follower(2, 1)
    assert partition.isr_to_expand() == [1, 2]


async def test_a_refused_isr_change_is_not_applied(tmp_path):
    partition = _partition(tmp_path)
    partition.make_leader(1, [1, 2], [1, 2], 0)

    async def refuse(p, isr):
        return False

    assert not await partition.change_isr([1], refuse)
    assert partition.isr == [1, 2]


def test_a_consumer_waits_for_the_high_watermark_a_follower_for_the_log_end(tmp_path):
    partition = _partition(tmp_path)
    partition.make_leader(1, [1, 2], [1, 2], 0)
    woken = []
    partition.add_fetch_waiter(lambda p: woken.append("consumer"), FetchIsolation.HIGH_WATERMARK)
    partition.add_fetch_waiter(lambda p: woken.append("follower"), FetchIsolation.LOG_END)
    _append(partition, acks=1)  # the log end moves; the high watermark waits for broker 2
    assert woken == ["follower"]
    partition.update_follower(2, 1)
    assert woken == ["follower", "consumer"]
    hw_bytes = partition.position(FetchIsolation.HIGH_WATERMARK)
    assert hw_bytes == partition.position(FetchIsolation.LOG_END) == len(batch())
