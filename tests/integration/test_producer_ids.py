"""InitProducerId hands out producer ids that are never handed out again: not to a
second producer, not after a restart (ids are reserved in blocks, persisted first).
The cluster counterpart, blocks from /latest_producer_id_block, is in
tests/cluster/test_clients.py."""

from __future__ import annotations

import trio

from kafka_compat.cluster.client import BrokerClient
from protocol import messages

GUARD_S = 60

InitProducerIdRequest = messages.request_type(22)


async def new_producer_id(port: int) -> int:
    """InitProducerId v4 for an idempotent producer (no transactional id)."""
    request = InitProducerIdRequest(
        transactional_id=None, transaction_timeout_ms=-1, producer_id=-1, producer_epoch=-1
    )
    async with BrokerClient("127.0.0.1", port, "test") as client:
        with trio.fail_after(GUARD_S):
            response = await client.send(22, 4, request)
    assert response.error_code == 0
    assert response.producer_epoch == 0
    return response.producer_id


async def test_producer_ids_are_never_handed_out_twice_also_across_restarts(broker):
    first = [await new_producer_id(broker.port) for _ in range(5)]
    assert len(set(first)) == 5
    await trio.to_thread.run_sync(broker.restart)
    after = [await new_producer_id(broker.port) for _ in range(5)]
    assert len(set(after)) == 5
    assert min(after) > max(first)
