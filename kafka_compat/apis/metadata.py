"""Metadata: v0-12

Behavior: null topics (v1+) or an empty list (v0) lists every topic; a named topic
    that does not exist is created when `auto.create.topics.enable` is true and the
    request allows it (v4+), else UNKNOWN_TOPIC_OR_PARTITION; an illegal name gets
    INVALID_TOPIC_EXCEPTION. Single node: this broker leads every partition. Cluster
    mode: answered from the metadata cache (the controller's UpdateMetadata), so
    every broker describes the whole cluster (a broker that has not had its first
    UpdateMetadata yet waits for it, up to 10 s, rather than name no controller); a
    topic whose partitions have no leader yet (just created) answers
    LEADER_NOT_AVAILABLE, and a partition whose leader is not live has leader -1 and
    LEADER_NOT_AVAILABLE.
Version notes: v1 ControllerId, Rack, IsInternal · v2 ClusterId · v4 AllowAutoTopicCreation
    · v5 OfflineReplicas · v7 LeaderEpoch · v8 authorized operations · v9 flexible
    · v10 TopicId · v12 null topic names (topics by id).
    With ACLs: a listing of every topic leaves out the ones the principal may not
    DESCRIBE; a named one answers TOPIC_AUTHORIZATION_FAILED (also when it would be
    auto-created without CREATE on the cluster or the topic). Authorized operations
    when asked (else "not requested", -2147483648, which kafka-python needs).
    An auto-created topic's partitions count in the client's controller mutation
    quota (recorded, never refused or throttled here), as in Kafka.
Left out: v13 (top-level ErrorCode, Kafka 4.x).
"""

from __future__ import annotations

import logging

from kafka_compat.apis.registry import RequestContext, api
from kafka_compat.security.acl_types import CLUSTER_NAME, AclOperation, ResourceType
from kafka_compat.topics import INTERNAL_TOPICS, OFFSETS_TOPIC, topic_name_error
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

MetadataResponse = messages.response_type(ApiKey.METADATA)
Broker_ = MetadataResponse.MetadataResponseBroker
Topic = MetadataResponse.MetadataResponseTopic
PartitionMeta = MetadataResponse.MetadataResponsePartition
ZERO_UUID = bytes(16)

log = logging.getLogger(__name__)


@api(ApiKey.METADATA, 0, 12)
async def handle_metadata(ctx: RequestContext, request):
    store = ctx.store
    if ctx.cluster is not None:
        await ctx.metadata_cache.wait_ready()
    if request.topics is None or (ctx.version == 0 and not request.topics):
        names = list(ctx.metadata_cache.topics if ctx.cluster is not None else store.topics)
    else:
        by_id = None
        names = []
        for wanted in request.topics:
            name = wanted.name
            if name is None:
                if by_id is None:
                    by_id = {t.topic_id: t.name for t in store.topics.values()}
                name = by_id.get(wanted.topic_id)
            names.append(name)
    allow_create = ctx.config["auto.create.topics.enable"] and (
        ctx.version < 4 or request.allow_auto_topic_creation
    )
    denied: list[str] = []
    if ctx.components.authorizer is not None:
        names, denied = _authorize(ctx, request, names, allow_create)
    if ctx.cluster is not None:
        response = await _cluster_metadata(ctx, request, names, allow_create)
    else:
        host, port = ctx.components.endpoint(ctx.session.listener)
        response = MetadataResponse(
            brokers=[Broker_(node_id=ctx.node_id, host=host, port=port)],
            cluster_id=store.cluster_id,
            controller_id=ctx.node_id,
            topics=[await _describe_topic(ctx, name, allow_create) for name in names],
        )
    if denied:
        response.topics.extend(
            Topic(error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED, name=n) for n in denied
        )
    if ctx.version >= 8:
        _authorized_operations(ctx, request, response)
    return response


def _authorize(ctx: RequestContext, request, names: list, allow_create: bool):
    """Kafka's checks: DESCRIBE to see a topic (a listing of every topic leaves the
    others out silently), CREATE on the cluster or the topic to auto-create one."""
    if request.topics is None or (ctx.version == 0 and not request.topics):
        visible = ctx.authorized(AclOperation.DESCRIBE, ResourceType.TOPIC, names)
        return [n for n in names if n in visible], []
    known = ctx.metadata_cache.topics if ctx.cluster is not None else ctx.store.topics
    wanted = [n for n in names if n is not None]
    describable = ctx.authorized(AclOperation.DESCRIBE, ResourceType.TOPIC, wanted)
    missing = [n for n in wanted if n in describable and n not in known]
    if missing and allow_create and not ctx.authorize_cluster(AclOperation.CREATE):
        describable -= set(missing) - ctx.authorized(
            AclOperation.CREATE, ResourceType.TOPIC, missing
        )
    return (
        [n for n in names if n is None or n in describable],
        [n for n in wanted if n not in describable],
    )


def _authorized_operations(ctx: RequestContext, request, response) -> None:
    if request.include_topic_authorized_operations:
        for topic in response.topics:
            if topic.error_code == ErrorCode.NONE and topic.name is not None:
                topic.topic_authorized_operations = ctx.authorized_operations(
                    ResourceType.TOPIC, topic.name
                )
    if ctx.version <= 10 and request.include_cluster_authorized_operations:
        response.cluster_authorized_operations = ctx.authorized_operations(
            ResourceType.CLUSTER, CLUSTER_NAME
        )


def _record_auto_creation(ctx: RequestContext) -> None:
    # As Kafka's AutoTopicCreationManager: the partitions count in the client's
    # controller mutation quota (permissive), but the Metadata answer is not throttled.
    ctx.controller_mutation_quota(strict=False).record(ctx.config["num.partitions"])


async def _describe_topic(ctx, name: str | None, allow_create: bool):
    if name is None:
        return Topic(error_code=ErrorCode.UNKNOWN_TOPIC_ID, name=None)
    topic = ctx.store.topics.get(name)
    if topic is None:
        if topic_name_error(name) is not None:
            return Topic(error_code=ErrorCode.INVALID_TOPIC_EXCEPTION, name=name)
        if name == OFFSETS_TOPIC:
            # Created with its own settings (compacted, 50 partitions) by the coordinator.
            coordinator = await ctx.components.start_group_coordinator()
            await coordinator.ensure_offsets_topic()
            topic = ctx.store.topics.get(name)
        elif allow_create and name not in INTERNAL_TOPICS:
            _record_auto_creation(ctx)
            topic = await ctx.admin.auto_create_topic(name)
        if topic is None:
            return Topic(error_code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, name=name)
    node = [ctx.node_id]
    return Topic(
        name=name,
        topic_id=topic.topic_id,
        is_internal=name in INTERNAL_TOPICS,
        partitions=[
            PartitionMeta(
                partition_index=p.index,
                leader_id=ctx.node_id,
                leader_epoch=p.leader_epoch,
                replica_nodes=node,
                isr_nodes=node,
            )
            for p in ctx.replica_manager.partitions[name]
        ],
    )


async def _cluster_metadata(ctx, request, names, allow_create: bool):
    cache = ctx.metadata_cache
    topics = []
    for name in names:
        if name is None:
            topics.append(Topic(error_code=ErrorCode.UNKNOWN_TOPIC_ID, name=None))
            continue
        if name not in cache.topics:
            error = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            if topic_name_error(name) is not None:
                error = ErrorCode.INVALID_TOPIC_EXCEPTION
            elif name in ctx.store.topics:
                error = ErrorCode.LEADER_NOT_AVAILABLE
            elif name == OFFSETS_TOPIC:
                coordinator = await ctx.components.start_group_coordinator()
                await coordinator.ensure_offsets_topic()
                error = ErrorCode.LEADER_NOT_AVAILABLE
            elif allow_create and name not in INTERNAL_TOPICS:
                _record_auto_creation(ctx)
                try:
                    await ctx.admin.auto_create_topic(name)
                except Exception as exc:  # another broker created it first, or ZK refused
                    log.info("Auto-creating topic %s: %s", name, exc)
                error = ErrorCode.LEADER_NOT_AVAILABLE
            if name not in cache.topics:
                topics.append(Topic(error_code=error, name=name))
                continue
        parts = cache.topics[name]
        partitions = []
        for index in sorted(parts):
            state = parts[index]
            live = state.leader in cache.brokers
            partitions.append(
                PartitionMeta(
                    error_code=ErrorCode.NONE if live else ErrorCode.LEADER_NOT_AVAILABLE,
                    partition_index=index,
                    leader_id=state.leader if live else -1,
                    leader_epoch=state.leader_epoch,
                    replica_nodes=state.replicas,
                    isr_nodes=state.isr,
                    offline_replicas=[r for r in state.replicas if r not in cache.brokers],
                )
            )
        topics.append(
            Topic(
                name=name,
                topic_id=cache.topic_ids.get(name, ZERO_UUID),
                is_internal=name in INTERNAL_TOPICS,
                partitions=partitions,
            )
        )
    return MetadataResponse(
        brokers=[
            Broker_(node_id=b.broker_id, host=b.host, port=b.port, rack=b.rack)
            for b in (b.on(ctx.session.listener) for b in cache.brokers.values())
            if b is not None
        ],
        cluster_id=ctx.store.cluster_id,
        controller_id=cache.controller_id,
        topics=topics,
    )
