"""Replication between brokers.

OffsetForLeaderEpoch: v0-4
    Behavior: the leader answers, for a leader epoch, the end offset of that epoch
    in its log (the start offset of the next larger epoch, or the log end offset for
    the current one) and the largest epoch at or below the one asked for, from the
    log's leader-epoch cache; an epoch older than the log's first answers
    UNDEFINED_EPOCH (-1) with offset -1. A follower truncates its log there before it
    fetches (KIP-101/279). Only the leader answers (NOT_LEADER_OR_FOLLOWER), and a
    stale or future CurrentLeaderEpoch is FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH.
    Version notes: v1 LeaderEpoch in the answer (v0 has only the end offset) · v2
    CurrentLeaderEpoch · v3 ReplicaId · v4 flexible.
LeaderAndIsr: v0-7 (from the controller)
    Behavior: per partition, this broker becomes leader (new leader epoch, ISR) or
    follower of the named leader (truncation by leader epoch, then fetching); see
    replica_manager.py. A request from an older controller epoch is refused with
    STALE_CONTROLLER_EPOCH; a partition state with an older leader epoch is ignored.
UpdateMetadata: v0-8 (from the controller)
    Behavior: replaces the metadata cache's live brokers and the named partitions'
    states (cluster/metadata_cache.py); a leader of -2 (LeaderDuringDelete) removes
    the partition. STALE_CONTROLLER_EPOCH for an older controller.
StopReplica: v0-4 (from the controller)
    Behavior: stops fetching or leading the partitions; deletes their logs when asked.
    A single node (no ZooKeeper, no controller) answers LeaderAndIsr, UpdateMetadata
    and StopReplica with STALE_CONTROLLER_EPOCH and changes nothing.
ControlledShutdown: v0-3 (to the controller)
    Behavior: the controller moves the leadership of the broker's partitions to
    other ISR members and answers the partitions it could not move; a broker that
    is not the controller answers NOT_CONTROLLER.
"""

from __future__ import annotations

from kafka_compat.apis.registry import RequestContext, api
from kafka_compat.cluster.metadata_cache import BrokerEndpoint, PartitionState
from kafka_compat.cluster.store import NotController
from kafka_compat.security.acl_types import AclOperation, ResourceType
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode
from storage.errors import LogError

OffsetForLeaderEpochResponse = messages.response_type(ApiKey.OFFSET_FOR_LEADER_EPOCH)
EpochEndOffset = OffsetForLeaderEpochResponse.EpochEndOffset
TopicResult = OffsetForLeaderEpochResponse.OffsetForLeaderTopicResult

UNDEFINED_EPOCH = -1
UNDEFINED_OFFSET = -1


def end_offset_for_epoch(partition, epoch: int) -> tuple[int, int]:
    """(epoch, end offset) from the leader's log; (-1, -1) when unknown."""
    found = partition.end_offset_for_epoch(epoch)
    if found is None:
        return UNDEFINED_EPOCH, UNDEFINED_OFFSET
    return tuple(found)


@api(ApiKey.OFFSET_FOR_LEADER_EPOCH, 0, 4)
async def handle_offset_for_leader_epoch(ctx: RequestContext, request):
    topics = []
    # Kafka's checks: a follower (v3+ replica id) needs CLUSTER_ACTION, a client
    # DESCRIBE on the topic.
    denied_code = ErrorCode.CLUSTER_AUTHORIZATION_FAILED
    if ctx.components.authorizer is None:
        allowed = {t.topic for t in request.topics}
    elif ctx.version >= 3 and request.replica_id >= 0:
        allowed = {t.topic for t in request.topics} if ctx.authorize_inter_broker() else set()
    else:
        denied_code = ErrorCode.TOPIC_AUTHORIZATION_FAILED
        names = (t.topic for t in request.topics)
        allowed = ctx.authorized(AclOperation.DESCRIBE, ResourceType.TOPIC, names)
    for topic in request.topics:
        results = []
        for wanted in topic.partitions:
            result = EpochEndOffset(
                partition=wanted.partition,
                leader_epoch=UNDEFINED_EPOCH,
                end_offset=UNDEFINED_OFFSET,
            )
            partition = ctx.replica_manager.get_partition(topic.topic, wanted.partition)
            if topic.topic not in allowed:
                result.error_code = denied_code
            elif partition is None:
                result.error_code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            else:
                try:
                    partition.check_leader()
                    partition.check_epoch(wanted.current_leader_epoch)
                    result.leader_epoch, result.end_offset = end_offset_for_epoch(
                        partition, wanted.leader_epoch
                    )
                except LogError as exc:
                    result.error_code = exc.error_code
            results.append(result)
        topics.append(TopicResult(topic=topic.topic, partitions=results))
    return OffsetForLeaderEpochResponse(topics=topics)


# ---- from the controller ----

UpdateMetadataResponse = messages.response_type(ApiKey.UPDATE_METADATA)
StopReplicaResponse = messages.response_type(ApiKey.STOP_REPLICA)
LeaderAndIsrResponse = messages.response_type(ApiKey.LEADER_AND_ISR)
ControlledShutdownResponse = messages.response_type(ApiKey.CONTROLLED_SHUTDOWN)
LEADER_DURING_DELETE = -2


@api(ApiKey.LEADER_AND_ISR, 0, 7)
async def handle_leader_and_isr(ctx: RequestContext, request):
    if not ctx.authorize_inter_broker():
        return LeaderAndIsrResponse(error_code=ErrorCode.CLUSTER_AUTHORIZATION_FAILED)
    if ctx.cluster is None:
        # A single node has no controller: nobody may move its partitions.
        return LeaderAndIsrResponse(error_code=ErrorCode.STALE_CONTROLLER_EPOCH)
    return ctx.replica_manager.become_leader_or_follower(request, ctx.version)


@api(ApiKey.UPDATE_METADATA, 0, 8)
async def handle_update_metadata(ctx: RequestContext, request):
    if not ctx.authorize_inter_broker():
        return UpdateMetadataResponse(error_code=ErrorCode.CLUSTER_AUTHORIZATION_FAILED)
    cache = ctx.metadata_cache
    if ctx.cluster is None or request.controller_epoch < cache.controller_epoch:
        return UpdateMetadataResponse(error_code=ErrorCode.STALE_CONTROLLER_EPOCH)
    brokers = []
    inter_broker = ctx.config.inter_broker_listener
    for b in request.live_brokers:
        listeners = None
        if ctx.version == 0:
            host, port = b.v0_host, b.v0_port
        elif b.endpoints:
            # v3+ names each endpoint's listener: brokers are reached on the
            # inter-broker one, clients on their own.
            listeners = {e.listener.upper(): (e.host, e.port) for e in b.endpoints}
            if ctx.version < 3 or len(listeners) == 1:
                listeners = None
                host, port = b.endpoints[0].host, b.endpoints[0].port
            else:
                host, port = listeners.get(inter_broker, (b.endpoints[0].host, b.endpoints[0].port))
        else:
            continue
        brokers.append(
            BrokerEndpoint(b.id, host, port, b.rack if ctx.version >= 2 else None, listeners)
        )
    if ctx.version >= 5:
        states = [
            (t.topic_name, getattr(t, "topic_id", None), s)
            for t in request.topic_states
            for s in t.partition_states
        ]
    else:
        states = [(s.topic_name, None, s) for s in request.ungrouped_partition_states]
    updates = []
    for topic, topic_id, s in states:
        if s.leader == LEADER_DURING_DELETE:
            updates.append((topic, topic_id, s.partition_index, None))
            continue
        state = PartitionState(
            s.leader,
            s.leader_epoch,
            list(s.isr),
            list(s.replicas),
            s.zk_version,
            list(s.offline_replicas) if ctx.version >= 4 else [],
        )
        updates.append((topic, topic_id, s.partition_index, state))
    cache.update(request.controller_id, request.controller_epoch, brokers, updates)
    ctx.replica_manager.on_metadata_update(updates)
    # The partitions of deleted topics: their offsets leave this broker's groups (Kafka)
    deleted = [(topic, index) for topic, _id, index, state in updates if state is None]
    if deleted and ctx.group_coordinator is not None:
        ctx.group_coordinator.on_partitions_deleted(deleted)
    return UpdateMetadataResponse()


@api(ApiKey.STOP_REPLICA, 0, 4)
async def handle_stop_replica(ctx: RequestContext, request):
    if not ctx.authorize_inter_broker():
        return StopReplicaResponse(error_code=ErrorCode.CLUSTER_AUTHORIZATION_FAILED)
    manager = ctx.replica_manager
    if ctx.cluster is None or request.controller_epoch < manager.controller_epoch:
        return StopReplicaResponse(error_code=ErrorCode.STALE_CONTROLLER_EPOCH)
    if ctx.version == 0:
        wanted = [
            (p.topic_name, p.partition_index, request.delete_partitions)
            for p in request.ungrouped_partitions
        ]
    elif ctx.version <= 2:
        wanted = [
            (t.name, index, request.delete_partitions)
            for t in request.topics
            for index in t.partition_indexes
        ]
    else:
        wanted = [
            (t.topic_name, p.partition_index, p.delete_partition)
            for t in request.topic_states
            for p in t.partition_states
        ]
    Error = StopReplicaResponse.StopReplicaPartitionError
    errors = []
    for topic, index, delete in wanted:
        error = manager.stop_replica(topic, index, delete)
        errors.append(Error(topic_name=topic, partition_index=index, error_code=error))
    return StopReplicaResponse(partition_errors=errors)


@api(ApiKey.CONTROLLED_SHUTDOWN, 0, 3)
async def handle_controlled_shutdown(ctx: RequestContext, request):
    if not ctx.authorize_inter_broker():
        return ControlledShutdownResponse(error_code=ErrorCode.CLUSTER_AUTHORIZATION_FAILED)
    controller = ctx.controller
    try:
        if controller is None:
            raise NotController
        remaining = await controller.controlled_shutdown(request.broker_id)
    except NotController:
        return ControlledShutdownResponse(error_code=ErrorCode.NOT_CONTROLLER)
    return ControlledShutdownResponse(
        remaining_partitions=[
            ControlledShutdownResponse.RemainingPartition(topic_name=t, partition_index=i)
            for t, i in remaining
        ]
    )
