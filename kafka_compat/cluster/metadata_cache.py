"""The broker's view of the cluster in cluster mode (Kafka's MetadataCache).

Filled by the controller's UpdateMetadata requests: the live brokers with their
endpoints, and every partition's leader, leader epoch, ISR and replicas. Metadata,
FindCoordinator and DescribeCluster answer from it, so every broker answers for the
whole cluster. A request from an older controller epoch is refused by the handler.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import trio

from kafka_compat.events import Signal


@dataclass(slots=True)
class BrokerEndpoint:
    """A live broker: its inter-broker address, and every listener's (UpdateMetadata)."""

    broker_id: int
    host: str
    port: int
    rack: str | None = None
    listeners: dict[str, tuple[str, int]] | None = None  # None: one listener, host:port

    def on(self, listener: str) -> BrokerEndpoint | None:
        """This broker as a client of `listener` must reach it; None if it has no such
        listener (Kafka leaves it out of Metadata)."""
        if self.listeners is None:
            return self
        address = self.listeners.get(listener)
        if address is None:
            return None
        return BrokerEndpoint(self.broker_id, address[0], address[1], self.rack)


@dataclass(slots=True)
class PartitionState:
    leader: int
    leader_epoch: int
    isr: list[int]
    replicas: list[int]
    zk_version: int = 0
    offline_replicas: list[int] = field(default_factory=list)


READY_TIMEOUT_S = 10.0


class MetadataCache:
    def __init__(self) -> None:
        self.controller_id = -1
        self.controller_epoch = -1
        self.brokers: dict[int, BrokerEndpoint] = {}
        # topic -> partition index -> state
        self.topics: dict[str, dict[int, PartitionState]] = {}
        self.topic_ids: dict[str, bytes] = {}
        self._changed = Signal()

    def update(
        self,
        controller_id: int,
        controller_epoch: int,
        brokers: list[BrokerEndpoint],
        states: list[tuple[str, bytes | None, int, PartitionState | None]],
    ) -> None:
        """Apply one UpdateMetadata: brokers replace the old list; partition states
        replace theirs (None deletes the partition: a deleted topic)."""
        self.controller_id = controller_id
        self.controller_epoch = controller_epoch
        self.brokers = {b.broker_id: b for b in brokers}
        for topic, topic_id, index, state in states:
            if state is None:
                parts = self.topics.get(topic)
                if parts is not None:
                    parts.pop(index, None)
                    if not parts:
                        del self.topics[topic]
                        self.topic_ids.pop(topic, None)
                continue
            self.topics.setdefault(topic, {})[index] = state
            if topic_id and any(topic_id):
                self.topic_ids[topic] = topic_id
        self.poke()

    def poke(self) -> None:
        """Wake the waiters of `wait_changed` (also when the store's topics change)."""
        self._changed.fire()

    def leader(self, topic: str, index: int) -> BrokerEndpoint | None:
        state = self.topics.get(topic, {}).get(index)
        if state is None:
            return None
        return self.brokers.get(state.leader)

    def has_leaders(self, topic: str) -> bool:
        parts = self.topics.get(topic)
        return bool(parts) and all(s.leader in self.brokers for s in parts.values())

    async def wait_changed(self) -> None:
        await self._changed.wait()

    async def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Until the controller's first UpdateMetadata arrived, at most `timeout` s. A
        broker listens before the controller knows it; a client answered meanwhile
        would learn of no controller and no brokers, and librdkafka's admin client
        then waits for a controller until its own timeout instead of asking again."""
        with trio.move_on_after(timeout):
            while self.controller_id < 0:
                await self.wait_changed()
