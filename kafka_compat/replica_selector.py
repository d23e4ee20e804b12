"""Which replica a consumer should read from (KIP-392, Kafka's ReplicaSelector):
`replica.selector.class` = RackAwareReplicaSelector points a consumer in another
replica's rack to that replica."""

from __future__ import annotations

from kafka_compat.cluster.metadata_cache import MetadataCache
from kafka_compat.replica import Partition

RACK_AWARE_SELECTOR = "org.apache.kafka.common.replica.RackAwareReplicaSelector"


class RackAwareReplicaSelector:
    """Kafka's RackAwareReplicaSelector: the leader if it is in the client's rack,
    else the replica there whose log end offset is highest (and covers the fetch)."""

    def __init__(self, metadata_cache: MetadataCache, local_id: int, client_rack: str):
        self.brokers = metadata_cache.brokers
        self.local_id = local_id
        self.client_rack = client_rack

    def preferred(self, partition: Partition, fetch_offset: int) -> int:
        """Another replica to read from, or -1 for this leader."""
        if self._rack(self.local_id) == self.client_rack:
            return -1
        candidates = [
            (follower.log_end_offset, replica)
            for replica, follower in partition.followers.items()
            if self._rack(replica) == self.client_rack and follower.log_end_offset >= fetch_offset
        ]
        return max(candidates)[1] if candidates else -1

    def _rack(self, broker_id: int) -> str | None:
        endpoint = self.brokers.get(broker_id)
        return endpoint.rack if endpoint is not None else None
