"""One broker process: its config, logs, metadata and listener, owned by one nursery.

`Broker.serve()` loads the data dir, starts listening, and runs until cancelled;
cancelling it (Ctrl-C, SIGTERM, a test fixture) is the shutdown, after which the
logs are flushed and checkpointed so that the next start is clean.

Cluster mode (`zookeeper.connect` set): the ZooKeeper store (cluster/zookeeper.py)
runs in the `zookeeper_session` nursery around everything else, so the broker's
registration goes only after it stopped serving. Partitions are hosted when a
LeaderAndIsr names this broker a replica (`host_partition`); every other partition
of a known topic is listed with a `RemoteLog`, which answers NOT_LEADER_OR_FOLLOWER.
The controller's UpdateMetadata fills `metadata_cache`, which Metadata answers from.
Topic creation writes the assignment to ZooKeeper and waits for the leaders, as
Kafka 2.8 brokers do; see docs/cluster.md.
"""

from __future__ import annotations

import logging

import trio

from kafka_compat.apis import load_handlers
from kafka_compat.cluster.membership import cluster_store, join_cluster
from kafka_compat.cluster.metadata_cache import MetadataCache
from kafka_compat.cluster.store import LocalStore, MetadataStore, TopicMetadata, new_cluster_id
from kafka_compat.config import BrokerConfig, ConfigError
from kafka_compat.groups import GroupCoordinator, GroupMetadataManager
from kafka_compat.log_tasks import run_log_tasks
from kafka_compat.replica import OfflineLog, Partition, RemoteLog
from kafka_compat.replica_manager import ReplicaManager
from kafka_compat.server import serve_connection
from kafka_compat.topics import OFFSETS_TOPIC
from storage.log_config import LogConfig
from storage.log_manager import LogManager

log = logging.getLogger(__name__)

PRODUCER_ID_BLOCK = 1000


class Broker:
    def __init__(self, config: BrokerConfig):
        self.config = config
        self.node_id = config.broker_id
        self.host = config.advertised_host
        self.port = config.advertised_port
        self.log_dir = config.log_dir
        self.partitions: dict[str, list[Partition]] = {}
        self.store: MetadataStore | None = None
        self.log_manager: LogManager | None = None
        self.bound_port: int | None = None
        self._saved_high_watermarks: dict[tuple[str, int], int] = {}
        self._next_producer_id = 0
        self._producer_id_limit = 0
        self._producer_id_lock = trio.Lock()
        # Consumer groups and committed offsets (__consumer_offsets), issue 4.
        self.group_coordinator = GroupCoordinator(GroupMetadataManager.for_broker(self))
        # Cluster mode (zookeeper.connect set): the cluster's view, replication, and
        # the controller role this broker may win.
        self.cluster_mode = config["zookeeper.connect"] is not None
        self.metadata_cache = MetadataCache()
        self.replica_manager = ReplicaManager(self)
        self.controller = None
        self.shutting_down = False

    # ---- start-up and shutdown ----

    def load(self) -> None:
        """Single node: open the data dir: identity, metadata, every partition's log."""
        self.load_identity()
        self.store = LocalStore(self.log_dir, self.log_manager.meta_properties["cluster.id"])
        self.load_logs()
        for topic in self.store.topics.values():
            self._open_partitions(topic)

    def load_identity(self, cluster_id: str | None = None) -> None:
        """meta.properties: this directory's broker and cluster ids."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.log_manager = LogManager(
            self.log_dir,
            self.log_config({}),
            broker_id=self.node_id,
            cluster_id=cluster_id or new_cluster_id(),
        )
        # The store needs the cluster id, which the data dir keeps in meta.properties.
        self.log_manager.load_meta_properties()
        meta = self.log_manager.meta_properties
        if meta.get("broker.id", str(self.node_id)) != str(self.node_id):
            raise ConfigError(
                f"Configured broker.id {self.node_id} doesn't match stored broker.id "
                f"{meta['broker.id']} in meta.properties of {self.log_dir}"
            )
        if cluster_id is not None and meta.get("cluster.id", cluster_id) != cluster_id:
            raise ConfigError(
                f"The Cluster ID {cluster_id} doesn't match stored clusterId "
                f"{meta['cluster.id']} in meta.properties of {self.log_dir}: the data dir "
                "belongs to another cluster"
            )

    def load_logs(self) -> None:
        """Open (recover) every partition's log found in the data dir."""
        self.log_manager.load(
            {name: self.log_config(t.configs) for name, t in self.store.topics.items()}
        )
        # replication-offset-checkpoint: where each partition's HW was.
        self._saved_high_watermarks = dict(self.log_manager.high_watermarks)

    def remove_stray_logs(self) -> None:
        """Cluster mode, at start-up: delete the local replicas that ZooKeeper's metadata
        no longer has here (Kafka's stray replicas): of a topic deleted while this
        broker was down, of an older topic of the same name, of a partition not
        assigned to this broker."""
        for (topic, index), log_ in self.log_manager.logs().items():
            meta = self.store.topics.get(topic)
            assignment = self.store.assignments.get(topic)
            replicas = assignment.partitions.get(index, ()) if assignment is not None else ()
            if meta is None:
                reason = "its topic no longer exists"
            elif log_.topic_id not in (None, meta.topic_id) and meta.topic_id != bytes(16):
                reason = "it belongs to an older topic of that name"
            elif self.node_id not in replicas:
                reason = "this broker is not one of its replicas"
            else:
                continue
            log.warning("%s: stray replica, deleted: %s", log_.dir, reason)
            self.log_manager.delete_log(topic, index)
            self._saved_high_watermarks.pop((topic, index), None)

    def close(self) -> None:
        if self.log_manager is not None:
            self.checkpoint_high_watermarks()
            self.log_manager.close()
            self.log_manager = None

    def high_watermarks(self) -> dict[tuple[str, int], int]:
        """Each hosted partition's high watermark (taken on the loop thread)."""
        return {
            (p.topic, p.index): p.high_watermark
            for parts in self.partitions.values()
            for p in parts
            if not isinstance(p.log, OfflineLog | RemoteLog)
        }

    def checkpoint_high_watermarks(self, marks: dict | None = None) -> None:
        """Write replication-offset-checkpoint (it fsyncs: a worker thread)."""
        self.log_manager.checkpoint_high_watermarks(
            self.high_watermarks() if marks is None else marks
        )

    async def serve(self, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Listen and serve until cancelled; then shut down cleanly."""
        load_handlers()
        if not self.cluster_mode:
            # Opening the logs may mean recovering them: keep that off the event loop.
            await trio.to_thread.run_sync(self.load)
            await self._serve(task_status)
            return
        # Cluster mode: the ZooKeeper session outlives the listener, so that the
        # broker's registration goes only after it stopped serving.
        async with trio.open_nursery() as zookeeper_session:
            store = cluster_store(self)
            await zookeeper_session.start(store.run)
            self.store = store
            await trio.to_thread.run_sync(self.load_identity, store.cluster_id)
            await trio.to_thread.run_sync(self.load_logs)
            self.remove_stray_logs()
            try:
                await self._serve(task_status)
            finally:
                zookeeper_session.cancel_scope.cancel()

    async def _serve(self, task_status) -> None:
        try:
            async with trio.open_nursery() as connections:
                await connections.start(self.replica_manager.run)
                # Loads __consumer_offsets in the background once the logs are open.
                await connections.start(self.group_coordinator.run)
                await connections.start(run_log_tasks, self)
                listeners = await trio.open_tcp_listeners(self.config.port, host=self.config.host)
                self.bound_port = listeners[0].socket.getsockname()[1]
                if self.config.port == 0:
                    self.port = self.bound_port
                log.info(
                    "kafka-compat broker %d listening on %s:%d (advertised %s:%d), data in %s",
                    self.node_id,
                    self.config.host,
                    self.bound_port,
                    self.host,
                    self.port,
                    self.log_dir,
                )
                if self.cluster_mode:
                    # Registers /brokers/ids/N, runs for controller; owns both.
                    await connections.start(join_cluster, self)
                task_status.started(self.bound_port)
                await trio.serve_listeners(
                    lambda stream: serve_connection(stream, self),
                    listeners,
                    handler_nursery=connections,
                )
        finally:
            with trio.CancelScope(shield=True):
                # Flushing and checkpointing every log blocks: keep it off the loop.
                await trio.to_thread.run_sync(self.close)
            log.info("kafka-compat broker %d stopped", self.node_id)

    # ---- topics ----

    def log_config(self, overrides: dict[str, str]) -> LogConfig:
        return LogConfig.from_topic_configs({**self.config.topic_defaults(), **overrides})

    def topic_configs(self, topic: str) -> dict[str, str]:
        return self.store.topics[topic].configs

    def partition(self, topic: str, index: int) -> Partition | None:
        partitions = self.partitions.get(topic)
        if partitions is None or not 0 <= index < len(partitions):
            return None
        return partitions[index]

    def _open_partitions(self, topic: TopicMetadata) -> None:
        config = self.log_config(topic.configs)
        existing = self.partitions.setdefault(topic.name, [])
        for index in range(len(existing), topic.partitions):
            log_ = self.log_manager.get_log(topic.name, index)
            offline = self.log_manager.offline_logs.get((topic.name, index))
            if offline is not None:
                log_ = OfflineLog(f"{topic.name}-{index}", offline)
            else:
                if log_ is None:
                    log_ = self.log_manager.create_log(topic.name, index, config)
                else:
                    log_.config = config
                log_.assign_topic_id(topic.topic_id)
            existing.append(
                Partition(
                    topic.name,
                    index,
                    log_,
                    local_id=self.node_id,
                    high_watermark=self._saved_high_watermarks.get((topic.name, index)),
                )
            )

    async def create_topic(
        self,
        name: str,
        partitions: int,
        configs: dict[str, str],
        replication_factor: int | None = None,
        assignment: dict[int, list[int]] | None = None,
    ) -> TopicMetadata:
        if self.cluster_mode:
            # Kafka 2.8: the receiving broker writes the assignment to ZooKeeper; the
            # controller creates the partitions' states and elects their leaders.
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
        topic = await self.store.create_topic(name, partitions, configs)
        self._open_partitions(topic)
        log.info("Created topic %s with %d partitions %s", name, partitions, configs or "")
        return topic

    def live_broker_ids(self) -> list[int]:
        if not self.cluster_mode:
            return [self.node_id]
        return sorted(self.metadata_cache.brokers) or [self.node_id]

    async def wait_for_leaders(self, name: str, timeout: float | None = None) -> bool:
        """Cluster mode: until the metadata cache names a live leader for every
        partition of `name` (the controller's UpdateMetadata), or the timeout."""
        if timeout is None:
            timeout = self.config["request.timeout.ms"] / 1000
        cache = self.metadata_cache
        with trio.move_on_after(timeout):
            while not (cache.has_leaders(name) and self.partitions.get(name)):
                await cache.wait_changed()
            return True
        return False

    async def auto_create_topic(self, name: str) -> TopicMetadata:
        return await self.create_topic(name, self.config["num.partitions"], {})

    async def delete_topic(self, name: str) -> None:
        await self.store.delete_topic(name)
        if self.cluster_mode:
            # The controller stops the replicas (StopReplica with delete) and drops
            # the topic from every broker's metadata; wait for our cache to show it.
            cache = self.metadata_cache
            with trio.move_on_after(self.config["request.timeout.ms"] / 1000):
                while name in cache.topics or name in self.store.topics:
                    await cache.wait_changed()
            log.info("Deleted topic %s", name)
            return
        for partition in self.partitions.pop(name, []):
            self.log_manager.delete_log(name, partition.index)
        log.info("Deleted topic %s", name)

    async def add_partitions(self, name: str, total: int) -> None:
        if self.cluster_mode:
            await self.store.add_partitions(name, total)
            cache = self.metadata_cache
            with trio.move_on_after(self.config["request.timeout.ms"] / 1000):
                while len(cache.topics.get(name, {})) < total or not cache.has_leaders(name):
                    await cache.wait_changed()
            log.info("Topic %s now has %d partitions", name, total)
            return
        await self.store.add_partitions(name, total)
        self._open_partitions(self.store.topics[name])
        log.info("Topic %s now has %d partitions", name, total)

    # ---- cluster mode: hosted partitions ----

    def _placeholders(self, topic: str, count: int) -> list[Partition]:
        existing = self.partitions.setdefault(topic, [])
        for index in range(len(existing), count):
            existing.append(
                Partition(
                    topic, index, RemoteLog(f"{topic}-{index}"), local_id=self.node_id, leader_id=-1
                )
            )
        return existing

    def host_partition(self, topic: str, index: int, topic_id: bytes | None) -> Partition:
        """LeaderAndIsr named this broker a replica: the partition with its log
        (opened, or created empty)."""
        parts = self._placeholders(topic, index + 1)
        partition = parts[index]
        if not isinstance(partition.log, RemoteLog):
            return partition
        meta = self.store.topics.get(topic)
        config = self.log_config(meta.configs if meta is not None else {})
        offline = self.log_manager.offline_logs.get((topic, index))
        if offline is not None:
            log_ = OfflineLog(f"{topic}-{index}", offline)
        else:
            log_ = self.log_manager.get_log(topic, index)
            known = topic_id is not None and topic_id != bytes(16)
            if log_ is not None and known and log_.topic_id not in (None, topic_id):
                # Left from an older topic of the same name, deleted while this broker
                # was away: never serve it as the new one.
                log.warning("%s: replica of an older topic of that name: deleted", log_.dir)
                self.log_manager.delete_log(topic, index)
                log_ = None
            if log_ is None:
                log_ = self.log_manager.create_log(topic, index, config)
            else:
                log_.config = config
            if known:
                log_.assign_topic_id(topic_id)
        partition = Partition(
            topic,
            index,
            log_,
            local_id=self.node_id,
            high_watermark=self._saved_high_watermarks.get((topic, index), 0),
            leader_id=-1,
        )
        parts[index] = partition
        return partition

    def unhost_partition(self, topic: str, index: int) -> None:
        """StopReplica with delete: the log goes; the partition stays known."""
        parts = self.partitions.get(topic)
        if parts is None or index >= len(parts):
            return
        if not isinstance(parts[index].log, RemoteLog):
            self.log_manager.delete_log(topic, index)
            self._saved_high_watermarks.pop((topic, index), None)
        parts[index] = Partition(
            topic, index, RemoteLog(f"{topic}-{index}"), local_id=self.node_id, leader_id=-1
        )
        if topic not in self.metadata_cache.topics and all(
            isinstance(p.log, RemoteLog) for p in parts
        ):
            del self.partitions[topic]  # a deleted topic: nothing of it left here

    def on_metadata_update(self, updates) -> None:
        """UpdateMetadata: known partitions of known topics are listed (hosted or
        not); partitions this broker does not host learn their leader; deleted
        topics whose replicas are gone from here are forgotten."""
        cache = self.metadata_cache
        for topic, _, index, state in updates:
            if state is None:
                continue
            parts = self._placeholders(topic, index + 1)
            partition = parts[index]
            if isinstance(partition.log, RemoteLog):
                partition.leader_id = state.leader
                partition.leader_epoch = state.leader_epoch
        for topic in list(self.partitions):
            if topic not in cache.topics and all(
                isinstance(p.log, RemoteLog) for p in self.partitions[topic]
            ):
                del self.partitions[topic]

    async def set_topic_configs(self, name: str, configs: dict[str, str]) -> None:
        """Replace a topic's overrides; its logs use the new values from now on."""
        await self.store.set_topic_configs(name, configs)
        self.apply_topic_configs({name})
        log.info("Topic %s configs now %s", name, configs)

    def apply_topic_configs(self, names) -> None:
        """Give the local logs of `names` the store's current configs (also when another
        broker changed them: cluster mode calls this on ZooKeeper's notification)."""
        for name in names:
            topic = self.store.topics.get(name)
            if topic is None:
                continue
            config = self.log_config(topic.configs)
            for partition in self.partitions.get(name, ()):
                if not isinstance(partition.log, (OfflineLog, RemoteLog)):
                    partition.log.config = config

    # ---- producer ids ----

    async def allocate_producer_id(self) -> int:
        """A producer id never handed out before, in this cluster, also across restarts.

        Ids are reserved from the store in blocks (as Kafka does: from
        /latest_producer_id_block in cluster mode); a block is reserved before any id
        from it is used. Raises the store's error when it cannot reserve one."""
        async with self._producer_id_lock:
            if self._next_producer_id >= self._producer_id_limit:
                start = await self.store.allocate_producer_ids(self.node_id, PRODUCER_ID_BLOCK)
                self._next_producer_id = start
                self._producer_id_limit = start + PRODUCER_ID_BLOCK
            producer_id = self._next_producer_id
            self._next_producer_id += 1
            return producer_id
