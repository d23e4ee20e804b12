"""Topic administration: create, delete, add partitions, change configs (Kafka's
ZkAdminManager). Handlers (CreateTopics, DeleteTopics, CreatePartitions,
AlterConfigs, auto-creation in Metadata and Produce) and the group coordinator (its
offsets topic) ask this; it writes to the metadata store and, on a single node,
opens the partitions itself.

`AdminManager` is the single node: the local store is the truth and this broker
hosts every partition at once. `ZkAdminManager` is cluster mode, as Kafka 2.8's
brokers: the receiving broker writes the assignment to ZooKeeper, the controller
creates the partitions' states and elects their leaders, and the call waits (up to
`request.timeout.ms`) until the controller's UpdateMetadata shows the result here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

from kafka_compat.cluster.metadata_cache import MetadataCache
from kafka_compat.cluster.store import MetadataStore, TopicMetadata
from kafka_compat.config import BrokerConfig
from kafka_compat.dynamic_config import DEFAULT_ENTITY, LOG_KEYS, is_connection_key, usable
from kafka_compat.replica_manager import ReplicaManager
from kafka_compat.topics import OFFSETS_TOPIC

log = logging.getLogger(__name__)


class AdminManager:
    """Single node: topics in the local store, partitions opened here."""

    def __init__(
        self,
        config: BrokerConfig,
        node_id: int,
        replica_manager: ReplicaManager,
        metadata_cache: MetadataCache,
    ):
        self.config = config
        self.node_id = node_id
        self.replica_manager = replica_manager
        self.metadata_cache = metadata_cache
        # Called with the listener.name.* keys whose dynamic value changed.
        self.on_listener_configs_change: Callable[[set[str]], None] | None = None
        # Called when a connection limit changed (broker.py: ConnectionQuotas.reconfigure).
        self.on_connection_configs_change: Callable[[], None] | None = None
        # Checks new dynamic configs' listener key stores (broker.py); raises ConfigError.
        self.validate_listener_configs: Callable[[dict[str, str]], None] | None = None
        # Reloads the listeners whose store files were rewritten in place (broker.py).
        self.reload_rewritten_store_files: Callable[[], None] | None = None
        self.store: MetadataStore | None = None  # set when the broker opens it

    def topic(self, name: str) -> TopicMetadata | None:
        return self.store.topics.get(name)

    def live_broker_ids(self) -> list[int]:
        return [self.node_id]

    async def create_topic(
        self,
        name: str,
        partitions: int,
        configs: dict[str, str],
        replication_factor: int | None = None,
        assignment: dict[int, list[int]] | None = None,
    ) -> TopicMetadata:
        topic = await self.store.create_topic(name, partitions, configs)
        self.replica_manager.open_partitions(topic)
        log.info("Created topic %s with %d partitions %s", name, partitions, configs or "")
        return topic

    async def auto_create_topic(self, name: str) -> TopicMetadata:
        return await self.create_topic(name, self.config["num.partitions"], {})

    async def delete_topic(self, name: str) -> None:
        await self.store.delete_topic(name)
        self.replica_manager.delete_partitions(name)
        log.info("Deleted topic %s", name)

    async def add_partitions(
        self, name: str, total: int, assignment: dict[int, list[int]] | None = None
    ) -> None:
        # One node: the only possible assignment is this broker's, as placement gives.
        await self.store.add_partitions(name, total)
        self.replica_manager.open_partitions(self.store.topics[name])
        log.info("Topic %s now has %d partitions", name, total)

    async def set_topic_configs(self, name: str, configs: dict[str, str]) -> None:
        """Replace a topic's overrides; its logs use the new values from now on."""
        await self.store.set_topic_configs(name, configs)
        self.replica_manager.apply_topic_configs({name})
        log.info("Topic %s configs now %s", name, configs)

    # ---- dynamic broker configs (dynamic_config.py) ----

    async def set_broker_configs(self, entity: str, configs: dict[str, str]) -> None:
        """Replace the dynamic configs of `entity` ("<default>" or this broker's id,
        validated); this broker applies them now, the others on ZooKeeper's notice."""
        await self.store.set_broker_configs(entity, configs)
        log.info("Dynamic broker configs of %s now %s", entity, configs)
        self.apply_broker_configs()

    def load_broker_configs(self) -> set[str]:
        """Take the store's dynamic configs (cluster default, then this broker's) into
        the config; the keys whose value changed."""
        stored = self.store.broker_configs
        return self.config.set_dynamic(
            usable(stored.get(DEFAULT_ENTITY, {}), per_broker=False),
            usable(stored.get(str(self.node_id), {}), per_broker=True),
        )

    def apply_broker_configs(self, _entities: object = None) -> None:
        """load_broker_configs, then give what changed to what uses it: at start-up
        (before the logs open), after an alter, on ZooKeeper's change notifications."""
        changed = self.load_broker_configs()
        if changed:
            log.info("Dynamic broker configs changed: %s", ", ".join(sorted(changed)))
        if changed & LOG_KEYS and self.replica_manager.store is not None:
            # The topic defaults: every log without an override of its own. (Logs
            # opened later take the config's values then.)
            self.replica_manager.apply_topic_configs(list(self.store.topics))
        listener_keys = {name for name in changed if name.startswith("listener.name.")}
        if listener_keys and self.on_listener_configs_change is not None:
            self.on_listener_configs_change(listener_keys)  # broker.py: reload key stores
        if self.on_connection_configs_change is not None and any(map(is_connection_key, changed)):
            self.on_connection_configs_change()
        log_dirs = self.replica_manager.log_manager
        if log_dirs is not None and "producer.id.expiration.ms" in changed:
            log_dirs.set_producer_id_expiration_ms(self.config["producer.id.expiration.ms"])


class ZkAdminManager(AdminManager):
    """Cluster mode: assignments go to ZooKeeper; the controller does the rest."""

    def live_broker_ids(self) -> list[int]:
        return sorted(self.metadata_cache.brokers) or [self.node_id]

    async def create_topic(
        self,
        name: str,
        partitions: int,
        configs: dict[str, str],
        replication_factor: int | None = None,
        assignment: dict[int, list[int]] | None = None,
    ) -> TopicMetadata:
        if name == OFFSETS_TOPIC and replication_factor is None:
            # As Kafka before 2.x: never more replicas than live brokers.
            replication_factor = min(
                self.config["offsets.topic.replication.factor"],
                len(self.store.brokers) or 1,
            )
        if replication_factor is None or replication_factor < 0:
            replication_factor = self.config["default.replication.factor"]
        topic = await self.store.create_topic(
            name,
            partitions,
            configs,
            replication_factor=replication_factor,
            assignment=assignment,
        )
        log.info(
            "Created topic %s: %s %s",
            name,
            self.store.assignments[name].partitions,
            configs or "",
        )
        await self.wait_for_leaders(name)
        return topic

    async def delete_topic(self, name: str) -> None:
        await self.store.delete_topic(name)
        # The controller stops the replicas (StopReplica with delete) and drops the
        # topic from every broker's metadata; wait for our cache to show it.
        cache = self.metadata_cache
        with trio.move_on_after(self._timeout()):
            while name in cache.topics or name in self.store.topics:
                await cache.wait_changed()
        log.info("Deleted topic %s", name)

    async def add_partitions(
        self, name: str, total: int, assignment: dict[int, list[int]] | None = None
    ) -> None:
        await self.store.add_partitions(name, total, assignment=assignment)
        cache = self.metadata_cache
        with trio.move_on_after(self._timeout()):
            while len(cache.topics.get(name, {})) < total or not cache.has_leaders(name):
                await cache.wait_changed()
        log.info("Topic %s now has %d partitions", name, total)

    async def wait_for_leaders(self, name: str, timeout: float | None = None) -> bool:
        """Until the metadata cache names a live leader for every partition of `name`
        (the controller's UpdateMetadata), or the timeout."""
        cache = self.metadata_cache
        with trio.move_on_after(self._timeout() if timeout is None else timeout):
            while not (cache.has_leaders(name) and self.replica_manager.partitions.get(name)):
                await cache.wait_changed()
            return True
        return False

    def _timeout(self) -> float:
        return self.config["request.timeout.ms"] / 1000
