"""One broker process: its config, logs, metadata and listener, owned by one nursery.

`Broker.serve()` loads the data dir, starts listening, and runs until cancelled;
cancelling it (Ctrl-C, SIGTERM, a test fixture) is the shutdown, after which the
logs are flushed and checkpointed so that the next start is clean.
"""

from __future__ import annotations

import logging
import re

import trio

from kafka_compat.apis import load_handlers
from kafka_compat.cluster.store import LocalStore, MetadataStore, TopicMetadata, new_cluster_id
from kafka_compat.config import BrokerConfig, ConfigError
from kafka_compat.groups import GroupCoordinator
from kafka_compat.log_tasks import run_log_tasks
from kafka_compat.replica import OfflineLog, Partition
from kafka_compat.server import serve_connection
from storage.checkpoint import write_atomically
from storage.log_config import LogConfig
from storage.log_manager import LogManager

log = logging.getLogger(__name__)

_LEGAL_TOPIC = re.compile(r"[a-zA-Z0-9._-]+")
MAX_TOPIC_NAME = 249
INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state"})
PRODUCER_ID_BLOCK = 1000


def topic_name_error(name: str | None) -> str | None:
    """Why `name` is not a legal topic name (Kafka's rules), or None if it is."""
    if not name:
        return "Topic name is illegal, it can't be empty"
    if name in (".", ".."):
        return 'Topic name cannot be "." or ".."'
    if len(name) > MAX_TOPIC_NAME:
        return f"Topic name is illegal, it can't be longer than {MAX_TOPIC_NAME} characters"
    if not _LEGAL_TOPIC.fullmatch(name):
        return (
            f'Topic name "{name}" is illegal, it contains a character other than ASCII '
            "alphanumerics, '.', '_' and '-'"
        )
    return None


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
        self._next_producer_id = 0
        self._producer_id_limit = 0
        # Consumer groups and committed offsets (__consumer_offsets), issue 4.
        self.group_coordinator = GroupCoordinator(self)

    # ---- start-up and shutdown ----

    def load(self) -> None:
        """Open the data dir: identity, metadata, every partition's log."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.log_manager = LogManager(
            self.log_dir,
            self.log_config({}),
            broker_id=self.node_id,
            cluster_id=new_cluster_id(),
        )
        # The store needs the cluster id, which the data dir keeps in meta.properties.
        self.log_manager.load_meta_properties()
        meta = self.log_manager.meta_properties
        if meta.get("broker.id", str(self.node_id)) != str(self.node_id):
            raise ConfigError(
                f"Configured broker.id {self.node_id} doesn't match stored broker.id "
                f"{meta['broker.id']} in meta.properties of {self.log_dir}"
            )
        self.store = LocalStore(self.log_dir, meta["cluster.id"])
        self.log_manager.load(
            {name: self.log_config(t.configs) for name, t in self.store.topics.items()}
        )
        for topic in self.store.topics.values():
            self._open_partitions(topic)

    def close(self) -> None:
        if self.log_manager is not None:
            self.log_manager.close()
            self.log_manager = None

    async def serve(self, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Listen and serve until cancelled; then shut down cleanly."""
        load_handlers()
        # Opening the logs may mean recovering them: keep that off the event loop.
        await trio.to_thread.run_sync(self.load)
        try:
            async with trio.open_nursery() as connections:
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
            elif log_ is None:
                log_ = self.log_manager.create_log(topic.name, index, config)
            else:
                log_.config = config
            existing.append(Partition(topic.name, index, log_))

    async def create_topic(
        self, name: str, partitions: int, configs: dict[str, str]
    ) -> TopicMetadata:
        topic = await self.store.create_topic(name, partitions, configs)
        self._open_partitions(topic)
        log.info("Created topic %s with %d partitions %s", name, partitions, configs or "")
        return topic

    async def auto_create_topic(self, name: str) -> TopicMetadata:
        return await self.create_topic(name, self.config["num.partitions"], {})

    async def delete_topic(self, name: str) -> None:
        await self.store.delete_topic(name)
        for partition in self.partitions.pop(name, []):
            self.log_manager.delete_log(name, partition.index)
        log.info("Deleted topic %s", name)

    async def add_partitions(self, name: str, total: int) -> None:
        await self.store.add_partitions(name, total)
        self._open_partitions(self.store.topics[name])
        log.info("Topic %s now has %d partitions", name, total)

    async def set_topic_configs(self, name: str, configs: dict[str, str]) -> None:
        """Replace a topic's overrides; its logs use the new values from now on."""
        await self.store.set_topic_configs(name, configs)
        config = self.log_config(configs)
        for partition in self.partitions[name]:
            partition.log.config = config
        log.info("Topic %s configs now %s", name, configs)

    # ---- producer ids ----

    def allocate_producer_id(self) -> int:
        """A producer id never handed out before, also across restarts.

        Ids are reserved in blocks (as Kafka does) and the end of the reserved
        block is persisted before any id from it is used.
        """
        if self._next_producer_id >= self._producer_id_limit:
            path = self.log_dir / "kafka-compat-producer-id-block"
            start = int(path.read_text()) if path.exists() else 0
            self._next_producer_id = start
            self._producer_id_limit = start + PRODUCER_ID_BLOCK
            write_atomically(path, str(self._producer_id_limit).encode())
        producer_id = self._next_producer_id
        self._next_producer_id += 1
        return producer_id
