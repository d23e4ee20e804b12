"""Every handler module, imported so that each registers itself in the registry."""

from __future__ import annotations

from kafka_compat.apis import (  # noqa: F401
    acls,
    admin,
    alter_partition,
    api_versions,
    client_quotas,
    configs,
    consumer_group,
    coordinator,
    elect_leaders,
    features,
    fetch,
    groups,
    list_offsets,
    log_dirs,
    metadata,
    offsets,
    produce,
    producer_id,
    producers,
    reassignments,
    replication,
    sasl,
    scram_credentials,
    txn,
    txn_offset_commit,
)
from kafka_compat.apis.registry import REGISTRY, Api

__all__ = ["REGISTRY", "Api", "load_handlers"]


def load_handlers() -> dict[int, Api]:
    """The registry, with every handler module registered (they are, on import)."""
    return REGISTRY
