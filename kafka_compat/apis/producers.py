"""DescribeProducers: v0

Behavior: for each partition asked, the producers its log's producer state holds
    (producer id, epoch, last sequence, last timestamp, coordinator epoch of the last
    transaction marker, first offset of the open transaction or -1), answered by any
    broker holding a replica of it, leader or follower, as Kafka's
    Partition.activeProducerState (admin clients ask the leader). A partition this
    broker does not host answers NOT_LEADER_OR_FOLLOWER when the topic is known
    (cluster mode), UNKNOWN_TOPIC_OR_PARTITION otherwise; an offline log
    KAFKA_STORAGE_ERROR. Producers idle for producer.id.expiration.ms without an open
    transaction are gone (checked every producer.id.expiration.check.interval.ms).
Version notes: v0 flexible.
Left out: authorization (no ACLs yet).
"""

from __future__ import annotations

from kafka_compat.apis.registry import RequestContext, api
from kafka_compat.security.acl_types import AclOperation, ResourceType
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode
from storage.errors import LogError

DescribeProducersResponse = messages.response_type(ApiKey.DESCRIBE_PRODUCERS)
TopicResponse = DescribeProducersResponse.TopicResponse
PartitionResponse = DescribeProducersResponse.PartitionResponse
ProducerState = DescribeProducersResponse.ProducerState


@api(ApiKey.DESCRIBE_PRODUCERS, 0, 0)
async def handle_describe_producers(ctx: RequestContext, request):
    topics = []
    readable = ctx.authorized(
        AclOperation.READ, ResourceType.TOPIC, (t.name for t in request.topics)
    )
    for topic in request.topics:
        answers = []
        for index in topic.partition_indexes:
            partition = ctx.replica_manager.get_partition(topic.name, index)
            if partition is None or topic.name not in readable:
                answers.append(
                    PartitionResponse(
                        partition_index=index,
                        error_code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                        if topic.name in readable
                        else ErrorCode.TOPIC_AUTHORIZATION_FAILED,
                        active_producers=[],
                    )
                )
                continue
            try:
                producers = partition.active_producers()
            except LogError as exc:
                answers.append(
                    PartitionResponse(
                        partition_index=index,
                        error_code=exc.error_code,
                        error_message=str(exc),
                        active_producers=[],
                    )
                )
                continue
            answers.append(
                PartitionResponse(
                    partition_index=index,
                    error_code=ErrorCode.NONE,
                    active_producers=[
                        ProducerState(
                            producer_id=entry.producer_id,
                            producer_epoch=entry.producer_epoch,
                            last_sequence=entry.last_seq,
                            last_timestamp=entry.last_timestamp,
                            coordinator_epoch=entry.coordinator_epoch,
                            current_txn_start_offset=(
                                -1
                                if entry.current_txn_first_offset is None
                                else entry.current_txn_first_offset
                            ),
                        )
                        for entry in producers
                    ],
                )
            )
        topics.append(TopicResponse(name=topic.name, partitions=answers))
    return DescribeProducersResponse(throttle_time_ms=0, topics=topics)
