"""ListOffsets: v0-9

Behavior: timestamp -1 answers the latest offset (high watermark; under
    read_committed the last stable offset: the first offset of the oldest
    transaction still open or whose marker is not yet replicated), -2 the log start
    offset, -3 the record with the largest timestamp, a timestamp >= 0 the first
    offset whose record timestamp is at or after it (time index, then the batch's
    records), or offset -1 if none is (below the high watermark, or the LSO under
    read_committed). The leader epoch answered is the current one for -1, the
    epoch of the log start for -2, the record's batch's for the others (-1 if
    unknown), as Kafka's UnifiedLog. Only the partition's leader answers
    (NOT_LEADER_OR_FOLLOWER elsewhere; FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH for
    a stale or future CurrentLeaderEpoch), except to a debugging client (replica id
    -2), which any replica answers. A replica id other than -1 (a broker, or -2) is
    bounded by the log end offset instead of the high watermark, without isolation
    level, as Kafka. A new leader whose high watermark has not
    yet reached its log end offset at election answers OFFSET_NOT_AVAILABLE for the
    latest offset (KIP-207; clients retry; LEADER_NOT_AVAILABLE below v5). A special
    timestamp newer than the version (-3 below v7, -4 below v8, -5 below v9, any other
    negative one): UNSUPPORTED_VERSION; a partition named twice: INVALID_REQUEST (v1+).
Version notes: v0 MaxNumOffsets and OldStyleOffsets: up to that many offsets, newest
    first, from the segments' base offsets and the log end offset, starting at the
    newest segment last modified at or before the timestamp (-1: the log end, -2:
    the log start); a consumer's list (replica id -1) starts at most at the high
    watermark (Kafka's legacyFetchOffsetsBefore) · v1 single offset · v2
    IsolationLevel · v4 CurrentLeaderEpoch, LeaderEpoch · v5 OFFSET_NOT_AVAILABLE ·
    v6 flexible · v7 max timestamp (-3) · v8 earliest local (-4, KIP-405): the log
    start offset, as Kafka without tiered storage · v9 latest tiered (-5): offset -1,
    leader epoch -1 (nothing is tiered).
Left out: v10+ (TimeoutMs for remote storage; Kafka 4.x).
"""

from __future__ import annotations

from collections import Counter

from kafka_compat.apis.registry import RequestContext, api
from kafka_compat.replica import FetchIsolation
from kafka_compat.security.acl_types import AclOperation, ResourceType
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode
from storage.errors import LogError

ListOffsetsResponse = messages.response_type(ApiKey.LIST_OFFSETS)
TopicResponse = ListOffsetsResponse.ListOffsetsTopicResponse
PartitionResponse = ListOffsetsResponse.ListOffsetsPartitionResponse

LATEST = -1
EARLIEST = -2
READ_COMMITTED = 1
CONSUMER_REPLICA_ID = -1
DEBUGGING_REPLICA_ID = -2
# The first version that knows each special timestamp (Kafka's KafkaApis).
TIMESTAMP_MIN_VERSION = {-2: 1, -1: 1, -3: 7, -4: 8, -5: 9}


@api(ApiKey.LIST_OFFSETS, 0, 9)
async def handle_list_offsets(ctx: RequestContext, request):
    if ctx.components.authorizer is not None:
        # DESCRIBE on each topic, else TOPIC_AUTHORIZATION_FAILED (the rest answered).
        names = (t.name for t in request.topics)
        describable = ctx.authorized(AclOperation.DESCRIBE, ResourceType.TOPIC, names)
        denied = [t for t in request.topics if t.name not in describable]
        if denied:
            request.topics = [t for t in request.topics if t.name in describable]
            response = await handle_list_offsets(ctx, request)
            code = ErrorCode.TOPIC_AUTHORIZATION_FAILED
            response.topics.extend(
                TopicResponse(
                    name=t.name,
                    partitions=[
                        PartitionResponse(partition_index=p.partition_index, error_code=code)
                        for p in t.partitions
                    ],
                )
                for t in denied
            )
            return response
    if ctx.version == 0:
        return ListOffsetsResponse(topics=[_old_style(ctx, request, t) for t in request.topics])
    if request.replica_id != CONSUMER_REPLICA_ID:
        # A replica or a debugging client (-2) reads up to the log end (Kafka's
        # isolation None); only the debugging client may ask a follower.
        isolation = FetchIsolation.LOG_END
    elif ctx.version >= 2 and request.isolation_level == READ_COMMITTED:
        isolation = FetchIsolation.TXN_COMMITTED
    else:
        isolation = FetchIsolation.HIGH_WATERMARK
    leader_only = request.replica_id != DEBUGGING_REPLICA_ID
    named = Counter((t.name, p.partition_index) for t in request.topics for p in t.partitions)
    duplicates = {tp for tp, count in named.items() if count > 1}
    topics = []
    for topic in request.topics:
        results = []
        for wanted in topic.partitions:
            results.append(
                _partition_response(ctx, topic.name, wanted, isolation, leader_only, duplicates)
            )
        topics.append(TopicResponse(name=topic.name, partitions=results))
    return ListOffsetsResponse(topics=topics)


def _partition_response(
    ctx: RequestContext, topic: str, wanted, isolation, leader_only: bool, duplicates
):
    index = wanted.partition_index

    def error(code: int):
        return PartitionResponse(partition_index=index, error_code=code)

    if (topic, index) in duplicates:
        return error(ErrorCode.INVALID_REQUEST)
    timestamp = wanted.timestamp
    if timestamp < 0 and ctx.version < TIMESTAMP_MIN_VERSION.get(timestamp, 1 << 15):
        return error(ErrorCode.UNSUPPORTED_VERSION)
    partition = ctx.replica_manager.get_partition(topic, index)
    if partition is None:
        return error(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
    try:
        if leader_only:
            partition.check_leader()
        partition.check_epoch(wanted.current_leader_epoch)
        if timestamp == LATEST:
            offset, found_at, epoch = partition.latest_offset(isolation), -1, partition.leader_epoch
        else:
            found = partition.offset_for_timestamp(timestamp, isolation)
            if found is None:
                return PartitionResponse(partition_index=index)
            offset, found_at, epoch = found.offset, found.timestamp, found.leader_epoch
    except LogError as exc:
        code = exc.error_code
        if code == ErrorCode.OFFSET_NOT_AVAILABLE and ctx.version < 5:
            code = ErrorCode.LEADER_NOT_AVAILABLE
        return error(code)
    return PartitionResponse(
        partition_index=index,
        offset=offset,
        timestamp=found_at,
        leader_epoch=epoch if epoch >= 0 else -1,
    )


def _old_style(ctx: RequestContext, request, topic):
    """v0: a list of offsets per partition (Kafka's handleListOffsetRequestV0)."""
    results = []
    for wanted in topic.partitions:
        result = PartitionResponse(partition_index=wanted.partition_index)
        results.append(result)
        if wanted.timestamp < EARLIEST:
            # v0 knows only -1 and -2 among the special timestamps.
            result.error_code = ErrorCode.UNSUPPORTED_VERSION
            continue
        partition = ctx.replica_manager.get_partition(topic.name, wanted.partition_index)
        if partition is None:
            result.error_code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            continue
        try:
            if request.replica_id != DEBUGGING_REPLICA_ID:
                partition.check_leader()
            result.old_style_offsets = partition.legacy_offsets_before(
                wanted.timestamp,
                wanted.max_num_offsets,
                from_consumer=request.replica_id == CONSUMER_REPLICA_ID,
            )
        except LogError as exc:
            result.error_code = exc.error_code
    return TopicResponse(name=topic.name, partitions=results)
