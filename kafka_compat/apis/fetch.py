"""Fetch: v0-17

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
    v2 batches read are down-converted (codec kept) to magic 0 (v0-1) or magic 1
    (v2-3, KIP-32 timestamps) messages with their offsets, from the fetch offset on
    (the records before it in the first batch are left out, as Kafka); control batches
    (transaction markers) are dropped, as is a truncated trailing batch; a
    partition whose topic has message.downconversion.enable=false answers
    UNSUPPORTED_VERSION instead of records (none read: an empty answer) · v3 MaxBytes ·
    v4 LastStableOffset, AbortedTransactions · v5 LogStartOffset · v7 fetch
    sessions · v9 CurrentLeaderEpoch (FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH) ·
    v10 zstd: below it a consumer gets UNSUPPORTED_COMPRESSION_TYPE (and no records)
    for a topic whose compression.type is zstd, as Kafka ·
    v11 RackId, PreferredReadReplica, reads from followers · v12 flexible · v13
    topics named by TopicId (KIP-516): resolved through the broker's metadata (an
    unknown id: UNKNOWN_TOPIC_ID for its partitions; a partition whose log belongs to
    another id: INCONSISTENT_TOPIC_ID), answered by id; sessions opened with ids are
    keyed by id and must be continued with v13+ (else FETCH_SESSION_TOPIC_ID_ERROR),
    and the reverse · v14 same (no tiered storage) · v15 ReplicaState (the follower's
    id; its epoch is not checked: ZooKeeper brokers have no registration epoch) ·
    v16 NOT_LEADER_OR_FOLLOWER carries CurrentLeader and the leader's NodeEndpoints
    (KIP-951) · v17 ReplicaDirectoryId ignored (KRaft).
Left out: the fetch session metrics.
"""

from __future__ import annotations

from kafka_compat.apis.registry import RequestContext, api
from kafka_compat.fetch_session import FetchContext
from kafka_compat.replica import FetchIsolation
from kafka_compat.security.acl_types import AclOperation, ResourceType
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode
from protocol.legacy_records import down_convert

FetchResponse = messages.response_type(ApiKey.FETCH)
TopicResponse = FetchResponse.FetchableTopicResponse
PartitionData = FetchResponse.PartitionData
AbortedTransaction = FetchResponse.AbortedTransaction
NodeEndpoint = FetchResponse.NodeEndpoint
LeaderIdAndEpoch = FetchResponse.LeaderIdAndEpoch
READ_COMMITTED = 1
# Fetch v0-3 read the old message formats: magic 0 up to v1, magic 1 up to v3.
FORMAT_V2_MIN_VERSION = 4
ZSTD_MIN_VERSION = 10
# error, high watermark, last stable offset, log start offset (Kafka's partitionResponse)
ZSTD_REFUSED = (ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, -1, -1, -1)
TOPIC_ID_MIN_VERSION = 13  # topics named by id (KIP-516)
REPLICA_STATE_MIN_VERSION = 15  # the follower's id in ReplicaState (KIP-903)
CURRENT_LEADER_MIN_VERSION = 16  # KIP-951
ZERO_UUID = bytes(16)


@api(ApiKey.FETCH, 0, 17)
async def handle_fetch(ctx: RequestContext, request):
    version = ctx.version
    uses_ids = version >= TOPIC_ID_MIN_VERSION
    # The request's own FetchPartition objects carry what the replica manager reads;
    # a v13+ request names its topics by id, which is then their key in a session.
    if uses_ids:
        wanted = [(topic.topic_id, p) for topic in request.topics for p in topic.partitions]
        forgotten_topics = [(t.topic_id, t) for t in request.forgotten_topics_data]
    else:
        wanted = [(topic.topic, p) for topic in request.topics for p in topic.partitions]
        forgotten_topics = [(t.topic, t) for t in request.forgotten_topics_data]
    if version >= REPLICA_STATE_MIN_VERSION:
        state = request.replica_state
        replica_id = -1 if state is None else state.replica_id
    else:
        replica_id = request.replica_id
    sessions = ctx.components.fetch_sessions
    if sessions is None or version < 7:
        context = FetchContext(wanted)
    else:
        forgotten = [(key, index) for key, t in forgotten_topics for index in t.partitions]
        context = sessions.new_context(
            request.session_id,
            request.session_epoch,
            wanted,
            forgotten,
            replica_id >= 0,
            uses_ids,
        )
        if context.error_code:
            return FetchResponse(error_code=context.error_code, session_id=0, responses=[])
        wanted = context.wanted  # an incremental fetch reads the whole session
    # KIP-392: a consumer that sends client metadata (v11+) may read from followers.
    follower_reads = replica_id < 0 and version >= 11
    denied = None
    if ctx.components.authorizer is not None:
        denied = _unauthorized(ctx, wanted, replica_id, uses_ids)
    if denied and all(topic in denied for topic, _ in wanted):
        results = [_DENIED] * len(wanted)  # nothing to read (or wait for)
    elif uses_ids:
        results = await _fetch_by_topic_id(ctx, request, wanted, replica_id, follower_reads)
    else:
        results = await _read(ctx, request, wanted, replica_id, follower_reads)
    if denied:
        for i, (topic, _) in enumerate(wanted):
            if topic in denied:
                results[i] = _DENIED
    error_code, session_id, selected = context.respond(results)
    if selected is None:
        selected = range(len(wanted))
    responses = []
    answers = None
    last_topic = None
    not_leader = []
    for i in selected:
        topic, want = wanted[i]
        error, high_watermark, stable, log_start, preferred, records, aborted = results[i]
        if version < ZSTD_MIN_VERSION and replica_id < 0 and _zstd_topic(ctx, topic, want):
            # Kafka's maybeConvertFetchedData: a client older than zstd reads nothing
            # of a topic whose compression.type is zstd.
            error, high_watermark, stable, log_start = ZSTD_REFUSED
            preferred, records, aborted = -1, b"", None
        elif records and version < FORMAT_V2_MIN_VERSION:
            error, records = _down_convert(ctx, topic, want, records)
        if aborted:
            aborted = [AbortedTransaction(producer_id=a[0], first_offset=a[1]) for a in aborted]
        if topic != last_topic:  # consecutive partitions of a topic share its entry
            answers = []
            if uses_ids:
                responses.append(TopicResponse(topic_id=topic, partitions=answers))
            else:
                responses.append(TopicResponse(topic=topic, partitions=answers))
            last_topic = topic
        data = PartitionData(
            partition_index=want.partition,
            error_code=error,
            high_watermark=high_watermark,
            last_stable_offset=stable,
            log_start_offset=log_start,
            aborted_transactions=aborted,
            preferred_read_replica=preferred,
            records=records,
        )
        if error == ErrorCode.NOT_LEADER_OR_FOLLOWER and version >= CURRENT_LEADER_MIN_VERSION:
            not_leader.append((topic, data))
        answers.append(data)
    response = FetchResponse(error_code=error_code, session_id=session_id, responses=responses)
    if not_leader:
        _add_current_leaders(ctx, not_leader, response)
    return response


_DENIED = (ErrorCode.TOPIC_AUTHORIZATION_FAILED, -1, -1, -1, -1, b"", None)


def _unauthorized(ctx: RequestContext, wanted, replica_id: int, by_id: bool) -> set:
    """Kafka's checks: a follower needs CLUSTER_ACTION, a consumer READ on the topic;
    the topics (names or ids, as `wanted` has them) that answer
    TOPIC_AUTHORIZATION_FAILED."""
    if replica_id >= 0:
        return set() if ctx.authorize_inter_broker() else {topic for topic, _ in wanted}
    names = {topic: topic for topic, _ in wanted}
    if by_id:
        ids = {t.topic_id: t.name for t in ctx.store.topics.values()}
        names = {topic: ids.get(topic, "") for topic in names}
    readable = ctx.authorized(AclOperation.READ, ResourceType.TOPIC, names.values())
    return {topic for topic, name in names.items() if name not in readable}


async def _read(ctx: RequestContext, request, wanted, replica_id: int, follower_reads: bool):
    return await ctx.replica_manager.fetch_records(
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


def topic_names_by_id(ctx: RequestContext) -> dict[bytes, str]:
    """The topics this broker knows, by topic id (Kafka's metadataCache.topicIdsToNames):
    a cluster's from the controller's UpdateMetadata, a single node's from its store."""
    if ctx.cluster is not None:
        return {topic_id: name for name, topic_id in ctx.metadata_cache.topic_ids.items()}
    return {t.topic_id: name for name, t in ctx.store.topics.items() if t.topic_id}


async def _fetch_by_topic_id(
    ctx: RequestContext, request, wanted, replica_id: int, follower_reads: bool
) -> list:
    """Fetch v13+: read the partitions whose topic id names a topic this broker knows;
    the others answer UNKNOWN_TOPIC_ID, and a partition whose log carries another
    topic id (the topic was re-created) INCONSISTENT_TOPIC_ID, without reading."""
    names = topic_names_by_id(ctx)
    results: list = [None] * len(wanted)
    readable = []
    positions = []
    for i, (topic_id, want) in enumerate(wanted):
        name = names.get(topic_id) if topic_id != ZERO_UUID else None
        if name is None:
            results[i] = _error_result(ErrorCode.UNKNOWN_TOPIC_ID)
            continue
        partition = ctx.replica_manager.get_partition(name, want.partition)
        # A RemoteLog (a partition hosted elsewhere) has no id.
        log_id = None if partition is None else getattr(partition.log, "topic_id", None)
        if log_id is not None and log_id != ZERO_UUID and log_id != topic_id:
            results[i] = _error_result(ErrorCode.INCONSISTENT_TOPIC_ID)
            continue
        readable.append((name, want))
        positions.append(i)
    if readable:
        read = await _read(ctx, request, readable, replica_id, follower_reads)
        for i, result in zip(positions, read, strict=True):
            results[i] = result
    return results


def _error_result(error: int) -> tuple:
    # (error, high watermark, last stable offset, log start, preferred replica, records,
    # aborted transactions): the shape of ReplicaManager.fetch_records' results.
    return (error, -1, -1, -1, -1, b"", None)


def _add_current_leaders(ctx: RequestContext, not_leader, response) -> None:
    """KIP-951 (v16+): a partition answered NOT_LEADER_OR_FOLLOWER names the leader
    this broker knows and its epoch, and the response carries that leader's endpoint,
    so the client fetches there without a metadata round trip (Kafka's
    KafkaApis.handleFetch)."""
    cache = ctx.metadata_cache
    names = None
    endpoints = {}
    for topic, data in not_leader:
        if isinstance(topic, bytes):
            if names is None:
                names = topic_names_by_id(ctx)
            topic = names.get(topic)
        state = None if topic is None else cache.topics.get(topic, {}).get(data.partition_index)
        if state is None:
            data.current_leader = LeaderIdAndEpoch(leader_id=-1, leader_epoch=-1)
            continue
        data.current_leader = LeaderIdAndEpoch(
            leader_id=state.leader, leader_epoch=state.leader_epoch
        )
        broker = cache.brokers.get(state.leader)
        if broker is not None:
            broker = broker.on(ctx.session.listener)
        if broker is not None:
            endpoints[broker.broker_id] = NodeEndpoint(
                node_id=broker.broker_id, host=broker.host, port=broker.port, rack=broker.rack
            )
    response.node_endpoints = list(endpoints.values())


def _zstd_topic(ctx: RequestContext, topic: str, want) -> bool:
    partition = ctx.replica_manager.get_partition(topic, want.partition)
    return partition is not None and partition.compression_type == "zstd"


def _down_convert(ctx: RequestContext, topic: str, want, records) -> tuple[int, bytes]:
    """Fetch v0-3: the records in the format the version reads (Kafka's
    KafkaApis.maybeConvertFetchedData), or UNSUPPORTED_VERSION where the topic forbids
    down-conversion."""
    partition = ctx.replica_manager.get_partition(topic, want.partition)
    if partition is not None and not partition.downconversion_enabled:
        return ErrorCode.UNSUPPORTED_VERSION, b""
    magic = 0 if ctx.version < 2 else 1
    return ErrorCode.NONE, down_convert(records, magic, want.fetch_offset)
