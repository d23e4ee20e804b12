"""Metadata: v0-12

Behavior: null topics (v1+) or an empty list (v0) lists every topic; a named topic
    that does not exist is created when `auto.create.topics.enable` is true and the
    request allows it (v4+), else UNKNOWN_TOPIC_OR_PARTITION; an illegal name gets
    INVALID_TOPIC_EXCEPTION. This broker leads every partition (single node).
Version notes: v1 ControllerId, Rack, IsInternal · v2 ClusterId · v4 AllowAutoTopicCreation
    · v5 OfflineReplicas · v7 LeaderEpoch · v8 authorized operations · v9 flexible
    · v10 TopicId · v12 null topic names (topics by id).
Left out: v13 (top-level ErrorCode, Kafka 4.x); authorized operations are always
    "not requested" (-2147483648), which kafka-python needs.
"""

from __future__ import annotations

from kafka_compat.apis import RequestContext, api
from kafka_compat.broker import INTERNAL_TOPICS, topic_name_error
from kafka_compat.groups.records import OFFSETS_TOPIC
from protocol import messages
from protocol.errors import ErrorCode

MetadataResponse = messages.response_type(3)
Broker_ = MetadataResponse.MetadataResponseBroker
Topic = MetadataResponse.MetadataResponseTopic
PartitionMeta = MetadataResponse.MetadataResponsePartition
ZERO_UUID = bytes(16)


@api(3, 0, 12)
async def handle_metadata(ctx: RequestContext, request):
    broker = ctx.broker
    store = broker.store
    if request.topics is None or (ctx.version == 0 and not request.topics):
        names = list(store.topics)
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
    allow_create = broker.config["auto.create.topics.enable"] and (
        ctx.version < 4 or request.allow_auto_topic_creation
    )
    topics = []
    for name in names:
        topics.append(await _describe_topic(broker, name, allow_create))
    return MetadataResponse(
        brokers=[Broker_(node_id=broker.node_id, host=broker.host, port=broker.port)],
        cluster_id=store.cluster_id,
        controller_id=broker.node_id,
        topics=topics,
    )


async def _describe_topic(broker, name: str | None, allow_create: bool):
    if name is None:
        return Topic(error_code=ErrorCode.UNKNOWN_TOPIC_ID, name=None)
    topic = broker.store.topics.get(name)
    if topic is None:
        if topic_name_error(name) is not None:
            return Topic(error_code=ErrorCode.INVALID_TOPIC_EXCEPTION, name=name)
        if name == OFFSETS_TOPIC:
            # Created with its own settings (compacted, 50 partitions) by the coordinator.
            await broker.group_coordinator.ensure_offsets_topic()
            topic = broker.store.topics.get(name)
        elif allow_create and name not in INTERNAL_TOPICS:
            topic = await broker.auto_create_topic(name)
        if topic is None:
            return Topic(error_code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, name=name)
    node = [broker.node_id]
    return Topic(
        name=name,
        topic_id=topic.topic_id,
        is_internal=name in INTERNAL_TOPICS,
        partitions=[
            PartitionMeta(
                partition_index=p.index,
                leader_id=broker.node_id,
                leader_epoch=p.leader_epoch,
                replica_nodes=node,
                isr_nodes=node,
            )
            for p in broker.partitions[name]
        ],
    )
