"""/api/cluster (brokers, controller, this broker) and /api/stats (the counters the
page's live chart turns into rates).

Single node: this broker is the whole cluster and its controller. Cluster mode: what
this broker's metadata cache knows (the controller's UpdateMetadata): the live
brokers with their racks, the controller's id, and every broker a partition names as
a replica, alive or not.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request

from kafka_compat.apis.registry import Components
from kafka_compat.http.console.common import is_cluster, writes_allowed
from kafka_compat.topics import INTERNAL_TOPICS


class ClusterView:
    """/api/cluster for one broker: it remembers the brokers it saw alive, so that one
    that died shows as not alive rather than vanishing (the metadata cache lists live
    brokers only; replicas name the others)."""

    def __init__(self) -> None:
        self.seen: dict[int, dict[str, Any]] = {}

    async def __call__(self, request: Request, components: Components) -> dict[str, Any]:
        config = components.config
        store = components.store
        allowed, why = writes_allowed(components)
        info: dict[str, Any] = {
            "cluster_id": getattr(store, "cluster_id", "") or "",
            "node_id": components.node_id,
            "mode": "cluster" if is_cluster(components) else "single node",
            "writes": {"allowed": allowed, "reason": why},
            "authorizer": components.authorizer is not None,
        }
        this = {
            "id": components.node_id,
            "host": components.host,
            "port": components.port,
            "rack": config["broker.rack"],
            "alive": True,
            "controller": True,
            "self": True,
        }
        if not is_cluster(components):
            info["controller_id"] = components.node_id
            info["brokers"] = [this]
            return info
        cache = components.metadata_cache
        for endpoint in cache.brokers.values():
            self.seen[endpoint.broker_id] = {
                "host": endpoint.host,
                "port": endpoint.port,
                "rack": endpoint.rack,
            }
        known = set(self.seen) | {components.node_id}
        for parts in cache.topics.values():
            for state in parts.values():
                known.update(state.replicas)
        brokers = []
        for broker_id in sorted(known):
            if broker_id == components.node_id:
                entry = {**this, "controller": broker_id == cache.controller_id}
            else:
                last = self.seen.get(broker_id, {"host": None, "port": None, "rack": None})
                entry = {
                    "id": broker_id,
                    **last,
                    "alive": broker_id in cache.brokers,
                    "controller": broker_id == cache.controller_id,
                    "self": False,
                }
            brokers.append(entry)
        info["controller_id"] = cache.controller_id
        info["brokers"] = brokers
        return info


async def stats(request: Request, components: Components) -> dict[str, Any]:
    """Monotonic per-topic totals (Kafka's BrokerTopicMetrics: MessagesInPerSec,
    BytesInPerSec, BytesOutPerSec) at `time_ms`; the page takes the differences. Kafka
    counts no messages out (a fetch sends whole batches, never counted per record)."""
    topics = components.replica_manager.topic_stats.topics
    return {
        "time_ms": int(time.time() * 1000),
        "topics": {
            name: [s.messages_in, s.bytes_in, s.bytes_out]
            for name, s in topics.items()
            if name not in INTERNAL_TOPICS
        },
        "fields": ["messages_in", "bytes_in", "bytes_out"],
    }
