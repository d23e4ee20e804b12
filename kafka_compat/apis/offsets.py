"""Committed offsets, kept by the group coordinator in __consumer_offsets.

OffsetCommit: v0-9
    Behavior: members commit with their generation and member id (checked:
    ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID, REBALANCE_IN_PROGRESS
    while the group completes a rebalance); members of a KIP-848 group with their
    member epoch, v9+ (STALE_MEMBER_EPOCH when it is not the current one,
    UNKNOWN_MEMBER_ID, UNSUPPORTED_VERSION below v9; epoch -1 only while the group
    has no members); generation -1 without a member id is a
    simple consumer, allowed while the group has no members. Metadata strings are
    kept as given (null is stored as ""); longer than offset.metadata.max.bytes:
    OFFSET_METADATA_TOO_LARGE. A partition of a topic that does not exist:
    UNKNOWN_TOPIC_OR_PARTITION. One append per request (offset commit key v1,
    value v3; v1 when RetentionTimeMs gives the offset its own expiry).
    Version notes: v0 no group membership: the offsets go to the metadata store
    (ZooKeeper's /consumers/<group>/offsets/<topic>/<partition> in cluster mode, as
    Kafka 3.9's commitOffsetsToZookeeper; the data dir's metadata file on a single
    node), not to the group coordinator: only OffsetFetch v0 reads them back; metadata
    is checked for size, not kept · v1 GenerationIdOrMemberEpoch, MemberId,
    CommitTimestamp (-1: now; else the commit's time, from which retention counts) ·
    v2-4 RetentionTimeMs · v3 ThrottleTimeMs · v6 CommittedLeaderEpoch
    · v7 GroupInstanceId · v8 flexible.
OffsetFetch: v0-9
    Behavior: the committed offset, leader epoch and metadata per partition; -1 and ""
    for partitions without one; topics null (v2+) asks for everything the group
    committed. v1 reports a group error on each partition, v2+ at the top, v8+ per
    group. While the group's partition loads: COORDINATOR_LOAD_IN_PROGRESS.
    Version notes: v0 reads what OffsetCommit v0 stored (the metadata store, not the
    coordinator): offset and "" metadata, or offset -1 with UNKNOWN_TOPIC_OR_PARTITION
    for a partition without one or of an unknown topic (Kafka 3.9's
    handleOffsetFetchRequestFromZookeeper) · v2 null topics, ErrorCode · v3 ThrottleTimeMs
    · v5 CommittedLeaderEpoch
    · v6 flexible · v7 RequireStable: a partition with a pending commit (transactional
    offsets whose transaction has not ended, or a commit being written) answers
    UNSTABLE_OFFSET_COMMIT with offset -1 (without it: the last committed offset) · v8
    several groups · v9 MemberId/MemberEpoch (KIP-848: a member of a consumer group must
    be known and at its current epoch, else UNKNOWN_MEMBER_ID / STALE_MEMBER_EPOCH;
    epoch -1 is an admin; ignored for classic groups).
OffsetDelete: v0
    Behavior (KIP-496): removes committed offsets of an empty group, or of topics a
    consumer group does not subscribe to (else GROUP_SUBSCRIBED_TO_TOPIC); tombstones
    in __consumer_offsets. GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP (non-consumer groups).
Left out: OffsetCommit/OffsetFetch v10 (topic ids, KIP-848; Kafka 4.x). TxnOffsetCommit is
txn_offset_commit.py.
"""

from __future__ import annotations

from kafka_compat.apis.registry import RequestContext, api
from kafka_compat.cluster.store import StoreError
from kafka_compat.groups.records import OffsetAndMetadata
from kafka_compat.security.acl_types import AclOperation, ResourceType
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

OffsetCommitResponse = messages.response_type(ApiKey.OFFSET_COMMIT)
OffsetFetchResponse = messages.response_type(ApiKey.OFFSET_FETCH)
OffsetDeleteResponse = messages.response_type(ApiKey.OFFSET_DELETE)

DEFAULT_RETENTION_TIME = -1
NO_OFFSET = -1
NO_TIMESTAMP = -1


def _by_topic(items):
    """[((topic, partition), x)] -> [(topic, [(partition, x)])], in first-seen order."""
    grouped: dict[str, list] = {}
    for (topic, partition), x in items:
        grouped.setdefault(topic, []).append((partition, x))
    return list(grouped.items())


# ---- OffsetCommit ----


@api(ApiKey.OFFSET_COMMIT, 0, 9)
async def handle_offset_commit(ctx: RequestContext, request):
    if ctx.components.authorizer is None:
        return await _offset_commit(ctx, request)
    # Kafka's checks: READ on the group (else GROUP_AUTHORIZATION_FAILED for every
    # partition), READ on each topic (else TOPIC_AUTHORIZATION_FAILED; the rest commit).
    wanted = [(t.name, p.partition_index) for t in request.topics for p in t.partitions]
    if not ctx.authorize(AclOperation.READ, ResourceType.GROUP, request.group_id):
        return _commit_response([(tp, ErrorCode.GROUP_AUTHORIZATION_FAILED) for tp in wanted])
    readable = ctx.authorized(AclOperation.READ, ResourceType.TOPIC, (t for t, _ in wanted))
    denied = [(tp, ErrorCode.TOPIC_AUTHORIZATION_FAILED) for tp in wanted if tp[0] not in readable]
    request.topics = [t for t in request.topics if t.name in readable]
    response = await _offset_commit(ctx, request)
    if denied:
        response.topics.extend(_commit_response(denied).topics)
    return response


async def _offset_commit(ctx: RequestContext, request):
    if ctx.version == 0:
        return await _commit_to_store(ctx, request)
    coordinator = ctx.group_coordinator
    now = coordinator.time_ms()
    retention = request.retention_time_ms if ctx.version <= 4 else DEFAULT_RETENTION_TIME
    expire = now + retention if retention != DEFAULT_RETENTION_TIME else -1
    order = []
    errors: dict[tuple[str, int], int] = {}
    offsets: dict[tuple[str, int], OffsetAndMetadata] = {}
    for topic in request.topics:
        for p in topic.partitions:
            tp = (topic.name, p.partition_index)
            order.append(tp)
            if ctx.replica_manager.get_partition(topic.name, p.partition_index) is None:
                errors[tp] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            else:
                offsets[tp] = OffsetAndMetadata(
                    offset=p.committed_offset,
                    leader_epoch=p.committed_leader_epoch,
                    metadata=p.committed_metadata or "",
                    # v1's CommitTimestamp, when given, is the commit's time.
                    commit_timestamp=now
                    if p.commit_timestamp == NO_TIMESTAMP
                    else p.commit_timestamp,
                    expire_timestamp=expire,
                )
    if offsets:
        errors.update(
            await coordinator.commit_offsets(
                request.group_id,
                request.member_id,
                request.group_instance_id,
                request.generation_id_or_member_epoch,
                offsets,
                api_version=ctx.version,
            )
        )
    return _commit_response([(tp, errors[tp]) for tp in order])


def _commit_response(results: list[tuple[tuple[str, int], int]]):
    Topic = OffsetCommitResponse.OffsetCommitResponseTopic
    Partition = OffsetCommitResponse.OffsetCommitResponsePartition
    return OffsetCommitResponse(
        topics=[
            Topic(
                name=name,
                partitions=[Partition(partition_index=p, error_code=e) for p, e in partitions],
            )
            for name, partitions in _by_topic(results)
        ]
    )


async def _commit_to_store(ctx: RequestContext, request):
    """v0: each offset to the metadata store, as Kafka 3.9 writes them to ZooKeeper."""
    max_metadata = ctx.config["offset.metadata.max.bytes"]
    results = []
    for topic in request.topics:
        for p in topic.partitions:
            tp = (topic.name, p.partition_index)
            if ctx.replica_manager.get_partition(*tp) is None:
                error = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            elif p.committed_metadata is not None and len(p.committed_metadata) > max_metadata:
                error = ErrorCode.OFFSET_METADATA_TOO_LARGE
            else:
                try:
                    await ctx.store.set_consumer_offset(request.group_id, *tp, p.committed_offset)
                    error = ErrorCode.NONE
                except StoreError:
                    error = ErrorCode.REQUEST_TIMED_OUT  # ZooKeeper unreachable: retriable
            results.append((tp, error))
    return _commit_response(results)


# ---- OffsetFetch ----


@api(ApiKey.OFFSET_FETCH, 0, 9)
async def handle_offset_fetch(ctx: RequestContext, request):
    if ctx.components.authorizer is None:
        return await _offset_fetch(ctx, request)

    # Kafka's checks: DESCRIBE on the group (GROUP_AUTHORIZATION_FAILED), DESCRIBE on
    # each topic (TOPIC_AUTHORIZATION_FAILED when named; left out of "all topics").
    def allowed(group: str) -> bool:
        return ctx.authorize(AclOperation.DESCRIBE, ResourceType.GROUP, group)

    denied_code = ErrorCode.GROUP_AUTHORIZATION_FAILED
    if ctx.version >= 8:
        refused = [g.group_id for g in request.groups if not allowed(g.group_id)]
        request.groups = [g for g in request.groups if g.group_id not in refused]
        named = {g.group_id: g.topics is not None for g in request.groups}
        response = await _offset_fetch(ctx, request)
        Group = OffsetFetchResponse.OffsetFetchResponseGroup
        response.groups.extend(Group(group_id=g, error_code=denied_code) for g in refused)
        for group in response.groups:
            _hide_topics(ctx, group.topics, named=named.get(group.group_id, True))
        return response
    if not allowed(request.group_id):
        if ctx.version >= 2:
            return OffsetFetchResponse(error_code=denied_code)
        Topic = OffsetFetchResponse.OffsetFetchResponseTopic
        Partition = OffsetFetchResponse.OffsetFetchResponsePartition
        return OffsetFetchResponse(
            topics=[
                Topic(
                    name=t.name,
                    partitions=[_partition(Partition, p, denied_code) for p in t.partition_indexes],
                )
                for t in request.topics or ()
            ]
        )
    response = await _offset_fetch(ctx, request)
    _hide_topics(ctx, response.topics, named=request.topics is not None)
    return response


def _hide_topics(ctx: RequestContext, topics: list, named: bool) -> None:
    names = {t.name for t in topics}
    visible = ctx.authorized(AclOperation.DESCRIBE, ResourceType.TOPIC, names)
    if not named:
        topics[:] = [t for t in topics if t.name in visible]
        return
    for t in topics:
        if t.name not in visible:
            for p in t.partitions:
                p.committed_offset, p.metadata = NO_OFFSET, ""
                p.error_code = ErrorCode.TOPIC_AUTHORIZATION_FAILED


async def _offset_fetch(ctx: RequestContext, request):
    if ctx.version == 0:
        return await _fetch_from_store(ctx, request)
    coordinator = ctx.group_coordinator
    stable = ctx.version >= 7 and request.require_stable
    if ctx.version >= 8:
        return OffsetFetchResponse(
            groups=[
                _fetch_group(
                    coordinator,
                    group.group_id,
                    group.topics,
                    stable,
                    group.member_id if ctx.version >= 9 else None,
                    group.member_epoch if ctx.version >= 9 else -1,
                )
                for group in request.groups
            ]
        )
    wanted = _wanted(request.topics)
    error, offsets = coordinator.fetch_offsets(request.group_id, wanted, stable)
    Topic = OffsetFetchResponse.OffsetFetchResponseTopic
    Partition = OffsetFetchResponse.OffsetFetchResponsePartition
    if error:
        if ctx.version >= 2:
            return OffsetFetchResponse(error_code=error)
        # v1 has no top-level error: it goes on every partition asked for.
        offsets = dict.fromkeys(wanted or ())
    return OffsetFetchResponse(
        topics=[
            Topic(
                name=name,
                partitions=[
                    _partition(Partition, p, committed, error if ctx.version < 2 else 0)
                    for p, committed in partitions
                ],
            )
            for name, partitions in _by_topic(offsets.items())
        ]
    )


def _wanted(topics) -> list[tuple[str, int]] | None:
    if topics is None:
        return None
    return [(t.name, p) for t in topics for p in t.partition_indexes]


def _partition(cls, index: int, committed: OffsetAndMetadata | int | None, error: int = 0):
    """`committed` None: nothing committed; an int: the partition's error."""
    if isinstance(committed, int):
        error, committed = committed, None
    if committed is None:
        return cls(
            partition_index=index,
            committed_offset=NO_OFFSET,
            committed_leader_epoch=-1,
            metadata="",
            error_code=error,
        )
    return cls(
        partition_index=index,
        committed_offset=committed.offset,
        committed_leader_epoch=committed.leader_epoch,
        metadata=committed.metadata,
        error_code=error,
    )


def _fetch_group(
    coordinator, group_id: str, topics, require_stable: bool, member_id, member_epoch: int
):
    error, offsets = coordinator.fetch_offsets(
        group_id, _wanted(topics), require_stable, member_id, member_epoch
    )
    Group = OffsetFetchResponse.OffsetFetchResponseGroup
    Topic = OffsetFetchResponse.OffsetFetchResponseTopics
    Partition = OffsetFetchResponse.OffsetFetchResponsePartitions
    if error:
        return Group(group_id=group_id, error_code=error)
    return Group(
        group_id=group_id,
        topics=[
            Topic(name=name, partitions=[_partition(Partition, p, c) for p, c in partitions])
            for name, partitions in _by_topic(offsets.items())
        ],
    )


async def _fetch_from_store(ctx: RequestContext, request):
    """v0: what OffsetCommit v0 kept in the metadata store."""
    Topic = OffsetFetchResponse.OffsetFetchResponseTopic
    Partition = OffsetFetchResponse.OffsetFetchResponsePartition
    found = []
    for tp in _wanted(request.topics) or ():
        offset = None
        error = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        if ctx.replica_manager.get_partition(*tp) is not None:
            try:
                offset = await ctx.store.get_consumer_offset(request.group_id, *tp)
            except StoreError:
                error = ErrorCode.REQUEST_TIMED_OUT
        if offset is None:
            found.append(
                (
                    tp,
                    Partition(
                        partition_index=tp[1],
                        committed_offset=NO_OFFSET,
                        metadata="",
                        error_code=error,
                    ),
                )
            )
        else:
            found.append(
                (tp, Partition(partition_index=tp[1], committed_offset=offset, metadata=""))
            )
    return OffsetFetchResponse(
        topics=[
            Topic(name=name, partitions=[p for _, p in partitions])
            for name, partitions in _by_topic(found)
        ]
    )


# ---- OffsetDelete ----


@api(ApiKey.OFFSET_DELETE, 0, 0)
async def handle_offset_delete(ctx: RequestContext, request):
    if not ctx.authorize(AclOperation.DELETE, ResourceType.GROUP, request.group_id):
        return OffsetDeleteResponse(error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED)
    readable = ctx.authorized(
        AclOperation.READ, ResourceType.TOPIC, (t.name for t in request.topics)
    )
    order = []
    unknown = {}
    wanted = []
    for topic in request.topics:
        for p in topic.partitions:
            tp = (topic.name, p.partition_index)
            order.append(tp)
            if topic.name not in readable:
                unknown[tp] = ErrorCode.TOPIC_AUTHORIZATION_FAILED
            elif ctx.replica_manager.get_partition(*tp) is None:
                unknown[tp] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            else:
                wanted.append(tp)
    error, results = await ctx.group_coordinator.delete_offsets(request.group_id, wanted)
    if error:
        return OffsetDeleteResponse(error_code=error)
    results.update(unknown)
    Topic = OffsetDeleteResponse.OffsetDeleteResponseTopic
    Partition = OffsetDeleteResponse.OffsetDeleteResponsePartition
    return OffsetDeleteResponse(
        topics=[
            Topic(
                name=name,
                partitions=[Partition(partition_index=p, error_code=e) for p, e in partitions],
            )
            for name, partitions in _by_topic((tp, results[tp]) for tp in order)
        ]
    )
