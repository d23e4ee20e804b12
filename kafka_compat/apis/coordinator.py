"""FindCoordinator: v0-4

Behavior: a group's coordinator is the leader of its __consumer_offsets partition
    (Java String.hashCode of the group id, modulo the partition count); the topic is
    created on the first request for a group (offsets.topic.num.partitions, compacted),
    and COORDINATOR_NOT_AVAILABLE answers if that fails or the partition has no live
    leader yet. A transactional id's coordinator is likewise the leader of its
    __transaction_state partition (created on first use:
    transaction.state.log.num.partitions, compacted, at most as many replicas as live
    brokers). A single broker leads every partition, so it names itself (a cluster
    broker names the leader from its metadata cache). v4 answers each of the batched
    keys. Key types other than group (0) and
    transaction (1): INVALID_REQUEST.
Version notes: v1 KeyType, ErrorMessage, ThrottleTimeMs · v3 flexible · v4 batched
    CoordinatorKeys.
Left out: v5 (TRANSACTION_ABORTABLE), v6 (share groups).
"""

from __future__ import annotations

from kafka_compat.apis.registry import RequestContext, api
from kafka_compat.topics import OFFSETS_TOPIC, TRANSACTION_STATE_TOPIC
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

FindCoordinatorResponse = messages.response_type(ApiKey.FIND_COORDINATOR)

GROUP_KEY_TYPE = 0
TRANSACTION_KEY_TYPE = 1


@api(ApiKey.FIND_COORDINATOR, 0, 4)
async def handle_find_coordinator(ctx: RequestContext, request):
    keys = [request.key] if ctx.version < 4 else request.coordinator_keys
    found = [await _find(ctx, request.key_type, key) for key in keys]
    if ctx.version < 4:
        error, node_id, host, port = found[0]
        return FindCoordinatorResponse(
            error_code=error,
            error_message=None if error == ErrorCode.NONE else ErrorCode(error).name,
            node_id=node_id,
            host=host,
            port=port,
        )
    return FindCoordinatorResponse(
        coordinators=[
            FindCoordinatorResponse.Coordinator(
                key=key,
                node_id=node_id,
                host=host,
                port=port,
                error_code=error,
                error_message=None if error == ErrorCode.NONE else ErrorCode(error).name,
            )
            for key, (error, node_id, host, port) in zip(keys, found, strict=True)
        ]
    )


async def _find(ctx: RequestContext, key_type: int, key: str) -> tuple[int, int, str, int]:
    """(error, node id, host, port) of the coordinator for `key`."""
    if key_type == GROUP_KEY_TYPE:
        coordinator = ctx.group_coordinator
        error = await coordinator.ensure_offsets_topic()
        topic = OFFSETS_TOPIC
    elif key_type == TRANSACTION_KEY_TYPE:
        if not key:
            return ErrorCode.INVALID_REQUEST, -1, "", -1
        coordinator = ctx.txn_coordinator
        error = await coordinator.ensure_topic()
        topic = TRANSACTION_STATE_TOPIC
    else:
        return ErrorCode.INVALID_REQUEST, -1, "", -1
    if error:
        return error, -1, "", -1
    if ctx.cluster is not None:
        leader = ctx.metadata_cache.leader(topic, coordinator.partition_for(key))
        if leader is None:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE, -1, "", -1
        return ErrorCode.NONE, leader.broker_id, leader.host, leader.port
    return ErrorCode.NONE, ctx.node_id, ctx.components.host, ctx.components.port
