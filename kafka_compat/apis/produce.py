"""Produce: advertised v0-11, served v3-11

Behavior: record batches (format v2 only) are validated per batch (size against the
    topic's max.message.bytes, CRC, magic), given offsets by patching the batch in
    the request buffer, and appended as received, compressed or not: records are
    never decoded here. acks 0 (no response), 1 and -1 (single node: the ISR is
    this broker, so both answer after the append). Idempotent producers get their
    sequence numbers checked per partition; a duplicate of one of the last 5
    batches answers with the original offsets. An unknown topic is created when
    `auto.create.topics.enable` is true.
Version notes: v0-2 are advertised (librdkafka's compression check looks for v0,
    KAFKA-18659) but refused by closing the connection, as Kafka 4.0 does; v3
    TransactionalId and format v2 · v5 LogStartOffset · v8 RecordErrors, ErrorMessage
    · v9 flexible · v10 CurrentLeader (tagged, left at defaults) · v11 same.
Left out: transactional produce (no transaction coordinator yet); v12+ (KIP-890
    part 2 and topic ids).
"""

from __future__ import annotations

from kafka_compat.apis import RequestContext, api
from kafka_compat.broker import INTERNAL_TOPICS, topic_name_error
from protocol import messages
from protocol.errors import ErrorCode
from protocol.records import InvalidRecordError
from storage.errors import LogError

ProduceResponse = messages.response_type(0)
TopicResponse = ProduceResponse.TopicProduceResponse
PartitionResponse = ProduceResponse.PartitionProduceResponse


@api(0, 0, 11, min_accepted=3)
async def handle_produce(ctx: RequestContext, request):
    broker = ctx.broker
    acks = request.acks
    responses = []
    for topic_data in request.topic_data:
        name = topic_data.name
        partitions = broker.partitions.get(name)
        if partitions is None and broker.config["auto.create.topics.enable"]:
            if name not in INTERNAL_TOPICS and topic_name_error(name) is None:
                await broker.auto_create_topic(name)
                partitions = broker.partitions.get(name)
        if name in INTERNAL_TOPICS:
            # Only the coordinators write there, with their own record schemas.
            results = [
                _error(
                    d.index,
                    ErrorCode.INVALID_TOPIC_EXCEPTION,
                    f"Cannot append to internal topic {name}",
                )
                for d in topic_data.partition_data
            ]
        else:
            results = [_append(broker, partitions, d, acks) for d in topic_data.partition_data]
        responses.append(TopicResponse(name=name, partition_responses=results))
    if acks == 0:
        return None
    return ProduceResponse(responses=responses)


def _append(broker, partitions, data, acks: int):
    index = data.index
    if acks not in (-1, 0, 1):
        return _error(index, ErrorCode.INVALID_REQUIRED_ACKS)
    if partitions is None or not 0 <= index < len(partitions):
        return _error(index, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
    if data.records is None:
        return _error(index, ErrorCode.CORRUPT_MESSAGE, "Produce request without records")
    partition = partitions[index]
    try:
        info = partition.append(data.records)
    except (InvalidRecordError, LogError) as exc:
        return _error(index, exc.error_code, str(exc) or None)
    return PartitionResponse(
        index=index,
        base_offset=info.first_offset,
        log_append_time_ms=info.log_append_time,
        log_start_offset=info.log_start_offset,
    )


def _error(index: int, code: int, message: str | None = None):
    return PartitionResponse(index=index, error_code=code, base_offset=-1, error_message=message)
