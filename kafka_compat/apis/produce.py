"""Produce: v0-11

Behavior: each partition's records are exactly one record batch, format v2 (Kafka's
    ProduceRequest.validateRecords and LogValidator: more than one is INVALID_RECORD,
    counted by the append's one pass over the batch headers), validated (size against
    the topic's max.message.bytes, CRC, magic), given offsets by patching the batch in
    the request buffer, and appended as received, compressed or not: records are
    never decoded here, by the partition's leader only (NOT_LEADER_OR_FOLLOWER
    elsewhere). A refused partition answers base offset -1, stores nothing, and the
    request's other partitions go on; empty records are INVALID_RECORD. acks 0 (no
    response; on any error the connection is closed, as Kafka does, so that the client
    refreshes its metadata), 1 (after the leader's
    append) and -1: refused with NOT_ENOUGH_REPLICAS before the append when the ISR is
    smaller than min.insync.replicas, else answered when the high watermark passes the
    batch (every ISR member has it), with REQUEST_TIMED_OUT (or
    NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR shrank below the minimum) after the
    request's timeout. Single node: the ISR is this broker, so -1 answers after the
    append. Idempotent producers get their sequence numbers checked per partition; a
    duplicate of one of the last 5 batches answers with the original offsets. An
    unknown topic is created when `auto.create.topics.enable` is true.
Version notes: v0-2 carry message formats v0/v1 (magic 0 and 1, CRC32, gzip,
    snappy, lz4 wrappers; protocol/legacy_records.py): each partition's message set is
    converted to one v2 batch before the append, as Kafka 3.x's LogValidator does
    (codec of the first wrapper kept; magic 0 has no timestamp: -1; a bad CRC is
    CORRUPT_MESSAGE), then goes the v2 way; v3 TransactionalId and format v2 only
    (magic 0/1 then: INVALID_RECORD) · v5 LogStartOffset · v7 zstd (a zstd first batch
    before v7 is UNSUPPORTED_COMPRESSION_TYPE, checked before the batch count, as
    Kafka does) · v8 RecordErrors, ErrorMessage · v9 flexible · v10 CurrentLeader
    (tagged, left at defaults) · v11 same.
    Transactional batches (requests with a TransactionalId) are checked first when
    transaction.partition.verification.enable is true (KIP-890 part 1, see
    kafka_compat/txn/verification.py): a partition not in the producer's ongoing
    transaction answers INVALID_TXN_STATE ("Partition was not added to the
    transaction"), a fenced epoch INVALID_PRODUCER_EPOCH, a coordinator that cannot
    answer yet NOT_ENOUGH_REPLICAS (the client retries), as Kafka 3.9 does for v3-11.
    KIP-467: on a compacted topic a record without a key refuses its whole batch
    (INVALID_RECORD; v8+ also RecordErrors, each such record's index in the batch
    with Kafka's message, and ErrorMessage); only compacted topics pay for decoding
    the batch (storage/log_validator.py).
    A topic whose compression.type names a codec stores the batch in it, at its
    compression.<codec>.level (storage/log_validator.recompress; only then is the
    records block decompressed and compressed again).
Left out: v12+ (KIP-890 part 2 and topic ids).
"""

from __future__ import annotations

import logging
import struct

from kafka_compat.apis.registry import CLOSE_CONNECTION, RequestContext, api
from kafka_compat.cluster.store import StoreError
from kafka_compat.replica_manager import AppendResult
from kafka_compat.security.acl_types import AclOperation, ResourceType
from kafka_compat.topics import INTERNAL_TOPICS, topic_name_error
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode
from protocol.legacy_records import first_magic, to_v2_batch
from protocol.records import (
    CODEC_MASK,
    COMPRESSION_ZSTD,
    HEADER_SIZE,
    LOG_OVERHEAD,
    MAGIC,
    InvalidRecordError,
)
from storage.log import AppendOrigin

log = logging.getLogger(__name__)

ProduceResponse = messages.response_type(ApiKey.PRODUCE)
TopicResponse = ProduceResponse.TopicProduceResponse
PartitionResponse = ProduceResponse.PartitionProduceResponse
RecordError = ProduceResponse.BatchIndexAndErrorMessage

# Produce v0-2 may carry message formats v0/v1 (magic 0 and 1), converted to v2 here.
LEGACY_MAX_VERSION = 3
# Produce v7 is the first that may carry zstd batches (KIP-110).
ZSTD_MIN_VERSION = 7
# The first batch's batchLength, magic and attributes (protocol/records.py layout).
_FIRST_BATCH = struct.Struct(">8xi4xb4xh")
# The first batch's attributes, then its producer id and epoch.
_TXN_BATCH = struct.Struct(">21xh20xqh")
TRANSACTIONAL_FLAG = 0x10


@api(ApiKey.PRODUCE, 0, 11)
async def handle_produce(ctx: RequestContext, request):
    acks = request.acks
    version = ctx.version
    replica_manager = ctx.replica_manager
    responses = []
    entries: dict[tuple[str, int], bytes] = {}  # what passed the request-level checks
    pending = []  # (a topic's answers, position, key) to fill from the append results
    denied = _unauthorized(ctx, request) if ctx.components.authorizer is not None else None
    for topic_data in request.topic_data:
        name = topic_data.name
        if denied is not None and (denied is True or name in denied):
            code = ErrorCode.TOPIC_AUTHORIZATION_FAILED
            if denied is True:
                code = ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
            answers = [_error(d.index, code, None) for d in topic_data.partition_data]
            responses.append(TopicResponse(name=name, partition_responses=answers))
            continue
        partitions = replica_manager.topic_partitions(name)
        if partitions is None:
            partitions = await _auto_create(ctx, name)
        answers = []
        for data in topic_data.partition_data:
            if name in INTERNAL_TOPICS:
                # Only the coordinators write there, with their own record schemas.
                answers.append(
                    _error(
                        data.index,
                        ErrorCode.INVALID_TOPIC_EXCEPTION,
                        f"Cannot append to internal topic {name}",
                    )
                )
                continue
            error = _validate(partitions, data, acks, version)
            if error is not None:
                answers.append(error)
                continue
            records = data.records
            if version < LEGACY_MAX_VERSION and first_magic(records) in (0, 1):
                try:  # old clients only: the v2 path never comes here
                    records = to_v2_batch(records)
                except InvalidRecordError as exc:
                    answers.append(_error(data.index, exc.error_code, str(exc)))
                    continue
            key = (name, data.index)
            entries[key] = records
            pending.append((answers, len(answers), key))
            answers.append(None)
        responses.append(TopicResponse(name=name, partition_responses=answers))
    if entries and request.transactional_id is not None:
        await ctx.components.start_txn_coordinator()  # its verifier comes with it
        if ctx.components.txn_verifier is not None:
            await _verify_transactional(ctx, request.transactional_id, entries, pending)
    if entries:
        appended = await replica_manager.append_records(
            entries,
            required_acks=acks,
            timeout_ms=request.timeout_ms,
            origin=AppendOrigin.CLIENT,
        )
        for answers, position, key in pending:
            if answers[position] is None:
                answers[position] = _response(key[1], appended[key])
    if acks == 0:
        if any(r.error_code for t in responses for r in t.partition_responses):
            # As Kafka: the client gets no answer, so a closed connection is its only
            # cue to refresh metadata (e.g. NOT_LEADER_OR_FOLLOWER after a leader change).
            log.debug("Produce acks=0 from %s failed: closing the connection", ctx.peer)
            return CLOSE_CONNECTION
        return None
    return ProduceResponse(responses=responses)


def _unauthorized(ctx: RequestContext, request) -> set[str] | bool:
    """True: the transactional id may not WRITE (every partition fails); else the
    topics without WRITE."""
    tid = request.transactional_id
    if tid is not None and not ctx.authorize(
        AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, tid
    ):
        return True
    names = [t.name for t in request.topic_data]
    return set(names) - ctx.authorized(AclOperation.WRITE, ResourceType.TOPIC, names)


async def _verify_transactional(
    ctx: RequestContext, transactional_id: str, entries: dict, pending: list
) -> None:
    """KIP-890: refuse the transactional batches of partitions the coordinator does
    not have in the producer's ongoing transaction; refused ones leave `entries` and
    get their answer in `pending`'s slot."""
    verifier = ctx.components.txn_verifier
    wanted: dict[tuple[int, int], list[tuple[str, int]]] = {}
    for key, records in entries.items():
        if len(records) < HEADER_SIZE:
            continue  # the append refuses it
        attributes, producer_id, epoch = _TXN_BATCH.unpack_from(records)
        if attributes & TRANSACTIONAL_FLAG and verifier.needs_verification(key, producer_id, epoch):
            wanted.setdefault((producer_id, epoch), []).append(key)
    refused: dict[tuple[str, int], int] = {}
    for (producer_id, epoch), partitions in wanted.items():
        refused.update(await verifier.verify(transactional_id, producer_id, epoch, partitions))
    if not refused:
        return
    for answers, position, key in pending:
        error = refused.get(key)
        if error is not None:
            message = (
                "Partition was not added to the transaction"
                if error == ErrorCode.INVALID_TXN_STATE
                else "Unable to verify the partition has been added to the transaction: "
                f"{ErrorCode(error).name}"
            )
            answers[position] = _error(key[1], error, message)
            del entries[key]


async def _auto_create(ctx: RequestContext, name: str):
    """A topic this broker does not know: create it when the broker may, and return
    its partitions (None if it still has none here)."""
    if (
        ctx.config["auto.create.topics.enable"]
        and name not in INTERNAL_TOPICS
        and topic_name_error(name) is None
        and ctx.admin.topic(name) is None  # cluster: no metadata here yet
    ):
        try:
            await ctx.admin.auto_create_topic(name)
        except StoreError as exc:
            log.info("Auto-creating topic %s: %s", name, exc)
    return ctx.replica_manager.topic_partitions(name)


def _validate(partitions, data, acks: int, version: int):
    """The request-level checks Kafka makes before an append: an error response, or
    None when the records go to the replica manager."""
    index = data.index
    if acks not in (-1, 0, 1):
        return _error(index, ErrorCode.INVALID_REQUIRED_ACKS)
    if partitions is None or not 0 <= index < len(partitions):
        return _error(index, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
    records = data.records
    if records is None:
        return _error(index, ErrorCode.CORRUPT_MESSAGE, "Produce request without records")
    if not records:
        return _error(index, ErrorCode.INVALID_RECORD, "Produce records hold no batch")
    if version < ZSTD_MIN_VERSION and _first_batch_is_zstd(records):
        return _error(
            index,
            ErrorCode.UNSUPPORTED_COMPRESSION_TYPE,
            f"Produce requests with version {version} are not allowed to use ZStandard compression",
        )
    return None


def _response(index: int, outcome: AppendResult):
    info = outcome.info
    if outcome.error_code or info is None:
        response = _error(index, outcome.error_code, outcome.error_message)
        if outcome.record_errors:  # KIP-467 (v8+; older versions do not write it)
            response.record_errors = [
                RecordError(batch_index=i, batch_index_error_message=m)
                for i, m in outcome.record_errors
            ]
        return response
    return PartitionResponse(
        index=index,
        base_offset=info.first_offset,
        log_append_time_ms=info.log_append_time,
        log_start_offset=info.log_start_offset,
    )


def _first_batch_is_zstd(records) -> bool:
    """Kafka's ProduceRequest.validateRecords judges the codec of the first whole v2
    batch, before it counts batches: one header read, no walk. Anything else is left to
    the append, which refuses it."""
    if len(records) < HEADER_SIZE:
        return False
    length, magic, attributes = _FIRST_BATCH.unpack_from(records)
    return (
        magic == MAGIC
        and length + LOG_OVERHEAD <= len(records)
        and attributes & CODEC_MASK == COMPRESSION_ZSTD
    )


def _error(index: int, code: int, message: str | None = None):
    return PartitionResponse(index=index, error_code=code, base_offset=-1, error_message=message)
