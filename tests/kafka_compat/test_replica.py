"""The leader's side of replication: high watermark over the ISR, follower
positions, acks=all waits, ISR shrink and expand, roles."""

from __future__ import annotations

import pytest
import trio

from kafka_compat.replica import FetchIsolation, NotEnoughReplicas, NotLeaderOrFollower, Partition
from protocol.errors import ErrorCode
from protocol.records import build_batch, build_end_txn_marker
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


async def test_acks_all_keeps_waiting_through_a_new_epoch_of_the_same_leader(tmp_path):
    """The controller bumps the leader epoch when the ISR changes (a follower died);
    the leader's log is unchanged, so a waiting acks=all produce goes on waiting."""
    partition = _partition(tmp_path)
    partition.make_leader(0, [1, 2, 3], [1, 2, 3], 0)
    info = _append(partition)
    results = []

    async def wait():
        results.append(await partition.wait_replicated(info.last_offset, trio.current_time() + 5))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait)
        await trio.sleep(0.05)
        partition.make_leader(1, [1, 2], [1, 2, 3], 1)  # broker 3 left the ISR
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


def _txn_batch(producer_id: int, sequence: int, count: int = 2):
    records = [(None, b"t", [], 1_700_000_000_000)] * count
    return bytearray(
        build_batch(
            records,
            producer_id=producer_id,
            producer_epoch=0,
            base_sequence=sequence,
            transactional=True,
        )
    )


def _marker(producer_id: int, commit: bool):
    return bytearray(
        build_end_txn_marker(
            commit=commit,
            producer_id=producer_id,
            producer_epoch=0,
            coordinator_epoch=0,
            timestamp=1_700_000_000_000,
        )
    )


def test_the_lso_waits_for_the_high_watermark_to_pass_the_marker(tmp_path):
    partition = _partition(tmp_path)
    partition.make_leader(1, [1, 2], [1, 2], 0)
    _append(partition)  # 0
    partition.append_to_leader(_txn_batch(5, 0), -1, AppendOrigin.CLIENT)  # 1-2
    _append(partition)  # 3
    partition.update_follower(2, 4)
    assert (partition.high_watermark, partition.last_stable_offset) == (4, 1)
    partition.append_to_leader(_marker(5, commit=True), -1, AppendOrigin.COORDINATOR)  # 4
    partition.update_follower(2, 5)  # the follower has the marker: the HW passes it
    assert (partition.high_watermark, partition.last_stable_offset) == (5, 5)
    info = partition.read(0, 1 << 20, FetchIsolation.TXN_COMMITTED)
    assert info.next_offset == 5 and info.aborted_transactions == []
    # Another transaction, aborted: the LSO stays at its start until the marker is
    # replicated, although nothing is open any more on the leader.
    partition.append_to_leader(_txn_batch(6, 0), -1, AppendOrigin.CLIENT)  # 5-6
    partition.append_to_leader(_marker(6, commit=False), -1, AppendOrigin.COORDINATOR)  # 7
    partition.update_follower(2, 7)
    assert (partition.high_watermark, partition.last_stable_offset) == (7, 5)
    assert partition.latest_offset(FetchIsolation.TXN_COMMITTED) == 5
    assert partition.latest_offset() == 7
    info = partition.read(5, 1 << 20, FetchIsolation.TXN_COMMITTED)
    assert info.records == b"" and info.aborted_transactions == []
    partition.update_follower(2, 8)
    assert partition.last_stable_offset == 8
    info = partition.read(5, 1 << 20, FetchIsolation.TXN_COMMITTED)
    assert [(t.producer_id, t.first_offset) for t in info.aborted_transactions] == [(6, 5)]
    assert partition.read(5, 1 << 20, FetchIsolation.HIGH_WATERMARK).aborted_transactions is None


def test_a_follower_tracks_the_lso_from_its_own_log_and_the_leaders_high_watermark(tmp_path):
    leader = _partition(tmp_path / "leader")
    leader.append_to_leader(_txn_batch(5, 0), -1, AppendOrigin.CLIENT)
    leader.append_to_leader(_marker(5, commit=False), -1, AppendOrigin.COORDINATOR)
    follower = Partition("t", 0, Log(tmp_path / "follower" / "t-0", LogConfig()), local_id=2)
    follower.make_follower(1, 1, [1, 2], [1, 2], 0)
    follower.append_as_follower(leader.read(0, 1 << 20, FetchIsolation.LOG_END).records, 2)
    assert (follower.high_watermark, follower.last_stable_offset) == (2, 0)
    follower.follower_hw(3)
    assert (follower.high_watermark, follower.last_stable_offset) == (3, 3)
    assert follower.log.segments.active.txn_index.all_aborted_txns()[0].producer_id == 5


def test_list_offsets_v0_caps_a_consumers_offsets_at_the_high_watermark(tmp_path):
    partition = _partition(tmp_path)
    partition.make_leader(1, [1, 2], [1, 2], 0)
    for _ in range(3):
        _append(partition)
    partition.update_follower(2, 1)
    assert partition.high_watermark == 1
    # Kafka's legacyFetchOffsetsForTimestamp: the log end for a broker, the high
    # watermark in its place for a consumer.
    assert partition.legacy_offsets_before(-1, 10, from_consumer=False) == [3, 0]
    assert partition.legacy_offsets_before(-1, 10, from_consumer=True) == [1, 0]
    assert partition.legacy_offsets_before(-2, 10, from_consumer=True) == [0]
    assert partition.legacy_offsets_before(-1, 0, from_consumer=False) == []


def test_list_offsets_tiered_timestamps_without_tiered_storage(tmp_path):
    partition = _partition(tmp_path)
    partition.make_leader(4, [1], [1], 0)
    _append(partition)
    earliest_local = partition.offset_for_timestamp(-4)
    assert (earliest_local.offset, earliest_local.leader_epoch) == (0, 4)
    latest_tiered = partition.offset_for_timestamp(-5)
    assert (latest_tiered.timestamp, latest_tiered.offset, latest_tiered.leader_epoch) == (
        -1,
        -1,
        -1,
    )
