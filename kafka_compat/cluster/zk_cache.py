"""The ZooKeeper store's caches of the cluster and the watches that keep them current.

`ZooKeeperCache` extends the session (zk_client.py) with what every broker keeps
in memory: `brokers` (the live registrations, with their broker epochs), `topics`
and `assignments` (with their configs), `controller_id` and
`topics_being_deleted`, and the listeners told when they change
(`on_brokers_change`, `on_topics_change`, ...). The admin path (zk_admin.py) and the
store (zk_store.py) extend it with the writes; the store's `run()` sets the watches
and starts the updater.

Threads and Trio. The caches are read and changed on the Trio thread only. kazoo's
watch functions run on kazoo threads and only queue what they saw (`_post`: a hop to
the Trio thread, then an unbounded memory channel); one task, `_apply_updates`,
applies the queue in the order ZooKeeper reported, reading what it needs in worker
threads, and tells the listeners (on the Trio thread; they must not block). The
store's own writes go into the caches at once (`_store_topic`, `_set_assignment`);
a watch delivery older than such a write never undoes it (versions are compared).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import trio

from kafka_compat.cluster.store import NoSuchTopic, StoreError, TopicMetadata
from kafka_compat.cluster.zk_client import Watch, ZooKeeperClient
from kafka_compat.cluster.zk_data import (
    BROKER_IDS_PATH,
    CONFIG_BROKERS_PATH,
    CONFIG_CHANGES_PATH,
    CONFIG_CLIENTS_PATH,
    CONFIG_IPS_PATH,
    CONFIG_TOPICS_PATH,
    CONFIG_USERS_PATH,
    BrokerRegistration,
    TopicAssignment,
    _configs,
    _controller_id,
    _sequence,
    desanitize_entity,
    topic_path,
    user_znode,
)

log = logging.getLogger(__name__)

__all__ = ["ZooKeeperCache"]


class ZooKeeperCache(ZooKeeperClient):
    """A ZooKeeper session with the cluster's metadata cached (module docstring)."""

    def __init__(self, connect: str, **options: Any):
        super().__init__(connect, **options)

        # Caches, kept current by run(); read them on the Trio thread only.
        self.cluster_id = ""
        self.topics: dict[str, TopicMetadata] = {}
        self.assignments: dict[str, TopicAssignment] = {}
        self.topics_being_deleted: set[str] = set()
        self.brokers: dict[int, BrokerRegistration] = {}
        self.controller_id = -1
        # Dynamic broker configs (/config/brokers/<entity>): "<default>" or an id.
        self.broker_configs: dict[str, dict[str, str]] = {}
        # Per-user configs (/config/users/<user>): SCRAM credentials, by user name.
        self.user_configs: dict[str, dict[str, str]] = {}
        # Quota configs by path under /config: clients/<c>, users/<u>/clients/<c>,
        # ips/<ip> (names sanitized; quotas/store.py).
        self.quota_configs: dict[str, dict[str, str]] = {}

        # The store's run() sets these: its nursery, and the queue of cache updates.
        self._nursery: trio.Nursery | None = None
        self._updates: trio.MemorySendChannel | None = None

        self._topic_watches: dict[str, Watch] = {}
        self._last_config_change = -1
        self._listeners.update(
            {
                "brokers": [],
                "topics": [],
                "controller": [],
                "deletions": [],
                "log_dir_events": [],
                "broker_configs": [],
                "user_configs": [],
                "quota_configs": [],
            }
        )

    # ---- hopping to Trio (kazoo threads) ----

    def _post(self, *item: Any) -> None:
        """From a kazoo thread: queue a cache update for run()'s updater task."""
        self._to_trio(self._post_now, item)

    def _post_now(self, item: tuple) -> None:
        if self._updates is not None:
            try:
                self._updates.send_nowait(item)
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                pass

    # ---- listeners (callbacks run on the Trio thread; must not block) ----

    def on_brokers_change(self, callback: Callable[[dict[int, BrokerRegistration]], None]) -> None:
        """callback(brokers) with the live brokers whenever a broker comes or goes."""
        self._listeners["brokers"].append(callback)

    def on_topics_change(self, callback: Callable[[set[str]], None]) -> None:
        """callback(names) when topics are created or removed, or their assignment or
        configs change (names: the topics concerned; look them up in the caches)."""
        self._listeners["topics"].append(callback)

    def on_controller_change(self, callback: Callable[[int], None]) -> None:
        """callback(controller_id) when /controller changes (-1: none)."""
        self._listeners["controller"].append(callback)

    def on_deletions(self, callback: Callable[[set[str]], None]) -> None:
        """callback(topics) with every topic marked for deletion, when that set changes."""
        self._listeners["deletions"].append(callback)

    def on_log_dir_events(self, callback: Callable[[list[str]], None]) -> None:
        """callback(names) with the log dir event notification nodes present (a broker's
        log dir failed); the controller reads them with `read_log_dir_events`."""
        self._listeners["log_dir_events"].append(callback)

    def on_broker_configs_change(self, callback: Callable[[set[str]], None]) -> None:
        """callback(entities) when dynamic broker configs change ("<default>" or ids;
        read them in `broker_configs`)."""
        self._listeners["broker_configs"].append(callback)

    def on_user_configs_change(self, callback: Callable[[set[str]], None]) -> None:
        """callback(users) when /config/users/<user> changed (read `user_configs`)."""
        self._listeners["user_configs"].append(callback)

    def on_quota_configs_change(self, callback: Callable[[set[str]], None]) -> None:
        """callback(paths) when quota configs other than the user level changed (read
        `quota_configs`)."""
        self._listeners["quota_configs"].append(callback)

    # ---- keeping the caches current ----

    async def _apply_updates(self, receive: trio.MemoryReceiveChannel) -> None:
        """The one task that changes the caches, in the order ZooKeeper reported."""
        async for kind, *args in receive:
            while True:
                try:
                    await self._apply(kind, *args)
                    break
                except StoreError as exc:
                    # ZooKeeper went away mid-update: try again once it is back (a watch
                    # does not repeat a change it already delivered).
                    log.warning("Could not refresh %s from ZooKeeper (%s); retrying", kind, exc)
                    await trio.sleep(0.5)

    async def _apply(self, kind: str, *args: Any) -> None:
        if kind == "loaded":
            await self._load_broker_configs()
            await self._load_user_configs()
            await self._load_quota_configs()
            args[0].set()
        elif kind == "brokers":
            await self._refresh_brokers(args[0])
        elif kind == "topics":
            await self._refresh_topics(args[0])
        elif kind == "assignment":
            name, assignment = args
            known = self.topics.get(name)
            if known is not None and known.topic_id != assignment.topic_id:
                # Deleted and created again: a new topic, with configs of its own.
                assignment, configs = (await self._in_thread(self._read_topics, [name]))[name]
                if assignment is not None and name in self.topics:
                    self._store_topic(name, assignment, configs or {})
                    self._notify("topics", {name})
            else:
                self._set_assignment(name, assignment)
        elif kind == "deletions":
            self.topics_being_deleted = set(args[0])
            self._notify("deletions", set(self.topics_being_deleted))
        elif kind == "log_dir_events":
            self._notify("log_dir_events", sorted(args[0]))
        elif kind == "config_changes":
            await self._refresh_configs(args[0])
        elif kind == "controller":
            self.controller_id = _controller_id(args[0])
            self._notify("controller", self.controller_id)

    async def _refresh_brokers(self, children: list[str]) -> None:
        ids = {int(c) for c in children if c.isdigit()}
        # A delivery older than something we wrote ourselves (our own registration)
        # must not drop it: brokers missing from the list are read too, and kept if
        # their node is there.
        ids |= set(self.brokers)
        # Every registration is read again: a broker that restarted between two watch
        # deliveries (its node deleted and re-created) keeps its id but not its epoch
        # (czxid), and the controller must hear of it (Kafka's bounced brokers).
        new = sorted(ids)
        read = {}
        if new:
            paths = [f"{BROKER_IDS_PATH}/{i}" for i in new]
            read = await self._in_thread(self._get_many, paths)
        brokers = {}
        for broker_id in new:
            found = read.get(f"{BROKER_IDS_PATH}/{broker_id}")
            if found is not None:
                data, stat = found
                brokers[broker_id] = BrokerRegistration.from_json(broker_id, data, stat.czxid)
        epochs = {i: b.epoch for i, b in brokers.items()}
        if epochs != {i: b.epoch for i, b in self.brokers.items()}:
            self.brokers = dict(sorted(brokers.items()))
            self._notify("brokers", dict(self.brokers))

    async def _refresh_topics(self, children: list[str]) -> None:
        names = set(children)
        gone = set(self.topics) - names
        if gone:
            # Only what ZooKeeper no longer has: a delivery older than a topic this
            # store created itself must not drop it.
            read = await self._in_thread(self._get_many, [topic_path(n) for n in gone])
            gone = {n for n in gone if read[topic_path(n)] is None}
        new = sorted(names - set(self.topics))
        for name in gone:
            self.topics.pop(name, None)
            self.assignments.pop(name, None)
            watch = self._topic_watches.pop(name, None)
            if watch is not None:
                watch.cancel()
        if new:
            loaded = await self._in_thread(self._read_topics, new)
            for name, (assignment, configs) in loaded.items():
                if assignment is not None:  # None: deleted again meanwhile
                    self._store_topic(name, assignment, configs)
                    self._watch_topic(name)
        if gone or new:
            self._notify("topics", gone | set(new))

    def _read_topics(self, deadline: float, names: list[str]) -> dict[str, tuple]:
        paths = [topic_path(n) for n in names] + [f"{CONFIG_TOPICS_PATH}/{n}" for n in names]
        read = self._get_many(deadline, paths)
        result = {}
        for name in names:
            found = read[topic_path(name)]
            assignment = None
            if found is not None:
                assignment = TopicAssignment.from_json(found[0], found[1].version)
            result[name] = (assignment, _configs(read[f"{CONFIG_TOPICS_PATH}/{name}"]))
        return result

    def _read_brokers(self, deadline: float) -> dict[int, BrokerRegistration]:
        ids = sorted(int(c) for c in self._children(deadline, BROKER_IDS_PATH) if c.isdigit())
        read = self._get_many(deadline, [f"{BROKER_IDS_PATH}/{i}" for i in ids])
        result = {}
        for broker_id in ids:
            found = read[f"{BROKER_IDS_PATH}/{broker_id}"]
            if found is not None:
                result[broker_id] = BrokerRegistration.from_json(
                    broker_id, found[0], found[1].czxid
                )
        return result

    def _store_topic(self, name: str, assignment: TopicAssignment, configs: dict | None) -> None:
        known = self.assignments.get(name)
        if (
            known is not None
            and known.topic_id == assignment.topic_id
            and assignment.version < known.version
        ):
            return  # an older read than what we have (a re-created topic has a new id)
        self.assignments[name] = assignment
        topic = self.topics.get(name)
        if topic is not None and topic.topic_id == assignment.topic_id:
            # Updated in place, as LocalStore does: holders of the object see it.
            topic.partitions = len(assignment.partitions)
            if configs is not None:
                topic.configs = dict(configs)
            return
        self.topics[name] = TopicMetadata(
            name, assignment.topic_id, len(assignment.partitions), dict(configs or {})
        )

    def _watch_topic(self, name: str) -> None:
        if name in self._topic_watches:
            return
        watch = Watch(topic_path(name))
        self._topic_watches[name] = watch

        def changed(data: bytes | None, stat) -> bool | None:
            if watch.cancelled:
                return False
            if data is None:
                # Deleted: the topics watch drops it (and cancels this watch). Keep
                # watching meanwhile, in case it is created again under the same name.
                return None
            self._post("assignment", name, TopicAssignment.from_json(data, stat.version))
            return None

        nursery = self._nursery
        if nursery is not None:

            async def start() -> None:
                try:
                    await self._in_thread(self._start_data_watch, watch.path, changed)
                except StoreError as exc:
                    log.warning("Could not watch topic %s: %s", name, exc)

            nursery.start_soon(start)

    def _set_assignment(self, name: str, assignment: TopicAssignment) -> None:
        if name not in self.topics:
            return
        before = self.assignments.get(name)
        if (
            before is not None
            and before.topic_id == assignment.topic_id
            and assignment.version <= before.version
        ):
            return
        self._store_topic(name, assignment, None)
        self._notify("topics", {name})

    async def _refresh_configs(self, children: list[str]) -> None:
        fresh = sorted(c for c in children if _sequence(c) > self._last_config_change)
        if not fresh:
            return
        self._last_config_change = _sequence(fresh[-1])
        notes = await self._in_thread(self._get_many, [f"{CONFIG_CHANGES_PATH}/{c}" for c in fresh])
        topics, brokers, users, quotas = set(), set(), set(), set()
        for found in notes.values():
            if found is None:
                continue
            entity = json.loads(found[0]).get("entity_path", "")
            kind, _, name = entity.partition("/")
            if kind == "topics" and name in self.topics:
                topics.add(name)
            elif kind == "brokers" and name:
                brokers.add(name)
            elif kind == "users" and "/clients/" in name or kind in ("clients", "ips") and name:
                quotas.add(entity)
            elif kind == "users" and name:
                users.add(desanitize_entity(name))
        if brokers:
            await self._load_broker_configs(brokers)
        if users:
            await self._load_user_configs(users)
        if quotas:
            await self._load_quota_configs(quotas)
        if not topics:
            return
        paths = {name: f"{CONFIG_TOPICS_PATH}/{name}" for name in topics}
        read = await self._in_thread(self._get_many, list(paths.values()))
        for name, path in paths.items():
            topic = self.topics.get(name)
            if topic is not None:
                topic.configs = _configs(read[path]) or {}
        self._notify("topics", topics)

    async def _load_broker_configs(self, entities: set[str] | None = None) -> None:
        """Read /config/brokers/<entity> (every entity when None) into broker_configs."""
        if entities is None:
            entities = set(await self._in_thread(self._children, CONFIG_BROKERS_PATH))
        paths = {e: f"{CONFIG_BROKERS_PATH}/{e}" for e in entities}
        read = await self._in_thread(self._get_many, list(paths.values()))
        for entity, path in paths.items():
            configs = _configs(read[path])
            if configs:
                self.broker_configs[entity] = configs
            else:
                self.broker_configs.pop(entity, None)
        self._notify("broker_configs", set(entities))

    async def _load_user_configs(self, users: set[str] | None = None) -> None:
        """Read /config/users/<user> (every user when None) into user_configs."""
        if users is None:
            children = await self._in_thread(self._children, CONFIG_USERS_PATH)
            users = {desanitize_entity(c) for c in children}
        paths = {u: f"{CONFIG_USERS_PATH}/{user_znode(u)}" for u in users}
        read = await self._in_thread(self._get_many, list(paths.values()))
        for user, path in paths.items():
            configs = _configs(read[path])
            if configs:
                self.user_configs[user] = configs
            else:
                self.user_configs.pop(user, None)
        self._notify("user_configs", set(users))

    async def _load_quota_configs(self, paths: set[str] | None = None) -> None:
        """Read /config/<path> (every clients/*, ips/*, users/*/clients/* when None)
        into quota_configs."""
        if paths is None:

            def every_path(deadline: float) -> set[str]:
                found = {f"clients/{c}" for c in self._children(deadline, CONFIG_CLIENTS_PATH)}
                found |= {f"ips/{c}" for c in self._children(deadline, CONFIG_IPS_PATH)}
                for user in self._children(deadline, CONFIG_USERS_PATH):
                    clients = self._children(deadline, f"{CONFIG_USERS_PATH}/{user}/clients")
                    found |= {f"users/{user}/clients/{c}" for c in clients}
                return found

            paths = await self._in_thread(every_path)
        read = await self._in_thread(self._get_many, [f"/config/{p}" for p in paths])
        for path in paths:
            configs = _configs(read[f"/config/{path}"])
            if configs:
                self.quota_configs[path] = configs
            else:
                self.quota_configs.pop(path, None)
        self._notify("quota_configs", set(paths))

    async def _ensure_cached(self, name: str) -> None:
        """Have the topic in the caches (another broker may have just created it, and
        the watch not yet told us); NoSuchTopic if ZooKeeper does not have it."""
        if name in self.topics:
            return
        assignment, configs = (await self._in_thread(self._read_topics, [name]))[name]
        if assignment is None:
            raise NoSuchTopic(f"Topic '{name}' does not exist.")
        if name not in self.topics:
            self._store_topic(name, assignment, configs)
            self._watch_topic(name)
            self._notify("topics", {name})
