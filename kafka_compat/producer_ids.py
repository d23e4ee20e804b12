"""Producer ids for idempotent producers (Kafka's ProducerIdManager).

Ids are reserved from the metadata store in blocks (as Kafka does: from
/latest_producer_id_block in cluster mode), a block before any id from it is used,
so an id is never handed out twice in a cluster, also across restarts.
"""

from __future__ import annotations

import trio

from kafka_compat.cluster.store import MetadataStore

PRODUCER_ID_BLOCK = 1000


class ProducerIdManager:
    def __init__(self, node_id: int):
        self.node_id = node_id
        self.store: MetadataStore | None = None  # set when the broker opens it
        self._next = 0
        self._limit = 0
        self._lock = trio.Lock()

    async def generate_producer_id(self) -> int:
        """A new producer id. Raises the store's error when it cannot reserve a block."""
        async with self._lock:
            if self._next >= self._limit:
                start = await self.store.allocate_producer_ids(self.node_id, PRODUCER_ID_BLOCK)
                self._next = start
                self._limit = start + PRODUCER_ID_BLOCK
            producer_id = self._next
            self._next += 1
            return producer_id
