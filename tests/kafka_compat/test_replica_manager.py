"""The replica manager's data path without a broker or a network: appends with their
acks=all wait, fetches with their delayed wait, as the handlers and coordinators use
them. A partition led by broker 1 with broker 2 in its ISR stands for a replicated
one: broker 2's fetches (replica_id=2) move the high watermark, as a follower's do."""

from __future__ import annotations

import trio
import trio.testing

from kafka_compat.cluster.metadata_cache import MetadataCache
from kafka_compat.cluster.store import LocalStore
from kafka_compat.config import BrokerConfig
from kafka_compat.delayed_fetch import FetchPartition, FetchRead
from kafka_compat.replica import FetchIsolation
from kafka_compat.replica_manager import ReplicaManager
from protocol.errors import ErrorCode
from protocol.records import build_batch
from storage.log import AppendOrigin
from storage.log_dirs import LogDirs

TOPIC = "t"
TP = (TOPIC, 0)


def _batch(count: int = 1) -> bytearray:
    return bytearray(build_batch([(None, b"v" * 10, [], 1_700_000_000_000)] * count))


async def _manager(tmp_path, *, replicated: bool = False, **props) -> ReplicaManager:
    config = BrokerConfig({"log.dirs": str(tmp_path), "broker.id": "1", **props})
    manager = ReplicaManager(config, 1, MetadataCache())
    log_manager = LogDirs([tmp_path], manager.log_config({}), broker_id=1, cluster_id="c")
    log_manager.load_meta_properties()
    store = LocalStore(tmp_path, "c")
    manager.startup(log_manager, store)
    manager.open_partitions(await store.create_topic(TOPIC, 1, {}))
    if replicated:
        manager.get_partition(*TP).make_leader(1, [1, 2], [1, 2], 0)
    return manager


async def _append(manager, acks: int = 1, timeout_ms: int = 1000, key=TP):
    return (
        await manager.append_records(
            {key: _batch()},
            required_acks=acks,
            timeout_ms=timeout_ms,
            origin=AppendOrigin.CLIENT,
        )
    )[key]


async def _fetch(manager, offset: int, *, replica_id: int = -1, max_wait_ms: int = 0):
    [result] = await manager.fetch_records(
        [(TOPIC, FetchPartition(0, offset))],
        replica_id=replica_id,
        max_wait_ms=max_wait_ms,
        min_bytes=1,
        max_bytes=1 << 20,
        isolation=FetchIsolation.HIGH_WATERMARK,
    )
    return result


async def test_an_append_to_an_unknown_partition_is_refused_not_raised(tmp_path):
    manager = await _manager(tmp_path)
    result = await _append(manager, key=("nope", 0))
    assert result.error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION


async def test_appends_get_consecutive_offsets_and_are_readable(tmp_path):
    manager = await _manager(tmp_path)
    first = await _append(manager)
    second = await _append(manager)
    assert (first.info.first_offset, second.info.first_offset) == (0, 1)
    fetched = await _fetch(manager, 0)
    assert fetched.error_code == ErrorCode.NONE
    assert fetched.high_watermark == 2 and len(fetched.records) > 0


async def test_acks_all_below_min_insync_replicas_is_refused_before_writing(tmp_path):
    manager = await _manager(tmp_path, **{"min.insync.replicas": "2"})
    result = await _append(manager, acks=-1)
    assert result.error_code == ErrorCode.NOT_ENOUGH_REPLICAS
    assert manager.get_partition(*TP).log_end_offset == 0


async def test_acks_all_waits_for_the_follower_then_answers(tmp_path):
    manager = await _manager(tmp_path, replicated=True)
    answered = []

    async def produce():
        answered.append(await _append(manager, acks=-1, timeout_ms=10_000))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(produce)
        await trio.testing.wait_all_tasks_blocked()
        assert answered == []  # written, not yet replicated
        await _fetch(manager, 1, replica_id=2)  # the follower has offset 0 now
        await trio.testing.wait_all_tasks_blocked()
    assert answered[0].error_code == ErrorCode.NONE
    assert manager.get_partition(*TP).high_watermark == 1


async def test_acks_all_without_the_follower_times_out(tmp_path, autojump_clock):
    manager = await _manager(tmp_path, replicated=True)
    result = await _append(manager, acks=-1, timeout_ms=500)
    assert result.error_code == ErrorCode.REQUEST_TIMED_OUT


async def test_a_waiting_consumer_fetch_wakes_on_the_high_watermark_not_the_append(
    tmp_path, monkeypatch
):
    manager = await _manager(tmp_path, replicated=True)
    fetched = []
    reads = []
    read_all = FetchRead.read_all

    def counted_read(self):
        reads.append(self)
        return read_all(self)

    monkeypatch.setattr(FetchRead, "read_all", counted_read)

    async def consume():
        fetched.append(await _fetch(manager, 0, max_wait_ms=60_000))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(consume)
        await trio.testing.wait_all_tasks_blocked()
        assert len(reads) == 1  # the first read found nothing
        await _append(manager, acks=1)  # the log end moves, the high watermark does not
        await trio.testing.wait_all_tasks_blocked()
        assert fetched == [] and len(reads) == 1  # not woken: nothing to read again
        await _fetch(manager, 1, replica_id=2)  # now it does
        await trio.testing.wait_all_tasks_blocked()
    assert fetched[0].error_code == ErrorCode.NONE
    assert fetched[0].high_watermark == 1 and len(fetched[0].records) > 0


async def test_a_waiting_follower_fetch_wakes_on_the_append(tmp_path):
    manager = await _manager(tmp_path, replicated=True)
    fetched = []

    async def follow():
        fetched.append(await _fetch(manager, 0, replica_id=2, max_wait_ms=60_000))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(follow)
        await trio.testing.wait_all_tasks_blocked()
        assert fetched == []
        await _append(manager, acks=1)
        await trio.testing.wait_all_tasks_blocked()
    assert fetched[0].error_code == ErrorCode.NONE and len(fetched[0].records) > 0


async def test_a_waiting_fetch_answers_empty_when_max_wait_passes(tmp_path, autojump_clock):
    manager = await _manager(tmp_path)
    result = await _fetch(manager, 0, max_wait_ms=500)
    assert result.error_code == ErrorCode.NONE and result.records == b""


async def test_losing_leadership_wakes_a_waiting_fetch_with_an_error(tmp_path):
    manager = await _manager(tmp_path)
    fetched = []

    async def consume():
        fetched.append(await _fetch(manager, 0, max_wait_ms=60_000))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(consume)
        await trio.testing.wait_all_tasks_blocked()
        manager.get_partition(*TP).make_follower(2, 1, [2], [1, 2], 0)
        await trio.testing.wait_all_tasks_blocked()
    assert fetched[0].error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER


async def test_a_fetch_past_the_log_end_answers_out_of_range_with_the_bounds(tmp_path):
    manager = await _manager(tmp_path)
    await _append(manager)
    result = await _fetch(manager, 5)
    assert result.error_code == ErrorCode.OFFSET_OUT_OF_RANGE
    assert (result.log_start_offset, result.high_watermark) == (0, 1)
