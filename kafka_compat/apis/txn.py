"""AddPartitionsToTxn: v0-5 · AddOffsetsToTxn: v0-4 · EndTxn: v0-4 ·
WriteTxnMarkers: v0-1 · DescribeTransactions: v0 · ListTransactions: v0-1

Behavior: the transaction coordinator's APIs (kafka_compat/txn/). AddPartitionsToTxn
    v0-3 adds the client's partitions to its ongoing transaction (one error for all of
    them; partitions of unknown topics answer UNKNOWN_TOPIC_OR_PARTITION and the others
    OPERATION_NOT_ATTEMPTED); v4+ batches transactions, and `verify_only` (KIP-890,
    sent by partition leaders) only checks each partition is in the transaction
    (TRANSACTION_ABORTABLE when not). AddOffsetsToTxn adds the group's
    __consumer_offsets partition. EndTxn writes PrepareCommit/PrepareAbort, answers,
    then the coordinator sends the markers. WriteTxnMarkers appends a COMMIT/ABORT
    control batch to each partition this broker leads (acks=all) and completes the
    transactional offsets of __consumer_offsets partitions
    (GroupCoordinator.complete_txn_offsets). DescribeTransactions answers per id
    (NOT_COORDINATOR for ids another broker serves); ListTransactions lists the ids
    of the partitions this broker leads, filtered by state, producer id and (v1)
    minimum duration.
Version notes: AddPartitionsToTxn v3 flexible · v4 batched (broker form) · v5 same ·
    AddOffsetsToTxn v3 flexible · EndTxn v3 flexible · ListTransactions v1
    DurationFilter · WriteTxnMarkers v1 flexible.
Left out: EndTxn v5 and AddPartitionsToTxn/WriteTxnMarkers for transaction version 2
    (KIP-890 part 2, Kafka 4); ListTransactions v2 (id pattern); authorization.
"""

from __future__ import annotations

import logging

from kafka_compat.apis.registry import RequestContext, api
from kafka_compat.security.acl_types import AclOperation, ResourceType
from kafka_compat.topics import OFFSETS_TOPIC
from kafka_compat.txn.markers import TxnMarker, write_txn_markers
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

log = logging.getLogger(__name__)

AddPartitionsResponse = messages.response_type(ApiKey.ADD_PARTITIONS_TO_TXN)
AddOffsetsResponse = messages.response_type(ApiKey.ADD_OFFSETS_TO_TXN)
EndTxnResponse = messages.response_type(ApiKey.END_TXN)
WriteTxnMarkersResponse = messages.response_type(ApiKey.WRITE_TXN_MARKERS)
DescribeTransactionsResponse = messages.response_type(ApiKey.DESCRIBE_TRANSACTIONS)
ListTransactionsResponse = messages.response_type(ApiKey.LIST_TRANSACTIONS)

TopicPartition = tuple[str, int]


def _old_fenced(error: int) -> int:
    """PRODUCER_FENCED is v2+ of these APIs (KIP-588); older clients know
    INVALID_PRODUCER_EPOCH."""
    return ErrorCode.INVALID_PRODUCER_EPOCH if error == ErrorCode.PRODUCER_FENCED else error


def _topic_results(errors: dict[TopicPartition, int]) -> list:
    by_topic: dict[str, list] = {}
    for (topic, index), error in errors.items():
        by_topic.setdefault(topic, []).append(
            AddPartitionsResponse.AddPartitionsToTxnPartitionResult(
                partition_index=index, partition_error_code=error
            )
        )
    return [
        AddPartitionsResponse.AddPartitionsToTxnTopicResult(name=name, results_by_partition=results)
        for name, results in by_topic.items()
    ]


async def _add_partitions(
    ctx: RequestContext, transactional_id: str, producer_id: int, epoch: int, topics
) -> dict[TopicPartition, int]:
    partitions = [(t.name, p) for t in topics for p in t.partitions]
    if not ctx.authorize(AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, transactional_id):
        return dict.fromkeys(partitions, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    writable = ctx.authorized(AclOperation.WRITE, ResourceType.TOPIC, (t for t, _ in partitions))
    if len(writable) < len({t for t, _ in partitions}):
        return {
            tp: ErrorCode.OPERATION_NOT_ATTEMPTED
            if tp[0] in writable
            else ErrorCode.TOPIC_AUTHORIZATION_FAILED
            for tp in partitions
        }
    unknown = {tp for tp in partitions if ctx.replica_manager.get_partition(*tp) is None}
    if unknown:
        return {
            tp: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            if tp in unknown
            else ErrorCode.OPERATION_NOT_ATTEMPTED
            for tp in partitions
        }
    error = await ctx.txn_coordinator.add_partitions(
        transactional_id, producer_id, epoch, set(partitions)
    )
    return dict.fromkeys(partitions, error)


@api(ApiKey.ADD_PARTITIONS_TO_TXN, 0, 5)
async def handle_add_partitions_to_txn(ctx: RequestContext, request):
    if ctx.version < 4:
        errors = await _add_partitions(
            ctx,
            request.v3_and_below_transactional_id,
            request.v3_and_below_producer_id,
            request.v3_and_below_producer_epoch,
            request.v3_and_below_topics,
        )
        if ctx.version < 2:
            errors = {tp: _old_fenced(e) for tp, e in errors.items()}
        return AddPartitionsResponse(results_by_topic_v3_and_below=_topic_results(errors))
    if not ctx.authorize_inter_broker():  # v4+: the brokers' batched verification
        return AddPartitionsResponse(error_code=ErrorCode.CLUSTER_AUTHORIZATION_FAILED)
    results = []
    for txn in request.transactions:
        if txn.verify_only:
            errors = ctx.txn_coordinator.verify_partitions(
                txn.transactional_id,
                txn.producer_id,
                txn.producer_epoch,
                [(t.name, p) for t in txn.topics for p in t.partitions],
            )
        else:
            errors = await _add_partitions(
                ctx, txn.transactional_id, txn.producer_id, txn.producer_epoch, txn.topics
            )
        results.append(
            AddPartitionsResponse.AddPartitionsToTxnResult(
                transactional_id=txn.transactional_id, topic_results=_topic_results(errors)
            )
        )
    return AddPartitionsResponse(results_by_transaction=results)


@api(ApiKey.ADD_OFFSETS_TO_TXN, 0, 4)
async def handle_add_offsets_to_txn(ctx: RequestContext, request):
    tid = request.transactional_id
    if not ctx.authorize(AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, tid):
        return AddOffsetsResponse(error_code=ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    if not ctx.authorize(AclOperation.READ, ResourceType.GROUP, request.group_id):
        return AddOffsetsResponse(error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED)
    error = await ctx.group_coordinator.ensure_offsets_topic()
    if not error:
        partition = (OFFSETS_TOPIC, ctx.group_coordinator.partition_for(request.group_id))
        error = await ctx.txn_coordinator.add_partitions(
            request.transactional_id, request.producer_id, request.producer_epoch, {partition}
        )
    return AddOffsetsResponse(error_code=_old_fenced(error) if ctx.version < 2 else error)


@api(ApiKey.END_TXN, 0, 4)
async def handle_end_txn(ctx: RequestContext, request):
    tid = request.transactional_id
    if not ctx.authorize(AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, tid):
        return EndTxnResponse(error_code=ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    result = await ctx.txn_coordinator.end_transaction(
        request.transactional_id, request.producer_id, request.producer_epoch, request.committed
    )
    error = _old_fenced(result.error) if ctx.version < 2 else result.error
    return EndTxnResponse(error_code=error)


@api(ApiKey.WRITE_TXN_MARKERS, 0, 1)
async def handle_write_txn_markers(ctx: RequestContext, request):
    if not ctx.authorize_inter_broker():
        R = WriteTxnMarkersResponse
        code = ErrorCode.CLUSTER_AUTHORIZATION_FAILED
        return R(
            markers=[
                R.WritableTxnMarkerResult(
                    producer_id=m.producer_id,
                    topics=[
                        R.WritableTxnMarkerTopicResult(
                            name=t.name,
                            partitions=[
                                R.WritableTxnMarkerPartitionResult(
                                    partition_index=p, error_code=code
                                )
                                for p in t.partition_indexes
                            ],
                        )
                        for t in m.topics
                    ],
                )
                for m in request.markers
            ]
        )
    markers = [
        TxnMarker(
            m.producer_id,
            m.producer_epoch,
            bool(m.transaction_result),
            m.coordinator_epoch,
            tuple((t.name, p) for t in m.topics for p in t.partition_indexes),
        )
        for m in request.markers
    ]
    results = await write_txn_markers(
        ctx.replica_manager,
        markers,
        ctx.group_coordinator.complete_txn_offsets,
        ctx.config["request.timeout.ms"],
        ctx.replica_manager.time_ms(),
    )
    R = WriteTxnMarkersResponse
    answers = []
    for marker, errors in zip(markers, results, strict=True):
        by_topic: dict[str, list] = {}
        for (topic, index), error in errors.items():
            by_topic.setdefault(topic, []).append(
                R.WritableTxnMarkerPartitionResult(partition_index=index, error_code=error)
            )
        answers.append(
            R.WritableTxnMarkerResult(
                producer_id=marker.producer_id,
                topics=[
                    R.WritableTxnMarkerTopicResult(name=name, partitions=parts)
                    for name, parts in by_topic.items()
                ],
            )
        )
    return R(markers=answers)


@api(ApiKey.DESCRIBE_TRANSACTIONS, 0, 0)
async def handle_describe_transactions(ctx: RequestContext, request):
    R = DescribeTransactionsResponse
    states = []
    for transactional_id in request.transactional_ids:
        if not ctx.authorize(
            AclOperation.DESCRIBE, ResourceType.TRANSACTIONAL_ID, transactional_id
        ):
            code = ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
            states.append(R.TransactionState(error_code=code, transactional_id=transactional_id))
            continue
        d = ctx.txn_coordinator.describe(transactional_id)
        by_topic: dict[str, list[int]] = {}
        for topic, index in d.partitions:
            by_topic.setdefault(topic, []).append(index)
        states.append(
            R.TransactionState(
                error_code=d.error,
                transactional_id=transactional_id,
                transaction_state=d.state,
                transaction_timeout_ms=d.timeout_ms,
                transaction_start_time_ms=d.start_ms,
                producer_id=d.producer_id,
                producer_epoch=d.producer_epoch,
                topics=[R.TopicData(topic=t, partitions=ps) for t, ps in by_topic.items()],
            )
        )
    return R(transaction_states=states)


@api(ApiKey.LIST_TRANSACTIONS, 0, 1)
async def handle_list_transactions(ctx: RequestContext, request):
    duration = request.duration_filter if ctx.version >= 1 else -1
    error, unknown, found = ctx.txn_coordinator.list_transactions(
        request.producer_id_filters or (), request.state_filters or (), duration
    )
    visible = ctx.authorized(
        AclOperation.DESCRIBE, ResourceType.TRANSACTIONAL_ID, (f[0] for f in found)
    )
    found = [f for f in found if f[0] in visible]
    R = ListTransactionsResponse
    return R(
        error_code=error,
        unknown_state_filters=unknown,
        transaction_states=[
            R.TransactionState(transactional_id=t, producer_id=p, transaction_state=s)
            for t, p, s in found
        ],
    )
