"""Fetch: v0-12

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
    larger than the limits (KIP-74). A fetch short of min_bytes waits (no polling)
    until enough data became readable (a consumer wakes on high-watermark advances, a
    follower on appends, both on leadership changes) or max_wait_ms passed. An offset
    outside [log start, log end] answers OFFSET_OUT_OF_RANGE with the log start offset
    and high watermark. Empty partitions carry empty records,
    never null (librdkafka rejects a -1 MessageSetSize). read_committed
    (IsolationLevel 1) reads stop at the last stable offset (the first offset of the
    oldest transaction still open or whose marker is not yet replicated) and list the
    aborted transactions (producer id, first offset) overlapping the batches returned,
    from the segments' .txnindex (an empty list when none; null for read_uncommitted,
    as Kafka); aborted batches and markers are returned, clients drop them.
    Incremental fetch sessions (KIP-227, kafka_compat/fetch_session.py): epoch 0 is
    a full fetch that opens a session when the cache has room (its id in the
    response); epoch > 0 updates the session (its partitions, forgotten ones out) and
    reads all of it, waiting on all of it, but answers only partitions that changed
    (records, high watermark, log start offset, preferred replica, error); epoch -1
    is sessionless (closing the session named). Unknown session:
    FETCH_SESSION_ID_NOT_FOUND; wrong epoch: INVALID_FETCH_SESSION_EPOCH (top-level,
    no partitions, session id 0).
Version notes: v0-3 read message formats v0/v1 (protocol/legacy_records.py): the
    v2 batches read are down-converted, uncompressed, to magic 0 (v0-1) or magic 1
    (v2-3, KIP-32 timestamps) messages with their offsets, from the fetch offset on
    (the records before it in the first batch are left out, as Kafka); control batches
    (transaction markers) are dropped, as is a truncated trailing batch; a
    partition whose topic has message.downconversion.enable=false answers
    UNSUPPORTED_VERSION instead of records (none read: an empty answer) · v3 MaxBytes ·
    v4 LastStableOffset, AbortedTransactions · v5 LogStartOffset · v7 fetch
    sessions · v9 CurrentLeaderEpoch (FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH) ·
    v11 RackId, PreferredReadReplica, reads from followers · v12 flexible.
Left out: v13+ (topic ids, FETCH_SESSION_TOPIC_ID_ERROR), the fetch session metrics.
"""

from __future__ import annotations

from kafka_compat.apis.registry import RequestContext, api
from kafka_compat.fetch_session import FetchContext
from kafka_compat.replica import FetchIsolation
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode
from protocol.legacy_records import down_convert

FetchResponse = messages.response_type(ApiKey.FETCH)
TopicResponse = FetchResponse.FetchableTopicResponse
PartitionData = FetchResponse.PartitionData
AbortedTransaction = FetchResponse.AbortedTransaction
READ_COMMITTED = 1
# Fetch v0-3 read the old message formats: magic 0 up to v1, magic 1 up to v3.
FORMAT_V2_MIN_VERSION = 4


@api(ApiKey.FETCH, 0, 12)
async def handle_fetch(ctx: RequestContext, request):
    # The request's own FetchPartition objects carry what the replica manager reads.
    wanted = [(topic.topic, p) for topic in request.topics for p in topic.partitions]
    replica_id = request.replica_id
    sessions = ctx.components.fetch_sessions
    if sessions is None or ctx.version < 7:
        context = FetchContext(wanted)
    else:
        forgotten = [
            (topic.topic, index)
            for topic in request.forgotten_topics_data
            for index in topic.partitions
        ]
        context = sessions.new_context(
            request.session_id, request.session_epoch, wanted, forgotten, replica_id >= 0
        )
        if context.error_code:
            return FetchResponse(error_code=context.error_code, session_id=0, responses=[])
        wanted = context.wanted  # an incremental fetch reads the whole session
    # KIP-392: a consumer that sends client metadata (v11+) may read from followers.
    follower_reads = replica_id < 0 and ctx.version >= 11
    results = await ctx.replica_manager.fetch_records(
        wanted,
        replica_id=replica_id,
        max_wait_ms=request.max_wait_ms,
        min_bytes=request.min_bytes,
        max_bytes=request.max_bytes,
        isolation=(
            FetchIsolation.TXN_COMMITTED
            if request.isolation_level == READ_COMMITTED
            else FetchIsolation.HIGH_WATERMARK
        ),
        follower_reads=follower_reads,
        client_rack=request.rack_id if follower_reads else None,
    )
    error_code, session_id, selected = context.respond(results)
    if selected is None:
        selected = range(len(wanted))
    responses = []
    answers = None
    last_topic = None
    for i in selected:
        topic, want = wanted[i]
        error, high_watermark, stable, log_start, preferred, records, aborted = results[i]
        if records and ctx.version < FORMAT_V2_MIN_VERSION:
            error, records = _down_convert(ctx, topic, want, records)
        if aborted:
            aborted = [AbortedTransaction(producer_id=a[0], first_offset=a[1]) for a in aborted]
        if topic != last_topic:  # consecutive partitions of a topic share its entry
            answers = []
            responses.append(TopicResponse(topic=topic, partitions=answers))
            last_topic = topic
        answers.append(
            PartitionData(
                partition_index=want.partition,
                error_code=error,
                high_watermark=high_watermark,
                last_stable_offset=stable,
                log_start_offset=log_start,
                aborted_transactions=aborted,
                preferred_read_replica=preferred,
                records=records,
            )
        )
    return FetchResponse(error_code=error_code, session_id=session_id, responses=responses)


def _down_convert(ctx: RequestContext, topic: str, want, records) -> tuple[int, bytes]:
    """Fetch v0-3: the records in the format the version reads (Kafka's
    KafkaApis.maybeConvertFetchedData), or UNSUPPORTED_VERSION where the topic forbids
    down-conversion."""
    partition = ctx.replica_manager.get_partition(topic, want.partition)
    if partition is not None and not partition.downconversion_enabled:
        return ErrorCode.UNSUPPORTED_VERSION, b""
    magic = 0 if ctx.version < 2 else 1
    return ErrorCode.NONE, down_convert(records, magic, want.fetch_offset)
