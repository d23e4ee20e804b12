"""ListOffsets: v1-7

Behavior: timestamp -1 answers the latest offset (high watermark; under
    read_committed the last stable offset: the first offset of the oldest
    transaction still open or whose marker is not yet replicated), -2 the log start
    offset, -3 the record with the largest timestamp, a timestamp >= 0 the first
    offset whose record timestamp is at or after it (time index, then the batch's
    records), or offset -1 if none is (below the high watermark, or the LSO under
    read_committed). Only the partition's leader answers
    (NOT_LEADER_OR_FOLLOWER elsewhere; FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH for
    a stale or future CurrentLeaderEpoch). A new leader whose high watermark has not
    yet reached its log end offset at election answers OFFSET_NOT_AVAILABLE for the
    latest offset (KIP-207; clients retry).
Version notes: v1 single offset · v2 IsolationLevel · v4 CurrentLeaderEpoch, LeaderEpoch
    · v6 flexible · v7 max timestamp (-3).
Left out: v0 (removed in Kafka 4.0); v8+ (tiered storage specs).
"""

from __future__ import annotations

from kafka_compat.apis.registry import RequestContext, api
from kafka_compat.replica import FetchIsolation
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode
from storage.errors import LogError

ListOffsetsResponse = messages.response_type(ApiKey.LIST_OFFSETS)
TopicResponse = ListOffsetsResponse.ListOffsetsTopicResponse
PartitionResponse = ListOffsetsResponse.ListOffsetsPartitionResponse

LATEST = -1
READ_COMMITTED = 1


@api(ApiKey.LIST_OFFSETS, 1, 7)
async def handle_list_offsets(ctx: RequestContext, request):
    isolation = (
        FetchIsolation.TXN_COMMITTED
        if ctx.version >= 2 and request.isolation_level == READ_COMMITTED
        else FetchIsolation.HIGH_WATERMARK
    )
    topics = []
    for topic in request.topics:
        results = []
        for wanted in topic.partitions:
            partition = ctx.replica_manager.get_partition(topic.name, wanted.partition_index)
            if partition is None:
                results.append(
                    PartitionResponse(
                        partition_index=wanted.partition_index,
                        error_code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                    )
                )
                continue
            try:
                partition.check_leader()
                partition.check_epoch(wanted.current_leader_epoch)
                offset, timestamp = _lookup(partition, wanted.timestamp, isolation)
            except LogError as exc:
                results.append(
                    PartitionResponse(
                        partition_index=wanted.partition_index, error_code=exc.error_code
                    )
                )
                continue
            results.append(
                PartitionResponse(
                    partition_index=wanted.partition_index,
                    offset=offset,
                    timestamp=timestamp,
                    leader_epoch=partition.leader_epoch,
                )
            )
        topics.append(TopicResponse(name=topic.name, partitions=results))
    return ListOffsetsResponse(topics=topics)


def _lookup(partition, timestamp: int, isolation: FetchIsolation) -> tuple[int, int]:
    if timestamp == LATEST:
        return partition.latest_offset(isolation), -1
    found = partition.offset_for_timestamp(timestamp, isolation)
    if found is None:
        return -1, -1
    return found.offset, found.timestamp
