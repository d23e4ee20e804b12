"""Which module handles each API, and the versions it serves, without importing it.

`HANDLERS` answers ApiVersions and dispatches requests from a static table, so a broker
starts without importing the ~25 handler modules (their own imports and the response
classes they name: about 30 ms CPU). A module is imported on the first request of one
of its APIs; then its entry is the one its `@api` registered in `registry.REGISTRY`.
`@api` beside each handler stays the source of truth: tests/kafka_compat/
test_api_registry.py checks that `TABLE` equals what the modules register.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from kafka_compat.apis.registry import REGISTRY, Api, Handler, RequestContext
from protocol.api_keys import ApiKey

__all__ = [
    "COORDINATOR_APIS",
    "HANDLERS",
    "TABLE",
    "TXN_COORDINATOR_APIS",
    "Api",
    "load_handlers",
]

# api key -> (module under kafka_compat.apis, min_version, max_version)
TABLE: dict[int, tuple[str, int, int]] = {
    ApiKey.PRODUCE: ("produce", 0, 11),
    ApiKey.FETCH: ("fetch", 0, 17),
    ApiKey.LIST_OFFSETS: ("list_offsets", 0, 9),
    ApiKey.METADATA: ("metadata", 0, 12),
    ApiKey.LEADER_AND_ISR: ("replication", 0, 7),
    ApiKey.STOP_REPLICA: ("replication", 0, 4),
    ApiKey.UPDATE_METADATA: ("replication", 0, 8),
    ApiKey.CONTROLLED_SHUTDOWN: ("replication", 0, 3),
    ApiKey.OFFSET_COMMIT: ("offsets", 0, 9),
    ApiKey.OFFSET_FETCH: ("offsets", 0, 9),
    ApiKey.FIND_COORDINATOR: ("coordinator", 0, 6),
    ApiKey.JOIN_GROUP: ("groups", 0, 9),
    ApiKey.HEARTBEAT: ("groups", 0, 4),
    ApiKey.LEAVE_GROUP: ("groups", 0, 5),
    ApiKey.SYNC_GROUP: ("groups", 0, 5),
    ApiKey.DESCRIBE_GROUPS: ("groups", 0, 5),
    ApiKey.LIST_GROUPS: ("groups", 0, 5),
    ApiKey.SASL_HANDSHAKE: ("sasl", 0, 1),
    ApiKey.API_VERSIONS: ("api_versions", 0, 4),
    ApiKey.CREATE_TOPICS: ("admin", 0, 7),
    ApiKey.DELETE_TOPICS: ("admin", 0, 6),
    ApiKey.DELETE_RECORDS: ("admin", 0, 2),
    ApiKey.INIT_PRODUCER_ID: ("producer_id", 0, 5),
    ApiKey.OFFSET_FOR_LEADER_EPOCH: ("replication", 0, 4),
    ApiKey.ADD_PARTITIONS_TO_TXN: ("txn", 0, 5),
    ApiKey.ADD_OFFSETS_TO_TXN: ("txn", 0, 4),
    ApiKey.END_TXN: ("txn", 0, 4),
    ApiKey.WRITE_TXN_MARKERS: ("txn", 0, 1),
    ApiKey.TXN_OFFSET_COMMIT: ("txn_offset_commit", 0, 4),
    ApiKey.DESCRIBE_ACLS: ("acls", 0, 3),
    ApiKey.CREATE_ACLS: ("acls", 0, 3),
    ApiKey.DELETE_ACLS: ("acls", 0, 3),
    ApiKey.DESCRIBE_CONFIGS: ("configs", 0, 4),
    ApiKey.ALTER_CONFIGS: ("configs", 0, 2),
    ApiKey.ALTER_REPLICA_LOG_DIRS: ("log_dirs", 0, 2),
    ApiKey.DESCRIBE_LOG_DIRS: ("log_dirs", 0, 4),
    ApiKey.SASL_AUTHENTICATE: ("sasl", 0, 2),
    ApiKey.CREATE_PARTITIONS: ("admin", 0, 3),
    ApiKey.CREATE_DELEGATION_TOKEN: ("delegation_tokens", 0, 3),
    ApiKey.RENEW_DELEGATION_TOKEN: ("delegation_tokens", 0, 2),
    ApiKey.EXPIRE_DELEGATION_TOKEN: ("delegation_tokens", 0, 2),
    ApiKey.DESCRIBE_DELEGATION_TOKEN: ("delegation_tokens", 0, 3),
    ApiKey.DELETE_GROUPS: ("groups", 0, 2),
    ApiKey.ELECT_LEADERS: ("elect_leaders", 0, 2),
    ApiKey.INCREMENTAL_ALTER_CONFIGS: ("configs", 0, 1),
    ApiKey.ALTER_PARTITION_REASSIGNMENTS: ("reassignments", 0, 0),
    ApiKey.LIST_PARTITION_REASSIGNMENTS: ("reassignments", 0, 0),
    ApiKey.OFFSET_DELETE: ("offsets", 0, 0),
    ApiKey.DESCRIBE_CLIENT_QUOTAS: ("client_quotas", 0, 1),
    ApiKey.ALTER_CLIENT_QUOTAS: ("client_quotas", 0, 1),
    ApiKey.DESCRIBE_USER_SCRAM_CREDENTIALS: ("scram_credentials", 0, 0),
    ApiKey.ALTER_USER_SCRAM_CREDENTIALS: ("scram_credentials", 0, 0),
    ApiKey.ALTER_PARTITION: ("alter_partition", 0, 3),
    ApiKey.UPDATE_FEATURES: ("features", 0, 1),
    ApiKey.DESCRIBE_CLUSTER: ("admin", 0, 1),
    ApiKey.DESCRIBE_PRODUCERS: ("producers", 0, 0),
    ApiKey.DESCRIBE_TRANSACTIONS: ("txn", 0, 0),
    ApiKey.LIST_TRANSACTIONS: ("txn", 0, 1),
    ApiKey.CONSUMER_GROUP_HEARTBEAT: ("consumer_group", 0, 1),
    ApiKey.CONSUMER_GROUP_DESCRIBE: ("consumer_group", 0, 0),
}

# The APIs a coordinator answers: server.py starts it (Components.start_*_coordinator)
# before their handler runs, as the broker builds its coordinators on first use. The
# transaction coordinator's need both (it completes transactional offset commits
# through the group coordinator); FindCoordinator for a transactional id starts it in
# its handler.
TXN_COORDINATOR_APIS = frozenset(
    {
        ApiKey.INIT_PRODUCER_ID,
        ApiKey.ADD_PARTITIONS_TO_TXN,
        ApiKey.ADD_OFFSETS_TO_TXN,
        ApiKey.END_TXN,
        ApiKey.TXN_OFFSET_COMMIT,
        ApiKey.DESCRIBE_TRANSACTIONS,
        ApiKey.LIST_TRANSACTIONS,
    }
)
COORDINATOR_APIS = TXN_COORDINATOR_APIS | {
    ApiKey.OFFSET_COMMIT,
    ApiKey.OFFSET_FETCH,
    ApiKey.FIND_COORDINATOR,
    ApiKey.JOIN_GROUP,
    ApiKey.HEARTBEAT,
    ApiKey.LEAVE_GROUP,
    ApiKey.SYNC_GROUP,
    ApiKey.DESCRIBE_GROUPS,
    ApiKey.LIST_GROUPS,
    ApiKey.DELETE_GROUPS,
    ApiKey.OFFSET_DELETE,
    ApiKey.CONSUMER_GROUP_HEARTBEAT,
    ApiKey.CONSUMER_GROUP_DESCRIBE,
    ApiKey.WRITE_TXN_MARKERS,
}


def _registered(key: int) -> Api:
    """The entry `@api` registered for `key`, importing its module if need be; it
    replaces the table's entry so that later requests go straight to the handler."""
    entry = REGISTRY.get(key)
    if entry is None:
        import_module(f"kafka_compat.apis.{TABLE[key][0]}")
        entry = REGISTRY[key]
    HANDLERS[key] = entry
    return entry


def _first_request(key: int) -> Handler:
    async def handle(ctx: RequestContext, request: Any) -> Any:
        return await _registered(key).handler(ctx, request)

    return handle


# Every API this broker serves; an entry's handler imports its module on first call.
HANDLERS: dict[int, Api] = {
    key: Api(key, low, high, _first_request(key), low) for key, (_, low, high) in TABLE.items()
}


def load_handlers() -> dict[int, Api]:
    """Every API's registered entry, each handler module imported."""
    for key in TABLE:
        _registered(key)
    return dict(HANDLERS)
