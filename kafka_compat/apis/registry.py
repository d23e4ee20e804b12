"""The API registry (api_key -> handler and versions) and what a handler is given.

Each handler module registers its handlers with `@api(key, min_version, max_version)`
beside the handler; ApiVersions answers from this registry, never from a hand-kept
list. `kafka_compat/apis/handlers.py` imports every handler module.

A handler receives a `RequestContext`: the request's header, version and peer, and the
broker's components (`Components`, built once by the composition root, broker.py).
Handlers use the components, never the broker object.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from kafka_compat.metrics import RequestMetrics, SocketServerStats
from kafka_compat.quotas.controller_mutation import UNBOUNDED, ControllerMutationQuota
from kafka_compat.security.acl_types import CLUSTER_NAME, AclOperation, ResourceType, all_operations
from kafka_compat.security.session import KafkaPrincipal, Session

if TYPE_CHECKING:
    from kafka_compat.admin_manager import AdminManager
    from kafka_compat.cluster.controller import Controller
    from kafka_compat.cluster.membership import ClusterMembership
    from kafka_compat.cluster.metadata_cache import MetadataCache
    from kafka_compat.cluster.store import MetadataStore
    from kafka_compat.config import BrokerConfig
    from kafka_compat.fetch_session import FetchSessionCache
    from kafka_compat.groups import GroupCoordinator
    from kafka_compat.producer_ids import ProducerIdManager
    from kafka_compat.quotas.client_quotas import ClientQuotas
    from kafka_compat.quotas.connection_quotas import ConnectionQuotas
    from kafka_compat.quotas.store import QuotaStore
    from kafka_compat.replica_manager import ReplicaManager
    from kafka_compat.security.acls import AclStore
    from kafka_compat.security.authorizer import Authorizer
    from kafka_compat.security.credentials import ScramCredentialStore
    from kafka_compat.security.delegation_tokens import DelegationTokenManager
    from kafka_compat.txn.coordinator import TransactionCoordinator
    from kafka_compat.txn.verification import PartitionVerifier
    from protocol.headers import RequestHeader


# Requests made without a connection (tests, internal calls): a PLAINTEXT client.
PLAINTEXT_SESSION = Session()


@dataclass(slots=True, eq=False)
class Components:
    """What the handlers use, one set per broker."""

    config: BrokerConfig
    node_id: int
    host: str  # advertised
    port: int  # advertised (the bound port once listening, when configured as 0)
    metadata_cache: MetadataCache
    replica_manager: ReplicaManager
    admin: AdminManager
    producer_ids: ProducerIdManager
    # The coordinators are built on first use: server.py awaits these for the APIs in
    # apis/handlers.py's COORDINATOR_APIS before their handler runs; other users (a
    # Metadata asking for __consumer_offsets, the console) await them too.
    start_group_coordinator: Callable[[], Awaitable[GroupCoordinator]]
    start_txn_coordinator: Callable[[], Awaitable[TransactionCoordinator]]
    group_coordinator: GroupCoordinator | None = None  # None until started
    txn_coordinator: TransactionCoordinator | None = None
    # KIP-890's check of transactional batches (None: transaction.partition.
    # verification.enable is false, or no transaction coordinator yet).
    txn_verifier: PartitionVerifier | None = None
    # Cluster mode only: the controller election and this broker's registration.
    cluster: ClusterMembership | None = None
    store: MetadataStore | None = None  # the metadata store, once open (reads only)
    fetch_sessions: FetchSessionCache | None = None  # KIP-227 (None: sessionless only)
    # SCRAM credentials (reads from the metadata store's user configs).
    credentials: ScramCredentialStore | None = None
    # Delegation tokens (None: no delegation.token.secret.key, the APIs answer
    # DELEGATION_TOKEN_AUTH_DISABLED).
    delegation_tokens: DelegationTokenManager | None = None
    # Advertised (host, port) per listener name; a client is told its own listener's.
    endpoints: dict[str, tuple[str, int]] = field(default_factory=dict)

    def endpoint(self, listener: str) -> tuple[str, int]:
        return self.endpoints.get(listener, (self.host, self.port))

    # ACLs (authorizer.class.name set); None: every request is authorized.
    authorizer: Authorizer | None = None
    acls: AclStore | None = None
    # Client quotas (quotas/): what the store holds, and the managers that apply it.
    quota_store: QuotaStore | None = None
    quotas: ClientQuotas | None = None

    def reload_quotas(self, *_changed) -> None:
        """The quotas changed in the store (this broker's write or a notification)."""
        if self.quotas is not None and self.quota_store is not None:
            self.quotas.load(self.quota_store.entries())

    # Connection limits and rates (the `ip` entity's connection_creation_rate quota
    # goes to its update_ip_quota / set_ip_quotas).
    connection_quotas: ConnectionQuotas | None = None

    # Counted by server.py per request and connection; read by /metrics (metrics.py).
    request_metrics: RequestMetrics = field(default_factory=RequestMetrics)
    socket_stats: SocketServerStats = field(default_factory=SocketServerStats)


class RequestContext:
    """What a handler knows about the request besides its body, and the components."""

    __slots__ = ("components", "header", "version", "peer", "session")

    def __init__(
        self,
        components: Components,
        header: RequestHeader,
        version: int,
        peer: str,
        session: Session = PLAINTEXT_SESSION,
    ):
        self.components = components
        self.header = header
        self.version = version
        self.peer = peer
        self.session = session  # the connection's listener and principal

    @property
    def principal(self) -> KafkaPrincipal:
        return self.session.principal

    def controller_mutation_quota(self, strict: bool) -> ControllerMutationQuota:
        """Kafka's newQuotaFor: what this request's partition creations and deletions
        are recorded against (quotas/controller_mutation.py); `strict` refuses them
        past the quota, else they are done and the client throttled."""
        quotas = self.components.quotas
        if quotas is None:
            return UNBOUNDED
        client_id = self.header.client_id or ""
        return quotas.controller_mutation.new_quota_for(self.principal.name, client_id, strict)

    def authorize(self, operation: AclOperation, resource_type: ResourceType, name: str) -> bool:
        """Kafka's authorize: may this connection's principal do `operation` on the
        resource? Always True without an authorizer."""
        authorizer = self.components.authorizer
        if authorizer is None:
            return True
        session = self.session
        return authorizer.authorize(
            str(session.principal), session.peer_host, operation, resource_type, name
        )

    def authorized(
        self, operation: AclOperation, resource_type: ResourceType, names: Iterable[str]
    ) -> set[str]:
        """The names among `names` this principal may do `operation` on (one check each)."""
        authorizer = self.components.authorizer
        if authorizer is None:
            return set(names)
        session = self.session
        principal, host = str(session.principal), session.peer_host
        return {
            n
            for n in set(names)
            if authorizer.authorize(principal, host, operation, resource_type, n)
        }

    def authorize_any(self, operation: AclOperation, resource_type: ResourceType) -> bool:
        """KIP-679's authorizeByResourceType: allowed on at least one such resource?"""
        authorizer = self.components.authorizer
        if authorizer is None:
            return True
        session = self.session
        return authorizer.authorize_any(
            str(session.principal), session.peer_host, operation, resource_type
        )

    def authorize_cluster(self, operation: AclOperation) -> bool:
        return self.authorize(operation, ResourceType.CLUSTER, CLUSTER_NAME)

    def authorize_inter_broker(self) -> bool:
        """CLUSTER_ACTION on the cluster, which the inter-broker APIs need (the brokers'
        principal gets it from super.users or an ACL, as in Kafka)."""
        return self.authorize(AclOperation.CLUSTER_ACTION, ResourceType.CLUSTER, CLUSTER_NAME)

    def authorized_operations(self, resource_type: ResourceType, name: str) -> int:
        """authorized_operations' bit set (every supported one without an authorizer)."""
        authorizer = self.components.authorizer
        if authorizer is None:
            return all_operations(resource_type)
        session = self.session
        return authorizer.operations(str(session.principal), session.peer_host, resource_type, name)

    @property
    def config(self) -> BrokerConfig:
        return self.components.config

    @property
    def node_id(self) -> int:
        return self.components.node_id

    @property
    def store(self) -> MetadataStore:
        return self.components.store

    @property
    def metadata_cache(self) -> MetadataCache:
        return self.components.metadata_cache

    @property
    def replica_manager(self) -> ReplicaManager:
        return self.components.replica_manager

    @property
    def admin(self) -> AdminManager:
        return self.components.admin

    @property
    def group_coordinator(self) -> GroupCoordinator:
        """Started by then for the APIs in COORDINATOR_APIS (server.py)."""
        return self.components.group_coordinator  # type: ignore[return-value]

    @property
    def producer_ids(self) -> ProducerIdManager:
        return self.components.producer_ids

    @property
    def txn_coordinator(self) -> TransactionCoordinator:
        """Started by then for the APIs in TXN_COORDINATOR_APIS (server.py)."""
        return self.components.txn_coordinator  # type: ignore[return-value]

    @property
    def cluster(self) -> ClusterMembership | None:
        """Cluster mode's membership (the controller it may hold); None on a single node."""
        return self.components.cluster

    @property
    def controller(self) -> Controller | None:
        """The controller, when this broker is it (cluster mode)."""
        cluster = self.components.cluster
        return None if cluster is None else cluster.active_controller


Handler = Callable[[RequestContext, Any], Awaitable[Any]]
T = TypeVar("T")


def by_topic(results: Mapping[tuple[str, int], T]) -> dict[str, list[tuple[int, T]]]:
    """Per-partition results keyed (topic, partition), grouped per topic, as responses
    list them: {topic: [(partition, result), ...]} in the given order."""
    grouped: dict[str, list[tuple[int, T]]] = {}
    for (topic, partition), result in results.items():
        grouped.setdefault(topic, []).append((partition, result))
    return grouped


class _CloseConnection:
    def __repr__(self) -> str:
        return "CLOSE_CONNECTION"


# A handler's answer that closes the connection instead (Produce acks=0 with an error:
# the client has no response to learn from, so it reconnects and refreshes metadata).
CLOSE_CONNECTION = _CloseConnection()


class Api(NamedTuple):
    key: int
    min_version: int
    max_version: int
    handler: Handler
    # Versions advertised but refused (none today; KAFKA-18659-style cases).
    min_accepted: int


REGISTRY: dict[int, Api] = {}


def api(
    key: int, min_version: int, max_version: int, *, min_accepted: int | None = None
) -> Callable[[Handler], Handler]:
    """Register `handler` as the implementation of `key` for versions min..max."""

    def register(handler: Handler) -> Handler:
        if key in REGISTRY:
            raise RuntimeError(f"api key {key} registered twice")
        accepted = min_version if min_accepted is None else min_accepted
        REGISTRY[key] = Api(key, min_version, max_version, handler, accepted)
        return handler

    return register
