"""Replica placement: Kafka's AdminUtils.assignReplicasToBrokers, rack-unaware and
rack-aware. Pure functions (no kazoo, no Trio): the ZooKeeper store calls them when
a topic is created or grows, and tests call them directly.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping

from kafka_compat.cluster.store import InvalidPartitions, InvalidReplicationFactor

__all__ = ["assign_replicas"]


def assign_replicas(
    broker_ids: Iterable[int],
    partitions: int,
    replication_factor: int,
    start_index: int | None = None,
    shift: int | None = None,
    *,
    start_partition: int = 0,
    rng: random.Random | None = None,
    racks: Mapping[int, str | None] | None = None,
) -> dict[int, list[int]]:
    """Kafka's replica placement (AdminUtils.assignReplicasToBrokers): rack-aware when
    every broker has a rack (`racks`: broker.rack per broker id), else rack-unaware.

    Rack-unaware (assignReplicasToBrokersRackUnaware): brokers are taken in id order.
    Partition p's first replica (its preferred leader) is broker (p + start_index)
    mod n, so leaders go round-robin; the other replicas follow at a distance of
    1 + (shift + j) mod (n - 1), and the shift grows by one after every n partitions,
    so followers spread too. Rack-aware: the same walk over the brokers taken one
    rack at a time (racks by name), skipping a broker whose rack already holds a
    replica of the partition until every rack does. Kafka picks start_index and
    shift at random; a given start_index is also the shift unless one is given
    (Kafka's fixedStartIndex). start_partition numbers the partitions from there,
    for added partitions (Kafka passes the current count and, as start_index, the
    index of partition 0's first replica).
    """
    brokers = sorted(broker_ids)
    n = len(brokers)
    if partitions <= 0:
        raise InvalidPartitions("Number of partitions must be larger than 0.")
    if replication_factor <= 0:
        raise InvalidReplicationFactor("Replication factor must be larger than 0.")
    if replication_factor > n:
        raise InvalidReplicationFactor(
            f"Replication factor: {replication_factor} larger than available brokers: {n}."
        )
    rng = rng or random.Random()
    if start_index is None:
        start_index = rng.randrange(n)
        if shift is None:
            shift = rng.randrange(n)
    elif shift is None:
        shift = start_index
    if not (racks and all(racks.get(b) is not None for b in brokers)):
        # Rack-unaware is the rack-aware walk with every broker in a rack of its own.
        racks = {b: b for b in brokers}
    return _place(
        brokers, racks, partitions, replication_factor, start_index, shift, start_partition
    )


def _place(
    brokers: list[int],
    racks: Mapping[int, object],
    partitions: int,
    replication_factor: int,
    start_index: int,
    shift: int,
    start_partition: int,
) -> dict[int, list[int]]:
    """The walk assign_replicas describes (Kafka's assignReplicasToBrokersRackAware;
    with one broker per rack it is exactly the rack-unaware placement)."""
    by_rack: dict[object, list[int]] = {}
    for broker in brokers:
        by_rack.setdefault(racks[broker], []).append(broker)
    queues = [iter(by_rack[rack]) for rack in sorted(by_rack)]
    arranged: list[int] = []
    turn = 0
    while len(arranged) < len(brokers):
        broker = next(queues[turn], None)
        if broker is not None:
            arranged.append(broker)
        turn = (turn + 1) % len(queues)
    n, rack_count = len(arranged), len(by_rack)
    result: dict[int, list[int]] = {}
    partition = max(0, start_partition)
    for _ in range(partitions):
        if partition > 0 and partition % n == 0:
            shift += 1
        first = (partition + start_index) % n
        replicas = [arranged[first]]
        used_racks = {racks[arranged[first]]}
        k = 0
        for _ in range(replication_factor - 1):
            while True:
                broker = arranged[(first + 1 + (shift * rack_count + k) % (n - 1)) % n]
                k += 1
                rack_free = racks[broker] not in used_racks or len(used_racks) == rack_count
                if rack_free and broker not in replicas:
                    replicas.append(broker)
                    used_racks.add(racks[broker])
                    break
        result[partition] = replicas
        partition += 1
    return result
