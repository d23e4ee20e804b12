"""AlterPartition: v0-3

Behavior: the controller's API (KIP-497): a partition leader asks it for an ISR
    change instead of writing ZooKeeper itself (cluster/membership.py sends it;
    cluster/alter_partition.py has the checks, Kafka 3.9's ZooKeeper controller's:
    UNKNOWN_TOPIC_OR_PARTITION, NOT_CONTROLLER for epochs newer than the
    controller's, FENCED_LEADER_EPOCH, INVALID_UPDATE_VERSION for a stale partition
    epoch (the /state znode version) or a lost version-checked write,
    INVALID_REQUEST for leader recovery state misuse, INELIGIBLE_REPLICA for a new
    ISR member that is not live or is shutting down). An unknown or stale
    BrokerEpoch: STALE_BROKER_EPOCH (top level). Accepted changes are written to
    ZooKeeper, sent to every broker in UpdateMetadata, may complete a reassignment,
    and are answered with the new state (partition epoch = the new znode version).
    Any other broker, or a single node: NOT_CONTROLLER.
Version notes: v1 LeaderRecoveryState · v2 TopicId instead of TopicName
    (UNKNOWN_TOPIC_ID), INELIGIBLE_REPLICA (v0-1: OPERATION_NOT_ATTEMPTED) · v3
    NewIsrWithEpochs (the brokers' epochs are not checked: ZooKeeper brokers send -1,
    as Kafka's).
"""

from __future__ import annotations

from kafka_compat.apis.registry import RequestContext, api
from kafka_compat.cluster.store import NotController
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

AlterPartitionResponse = messages.response_type(ApiKey.ALTER_PARTITION)
TopicData = AlterPartitionResponse.TopicData
PartitionData = AlterPartitionResponse.PartitionData
TOPIC_ID_MIN_VERSION = 2
ISR_WITH_EPOCHS_MIN_VERSION = 3


@api(ApiKey.ALTER_PARTITION, 0, 3)
async def handle_alter_partition(ctx: RequestContext, request):
    if not ctx.authorize_inter_broker():
        return AlterPartitionResponse(error_code=ErrorCode.CLUSTER_AUTHORIZATION_FAILED, topics=[])
    controller = ctx.controller
    if controller is None:
        return AlterPartitionResponse(error_code=ErrorCode.NOT_CONTROLLER, topics=[])
    use_ids = ctx.version >= TOPIC_ID_MIN_VERSION
    topic_ids = controller.ctx.topic_ids
    names = {topic_id: name for name, topic_id in topic_ids.items()} if use_ids else {}
    wanted = {}
    unknown = []
    for topic in request.topics:
        name = names.get(topic.topic_id) if use_ids else topic.topic_name
        if name is None:
            unknown.append(topic)
            continue
        for p in topic.partitions:
            if ctx.version >= ISR_WITH_EPOCHS_MIN_VERSION:
                isr = [b.broker_id for b in p.new_isr_with_epochs]
            else:
                isr = list(p.new_isr)
            wanted[(name, p.partition_index)] = (
                p.leader_epoch,
                isr,
                p.leader_recovery_state,
                p.partition_epoch,
            )
    try:
        answer = await controller.alter_partition(
            request.broker_id, request.broker_epoch, wanted, ctx.version
        )
    except NotController:
        return AlterPartitionResponse(error_code=ErrorCode.NOT_CONTROLLER, topics=[])
    if answer is None:  # the controller's ZooKeeper write failed
        return AlterPartitionResponse(error_code=ErrorCode.UNKNOWN_SERVER_ERROR, topics=[])
    error_code, results = answer
    if error_code != ErrorCode.NONE:
        return AlterPartitionResponse(error_code=error_code, topics=[])
    topics = [
        TopicData(
            topic_id=topic.topic_id,
            partitions=[
                PartitionData(
                    partition_index=p.partition_index, error_code=ErrorCode.UNKNOWN_TOPIC_ID
                )
                for p in topic.partitions
            ],
        )
        for topic in unknown
    ]
    by_topic: dict[str, list] = {}
    for (name, index), (error, state) in results.items():
        if state is None:
            data = PartitionData(partition_index=index, error_code=error)
        else:
            data = PartitionData(
                partition_index=index,
                error_code=error,
                leader_id=state.leader,
                leader_epoch=state.leader_epoch,
                isr=list(state.isr),
                leader_recovery_state=state.leader_recovery_state,
                partition_epoch=state.version,
            )
        by_topic.setdefault(name, []).append(data)
    for name, partitions in by_topic.items():
        if use_ids:
            topics.append(TopicData(topic_id=topic_ids.get(name, bytes(16)), partitions=partitions))
        else:
            topics.append(TopicData(topic_name=name, partitions=partitions))
    return AlterPartitionResponse(error_code=ErrorCode.NONE, topics=topics)
