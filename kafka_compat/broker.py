"""One broker process: the composition root. It builds the components (replica
manager, admin manager, group coordinator, producer ids, cluster membership), hands
the handlers what they use (`Components`), and owns their tasks in one nursery.

`Broker.serve()` loads the data dir, starts listening, and runs until cancelled;
cancelling it (Ctrl-C, SIGTERM, a test fixture) is the shutdown, after which the
logs are flushed and checkpointed so that the next start is clean.

Cluster mode (`zookeeper.connect` set): the ZooKeeper store (cluster/zk_store.py)
runs in the `zookeeper_session` nursery around everything else, so the broker's
registration goes only after it stopped serving. Partitions are hosted when a
LeaderAndIsr names this broker a replica (ReplicaManager.host_partition); every other
partition of a known topic is listed with a `RemoteLog`, which answers
NOT_LEADER_OR_FOLLOWER. The controller's UpdateMetadata fills the metadata cache,
which Metadata answers from. Topic creation writes the assignment to ZooKeeper and
waits for the leaders, as Kafka 2.8 brokers do; see docs/cluster.md.

Only the CLI, the dev cluster and tests import this module.
"""

from __future__ import annotations

import errno
import logging
from typing import TYPE_CHECKING

import trio

from kafka_compat.acceptor import close_idle_connections, serve_listener
from kafka_compat.admin_manager import AdminManager, ZkAdminManager
from kafka_compat.apis.registry import Components
from kafka_compat.cluster.metadata_cache import MetadataCache
from kafka_compat.cluster.store import LocalStore, MetadataStore, new_cluster_id
from kafka_compat.config import BrokerConfig, ConfigError
from kafka_compat.fetch_session import FetchSessionCache
from kafka_compat.http import bind_http_listener, serve_http
from kafka_compat.log_tasks import run_log_tasks
from kafka_compat.producer_ids import ProducerIdManager
from kafka_compat.quotas.client_quotas import ClientQuotas
from kafka_compat.quotas.connection_quotas import ConnectionQuotas
from kafka_compat.quotas.store import QuotaStore
from kafka_compat.replica_manager import ReplicaManager
from kafka_compat.security.credentials import ScramCredentialStore
from kafka_compat.security.listeners import Endpoint, listener_config
from kafka_compat.security.tls import (
    ListenerStores,
    PrincipalMapper,
    check_listener_stores,
    client_context,
    listener_tls,
    store_files,
)
from kafka_compat.server import ListenerSecurity
from kafka_compat.topics import OFFSETS_TOPIC, TRANSACTION_STATE_TOPIC
from storage.log_dirs import LogDirError, LogDirs

if TYPE_CHECKING:
    from kafka_compat.cluster.client import InterBrokerSecurity
    from kafka_compat.groups import GroupCoordinator
    from kafka_compat.security.authorizer import Authorizer
    from kafka_compat.txn.coordinator import TransactionCoordinator

log = logging.getLogger(__name__)


class Broker:
    def __init__(self, config: BrokerConfig):
        self.config = config
        self.node_id = config.broker_id
        self.log_dir = config.log_dir
        self.cluster_mode = config["zookeeper.connect"] is not None
        self.store: MetadataStore | None = None
        self.log_manager: LogDirs | None = None
        self.bound_port: int | None = None
        self.bound_ports: dict[str, int] = {}  # listener name -> bound port
        self.http_port: int | None = None  # the HTTP listener's bound port (http.listener)
        # SCRAM credentials stored before the listeners open, (user, mechanism,
        # password, replace): `serve --add-scram` as Kafka's `kafka-storage format
        # --add-scram` (KIP-900: only where the user has none), `serve --dev-tls`
        # (replace: its settings file holds the password).
        self.bootstrap_scram: list[tuple[str, str, str, bool]] = []
        # Each listener's TLS context (read now: a bad key store stops start-up), and the
        # certificate it serves (a reloaded key store must keep its DN and SANs).
        self.listener_security = []
        self.listener_stores: dict[str, ListenerStores] = {}
        self.listener_files: dict[str, dict] = {}  # their store files as loaded
        for endpoint in config.listeners:
            context = None
            if endpoint.tls:
                self.listener_files[endpoint.listener] = store_files(config, endpoint.listener)
                context, certificate = listener_tls(config, endpoint.listener, endpoint.sasl)
                self.listener_stores[endpoint.listener] = ListenerStores(context, certificate)
            rules = config.listener_props.get(
                f"listener.name.{endpoint.listener.lower()}.ssl.principal.mapping.rules",
                config["ssl.principal.mapping.rules"],
            )
            self.listener_security.append(
                ListenerSecurity(endpoint, context, PrincipalMapper(rules))
            )
        self.inter_broker_security = _inter_broker_security(config) if self.cluster_mode else None
        # The SASL mechanisms' modules now, not on the first login; OAUTHBEARER
        # validators too, as Kafka configures them at start-up: a bad config or a JWKS
        # endpoint that cannot be fetched stops start-up, and the first login never
        # waits for a fetch.
        for endpoint in config.listeners:
            if not endpoint.sasl:
                continue
            from kafka_compat.security.sasl import mechanism_server

            for mechanism in _enabled_mechanisms(config, endpoint.listener):
                mechanism_server(mechanism)
                if mechanism == "OAUTHBEARER":
                    from kafka_compat.security.oauthbearer import validator_for

                    validator_for(config, endpoint.listener)
        self.metadata_cache = MetadataCache()
        self.replica_manager = ReplicaManager(config, self.node_id, self.metadata_cache)
        admin = ZkAdminManager if self.cluster_mode else AdminManager
        self.admin = admin(config, self.node_id, self.replica_manager, self.metadata_cache)
        self.producer_ids = ProducerIdManager(self.node_id)
        self.cluster = None
        if self.cluster_mode:
            # Imported here: a single node never loads the controller, ZooKeeper client
            # and friends (start-up time, docs/architecture.md).
            from kafka_compat.cluster.membership import ClusterMembership

            self.cluster = ClusterMembership(
                config, self.node_id, self.replica_manager, self.metadata_cache
            )
        # The group coordinator (__consumer_offsets) and the transaction coordinator
        # (__transaction_state) are built on first use: a group or transactional request
        # (server.py), their topic led by this broker, or found at start-up. A broker
        # that never sees a group never imports them (start-up time, docs/architecture.md).
        self.group_coordinator: GroupCoordinator | None = None
        self.txn_coordinator: TransactionCoordinator | None = None
        self._coordinator_lock = trio.Lock()
        self._connections: trio.Nursery | None = None  # where their tasks run
        self.replica_manager.on_leadership_change(
            OFFSETS_TOPIC, self._load_offsets_partition, self._unload_offsets_partition
        )
        self.replica_manager.on_leadership_change(
            TRANSACTION_STATE_TOPIC, self._load_txn_partition, self._unload_txn_partition
        )
        self.components = Components(
            config=config,
            node_id=self.node_id,
            host=config.advertised_host,
            port=config.advertised_port,
            metadata_cache=self.metadata_cache,
            replica_manager=self.replica_manager,
            admin=self.admin,
            producer_ids=self.producer_ids,
            start_group_coordinator=self.start_group_coordinator,
            start_txn_coordinator=self.start_txn_coordinator,
            cluster=self.cluster,
            fetch_sessions=FetchSessionCache(config["max.incremental.fetch.session.cache.slots"]),
            credentials=ScramCredentialStore(),
            quota_store=QuotaStore(),
            quotas=ClientQuotas(
                config["quota.window.num"],
                config["quota.window.size.seconds"],
                config["controller.quota.window.num"],
                config["controller.quota.window.size.seconds"],
            ),
        )
        self.admin.on_listener_configs_change = self._reload_key_stores
        # max.connections* and connection creation rates (a bad override stops start-up).
        self.connection_quotas = ConnectionQuotas(
            config, [e.listener for e in config.listeners], config.inter_broker_listener
        )
        self.admin.on_connection_configs_change = self._reconfigure_connection_quotas
        self.components.connection_quotas = self.connection_quotas
        # The `ip` entity's connection_creation_rate quotas (AlterClientQuotas) apply here.
        self.components.quotas.on_ip_quota_change(self.connection_quotas.update_ip_quota)
        self.admin.validate_listener_configs = lambda dynamic: check_listener_stores(
            self.config, dynamic, self.listener_stores, self._rewritten_store_files()
        )
        self.admin.reload_rewritten_store_files = lambda: self._reload_listeners(
            self._rewritten_store_files()
        )
        if config["delegation.token.secret.key"] or config["delegation.token.master.key"]:
            # Delegation tokens (KIP-48): the store is attached when the metadata opens.
            from kafka_compat.security.delegation_tokens import DelegationTokenManager

            self.components.delegation_tokens = DelegationTokenManager(config)
        if config["authorizer.class.name"]:
            from kafka_compat.security.authorizer import Authorizer

            self.components.authorizer = Authorizer(
                config["super.users"], config["allow.everyone.if.no.acl.found"]
            )

    def _reload_key_stores(self, changed: set[str]) -> None:
        """New key or trust stores for some listeners (AlterConfigs of listener.name.<l>.
        ssl.*): new connections use them; open ones keep theirs, as Kafka."""
        self._reload_listeners(
            {
                e.listener
                for e in self.config.listeners
                if any(n.startswith(f"listener.name.{e.listener.lower()}.ssl.") for n in changed)
            }
        )

    def _rewritten_store_files(self) -> set[str]:
        """The TLS listeners whose key or trust store file changed since it was loaded."""
        return {
            listener
            for listener, files in self.listener_files.items()
            if store_files(self.config, listener) != files
        }

    def _reload_listeners(self, listeners: set[str]) -> None:
        for security in self.listener_security:
            endpoint = security.endpoint
            if not endpoint.tls or endpoint.listener not in listeners:
                continue
            files = store_files(self.config, endpoint.listener)
            try:
                context, certificate = listener_tls(self.config, endpoint.listener, endpoint.sasl)
            except ConfigError as exc:
                log.error("Keeping listener %s's key store: %s", endpoint.listener, exc)
                continue
            security.tls_context = context
            self.listener_stores[endpoint.listener] = ListenerStores(context, certificate)
            self.listener_files[endpoint.listener] = files
            ib = self.inter_broker_security
            if endpoint.listener == self.config.inter_broker_listener and ib is not None:
                # Our own certificate towards the peers too (new connections).
                ib.ssl_context = client_context(self.config, endpoint.listener)
            log.info("Listener %s: key and trust stores reloaded", endpoint.listener)

    def _reconfigure_connection_quotas(self) -> None:
        try:
            self.connection_quotas.reconfigure(self.config)
        except ConfigError as exc:
            log.error("Keeping the connection limits: %s", exc)

    # ---- the coordinators, built on first use ----

    async def start_group_coordinator(self) -> GroupCoordinator:
        """The group coordinator; the first call builds it and starts its task (loading
        the offsets partitions this broker leads), concurrent calls wait for that."""
        if self.group_coordinator is None:
            async with self._coordinator_lock:
                if self.group_coordinator is None:
                    await self._start_group_coordinator()
        return self.group_coordinator

    async def _start_group_coordinator(self) -> None:
        from kafka_compat.groups import GroupConfig, GroupCoordinator, GroupMetadataManager
        from kafka_compat.groups.metadata_manager import ReplicatedOffsetsTopic

        coordinator = GroupCoordinator(
            GroupMetadataManager(
                ReplicatedOffsetsTopic(
                    self.admin, self.replica_manager, leads_all=not self.cluster_mode
                ),
                GroupConfig.from_broker_config(self.config),
            )
        )
        await self._running().start(coordinator.run)
        self.group_coordinator = self.components.group_coordinator = coordinator

    async def start_txn_coordinator(self) -> TransactionCoordinator:
        """The transaction coordinator (and the group coordinator, which completes
        transactional offset commits), built and started on first call."""
        if self.txn_coordinator is None:
            groups = await self.start_group_coordinator()
            async with self._coordinator_lock:
                if self.txn_coordinator is None:
                    await self._start_txn_coordinator(groups)
        return self.txn_coordinator

    async def _start_txn_coordinator(self, groups: GroupCoordinator) -> None:
        from kafka_compat.txn.coordinator import TransactionCoordinator
        from kafka_compat.txn.markers import TxnMarkerSender
        from kafka_compat.txn.state_manager import (
            TransactionLogTopic,
            TransactionStateManager,
            TxnConfig,
        )

        txn_config = TxnConfig.from_broker_config(self.config)
        marker_sender = TxnMarkerSender(
            self.node_id,
            self.replica_manager,
            self.metadata_cache,
            cluster_mode=self.cluster_mode,
            request_timeout_ms=txn_config.request_timeout_ms,
        )
        marker_sender.complete_txn_offsets = groups.complete_txn_offsets
        coordinator = TransactionCoordinator(
            TransactionStateManager(
                TransactionLogTopic(
                    self.admin, self.replica_manager, leads_all=not self.cluster_mode
                ),
                txn_config,
            ),
            self.producer_ids,
            marker_sender,
        )
        if txn_config.verification_enabled:  # KIP-890's check of transactional batches
            from kafka_compat.txn.verification import PartitionVerifier

            verifier = PartitionVerifier(
                coordinator,
                self.replica_manager,
                self.metadata_cache,
                self.node_id,
                cluster_mode=self.cluster_mode,
                request_timeout_ms=txn_config.request_timeout_ms,
            )
            coordinator.on_stop.append(verifier.aclose)
            self.components.txn_verifier = verifier
        await self._running().start(coordinator.run)
        self.txn_coordinator = self.components.txn_coordinator = coordinator

    def _running(self) -> trio.Nursery:
        if self._connections is None:
            raise RuntimeError("the broker is not serving: no coordinator can start")
        return self._connections

    async def _load_offsets_partition(self, index: int) -> None:
        await (await self.start_group_coordinator()).load_partition(index)

    def _unload_offsets_partition(self, index: int) -> None:
        if self.group_coordinator is not None:
            self.group_coordinator.unload_partition(index)

    async def _load_txn_partition(self, index: int) -> None:
        await (await self.start_txn_coordinator()).load_partition(index)

    def _unload_txn_partition(self, index: int) -> None:
        if self.txn_coordinator is not None:
            self.txn_coordinator.unload_partition(index)

    def _use_store(self, store: MetadataStore) -> None:
        self.store = store
        self.components.store = store
        self.admin.store = store
        self.producer_ids.store = store
        self.components.credentials.store = store
        self.components.quota_store.store = store
        self.components.reload_quotas()
        if self.cluster is not None:
            self.cluster.store = store

    # ---- start-up and shutdown ----

    def load(self) -> None:
        """Single node: open the data dir: identity, metadata, every partition's log."""
        self.load_identity()
        self._use_store(LocalStore(self.log_dir, self.log_manager.meta_properties["cluster.id"]))
        self.admin.apply_broker_configs()  # dynamic broker configs kept in the store
        authorizer = self.components.authorizer
        if authorizer is not None:
            from kafka_compat.security.acls import LocalAclStore

            self.components.acls = LocalAclStore(authorizer.cache, self.log_dir)
        tokens = self.components.delegation_tokens
        if tokens is not None:
            from kafka_compat.security.token_store import LocalTokenStore

            LocalTokenStore(tokens, self.store)
        self.replica_manager.startup(self.log_manager, self.store)
        for topic in self.store.topics.values():
            self.replica_manager.open_partitions(topic, is_new=False)

    def load_identity(self, cluster_id: str | None = None) -> None:
        """meta.properties: this directory's broker and cluster ids."""
        self.log_manager = LogDirs(
            self.config.log_dirs,
            self.replica_manager.log_config({}),
            broker_id=self.node_id,
            cluster_id=cluster_id or new_cluster_id(),
            producer_id_expiration_ms=self.config["producer.id.expiration.ms"],
        )
        # The store needs the cluster id, which the data dirs keep in meta.properties.
        try:
            self.log_manager.load_meta_properties()
        except LogDirError as exc:
            raise ConfigError(str(exc)) from exc
        meta = self.log_manager.meta_properties
        dirs = ",".join(str(d) for d in self.log_manager.managers)
        if meta.get("broker.id", str(self.node_id)) != str(self.node_id):
            raise ConfigError(
                f"Configured broker.id {self.node_id} doesn't match stored broker.id "
                f"{meta['broker.id']} in meta.properties of {dirs}"
            )
        if cluster_id is not None and meta.get("cluster.id", cluster_id) != cluster_id:
            raise ConfigError(
                f"The Cluster ID {cluster_id} doesn't match stored clusterId "
                f"{meta['cluster.id']} in meta.properties of {dirs}: the data dir "
                "belongs to another cluster"
            )

    def close(self) -> None:
        self.replica_manager.shutdown()
        self.log_manager = None

    async def serve(self, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Listen and serve until cancelled; then shut down cleanly."""
        if not self.cluster_mode:
            # Opening the logs may mean recovering them: keep that off the event loop.
            await trio.to_thread.run_sync(self.load)
            await self._serve(task_status)
            return
        # Cluster mode: the ZooKeeper session outlives the listener, so that the
        # broker's registration goes only after it stopped serving.
        from kafka_compat.cluster.client import INTER_BROKER_SECURITY  # cluster mode only
        from kafka_compat.cluster.membership import cluster_store

        # Every BrokerClient of this broker's tasks connects with it (cluster/client.py).
        INTER_BROKER_SECURITY.set(self.inter_broker_security)

        async with trio.open_nursery() as zookeeper_session:
            store = cluster_store(self.config)
            await zookeeper_session.start(store.run)
            self._use_store(store)
            store.on_broker_configs_change(self.admin.apply_broker_configs)
            # Quotas set through any broker (/config/changes notifications).
            store.on_user_configs_change(self.components.reload_quotas)
            store.on_quota_configs_change(self.components.reload_quotas)
            authorizer = self.components.authorizer
            if authorizer is not None:
                from kafka_compat.security.acls import ZkAclStore

                acls = ZkAclStore(authorizer.cache, store)
                await zookeeper_session.start(acls.run)
                self.components.acls = acls
                _warn_unless_brokers_allowed(authorizer, self.config)
            tokens = self.components.delegation_tokens
            if tokens is not None:
                from kafka_compat.security.token_store import ZkTokenStore

                await zookeeper_session.start(ZkTokenStore(tokens, store).run)

            async def tell_controller() -> None:
                # A log dir failed: the controller elects other leaders for its
                # partitions (Kafka's propagateLogDirEvent).
                try:
                    await store.notify_log_dir_failure(self.node_id)
                except Exception as exc:
                    log.error("Could not tell the controller a log dir failed: %s", exc)

            self.replica_manager.on_log_dir_failure = tell_controller
            await trio.to_thread.run_sync(self.load_identity, store.cluster_id)
            self.admin.apply_broker_configs()  # /config/brokers/<id> and <default>
            await trio.to_thread.run_sync(self.replica_manager.startup, self.log_manager, store)
            self.replica_manager.remove_stray_logs()
            try:
                await self._serve(task_status)
            finally:
                zookeeper_session.cancel_scope.cancel()

    async def _serve(self, task_status) -> None:
        components = self.components
        try:
            async with trio.open_nursery() as connections:
                await connections.start(self.replica_manager.run)
                self._connections = connections
                # A cluster broker, or a data dir that has their topics: the coordinators
                # start now, loading their partitions in the background.
                topics = self.store.topics
                if self.cluster_mode or OFFSETS_TOPIC in topics:
                    await self.start_group_coordinator()
                if self.cluster_mode or TRANSACTION_STATE_TOPIC in topics:
                    await self.start_txn_coordinator()
                await connections.start(run_log_tasks, self.replica_manager)
                if components.delegation_tokens is not None:
                    from kafka_compat.security.token_store import run_expiry_check

                    cluster = self.cluster
                    connections.start_soon(
                        run_expiry_check,
                        components.delegation_tokens,
                        # In a cluster the controller removes them, as Kafka's.
                        lambda: cluster is None or cluster.active_controller is not None,
                    )
                await self._add_bootstrap_scram_users()
                bound = []
                for security, advertised in zip(
                    self.listener_security, self.config.advertised_listeners, strict=True
                ):
                    endpoint = security.endpoint
                    listeners = await _open_listener(
                        endpoint, self.config["socket.listen.backlog.size"]
                    )
                    port = listeners[0].socket.getsockname()[1]
                    self.bound_ports[endpoint.listener] = port
                    # Port 0 (tests): advertise the port actually bound.
                    components.endpoints[endpoint.listener] = (
                        advertised.host,
                        advertised.port or port,
                    )
                    bound.append((security, listeners))
                # Bound now (a taken port stops start-up), served once Kafka's answer.
                http = self._bind_http()
                connections.start_soon(_close_unless_detached, http)
                first = self.config.listeners[0]
                self.bound_port = self.bound_ports[first.listener]
                components.host, components.port = components.endpoints[first.listener]
                # tests/listening.py reads the first listener's port from this line.
                log.info(
                    "kafka-compat broker %d listening on %s:%d (advertised %s:%d), data in %s",
                    self.node_id,
                    first.host,
                    self.bound_port,
                    components.host,
                    components.port,
                    ",".join(map(str, self.config.log_dirs)),
                )
                for security, _ in bound:
                    endpoint = security.endpoint
                    log.info(
                        "listener %s (%s) on %s:%d, advertised %s:%d",
                        endpoint.listener,
                        endpoint.protocol,
                        endpoint.host,
                        self.bound_ports[endpoint.listener],
                        *components.endpoints[endpoint.listener],
                    )
                if self.cluster is not None:
                    # Registers /brokers/ids/N with every listener, runs for controller.
                    inter_broker = self.config.inter_broker_listener
                    self.cluster.listener_endpoints = tuple(
                        f"{name}://{host}:{port}"
                        for name, (host, port) in components.endpoints.items()
                    )
                    self.cluster.protocol_map = tuple(
                        (e.listener, e.protocol) for e in self.config.listeners
                    )
                    await connections.start(self.cluster.run, *components.endpoints[inter_broker])
                task_status.started(self.bound_port)
                async with trio.open_nursery() as serving:
                    for security, listeners in bound:
                        serving.start_soon(
                            serve_listener,
                            listeners,
                            components,
                            security,
                            connections,
                            self.connection_quotas,
                        )
                    if http is not None:
                        serving.start_soon(serve_http, http, components)
                    idle_ms = self.config["connections.max.idle.ms"]
                    if idle_ms >= 0:
                        serving.start_soon(close_idle_connections, self.connection_quotas, idle_ms)
        finally:
            # Their tasks ended with the nursery: a later serve builds them afresh.
            self._connections = None
            self.group_coordinator = self.components.group_coordinator = None
            self.txn_coordinator = self.components.txn_coordinator = None
            self.components.txn_verifier = None
            with trio.CancelScope(shield=True):
                # Flushing and checkpointing every log blocks: keep it off the loop.
                await trio.to_thread.run_sync(self.close)
            log.info("kafka-compat broker %d stopped", self.node_id)

    async def _add_bootstrap_scram_users(self) -> None:
        """Store bootstrap_scram's credentials (a replacing one unless the stored one
        already checks that password: no rewrite on every start)."""
        credentials = self.components.credentials
        for user, mechanism, password, replace in self.bootstrap_scram:
            stored = credentials.get(user, mechanism)
            if stored is not None and (not replace or stored.matches(mechanism, password)):
                continue
            from kafka_compat.security.credentials import ScramCredential

            made = ScramCredential.from_password(mechanism, password)
            await credentials.alter(user, {mechanism: made}, set())
            log.info("SCRAM user %s: %s credential stored", user, mechanism)

    def _bind_http(self):
        address = self.config["http.listener"]
        if address is None:
            return None
        sock = bind_http_listener(address)
        self.http_port = sock.getsockname()[1]
        log.info(
            "HTTP listener (console and /metrics) on http://%s:%d",
            address[0] or "0.0.0.0",
            self.http_port,
        )
        return sock

    async def controlled_shutdown(self) -> bool:
        """Cluster mode: move leadership away before stopping (a single node has no one
        to hand it to)."""
        if self.cluster is None:
            return True
        return await self.cluster.controlled_shutdown()


async def _close_unless_detached(sock) -> None:
    """Close the HTTP socket if the broker stops before serve_http took it."""
    try:
        await trio.sleep_forever()
    finally:
        if sock is not None and sock.fileno() >= 0:
            sock.close()


def _enabled_mechanisms(config: BrokerConfig, listener: str) -> list[str]:
    value = listener_config(config, listener, "sasl.enabled.mechanisms") or ""
    return [m.strip().upper() for m in value.split(",") if m.strip()]


def _inter_broker_security(config: BrokerConfig) -> InterBrokerSecurity | None:
    """TLS and SASL for connections to peers, from the inter-broker listener's config."""
    from kafka_compat.cluster.client import InterBrokerSecurity  # cluster mode only

    listener = config.inter_broker_listener
    endpoint = next(e for e in config.listeners if e.listener == listener)
    if endpoint.protocol == "PLAINTEXT":
        return None
    mechanism = client = None
    if endpoint.sasl:
        from kafka_compat.security.login import inter_broker_login  # SASL's client side

        mechanism, _, client = inter_broker_login(config, listener)
    return InterBrokerSecurity(
        ssl_context=client_context(config, listener) if endpoint.tls else None,
        sasl_mechanism=mechanism,
        sasl_client=client,
    )


def _warn_unless_brokers_allowed(authorizer: Authorizer, config: BrokerConfig) -> None:
    """The brokers' own requests need CLUSTER_ACTION for the principal they connect
    as: User:ANONYMOUS on a PLAINTEXT inter-broker listener, the SASL login's user
    on a SASL one (security/authorizer.py). With mutual TLS the principal is the certificate's,
    which this broker cannot know in advance: no warning (nor for a token whose
    subject cannot be read)."""
    from kafka_compat.security.acl_types import CLUSTER_NAME, AclOperation, ResourceType
    from kafka_compat.security.login import inter_broker_login

    listener = config.inter_broker_listener
    endpoint = next(e for e in config.listeners if e.listener == listener)
    if endpoint.sasl:
        name = inter_broker_login(config, listener)[1]
        if name is None:
            return
        principal = f"User:{name}"
    elif endpoint.tls:
        return
    else:
        principal = "User:ANONYMOUS"
    if not authorizer.authorize(
        principal, "", AclOperation.CLUSTER_ACTION, ResourceType.CLUSTER, CLUSTER_NAME
    ):
        log.warning(
            "ACLs are on but the brokers' principal %s lacks CLUSTER_ACTION on the "
            "cluster: add it to super.users (or an ACL), or replication is refused",
            principal,
        )


async def _open_listener(endpoint: Endpoint, backlog: int) -> list[trio.SocketListener]:
    """The listener's sockets; a ConfigError naming the listener and its address if
    they cannot be bound (Kafka: "Socket server failed to bind to ...")."""
    try:
        return await trio.open_tcp_listeners(endpoint.port, host=endpoint.host, backlog=backlog)
    except OSError as exc:
        address = f"{endpoint.host or '0.0.0.0'}:{endpoint.port}"
        if exc.errno == errno.EADDRINUSE:
            problem = f"{address} is already in use"
        else:
            problem = f"cannot listen on {address}: {exc.strerror or exc}"
        raise ConfigError(
            f"listener {endpoint.listener}: {problem}; stop what holds it or choose another "
            "port (the listeners key; serve --port for the first listener)"
        ) from None
