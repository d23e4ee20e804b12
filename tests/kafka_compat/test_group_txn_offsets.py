"""Transactional offset commits in the group coordinator (KIP-98, KIP-447), driven
directly over a real data dir (see test_group_coordinator.py for `running`).

A TxnOffsetCommit writes the offsets in a transactional batch of the producer and
keeps them pending; the transaction coordinator's marker, appended to
__consumer_offsets and reported with `complete_txn_offsets`, commits or drops them.
Loading the partition replays the same rule from the log.
"""

from __future__ import annotations

import trio

from kafka_compat.groups.records import OffsetKey, decode_key
from protocol.errors import ErrorCode
from protocol.records import build_end_txn_marker, decode_batch, iter_batch_headers
from storage.log import AppendOrigin
from tests.kafka_compat.test_group_coordinator import (
    form_group,
    offset,
    running,
    state,
)

NONE = ErrorCode.NONE
UNSTABLE = ErrorCode.UNSTABLE_OFFSET_COMMIT
TP = ("topic", 0)
PID, EPOCH = 1000, 3


async def txn_commit(coordinator, offsets, *, group="g", pid=PID, epoch=EPOCH, member="", gen=-1):
    return await coordinator.txn_commit_offsets(group, pid, epoch, member, None, gen, offsets)


async def append_marker(coordinator, group="g", *, commit: bool, pid=PID, epoch=EPOCH):
    """What the WriteTxnMarkers handler does for __consumer_offsets: append the
    marker as the coordinator, then tell the group coordinator."""
    index = coordinator.partition_for(group)
    key = ("__consumer_offsets", index)
    marker = build_end_txn_marker(
        commit=commit, producer_id=pid, producer_epoch=epoch, coordinator_epoch=0, timestamp=0
    )
    replica_manager = coordinator.manager.offsets_topic.replica_manager
    result = await replica_manager.append_records(
        {key: marker}, required_acks=-1, timeout_ms=5000, origin=AppendOrigin.COORDINATOR
    )
    assert result[key].error_code == NONE
    return index


def fetched(coordinator, group="g", tp=TP, *, stable=False):
    error, offsets = coordinator.fetch_offsets(group, [tp], stable)
    assert error == NONE
    value = offsets[tp]
    return value if value is None or isinstance(value, int) else value.offset


async def test_pending_offsets_are_committed_by_the_commit_marker(tmp_path, autojump_clock):
    async with running(tmp_path) as coordinator:
        assert await coordinator.commit_offsets("g", "", None, -1, {TP: offset(5)}) == {TP: NONE}
        assert await txn_commit(coordinator, {TP: offset(10, "txn")}) == {TP: NONE}
        assert fetched(coordinator) == 5
        assert fetched(coordinator, stable=True) == UNSTABLE
        assert fetched(coordinator, tp=("topic", 1), stable=True) is None
        index = await append_marker(coordinator, commit=True)
        coordinator.complete_txn_offsets(PID, {index}, True)
        assert fetched(coordinator) == 10
        assert fetched(coordinator, stable=True) == 10
        assert coordinator.fetch_offsets("g", [TP])[1][TP].metadata == "txn"


async def test_pending_offsets_vanish_on_abort(tmp_path, autojump_clock):
    async with running(tmp_path) as coordinator:
        await coordinator.commit_offsets("g", "", None, -1, {TP: offset(5)})
        await txn_commit(coordinator, {TP: offset(10), ("topic", 1): offset(11)})
        index = await append_marker(coordinator, commit=False)
        coordinator.complete_txn_offsets(PID, {index}, False)
        assert fetched(coordinator, stable=True) == 5
        assert fetched(coordinator, tp=("topic", 1), stable=True) is None


async def test_a_marker_on_another_partition_leaves_the_offsets_pending(tmp_path, autojump_clock):
    async with running(tmp_path) as coordinator:
        await txn_commit(coordinator, {TP: offset(10)})
        other = (coordinator.partition_for("g") + 1) % 5
        coordinator.complete_txn_offsets(PID, {other}, True)
        coordinator.complete_txn_offsets(PID + 1, {coordinator.partition_for("g")}, True)
        assert fetched(coordinator, stable=True) == UNSTABLE


async def test_a_commit_written_later_wins_over_the_transaction(tmp_path, autojump_clock):
    """Kafka's rule: a completed transactional commit replaces the committed offset
    only if it is newer in the log."""
    async with running(tmp_path) as coordinator:
        await txn_commit(coordinator, {TP: offset(10)})
        await coordinator.commit_offsets("g", "", None, -1, {TP: offset(20)})
        index = await append_marker(coordinator, commit=True)
        coordinator.complete_txn_offsets(PID, {index}, True)
        assert fetched(coordinator, stable=True) == 20
    async with running(tmp_path) as coordinator:
        assert fetched(coordinator, stable=True) == 20


async def test_the_batch_is_transactional_and_carries_the_producer(tmp_path, autojump_clock):
    async with running(tmp_path) as coordinator:
        await txn_commit(coordinator, {TP: offset(10)})
        log = coordinator.manager.offsets_topic.log(coordinator.partition_for("g"))
        data = log.read(log.log_start_offset, 1 << 20).records
        (pos, header), *_ = [(p, h) for p, h in iter_batch_headers(data) if h.producer_id == PID]
        assert header.is_transactional and not header.is_control
        assert header.producer_epoch == EPOCH
        (record,) = decode_batch(memoryview(data)[pos : pos + header.size])[1]
        assert decode_key(record.key) == OffsetKey("g", *TP)


async def test_loading_replays_pending_offsets_and_markers(tmp_path, autojump_clock):
    async with running(tmp_path) as coordinator:
        await coordinator.commit_offsets("committed", "", None, -1, {TP: offset(1)})
        await txn_commit(coordinator, {TP: offset(2)}, group="committed", pid=1)
        await append_marker(coordinator, "committed", commit=True, pid=1)
        await coordinator.commit_offsets("aborted", "", None, -1, {TP: offset(1)})
        await txn_commit(coordinator, {TP: offset(2)}, group="aborted", pid=2)
        await append_marker(coordinator, "aborted", commit=False, pid=2)
        await txn_commit(coordinator, {TP: offset(3)}, group="open", pid=3)
        # The broker stops before any complete_txn_offsets: the log decides.
    async with running(tmp_path) as coordinator:
        assert fetched(coordinator, "committed", stable=True) == 2
        assert fetched(coordinator, "aborted", stable=True) == 1
        assert fetched(coordinator, "open", stable=True) == UNSTABLE
        assert fetched(coordinator, "open") is None
        assert state(coordinator, "open") == "Empty"
        # Still pending after the load: the coordinator's marker completes it.
        index = await append_marker(coordinator, "open", commit=True, pid=3)
        coordinator.complete_txn_offsets(3, {index}, True)
        assert fetched(coordinator, "open", stable=True) == 3
    async with running(tmp_path) as coordinator:
        assert fetched(coordinator, "open", stable=True) == 3


async def test_kip_447_checks_the_member_and_generation(tmp_path, autojump_clock):
    async with running(tmp_path) as coordinator:
        (m1,), generation = await form_group(coordinator, 1)
        offsets = {TP: offset(7)}
        assert await txn_commit(coordinator, offsets, member=m1, gen=generation + 1) == {
            TP: ErrorCode.ILLEGAL_GENERATION
        }
        assert await txn_commit(coordinator, offsets, member="nobody", gen=generation) == {
            TP: ErrorCode.UNKNOWN_MEMBER_ID
        }
        assert await txn_commit(coordinator, offsets, member=m1, gen=generation) == {TP: NONE}
        # v0-2 name no member: allowed even while the group has members.
        assert await txn_commit(coordinator, offsets, pid=PID + 1) == {TP: NONE}
        # A group that does not exist: a producer may commit for it.
        assert await txn_commit(coordinator, offsets, group="nogroup") == {TP: NONE}


async def test_a_fenced_static_member_cannot_commit(tmp_path, autojump_clock):
    async with running(tmp_path) as coordinator:
        (m1,), generation = await form_group(coordinator, 1, instances=["i1"])
        errors = await coordinator.txn_commit_offsets(
            "g", PID, EPOCH, "old-member-id", "i1", generation, {TP: offset(7)}
        )
        assert errors == {TP: ErrorCode.FENCED_INSTANCE_ID}
        errors = await coordinator.txn_commit_offsets(
            "g", PID, EPOCH, m1, "i1", generation, {TP: offset(7)}
        )
        assert errors == {TP: NONE}


async def test_too_large_metadata_is_refused_per_partition(tmp_path, autojump_clock):
    async with running(tmp_path, offset_metadata_max_bytes=10) as coordinator:
        big, small = ("topic", 1), TP
        errors = await txn_commit(coordinator, {big: offset(1, "x" * 11), small: offset(2)})
        assert errors == {big: ErrorCode.OFFSET_METADATA_TOO_LARGE, small: NONE}


async def test_an_older_producer_epoch_is_fenced(tmp_path, autojump_clock):
    async with running(tmp_path) as coordinator:
        assert await txn_commit(coordinator, {TP: offset(1)}, epoch=5) == {TP: NONE}
        errors = await txn_commit(coordinator, {TP: offset(2)}, epoch=4)
        assert errors == {TP: ErrorCode.INVALID_PRODUCER_EPOCH}


async def test_pending_offsets_keep_the_group_from_expiring(tmp_path, autojump_clock):
    async with running(tmp_path, offsets_retention_minutes=1) as coordinator:
        await coordinator.commit_offsets("g", "", None, -1, {TP: offset(1)})
        await txn_commit(coordinator, {("topic", 1): offset(2)})
        await trio.sleep(120)
        await coordinator.expire_offsets()
        # The committed offset expired; the group stays for its pending transaction.
        assert fetched(coordinator) is None
        assert state(coordinator) == "Empty"
        index = await append_marker(coordinator, commit=False)
        coordinator.complete_txn_offsets(PID, {index}, False)
        await coordinator.expire_offsets()
        assert state(coordinator) == "Dead"


async def test_deleting_an_empty_group_drops_its_pending_offsets(tmp_path, autojump_clock):
    """As Kafka: DeleteGroups takes an empty group even with a transaction open; the
    marker that follows finds no group."""
    async with running(tmp_path) as coordinator:
        await coordinator.commit_offsets("g", "", None, -1, {TP: offset(1)})
        await txn_commit(coordinator, {TP: offset(2)})
        assert await coordinator.delete_groups(["g"]) == {"g": NONE}
        index = await append_marker(coordinator, commit=True)
        coordinator.complete_txn_offsets(PID, {index}, True)
        assert fetched(coordinator, stable=True) is None
        assert state(coordinator) == "Dead"


async def test_a_reloaded_partition_finds_its_producers_again(tmp_path, autojump_clock):
    async with running(tmp_path) as coordinator:
        await txn_commit(coordinator, {TP: offset(2)})
        index = coordinator.partition_for("g")
        coordinator.unload_partition(index)
        coordinator.complete_txn_offsets(PID, {index}, True)  # the group is not here
        await coordinator.load_partition(index)
        # The load found the offsets pending, and which producer they wait for.
        assert fetched(coordinator, stable=True) == UNSTABLE
        await append_marker(coordinator, commit=True)
        coordinator.complete_txn_offsets(PID, {index}, True)
        assert fetched(coordinator, stable=True) == 2


async def test_a_marker_written_while_the_partition_loads_is_replayed(tmp_path, autojump_clock):
    """complete_txn_offsets finds no group while its partition loads; the load reads
    to the log end as it grows, marker included."""
    async with running(tmp_path, offsets_load_buffer_size=1) as coordinator:
        for i in range(50):  # one chunk each: the load yields between them
            await coordinator.commit_offsets("g", "", None, -1, {("topic", 1): offset(i)})
        await txn_commit(coordinator, {TP: offset(7)})
        index = coordinator.partition_for("g")
        coordinator.unload_partition(index)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(coordinator.load_partition, index)
            while not coordinator.manager.is_group_loading("g"):
                await trio.sleep(0)
            await append_marker(coordinator, commit=True)
            coordinator.complete_txn_offsets(PID, {index}, True)
            assert coordinator.manager.is_group_loading("g")
        assert fetched(coordinator, stable=True) == 7
