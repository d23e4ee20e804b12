"""What the controller holds of the cluster (Kafka's ControllerContext): the live
brokers, the topics' assignments and ids, the partitions' states, the topics being
deleted and the partitions being reassigned.

The controller (cluster/controller.py) changes it; its channel to the brokers
(cluster/controller_channel.py) reads it to build requests.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kafka_compat.cluster.zk_data import PartitionState as LeaderIsr


@dataclass
class Reassignment:
    """A partition moving from `original` to `target` replicas (KIP-455's ORS, TRS)."""

    target: list[int]
    original: list[int]

    @property
    def replicas(self) -> list[int]:
        """While it runs: the target, then the original replicas that leave."""
        return self.target + self.removing

    @property
    def adding(self) -> list[int]:
        return [r for r in self.target if r not in self.original]

    @property
    def removing(self) -> list[int]:
        return [r for r in self.original if r not in self.target]


@dataclass
class ControllerContext:
    epoch: int = 0
    epoch_version: int | None = None  # /controller_epoch's version: fences our writes
    live: dict[int, object] = field(default_factory=dict)  # id -> endpoint (host, port, rack)
    shutting_down: set[int] = field(default_factory=set)
    assignments: dict[str, dict[int, list[int]]] = field(default_factory=dict)
    topic_ids: dict[str, bytes] = field(default_factory=dict)
    states: dict[tuple[str, int], LeaderIsr] = field(default_factory=dict)
    deleting: set[str] = field(default_factory=set)
    reassigning: dict[tuple[str, int], Reassignment] = field(default_factory=dict)
    # broker -> its replicas in failed log dirs (LeaderAndIsr answered KAFKA_STORAGE_ERROR)
    offline_replicas: dict[int, set[tuple[str, int]]] = field(default_factory=dict)

    def replicas(self, topic: str, index: int) -> list[int]:
        return self.assignments.get(topic, {}).get(index, [])

    def partitions(self):
        for topic, parts in self.assignments.items():
            for index in parts:
                yield topic, index

    def replicas_on(self, broker_id: int) -> list[tuple[str, int]]:
        """The partitions (with a state, not being deleted) that `broker_id` holds a
        replica of."""
        return [
            (t, i)
            for (t, i) in self.states
            if broker_id in self.replicas(t, i) and t not in self.deleting
        ]


def broker_endpoint(registration) -> tuple[str, int, str | None]:
    """(host, port, rack) from the store's broker registration."""
    if isinstance(registration, tuple):
        host, port, *rest = registration
        return host, port, rest[0] if rest else None
    return registration.host, registration.port, getattr(registration, "rack", None)
