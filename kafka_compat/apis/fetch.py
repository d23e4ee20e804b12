"""Fetch: v4-12

Behavior: consumers read whole record batches up to the high watermark, from the
    leader only (NOT_LEADER_OR_FOLLOWER elsewhere); a follower's fetch (replica_id >=
    0) reads up to the log end offset, and its fetch offset is that follower's log end
    offset for the leader's high watermark and ISR. Reads start with the
    batch that contains the fetch offset (clients skip the records below it).
    Honours max_bytes, each partition's partition_max_bytes, min_bytes and
    max_wait_ms; the first batch of the response is returned whole even when it is
    larger than the limits (KIP-74). A fetch short of min_bytes waits on the
    partitions' append events (no polling) until enough data arrived or max_wait_ms
    passed. An offset outside [log start, log end] answers OFFSET_OUT_OF_RANGE with
    the log start offset and high watermark. Empty partitions carry empty records,
    never null (librdkafka rejects a -1 MessageSetSize).
Version notes: v4 LastStableOffset, AbortedTransactions · v5 LogStartOffset · v7 fetch
    sessions (declined: session id 0, clients keep sending full fetches) · v9
    CurrentLeaderEpoch (FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH) · v11 RackId,
    PreferredReadReplica · v12 flexible.
Left out: fetch sessions (KIP-227), v13+ (topic ids), read_committed beyond HW
    (no transactions yet, so the last stable offset is the high watermark).
"""

from __future__ import annotations

import trio

from kafka_compat.apis import RequestContext, api
from protocol import messages
from protocol.errors import ErrorCode
from storage.errors import LogError

FetchResponse = messages.response_type(1)
TopicResponse = FetchResponse.FetchableTopicResponse
PartitionData = FetchResponse.PartitionData
EMPTY = b""


@api(1, 4, 12)
async def handle_fetch(ctx: RequestContext, request):
    broker = ctx.broker
    wanted = [
        (topic.topic, [(p, broker.partition(topic.topic, p.partition)) for p in topic.partitions])
        for topic in request.topics
    ]
    replica_id = request.replica_id
    if replica_id >= 0:
        # A follower: what it asks from is what it has; the leader's HW may move.
        for _, parts in wanted:
            for request_part, partition in parts:
                if partition is not None and partition.is_leader:
                    partition.update_follower(replica_id, request_part.fetch_offset)
                    broker.replica_manager.maybe_expand_isr(partition)
    deadline = trio.current_time() + request.max_wait_ms / 1000
    while True:
        responses, total_bytes, has_error = _read(wanted, request.max_bytes, replica_id >= 0)
        if total_bytes >= request.min_bytes or has_error or trio.current_time() >= deadline:
            return FetchResponse(responses=responses)
        # Not enough yet: wait for an append to any of the partitions, then read again.
        arrived = trio.Event()
        partitions = [part for _, parts in wanted for _, part in parts if part is not None]
        for partition in partitions:
            partition.add_waiter(arrived)
        try:
            with trio.move_on_at(deadline):
                await arrived.wait()
        finally:
            for partition in partitions:
                partition.remove_waiter(arrived)


def _read(wanted, max_bytes: int, from_follower: bool):
    remaining = max_bytes
    total = 0
    has_error = False
    responses = []
    for name, parts in wanted:
        results = []
        for request_part, partition in parts:
            index = request_part.partition
            if partition is None:
                has_error = True
                results.append(
                    PartitionData(
                        partition_index=index,
                        error_code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                        high_watermark=-1,
                        records=EMPTY,
                    )
                )
                continue
            error = ErrorCode.NONE
            records = EMPTY
            high_watermark = log_start_offset = -1
            try:
                partition.check_leader()
                partition.check_epoch(request_part.current_leader_epoch)
                high_watermark = partition.high_watermark
                log_start_offset = partition.log_start_offset
                data = partition.log.read(
                    request_part.fetch_offset,
                    min(request_part.partition_max_bytes, remaining),
                    None if from_follower else high_watermark,
                    min_one_batch=total == 0,
                )
                records = data.records
            except LogError as exc:  # OFFSET_OUT_OF_RANGE, KAFKA_STORAGE_ERROR
                error = exc.error_code
                has_error = True
            size = len(records)
            total += size
            remaining = max(0, remaining - size)
            results.append(
                PartitionData(
                    partition_index=index,
                    error_code=error,
                    high_watermark=high_watermark,
                    last_stable_offset=high_watermark,
                    log_start_offset=log_start_offset,
                    aborted_transactions=None,
                    records=records,
                )
            )
        responses.append(TopicResponse(topic=name, partitions=results))
    return responses, total, has_error
