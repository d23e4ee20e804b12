"""InitProducerId: v0-5

Behavior: an idempotent producer (null transactional id) gets a new producer id
    with epoch 0; a producer that passes its current id and epoch (v3+, KIP-360)
    gets the epoch bumped. Producer ids are unique across restarts and, in a cluster,
    across brokers (blocks reserved in /latest_producer_id_block). A transactional id
    goes to the transaction coordinator (kafka_compat/txn/coordinator.py): a new id
    gets a producer id and epoch 0, a known one its epoch bumped (an open transaction
    is aborted first and CONCURRENT_TRANSACTIONS answered, so the client retries),
    INVALID_TRANSACTION_TIMEOUT above transaction.max.timeout.ms, NOT_COORDINATOR /
    COORDINATOR_LOAD_IN_PROGRESS when this broker does not (yet) serve the id.
Version notes: v2 flexible · v3 ProducerId/ProducerEpoch in the request · v4
    PRODUCER_FENCED (older versions get INVALID_PRODUCER_EPOCH) · v5 same.
Left out: authorization (TRANSACTIONAL_ID_AUTHORIZATION_FAILED).
"""

from __future__ import annotations

import logging

from kafka_compat.apis.registry import RequestContext, api
from kafka_compat.cluster.store import StoreError
from kafka_compat.security.acl_types import AclOperation, ResourceType
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

log = logging.getLogger(__name__)

InitProducerIdResponse = messages.response_type(ApiKey.INIT_PRODUCER_ID)

MAX_EPOCH = 32767


@api(ApiKey.INIT_PRODUCER_ID, 0, 5)
async def handle_init_producer_id(ctx: RequestContext, request):
    tid = request.transactional_id
    if tid is not None:
        if not ctx.authorize(AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, tid):
            return InitProducerIdResponse(
                error_code=ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
                producer_id=-1,
                producer_epoch=-1,
            )
    elif not ctx.authorize_cluster(AclOperation.IDEMPOTENT_WRITE) and not ctx.authorize_any(
        AclOperation.WRITE, ResourceType.TOPIC
    ):
        # KIP-679: WRITE on any topic is enough for an idempotent producer.
        return InitProducerIdResponse(
            error_code=ErrorCode.CLUSTER_AUTHORIZATION_FAILED, producer_id=-1, producer_epoch=-1
        )
    if request.transactional_id is not None:
        expected = None
        if (request.producer_id < 0) != (request.producer_epoch < 0):
            # As Kafka: both or neither.
            return InitProducerIdResponse(
                error_code=ErrorCode.INVALID_REQUEST, producer_id=-1, producer_epoch=-1
            )
        if request.producer_id >= 0:
            expected = (request.producer_id, request.producer_epoch)
        result = await ctx.txn_coordinator.init_producer_id(
            request.transactional_id, request.transaction_timeout_ms, expected
        )
        error = result.error
        if error == ErrorCode.PRODUCER_FENCED and ctx.version < 4:
            error = ErrorCode.INVALID_PRODUCER_EPOCH
        return InitProducerIdResponse(
            error_code=error, producer_id=result.producer_id, producer_epoch=result.producer_epoch
        )
    if request.producer_id >= 0 and 0 <= request.producer_epoch < MAX_EPOCH - 1:
        return InitProducerIdResponse(
            producer_id=request.producer_id, producer_epoch=request.producer_epoch + 1
        )
    try:
        producer_id = await ctx.producer_ids.generate_producer_id()
    except (StoreError, OSError) as exc:
        # Retriable for clients: ZooKeeper (or the data dir) may be back soon.
        log.warning("InitProducerId: cannot reserve producer ids: %s", exc)
        return InitProducerIdResponse(
            error_code=ErrorCode.COORDINATOR_NOT_AVAILABLE, producer_id=-1, producer_epoch=-1
        )
    return InitProducerIdResponse(producer_id=producer_id, producer_epoch=0)
