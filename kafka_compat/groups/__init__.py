"""Consumer groups: Kafka's classic group coordinator, KIP-848 consumer groups and
committed offsets.

    records.py            __consumer_offsets keys and values (Kafka's schemas), partitioning
    group.py              one group's state: members, generation, protocol, offsets
    coordinator.py        GroupCoordinator: the membership protocol (join, sync, heartbeat, leave)
    offsets.py            OffsetRequests (GroupCoordinator's base): offset commit (also
                          transactional), fetch, delete; complete_txn_offsets
    rebalance.py          Rebalancer: join and sync rounds, sessions, removing members
    metadata_manager.py   GroupMetadataManager: __consumer_offsets (load, store, offsets, expiry)
    loader.py             replaying a __consumer_offsets partition (transaction markers too)
    timer.py              movable deadlines as Trio tasks (sessions, join and sync rounds)
    consumer_protocol.py  reading subscriptions and assignments of protocol type "consumer"
    consumer_group.py     a KIP-848 group's state: members, epochs, reconciliation
    assignors.py          KIP-848 server-side assignors: uniform, range
    consumer_records.py   the ConsumerGroup* records of __consumer_offsets; replaying them
    consumer_coordinator.py  ConsumerGroupHeartbeat / ConsumerGroupDescribe (the coordinator's)

The request handlers are kafka_compat/apis/groups.py, consumer_group.py, offsets.py,
txn_offset_commit.py and coordinator.py.
"""

from kafka_compat.groups.coordinator import GroupCoordinator
from kafka_compat.groups.metadata_manager import GroupConfig, GroupMetadataManager
from kafka_compat.topics import OFFSETS_TOPIC

__all__ = ["OFFSETS_TOPIC", "GroupConfig", "GroupCoordinator", "GroupMetadataManager"]
