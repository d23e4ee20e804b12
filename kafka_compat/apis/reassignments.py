"""Partition reassignment (KIP-455), the controller's APIs (kafka-reassign-partitions.sh,
AdminClient alterPartitionReassignments / listPartitionReassignments).

AlterPartitionReassignments: v0
    Behavior: each partition gets its target replicas (distinct live brokers, else
    INVALID_REPLICA_ASSIGNMENT), or null to cancel (NO_REASSIGNMENT_IN_PROGRESS if
    none runs). The answer comes once the reassignment is recorded and under way;
    the controller finishes it when every target replica is in sync (see
    cluster/controller.py). Other brokers answer NOT_CONTROLLER; a single node,
    where no replica can move, answers INVALID_REPLICA_ASSIGNMENT unless the target
    is the broker itself.
    Version notes: v0 flexible.
    Left out: v1 (AllowReplicationFactorChange, KIP-860) is Kafka 4.1's; Kafka 3.9
    advertises v0, and so do we.
ListPartitionReassignments: v0
    Behavior: the reassignments in progress, all or the partitions named, with
    replicas, adding and removing replicas.
    Version notes: v0 flexible.
"""

from __future__ import annotations

from kafka_compat.apis.registry import RequestContext, api, by_topic
from kafka_compat.cluster.store import NotController
from kafka_compat.security.acl_types import AclOperation
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

AlterResponse = messages.response_type(ApiKey.ALTER_PARTITION_REASSIGNMENTS)
ListResponse = messages.response_type(ApiKey.LIST_PARTITION_REASSIGNMENTS)


@api(ApiKey.ALTER_PARTITION_REASSIGNMENTS, 0, 0)
async def handle_alter_partition_reassignments(ctx: RequestContext, request):
    if not ctx.authorize_cluster(AclOperation.ALTER):
        return AlterResponse(error_code=ErrorCode.CLUSTER_AUTHORIZATION_FAILED, responses=[])
    wanted = {(t.name, p.partition_index): p.replicas for t in request.topics for p in t.partitions}
    if ctx.cluster is not None:
        controller = ctx.controller
        try:
            if controller is None:
                raise NotController
            results = await controller.alter_reassignments(wanted)
        except NotController:
            return AlterResponse(error_code=ErrorCode.NOT_CONTROLLER, responses=[])
    else:
        results = {key: _single_node_result(ctx, key, target) for key, target in wanted.items()}
    Result = AlterResponse.ReassignablePartitionResponse
    return AlterResponse(
        responses=[
            AlterResponse.ReassignableTopicResponse(
                name=topic,
                partitions=[
                    Result(partition_index=p, error_code=code, error_message=message)
                    for p, (code, message) in parts
                ],
            )
            for topic, parts in by_topic(results).items()
        ],
    )


def _single_node_result(ctx: RequestContext, key, target) -> tuple[ErrorCode, str | None]:
    if ctx.replica_manager.get_partition(*key) is None:
        return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, None
    if target is None:
        return ErrorCode.NO_REASSIGNMENT_IN_PROGRESS, None
    if target != [ctx.node_id]:
        return ErrorCode.INVALID_REPLICA_ASSIGNMENT, f"the only broker is {ctx.node_id}"
    return ErrorCode.NONE, None


@api(ApiKey.LIST_PARTITION_REASSIGNMENTS, 0, 0)
async def handle_list_partition_reassignments(ctx: RequestContext, request):
    if not ctx.authorize_cluster(AclOperation.DESCRIBE):
        return ListResponse(error_code=ErrorCode.CLUSTER_AUTHORIZATION_FAILED, topics=[])
    running = {}
    if ctx.cluster is not None:
        controller = ctx.controller
        try:
            if controller is None:
                raise NotController
            running = await controller.reassignments()
        except NotController:
            return ListResponse(error_code=ErrorCode.NOT_CONTROLLER, topics=[])
    if request.topics is not None:
        named = {(t.name, i) for t in request.topics for i in t.partition_indexes}
        running = {key: r for key, r in running.items() if key in named}
    Ongoing = ListResponse.OngoingPartitionReassignment
    return ListResponse(
        topics=[
            ListResponse.OngoingTopicReassignment(
                name=topic,
                partitions=[
                    Ongoing(
                        partition_index=p,
                        replicas=r.replicas,
                        adding_replicas=r.adding,
                        removing_replicas=r.removing,
                    )
                    for p, r in parts
                ],
            )
            for topic, parts in by_topic(dict(sorted(running.items()))).items()
        ]
    )
