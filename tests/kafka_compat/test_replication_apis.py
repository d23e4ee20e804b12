"""OffsetForLeaderEpoch answers from the leader's epoch cache, and a follower's
truncation point follows Kafka's rule (KIP-101/279)."""

from __future__ import annotations

from types import SimpleNamespace

from kafka_compat.apis.replication import handle_offset_for_leader_epoch
from kafka_compat.replica import Partition
from kafka_compat.replica_fetcher import _truncation_offset
from protocol import messages
from protocol.errors import ErrorCode
from protocol.records import build_batch
from storage.log import AppendOrigin, Log
from storage.log_config import LogConfig

Request = messages.request_type(23)


def _batch(count: int = 1) -> bytearray:
    return bytearray(build_batch([(None, b"v", [], 1_700_000_000_000)] * count))


def _leader_with_epochs(tmp_path, name="t-0") -> Partition:
    """Epoch 0 wrote offsets 0-2, epoch 2 wrote 3-4; this broker (1) leads at epoch 2."""
    partition = Partition("t", 0, Log(tmp_path / name, LogConfig()), local_id=1)
    partition.make_leader(0, [1], [1], 0)
    partition.log.maybe_assign_epoch_start_offset(0)
    partition.append_to_leader(_batch(3), 1, AppendOrigin.CLIENT)
    partition.make_leader(2, [1], [1], 0)
    partition.log.maybe_assign_epoch_start_offset(2)
    partition.append_to_leader(_batch(2), 1, AppendOrigin.CLIENT)
    return partition


async def _ask(partition: Partition, epoch: int, current: int = -1):
    replicas = SimpleNamespace(
        get_partition=lambda topic, index: partition if topic == "t" else None
    )
    ctx = SimpleNamespace(
        replica_manager=replicas, version=4, components=SimpleNamespace(authorizer=None)
    )
    request = Request(
        replica_id=2,
        topics=[
            Request.OffsetForLeaderTopic(
                topic="t",
                partitions=[
                    Request.OffsetForLeaderPartition(
                        partition=0, current_leader_epoch=current, leader_epoch=epoch
                    )
                ],
            )
        ],
    )
    response = await handle_offset_for_leader_epoch(ctx, request)
    return response.topics[0].partitions[0]


async def test_the_end_of_an_older_epoch_is_the_start_of_the_next(tmp_path):
    partition = _leader_with_epochs(tmp_path)
    result = await _ask(partition, 0)
    assert (result.error_code, result.leader_epoch, result.end_offset) == (0, 0, 3)
    # Epoch 1 never wrote: the largest epoch at or below it is 0.
    result = await _ask(partition, 1)
    assert (result.leader_epoch, result.end_offset) == (0, 3)


async def test_the_current_epoch_ends_at_the_log_end(tmp_path):
    partition = _leader_with_epochs(tmp_path)
    result = await _ask(partition, 2)
    assert (result.leader_epoch, result.end_offset) == (2, 5)


async def test_a_stale_current_leader_epoch_is_fenced(tmp_path):
    partition = _leader_with_epochs(tmp_path)
    assert (await _ask(partition, 0, current=1)).error_code == ErrorCode.FENCED_LEADER_EPOCH
    assert (await _ask(partition, 0, current=3)).error_code == ErrorCode.UNKNOWN_LEADER_EPOCH


async def test_a_follower_does_not_answer(tmp_path):
    partition = _leader_with_epochs(tmp_path)
    partition.make_follower(3, 4, [3, 1], [3, 1], 0)
    assert (await _ask(partition, 0)).error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER


def test_a_follower_truncates_its_divergent_tail(tmp_path):
    """The follower wrote 2 records at epoch 0 that the new leader (epoch 1) never got:
    the leader says epoch 0 ended at 3, so the follower keeps offsets 0-2 only."""
    follower = _leader_with_epochs(tmp_path, "f-0")  # epochs 0 (0-2) and 2 (3-4)
    answer = SimpleNamespace(leader_epoch=2, end_offset=4)
    assert _truncation_offset(follower, 2, answer) == 4
    # The leader's largest epoch at or below ours is older: ours of it ends at 3.
    answer = SimpleNamespace(leader_epoch=0, end_offset=10)
    assert _truncation_offset(follower, 2, answer) == 3
    # The leader knows no such epoch: fall back to the high watermark.
    follower.high_watermark = 2
    answer = SimpleNamespace(leader_epoch=-1, end_offset=-1)
    assert _truncation_offset(follower, 2, answer) == 2
