"""Fetch: v4-12

Behavior: consumers read whole record batches up to the high watermark, from the
    leader (NOT_LEADER_OR_FOLLOWER elsewhere) or, with v11+ and a CurrentLeaderEpoch
    (KIP-392), from any broker holding a replica, up to its own high watermark
    (OFFSET_NOT_AVAILABLE, retriable, past its log end). With
    replica.selector.class=...RackAwareReplicaSelector the leader answers a consumer
    whose RackId names another replica's rack (and not its own) with that replica as
    PreferredReadReplica (the caught-up one with the most data) and no records; the
    client then fetches from it. A follower's fetch (replica_id >=
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
    PreferredReadReplica, reads from followers · v12 flexible.
Left out: fetch sessions (KIP-227), v13+ (topic ids), read_committed beyond HW
    (no transactions yet, so the last stable offset is the high watermark).
"""

from __future__ import annotations

import trio

from kafka_compat.apis import RequestContext, api
from kafka_compat.replica import OffsetNotAvailable
from protocol import messages
from protocol.errors import ErrorCode
from storage.errors import LogError

FetchResponse = messages.response_type(1)
TopicResponse = FetchResponse.FetchableTopicResponse
PartitionData = FetchResponse.PartitionData
EMPTY = b""
RACK_AWARE_SELECTOR = "org.apache.kafka.common.replica.RackAwareReplicaSelector"


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
    # KIP-392: a consumer that sends client metadata (v11+) may read from followers.
    consumer_v11 = replica_id < 0 and ctx.version >= 11
    selector = None
    if (
        consumer_v11
        and request.rack_id
        and broker.config["replica.selector.class"] == (RACK_AWARE_SELECTOR)
    ):
        selector = _RackSelector(broker, request.rack_id)
    deadline = trio.current_time() + request.max_wait_ms / 1000
    while True:
        responses, total_bytes, has_error = _read(
            wanted, request.max_bytes, replica_id >= 0, consumer_v11, selector
        )
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


class _RackSelector:
    """Kafka's RackAwareReplicaSelector: the leader if it is in the client's rack,
    else the replica there whose log end offset is highest (and covers the fetch)."""

    def __init__(self, broker, client_rack: str):
        self.brokers = broker.metadata_cache.brokers
        self.local_id = broker.node_id
        self.client_rack = client_rack

    def preferred(self, partition, fetch_offset: int) -> int:
        """Another replica to read from, or -1 for this leader."""
        if self._rack(self.local_id) == self.client_rack:
            return -1
        candidates = [
            (follower.log_end_offset, replica)
            for replica, follower in partition.followers.items()
            if self._rack(replica) == self.client_rack and follower.log_end_offset >= fetch_offset
        ]
        return max(candidates)[1] if candidates else -1

    def _rack(self, broker_id: int) -> str | None:
        endpoint = self.brokers.get(broker_id)
        return endpoint.rack if endpoint is not None else None


def _read(wanted, max_bytes: int, from_follower: bool, follower_reads: bool, selector):
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
            high_watermark = log_start_offset = preferred = -1
            try:
                on_follower = (
                    follower_reads
                    and not partition.is_leader
                    and request_part.current_leader_epoch >= 0  # stale clients get fenced
                )
                if not on_follower:
                    partition.check_leader()
                partition.check_epoch(request_part.current_leader_epoch)
                if on_follower and request_part.fetch_offset > partition.log.log_end_offset:
                    # Behind the consumer: not an offset to reset from, wait (retriable).
                    raise OffsetNotAvailable(f"{partition}: this replica is behind the offset")
                high_watermark = partition.high_watermark
                log_start_offset = partition.log_start_offset
                if selector is not None and partition.is_leader:
                    preferred = selector.preferred(partition, request_part.fetch_offset)
                if preferred < 0:  # else no records: the client reads from `preferred`
                    records = partition.log.read(
                        request_part.fetch_offset,
                        min(request_part.partition_max_bytes, remaining),
                        None if from_follower else high_watermark,
                        min_one_batch=total == 0,
                    ).records
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
                    preferred_read_replica=preferred,
                    records=records,
                )
            )
        responses.append(TopicResponse(topic=name, partitions=results))
    return responses, total, has_error
