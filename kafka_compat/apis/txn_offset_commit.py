"""Offsets committed inside a transaction, kept by the group coordinator.

TxnOffsetCommit: v0-4
    Behavior: a transactional producer commits its consumer's offsets to the group
    coordinator (after AddOffsetsToTxn). The offsets are written to
    __consumer_offsets in a transactional batch of the producer (its id and epoch)
    and stay pending: OffsetFetch does not show them (with RequireStable the
    partition answers UNSTABLE_OFFSET_COMMIT) until the transaction coordinator's
    COMMIT marker makes them committed, or its ABORT marker drops them. A group that
    does not exist is allowed (a producer may commit for a group without members).
    KIP-447 (v3+): a generation id, member id or group.instance.id given is checked
    against the group: ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID.
    Unknown topic or partition: UNKNOWN_TOPIC_OR_PARTITION; metadata longer than
    offset.metadata.max.bytes: OFFSET_METADATA_TOO_LARGE; a fenced producer epoch:
    INVALID_PRODUCER_EPOCH (from the append); NOT_COORDINATOR,
    COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE as for OffsetCommit.
    Version notes: v0-1 answer COORDINATOR_NOT_AVAILABLE for
    COORDINATOR_LOAD_IN_PROGRESS (clients before 2.0 crash on it, KAFKA-7296) ·
    v2 CommittedLeaderEpoch · v3 flexible, GenerationId, MemberId, GroupInstanceId
    (KIP-447) · v4 same (KIP-890 errors).
    KIP-890 (transaction.partition.verification.enable): before the first write of a
    transaction, the transaction coordinator must have the group's __consumer_offsets
    partition in the producer's ongoing transaction (AddOffsetsToTxn), else every
    partition answers INVALID_TXN_STATE (INVALID_PRODUCER_EPOCH when fenced,
    COORDINATOR_NOT_AVAILABLE while the coordinator cannot answer), as Kafka's
    GroupCoordinator does.
Left out: authorization (TRANSACTIONAL_ID / GROUP / TOPIC ACLs).
"""

from __future__ import annotations

from kafka_compat.apis.registry import RequestContext, api
from kafka_compat.groups.records import OffsetAndMetadata
from kafka_compat.security.acl_types import AclOperation, ResourceType
from kafka_compat.topics import OFFSETS_TOPIC
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

TxnOffsetCommitResponse = messages.response_type(ApiKey.TXN_OFFSET_COMMIT)


def _authorize(ctx: RequestContext, request) -> tuple[int, set[str]]:
    """Kafka's checks: WRITE on the transactional id, READ on the group (an error for
    every partition), READ on each topic (the topics that pass)."""
    tid = request.transactional_id
    if not ctx.authorize(AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, tid):
        return ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, set()
    if not ctx.authorize(AclOperation.READ, ResourceType.GROUP, request.group_id):
        return ErrorCode.GROUP_AUTHORIZATION_FAILED, set()
    names = (t.name for t in request.topics)
    return 0, ctx.authorized(AclOperation.READ, ResourceType.TOPIC, names)


@api(ApiKey.TXN_OFFSET_COMMIT, 0, 4)
async def handle_txn_offset_commit(ctx: RequestContext, request):
    now = ctx.group_coordinator.time_ms()
    order: list[tuple[str, int]] = []
    errors: dict[tuple[str, int], int] = {}
    offsets: dict[tuple[str, int], OffsetAndMetadata] = {}
    refused, readable = _authorize(ctx, request)
    for topic in request.topics:
        metadata = ctx.admin.topic(topic.name)
        for p in topic.partitions:
            tp = (topic.name, p.partition_index)
            order.append(tp)
            if refused or topic.name not in readable:
                errors[tp] = refused or ErrorCode.TOPIC_AUTHORIZATION_FAILED
            elif metadata is None or not 0 <= p.partition_index < metadata.partitions:
                errors[tp] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            else:
                offsets[tp] = OffsetAndMetadata(
                    offset=p.committed_offset,
                    leader_epoch=p.committed_leader_epoch,
                    metadata=p.committed_metadata or "",
                    commit_timestamp=now,
                )
    if offsets and ctx.components.txn_verifier is not None:
        refused = await _verify(ctx, request)
        if refused:
            errors.update(dict.fromkeys(offsets, refused))
            offsets = {}
    if offsets:
        errors.update(
            await ctx.group_coordinator.txn_commit_offsets(
                request.group_id,
                request.producer_id,
                request.producer_epoch,
                request.member_id,
                request.group_instance_id,
                request.generation_id,
                offsets,
            )
        )
    if ctx.version < 2:
        for tp, error in errors.items():
            if error == ErrorCode.COORDINATOR_LOAD_IN_PROGRESS:
                errors[tp] = ErrorCode.COORDINATOR_NOT_AVAILABLE
    by_topic: dict[str, list] = {}
    Partition = TxnOffsetCommitResponse.TxnOffsetCommitResponsePartition
    for topic, partition in order:
        by_topic.setdefault(topic, []).append(
            Partition(partition_index=partition, error_code=errors[(topic, partition)])
        )
    Topic = TxnOffsetCommitResponse.TxnOffsetCommitResponseTopic
    return TxnOffsetCommitResponse(
        topics=[Topic(name=name, partitions=partitions) for name, partitions in by_topic.items()]
    )


async def _verify(ctx: RequestContext, request) -> int:
    """KIP-890: the error when the coordinator does not have the group's partition in
    the ongoing transaction (NONE when it does, or was already asked)."""
    verifier = ctx.components.txn_verifier
    key = (OFFSETS_TOPIC, ctx.group_coordinator.partition_for(request.group_id))
    producer_id, epoch = request.producer_id, request.producer_epoch
    # A partition not created yet (the group's first commit) is checked too.
    hosted = ctx.replica_manager.get_partition(*key) is not None
    if hosted and not verifier.needs_verification(key, producer_id, epoch):
        return ErrorCode.NONE
    refused = await verifier.verify(request.transactional_id, producer_id, epoch, [key])
    error = refused.get(key, ErrorCode.NONE)
    # Kafka's maybeConvertOffsetCommitError: the produce-side retriable answer.
    return ErrorCode.COORDINATOR_NOT_AVAILABLE if error == ErrorCode.NOT_ENOUGH_REPLICAS else error
