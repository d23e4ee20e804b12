"""FindCoordinator: v0-6

Behavior: a group's coordinator is the leader of its __consumer_offsets partition
    (Java String.hashCode of the group id, modulo the partition count); the topic is
    created on the first request for a group (offsets.topic.num.partitions, compacted),
    and COORDINATOR_NOT_AVAILABLE answers if that fails or the partition has no live
    leader yet. A transactional id's coordinator is likewise the leader of its
    __transaction_state partition (created on first use:
    transaction.state.log.num.partitions, compacted, at most as many replicas as live
    brokers). A single broker leads every partition, so it names itself (a cluster
    broker names the leader from its metadata cache). v4+ answers each of the
    batched keys. A share group key (type 2): INVALID_REQUEST below v6,
    COORDINATOR_NOT_AVAILABLE from v6 (Kafka 3.9 has no share coordinator either).
    Other key types: INVALID_REQUEST. An error names no node (-1, "", -1).
Version notes: v1 KeyType, ErrorMessage ("NONE" on success, as Kafka), ThrottleTimeMs
    · v3 flexible · v4 batched CoordinatorKeys (no error message per key, as Kafka)
    · v5 same as v4 (may answer TRANSACTION_ABORTABLE, KIP-890; nothing here does)
    · v6 share group key type.
Left out: share groups (KIP-932).
"""

from __future__ import annotations

from kafka_compat.apis.registry import RequestContext, api
from kafka_compat.security.acl_types import AclOperation, ResourceType
from kafka_compat.topics import OFFSETS_TOPIC, TRANSACTION_STATE_TOPIC
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

FindCoordinatorResponse = messages.response_type(ApiKey.FIND_COORDINATOR)

GROUP_KEY_TYPE = 0
TRANSACTION_KEY_TYPE = 1
SHARE_KEY_TYPE = 2

# v1-3's ErrorMessage: Kafka's Errors.message(), which is "NONE" on success.
_MESSAGES = {
    ErrorCode.NONE: "NONE",
    ErrorCode.COORDINATOR_NOT_AVAILABLE: "The coordinator is not available.",
    ErrorCode.INVALID_REQUEST: "This most likely occurs because of a request being malformed "
    "by the client library or the message was sent to an incompatible broker. See the broker "
    "logs for more details.",
}


@api(ApiKey.FIND_COORDINATOR, 0, 6)
async def handle_find_coordinator(ctx: RequestContext, request):
    keys = [request.key] if ctx.version < 4 else request.coordinator_keys
    found = [await _find(ctx, request.key_type, key) for key in keys]
    if ctx.version < 4:
        error, node_id, host, port = found[0]
        return FindCoordinatorResponse(
            error_code=error,
            error_message=_MESSAGES.get(error, ErrorCode(error).name),
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
            )
            for key, (error, node_id, host, port) in zip(keys, found, strict=True)
        ]
    )


async def _find(ctx: RequestContext, key_type: int, key: str) -> tuple[int, int, str, int]:
    """(error, node id, host, port) of the coordinator for `key`."""
    if key_type == GROUP_KEY_TYPE:
        if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.GROUP, key):
            return ErrorCode.GROUP_AUTHORIZATION_FAILED, -1, "", -1
        coordinator = ctx.group_coordinator
        error = await coordinator.ensure_offsets_topic()
        topic = OFFSETS_TOPIC
    elif key_type == TRANSACTION_KEY_TYPE:
        if not key:
            return ErrorCode.INVALID_REQUEST, -1, "", -1
        if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.TRANSACTIONAL_ID, key):
            return ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, -1, "", -1
        coordinator = await ctx.components.start_txn_coordinator()  # built on first use
        error = await coordinator.ensure_topic()
        topic = TRANSACTION_STATE_TOPIC
    elif key_type == SHARE_KEY_TYPE and ctx.version >= 6:
        return ErrorCode.COORDINATOR_NOT_AVAILABLE, -1, "", -1
    else:
        return ErrorCode.INVALID_REQUEST, -1, "", -1
    if error:
        return error, -1, "", -1
    if ctx.cluster is not None:
        leader = ctx.metadata_cache.leader(topic, coordinator.partition_for(key))
        if leader is not None:
            leader = leader.on(ctx.session.listener)
        if leader is None:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE, -1, "", -1
        return ErrorCode.NONE, leader.broker_id, leader.host, leader.port
    host, port = ctx.components.endpoint(ctx.session.listener)
    return ErrorCode.NONE, ctx.node_id, host, port
