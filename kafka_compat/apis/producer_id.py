"""InitProducerId: v0-5

Behavior: an idempotent producer (null transactional id) gets a new producer id
    with epoch 0; a producer that passes its current id and epoch (v3+, KIP-360)
    gets the epoch bumped. Producer ids are unique across restarts and, in a cluster,
    across brokers (blocks reserved in /latest_producer_id_block).
Version notes: v2 flexible · v3 ProducerId/ProducerEpoch in the request · v4/v5 same.
Left out: transactions. A transactional id is answered with UNSUPPORTED_VERSION
    (a fatal error for the client, see docs/compatibility.md) until the
    transaction coordinator exists.
"""

from __future__ import annotations

import logging

from kafka_compat.apis.registry import RequestContext, api
from kafka_compat.cluster.store import StoreError
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

log = logging.getLogger(__name__)

InitProducerIdResponse = messages.response_type(ApiKey.INIT_PRODUCER_ID)

MAX_EPOCH = 32767


@api(ApiKey.INIT_PRODUCER_ID, 0, 5)
async def handle_init_producer_id(ctx: RequestContext, request):
    if request.transactional_id is not None:
        return InitProducerIdResponse(
            error_code=ErrorCode.UNSUPPORTED_VERSION, producer_id=-1, producer_epoch=-1
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
