"""Fetch: v4-12

Behavior: reads whole record batches up to the high watermark, starting with the
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
    CurrentLeaderEpoch · v11 RackId, PreferredReadReplica · v12 flexible.
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
    deadline = trio.current_time() + request.max_wait_ms / 1000
    while True:
        responses, total_bytes, has_error = _read(wanted, request.max_bytes)
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


def _read(wanted, max_bytes: int):
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
                high_watermark = partition.high_watermark
                log_start_offset = partition.log_start_offset
                data = partition.log.read(
                    request_part.fetch_offset,
                    min(request_part.partition_max_bytes, remaining),
                    high_watermark,
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
