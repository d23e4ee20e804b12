"""The admin path (Kafka's AdminZkClient): topic creation, partition additions,
topic config changes and deletion markers.

As in Kafka, these are written by whichever broker received the admin request;
the controller then does the rest (partition states, LeaderAndIsr, removing a
deleted topic). `AdminZkClient` extends the cached session (zk_cache.py); the store
(zk_store.py) extends it, and these are its MetadataStore methods. Replicas are
placed by placement.py.

Threads and Trio (zk_client.py): the public methods are called on the Trio thread;
the methods that take a `deadline` run in worker threads. Each write also goes into
the caches at once (the watches confirm it).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError, NotEmptyError

from kafka_compat.clock import wall_clock_ms
from kafka_compat.cluster.placement import assign_replicas
from kafka_compat.cluster.store import (
    InvalidPartitions,
    NoSuchTopic,
    StoreError,
    TopicExists,
    TopicMetadata,
    change_entity_configs,
)
from kafka_compat.cluster.zk_cache import ZooKeeperCache
from kafka_compat.cluster.zk_data import (
    CONFIG_BROKERS_PATH,
    CONFIG_CHANGE_EXPIRY_S,
    CONFIG_CHANGE_PREFIX,
    CONFIG_CHANGES_PATH,
    CONFIG_CLIENTS_PATH,
    CONFIG_IPS_PATH,
    CONFIG_TOPICS_PATH,
    CONFIG_USERS_PATH,
    DELETE_TOPICS_PATH,
    TopicAssignment,
    _configs,
    _json,
    topic_path,
    user_znode,
)

__all__ = ["AdminZkClient"]

# /config/<entity type>: Kafka's ConfigType.
_CONFIG_ROOTS = {
    "topics": CONFIG_TOPICS_PATH,
    "brokers": CONFIG_BROKERS_PATH,
    "users": CONFIG_USERS_PATH,
    "clients": CONFIG_CLIENTS_PATH,
    "ips": CONFIG_IPS_PATH,
}


class AdminZkClient(ZooKeeperCache):
    """Kafka's admin writes to ZooKeeper (module docstring).

    `default_replication_factor` is used by `create_topic` when none is given
    (Kafka's default.replication.factor).
    """

    def __init__(self, connect: str, *, default_replication_factor: int = 1, **options: Any):
        super().__init__(connect, **options)
        self.default_replication_factor = default_replication_factor

    # ---- topics: the MetadataStore interface ----

    async def create_topic(
        self,
        name: str,
        partitions: int,
        configs: dict[str, str],
        *,
        replication_factor: int | None = None,
        assignment: Mapping[int, list[int]] | None = None,
        topic_id: bytes | None = None,
    ) -> TopicMetadata:
        """Write the topic's configs and replica assignment, as Kafka's admin path does;
        the controller then creates the partition states and tells the brokers.

        Without `assignment`, replicas are placed over the live brokers by
        `assign_replicas` (InvalidReplicationFactor if there are too few).
        Raises TopicExists.
        """
        if assignment is None:
            rf = replication_factor or self.default_replication_factor
            brokers = await self._in_thread(self._read_brokers)
            racks = {i: reg.rack for i, reg in brokers.items()}
            assignment = assign_replicas(brokers, partitions, rf, racks=racks)
        topic = TopicAssignment(
            topic_id or uuid.uuid4().bytes, {int(p): list(r) for p, r in assignment.items()}
        )
        topic.version = await self._in_thread(self._create_topic, name, topic, dict(configs))
        self._store_topic(name, topic, dict(configs))
        self._watch_topic(name)
        self._notify("topics", {name})
        return self.topics[name]

    def _create_topic(
        self, deadline: float, name: str, topic: TopicAssignment, configs: dict[str, str]
    ) -> int:
        if self._get(deadline, topic_path(name)) is not None:
            raise TopicExists(f"Topic '{name}' already exists.")
        self._write_configs(deadline, name, configs, notify=False)
        try:
            self._op(deadline, lambda c: c.create_async(topic_path(name), topic.to_json()))
        except NodeExistsError:
            raise TopicExists(f"Topic '{name}' already exists.") from None
        return 0

    async def delete_topic(self, name: str) -> None:
        """Mark the topic for deletion (/admin/delete_topics/<t>), as Kafka's admin path
        does; the controller stops its replicas and then calls `remove_topic`. The
        topic stays in `topics` until then, and is in `topics_being_deleted`."""
        await self._ensure_cached(name)

        def mark(deadline: float) -> None:
            if self._get(deadline, topic_path(name)) is None:
                raise NoSuchTopic(f"Topic '{name}' does not exist.")
            try:
                self._op(deadline, lambda c: c.create_async(f"{DELETE_TOPICS_PATH}/{name}", b""))
            except NodeExistsError:
                pass

        await self._in_thread(mark)
        self.topics_being_deleted.add(name)

    async def add_partitions(
        self, name: str, total: int, *, assignment: Mapping[int, list[int]] | None = None
    ) -> None:
        """Grow the topic to `total` partitions (version-checked write). New replicas
        are placed as Kafka does: starting at partition 0's first replica."""
        await self._ensure_cached(name)

        def grow(deadline: float) -> TopicAssignment:
            found = self._get(deadline, topic_path(name))
            if found is None:
                raise NoSuchTopic(f"Topic '{name}' does not exist.")
            current = TopicAssignment.from_json(found[0], found[1].version)
            count = len(current.partitions)
            if total <= count:
                raise InvalidPartitions(
                    f"Topic currently has {count} partitions, which is higher than the "
                    f"requested {total}."
                )
            if assignment is not None:
                added = {int(p): list(r) for p, r in assignment.items()}
            else:
                registered = self._read_brokers(deadline)
                brokers = sorted(registered)
                first = current.partitions[0][0] if current.partitions.get(0) else None
                start = next(
                    (i for i, b in enumerate(brokers) if first is not None and b >= first), 0
                )
                added = assign_replicas(
                    brokers,
                    total - count,
                    len(current.partitions.get(0, [])) or 1,
                    start,
                    start_partition=count,
                    racks={i: reg.rack for i, reg in registered.items()},
                )
            current.partitions.update(added)
            try:
                stat = self._op(
                    deadline,
                    lambda c: c.set_async(topic_path(name), current.to_json(), current.version),
                )
            except BadVersionError:
                raise StoreError(
                    f"Topic '{name}' changed while adding partitions; try again"
                ) from None
            current.version = stat.version
            return current

        updated = await self._in_thread(grow)
        self._set_assignment(name, updated)

    async def set_topic_configs(self, name: str, configs: dict[str, str]) -> None:
        """Replace the topic's overrides and post a config change notification."""
        await self._ensure_cached(name)
        await self._in_thread(self._write_configs, name, dict(configs), True)
        self.topics[name].configs = dict(configs)

    async def set_broker_configs(self, entity: str, configs: dict[str, str]) -> None:
        """Replace the dynamic configs of `entity` (Kafka's AdminZkClient
        changeBrokerConfig) and post a config change notification."""
        await self._in_thread(self._write_configs, entity, dict(configs), True, "brokers")
        if configs:
            self.broker_configs[entity] = dict(configs)
        else:
            self.broker_configs.pop(entity, None)

    async def update_user_configs(
        self, user: str, set_keys: dict[str, str], delete_keys: set[str]
    ) -> dict[str, str]:
        """Set and remove keys of /config/users/<user>, keeping its other keys (quotas
        live there too), as Kafka's AdminZkClient.changeConfigs(users, ...); posts a
        config change notification. Returns the user's configs after the change;
        MissingConfigs if a key to delete is not in ZooKeeper."""

        def change(deadline: float) -> dict[str, str]:
            path = f"{CONFIG_USERS_PATH}/{user_znode(user)}"
            configs = _configs(self._get(deadline, path)) or {}
            change_entity_configs(user, configs, set_keys, delete_keys)
            self._write_configs(deadline, user_znode(user), configs, True, "users")
            return configs

        configs = await self._in_thread(change)
        if configs:
            self.user_configs[user] = configs
        else:
            self.user_configs.pop(user, None)
        return configs

    async def update_quota_configs(
        self, path: str, set_keys: dict[str, str], delete_keys: set[str]
    ) -> dict[str, str]:
        """Set and remove keys of /config/<path> ("clients/<c>", "users/<u>/clients/<c>",
        "ips/<ip>", names sanitized), as Kafka's AdminZkClient.changeConfigs; posts a
        config change notification. Removing a key that is not there is no error."""
        entity_type, _, name = path.partition("/")

        def change(deadline: float) -> dict[str, str]:
            configs = _configs(self._get(deadline, f"/config/{path}")) or {}
            for key in delete_keys:
                configs.pop(key, None)
            configs.update(set_keys)
            if configs or not self._clean_quota_nodes(deadline, path):
                self._write_configs(deadline, name, configs, False, entity_type)
            self._notify_change(deadline, path)
            return configs

        configs = await self._in_thread(change)
        if configs:
            self.quota_configs[path] = configs
        else:
            self.quota_configs.pop(path, None)
        return configs

    def _clean_quota_nodes(self, deadline: float, path: str) -> bool:
        """Kafka's tryCleanQuotaNodes: a quota entity left without configs is deleted
        (unless it has children), and so are a user's emptied clients/ node and a user
        node with neither configs (SCRAM credentials, quotas) nor children. True if
        the entity's node is gone."""

        def delete(node: str) -> bool:
            try:
                self._op(deadline, lambda c: c.delete_async(node))
            except NotEmptyError:
                return False
            except NoNodeError:
                pass
            return True

        if not delete(f"/config/{path}"):
            return False
        parts = path.split("/")
        if len(parts) == 4 and delete(f"/config/users/{parts[1]}/clients"):
            user = f"/config/users/{parts[1]}"
            if not _configs(self._get(deadline, user)):
                delete(user)
        return True

    def _notify_change(self, deadline: float, entity_path: str) -> None:
        """The /config/changes notification every broker applies (Kafka's
        createConfigChangeNotification), then the purge of expired ones."""
        note = _json({"version": 2, "entity_path": entity_path})
        prefix = f"{CONFIG_CHANGES_PATH}/{CONFIG_CHANGE_PREFIX}"
        self._op(deadline, lambda c: c.create_async(prefix, note, sequence=True))
        self._purge_config_changes(deadline)

    def _write_configs(
        self,
        deadline: float,
        name: str,
        configs: dict[str, str],
        notify: bool,
        entity_type: str = "topics",
    ) -> None:
        """Write /config/<entity_type>/<name> (name already sanitized for users and
        clients) and, with `notify`, the change notification every broker applies."""
        root = _CONFIG_ROOTS[entity_type]
        path = f"{root}/{name}"
        data = _json({"version": 1, "config": configs})
        try:
            self._op(deadline, lambda c: c.set_async(path, data))
        except NoNodeError:
            try:
                self._op(deadline, lambda c: c.create_async(path, data, makepath=True))
            except NodeExistsError:
                self._op(deadline, lambda c: c.set_async(path, data))
        if notify:
            self._notify_change(deadline, f"{entity_type}/{name}")

    def _purge_config_changes(self, deadline: float) -> None:
        oldest = wall_clock_ms() - CONFIG_CHANGE_EXPIRY_S * 1000
        children = self._children(deadline, CONFIG_CHANGES_PATH)
        paths = [f"{CONFIG_CHANGES_PATH}/{c}" for c in children]
        for path, found in self._get_many(deadline, paths).items():
            if found is not None and found[1].ctime < oldest:
                try:
                    self._op(deadline, lambda c, path=path: c.delete_async(path))
                except NoNodeError:
                    pass
