"""The ZooKeeper metadata store (Kafka's KafkaZkClient): `ZooKeeperStore`, the
MetadataStore of cluster mode.

It reads and writes Kafka's znodes (their paths and JSON: zk_data.py): the broker
registration, controller election, partition states, ISR change notifications,
producer id blocks and what the controller reads and removes of topics. It extends
the admin path (zk_admin.py: creating topics, adding partitions, changing configs,
marking topics for deletion), which extends the cached session (zk_cache.py, on
zk_client.py). The connect string may end in a chroot (`host:port/kafka`), which is
created if missing.

Who writes what (as in Kafka): every broker registers itself; whoever creates
/controller is the controller, and only it writes partition states and removes
deleted topics; admin requests (create topic, add partitions, configs, deletion
markers) are written by whichever broker received them; leaders write ISR changes
(version-checked) and an ISR change notification for the controller.

Threads and Trio (zk_client.py): the public methods are called on the Trio thread
and never block it; the methods that take a `deadline` run in worker threads
(through `_in_thread`), each ZooKeeper call bounded by `request_timeout`.

Ownership: `await nursery.start(store.run)` connects, creates Kafka's persistent
paths and the cluster id, loads brokers and topics, sets the watches, and then
keeps the caches (`topics`, `assignments`, `brokers`, `controller_id`,
`topics_being_deleted`) current until cancelled, when it closes the session (so
the registration and /controller, if held, go at once). `open_zookeeper_store()`
wraps that for tests and tools.

Session loss is an event, never a crash (zk_client.py): after `NEW_SESSION` (or a
`RECONNECTED` that lost the registration) the store re-creates the broker
registration before it tells the `on_session_event` listeners.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import trio
from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError
from kazoo.recipe.watchers import ChildrenWatch, DataWatch

from kafka_compat.clock import wall_clock_ms
from kafka_compat.cluster.store import (
    BrokerIdTaken,
    MetadataStore,
    StoreError,
    new_cluster_id,
)
from kafka_compat.cluster.zk_admin import AdminZkClient
from kafka_compat.cluster.zk_client import SessionEvent
from kafka_compat.cluster.zk_data import (
    BROKER_IDS_PATH,
    CLUSTER_ID_PATH,
    CONFIG_CHANGES_PATH,
    CONFIG_TOPICS_PATH,
    CONTROLLER_EPOCH_PATH,
    CONTROLLER_PATH,
    DELETE_TOPICS_PATH,
    LOG_DIR_EVENT_PREFIX,
    LOG_DIR_EVENTS_PATH,
    LOG_DIR_FAILURE_EVENT,
    PRODUCER_ID_BLOCK_PATH,
    TOPICS_PATH,
    BrokerRegistration,
    PartitionState,
    TopicAssignment,
    _configs,
    _controller_id,
    _json,
    _sequence,
    consumer_offset_path,
    partition_state_path,
    partitions_path,
    topic_path,
)

log = logging.getLogger(__name__)

__all__ = ["Election", "ZooKeeperStore", "open_zookeeper_store"]


@dataclass(frozen=True)
class Election:
    """The outcome of `elect_controller`.

    won: this broker created /controller. controller_id: who holds /controller now
    (-1: nobody; try again). epoch: the controller epoch (the new one if won).
    epoch_version: the version of /controller_epoch, which fenced writes check.
    """

    won: bool
    controller_id: int
    epoch: int
    epoch_version: int


class ZooKeeperStore(AdminZkClient, MetadataStore):
    """Kafka's ZooKeeper metadata behind the MetadataStore interface (module docstring).

    Times are seconds. `session_timeout` is Kafka's zookeeper.session.timeout.ms
    (default 18 s; the server clamps it to 2-20 ticks); `connection_timeout` bounds
    the first connection; `request_timeout` (default: the session timeout) bounds
    every call. `default_replication_factor` is used by `create_topic` when none is
    given (Kafka's default.replication.factor).
    """

    def __init__(
        self,
        connect: str,
        *,
        session_timeout: float = 18.0,
        connection_timeout: float | None = None,
        request_timeout: float | None = None,
        default_replication_factor: int = 1,
    ):
        super().__init__(
            connect,
            session_timeout=session_timeout,
            connection_timeout=connection_timeout,
            request_timeout=request_timeout,
            default_replication_factor=default_replication_factor,
        )

        # Read them on the Trio thread only.
        self.session_state: SessionEvent | None = None
        self.registration: BrokerRegistration | None = None

        self._registered_session: int | None = None  # the session holding our registration
        self._new_session_untold = False  # NEW_SESSION not yet reported to listeners
        self._session_changes = 0

    def __repr__(self) -> str:
        return f"ZooKeeperStore({self.connect})"

    # ---- lifetime ----

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Connect, load, watch; keep the caches current until cancelled. See module doc."""
        self._token = trio.lowlevel.current_trio_token()
        send, receive = trio.open_memory_channel(math.inf)
        self._updates = send
        try:
            await trio.to_thread.run_sync(self._start_client, abandon_on_cancel=True)
            self.cluster_id = await self._in_thread(self._get_or_create_cluster_id)
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                await self._in_thread(self._set_watches)
                loaded = trio.Event()
                send.send_nowait(("loaded", loaded))
                nursery.start_soon(self._apply_updates, receive)
                await loaded.wait()
                log.info(
                    "Connected to ZooKeeper %s: cluster id %s, %d brokers, %d topics",
                    self.connect,
                    self.cluster_id,
                    len(self.brokers),
                    len(self.topics),
                )
                task_status.started()
                await trio.sleep_forever()
        finally:
            self._nursery = None
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(self._stop_client)

    def _set_watches(self, deadline: float) -> None:
        """In a worker thread: the watches behind the caches. Each delivers its
        current value at once (queued before this returns), then every change."""
        client = self._client
        children = self._children(deadline, CONFIG_CHANGES_PATH)
        self._last_config_change = max((_sequence(c) for c in children), default=-1)
        ChildrenWatch(client, BROKER_IDS_PATH, lambda c: self._post("brokers", c))
        ChildrenWatch(client, TOPICS_PATH, lambda c: self._post("topics", c))
        ChildrenWatch(client, DELETE_TOPICS_PATH, lambda c: self._post("deletions", c))
        ChildrenWatch(client, LOG_DIR_EVENTS_PATH, lambda c: self._post("log_dir_events", c))
        ChildrenWatch(client, CONFIG_CHANGES_PATH, lambda c: self._post("config_changes", c))
        DataWatch(client, CONTROLLER_PATH, lambda d, s: self._post("controller", d))

    # ---- session events (Trio thread) ----

    def _session_changed(self, event: SessionEvent) -> None:
        self.session_state = event
        self._session_changes += 1
        log.log(
            logging.INFO if event is SessionEvent.RECONNECTED else logging.WARNING,
            "ZooKeeper session %s (%s)",
            event.value,
            self.connect,
        )
        if event is SessionEvent.NEW_SESSION:
            self._new_session_untold = True
        if event in (SessionEvent.NEW_SESSION, SessionEvent.RECONNECTED):
            if self._nursery is not None:
                self._nursery.start_soon(self._reregister_then_tell, event, self._session_changes)
            return
        self._notify("session", event)

    async def _reregister_then_tell(self, event: SessionEvent, change: int) -> None:
        """Make sure the broker registration lives in the current session, then report
        the event: NEW_SESSION (also when the connection dropped again before it could
        be reported, and came back as RECONNECTED), else RECONNECTED."""
        while (
            self.registration is not None
            and not self.registered
            and self._session_changes == change
        ):
            reg = self.registration
            try:
                await self.register_broker(
                    reg.broker_id,
                    reg.host,
                    reg.port,
                    rack=reg.rack,
                    endpoints=reg.endpoints,
                    protocol_map=reg.protocol_map,
                )
            except StoreError as exc:
                log.warning("Re-registering broker %d failed (%s); retrying", reg.broker_id, exc)
                await trio.sleep(0.5)
        if self._session_changes == change:  # else a later event took over
            if self._new_session_untold:
                self._new_session_untold = False
                event = SessionEvent.NEW_SESSION
            self._notify("session", event)

    # ---- cluster id ----

    def _get_or_create_cluster_id(self, deadline: float) -> str:
        found = self._get(deadline, CLUSTER_ID_PATH)
        if found is None:
            proposed = new_cluster_id()
            try:
                self._op(
                    deadline,
                    lambda c: c.create_async(
                        CLUSTER_ID_PATH, _json({"version": "1", "id": proposed}), makepath=True
                    ),
                )
                return proposed
            except NodeExistsError:
                found = self._get(deadline, CLUSTER_ID_PATH)
        return json.loads(found[0])["id"]

    # ---- brokers ----

    async def register_broker(
        self,
        broker_id: int,
        host: str,
        port: int,
        *,
        rack: str | None = None,
        endpoints: Iterable[str] = (),
        protocol_map: Iterable[tuple[str, str]] = (),
        wait_for_previous: float | None = None,
    ) -> BrokerRegistration:
        """Create /brokers/ids/<id> (ephemeral), Kafka's JSON v5, and keep it: after a
        new session the store re-creates it before reporting NEW_SESSION.

        If another session still holds the id (this broker was killed and restarted
        before ZooKeeper expired its old session), wait up to `wait_for_previous`
        seconds (default: 1.5 session timeouts) for it to go, then raise BrokerIdTaken.
        Returns the registration, with `epoch` the znode's czxid (the broker epoch).
        """
        reg = BrokerRegistration(
            broker_id,
            host,
            port,
            tuple(endpoints),
            rack,
            timestamp=str(wall_clock_ms()),
            protocol_map=tuple(protocol_map),
        )
        wait = self.session_timeout * 1.5 if wait_for_previous is None else wait_for_previous
        deadline = time.monotonic() + wait + self.request_timeout
        reg = await trio.to_thread.run_sync(
            self._register, deadline, time.monotonic() + wait, reg, abandon_on_cancel=True
        )
        self.registration = reg
        if self.brokers.get(broker_id) != reg:
            # Our own registration is in the cache at once (the watch confirms it).
            self.brokers = dict(sorted({**self.brokers, broker_id: reg}.items()))
            self._notify("brokers", dict(self.brokers))
        log.info(
            "Registered broker %d at %s:%d (broker epoch %d)", broker_id, host, port, reg.epoch
        )
        return reg

    def _register(
        self, deadline: float, wait_until: float, reg: BrokerRegistration
    ) -> BrokerRegistration:
        path = f"{BROKER_IDS_PATH}/{reg.broker_id}"
        data = reg.to_json()
        while True:
            try:
                self._op(deadline, lambda c: c.create_async(path, data, ephemeral=True))
            except NodeExistsError:
                pass
            found = self._get(deadline, path)
            if found is None:
                continue  # gone in between: create again
            stat = found[1]
            if stat.ephemeralOwner == self._session_id:
                self._registered_session = stat.ephemeralOwner
                return BrokerRegistration.from_json(reg.broker_id, found[0], stat.czxid)
            # Another session's: wait for it to end.
            gone = threading.Event()
            if self._op(deadline, lambda c, gone=gone: c.exists_async(path, watch=_setter(gone))):
                remaining = wait_until - time.monotonic()
                if remaining <= 0 or not gone.wait(remaining):
                    raise BrokerIdTaken(
                        f"broker id {reg.broker_id} is registered by another live session "
                        f"(ephemeral owner {stat.ephemeralOwner:#x}) in {self.connect}"
                    )

    @property
    def registered(self) -> bool:
        """Is our broker registration held by the current session?"""
        return self.registration is not None and self._registered_session == self._session_id

    async def unregister_broker(self) -> None:
        """Delete this broker's registration (if this session holds it)."""
        reg, self.registration = self.registration, None
        if reg is not None:
            await self._in_thread(self._delete_if_ours, f"{BROKER_IDS_PATH}/{reg.broker_id}")

    def _delete_if_ours(self, deadline: float, path: str) -> bool:
        found = self._get(deadline, path)
        if found is None or found[1].ephemeralOwner != self._session_id:
            return False
        try:
            self._op(deadline, lambda c: c.delete_async(path, version=found[1].version))
        except (NoNodeError, BadVersionError):
            return False
        return True

    async def live_brokers(self) -> dict[int, BrokerRegistration]:
        """The registered brokers, read now (the `brokers` cache follows by watch)."""
        return await self._in_thread(self._read_brokers)

    # ---- controller ----

    async def elect_controller(self, broker_id: int) -> Election:
        """Try to become the controller, as Kafka's controller does at start-up and
        whenever /controller goes: if nobody holds /controller, create it (ephemeral)
        and bump /controller_epoch with a version check, in one transaction."""
        return await self._in_thread(self._elect, broker_id)

    def _elect(self, deadline: float, broker_id: int) -> Election:
        while True:
            holder = self._read_controller(deadline)
            epoch, epoch_version = self._read_controller_epoch(deadline)
            if holder is not None:
                holder_id, owner = holder
                won = holder_id == broker_id and owner == self._session_id
                return Election(won, holder_id, epoch, epoch_version)
            node = _json(
                {
                    "version": 2,
                    "brokerid": broker_id,
                    "timestamp": str(wall_clock_ms()),
                    "kraftControllerEpoch": -1,
                }
            )

            def build(txn, node=node, epoch=epoch, epoch_version=epoch_version) -> None:
                txn.create(CONTROLLER_PATH, node, ephemeral=True)
                txn.set_data(CONTROLLER_EPOCH_PATH, str(epoch + 1).encode(), epoch_version)

            try:
                results = self._commit(deadline, build, None)
            except (NodeExistsError, BadVersionError):
                continue  # someone was quicker: see who
            log.info("Broker %d is the controller (epoch %d)", broker_id, epoch + 1)
            return Election(True, broker_id, epoch + 1, results[1].version)

    def _read_controller(self, deadline: float) -> tuple[int, int] | None:
        found = self._get(deadline, CONTROLLER_PATH)
        if found is None:
            return None
        return _controller_id(found[0]), found[1].ephemeralOwner

    def _read_controller_epoch(self, deadline: float) -> tuple[int, int]:
        found = self._get(deadline, CONTROLLER_EPOCH_PATH)
        if found is None:
            try:
                self._op(deadline, lambda c: c.create_async(CONTROLLER_EPOCH_PATH, b"0"))
            except NodeExistsError:
                pass
            found = self._get(deadline, CONTROLLER_EPOCH_PATH)
        return int(found[0].decode()), found[1].version

    async def read_controller(self) -> tuple[int, int, int]:
        """(controller id or -1, controller epoch, /controller_epoch version), read now."""

        def read(deadline: float) -> tuple[int, int, int]:
            holder = self._read_controller(deadline)
            epoch, version = self._read_controller_epoch(deadline)
            return (holder[0] if holder else -1), epoch, version

        return await self._in_thread(read)

    async def resign_controller(self) -> bool:
        """Delete /controller if this session holds it (controlled shutdown)."""
        return await self._in_thread(self._delete_if_ours, CONTROLLER_PATH)

    # ---- topics: what the controller needs ----

    async def topic_names(self) -> list[str]:
        return sorted(await self._in_thread(self._children, TOPICS_PATH))

    async def get_topic_assignment(self, name: str) -> TopicAssignment | None:
        found = await self._in_thread(self._get, topic_path(name))
        return None if found is None else TopicAssignment.from_json(found[0], found[1].version)

    async def set_topic_assignment(
        self, name: str, assignment: TopicAssignment, expected_version: int
    ) -> int | None:
        """Rewrite /brokers/topics/<t> if it is still at `expected_version` (e.g. to
        give a topic from an old Kafka a topic id). New version, or None on conflict."""

        def write(deadline: float) -> int | None:
            try:
                return self._op(
                    deadline,
                    lambda c: c.set_async(topic_path(name), assignment.to_json(), expected_version),
                ).version
            except BadVersionError:
                return None

        version = await self._in_thread(write)
        if version is not None:  # our cache has it at once (the watch confirms it)
            assignment.version = version
            self._set_assignment(name, assignment)
        return version

    async def get_topic_configs(self, name: str) -> dict[str, str]:
        return _configs(await self._in_thread(self._get, f"{CONFIG_TOPICS_PATH}/{name}")) or {}

    async def topics_marked_for_deletion(self) -> list[str]:
        return sorted(await self._in_thread(self._children, DELETE_TOPICS_PATH))

    async def remove_topic(self, name: str, *, controller_epoch_version: int | None = None) -> None:
        """The controller's last step of a deletion: remove the topic's znodes, its
        config and its deletion marker, in one transaction (fenced if a controller
        epoch version is given)."""

        def remove(deadline: float) -> None:
            base = partitions_path(name)
            partitions = self._children(deadline, base)
            states = {p: self._children(deadline, f"{base}/{p}") for p in partitions}
            paths = [base, topic_path(name), f"{CONFIG_TOPICS_PATH}/{name}"]
            paths.append(f"{DELETE_TOPICS_PATH}/{name}")
            exists = self._get_many(deadline, paths)

            def build(txn) -> None:
                for p in partitions:
                    for child in states[p]:
                        txn.delete(f"{base}/{p}/{child}")
                    txn.delete(f"{base}/{p}")
                for path in paths:  # parents after children
                    if exists[path] is not None:
                        txn.delete(path)

            self._commit(deadline, build, controller_epoch_version)

        await self._in_thread(remove)
        self.topics_being_deleted.discard(name)

    # ---- partition states ----

    async def get_partition_state(self, topic: str, partition: int) -> PartitionState | None:
        found = await self._in_thread(self._get, partition_state_path(topic, partition))
        return None if found is None else PartitionState.from_json(found[0], found[1].version)

    async def get_partition_states(
        self, topic: str, partitions: Iterable[int] | None = None
    ) -> dict[int, PartitionState]:
        """States of the topic's partitions (all that exist, or those asked for)."""

        def read(deadline: float) -> dict[int, PartitionState]:
            wanted = partitions
            if wanted is None:
                wanted = [int(p) for p in self._children(deadline, partitions_path(topic))]
            wanted = sorted(wanted)
            paths = {p: partition_state_path(topic, p) for p in wanted}
            found = self._get_many(deadline, list(paths.values()))
            return {
                p: PartitionState.from_json(found[path][0], found[path][1].version)
                for p, path in paths.items()
                if found[path] is not None
            }

        return await self._in_thread(read)

    async def create_partition_states(
        self,
        topic: str,
        states: Mapping[int, PartitionState],
        *,
        controller_epoch_version: int | None = None,
    ) -> dict[int, int | None]:
        """Create the state znodes of new partitions (and their parents).

        Returns {partition: version (0)}, or None for a partition whose state already
        existed. Fenced by the controller epoch version when given (ControllerMoved).
        """

        def create(deadline: float) -> dict[int, int | None]:
            try:
                self._op(deadline, lambda c: c.create_async(partitions_path(topic), b""))
            except NodeExistsError:
                pass
            result: dict[int, int | None] = {}
            for p, state in sorted(states.items()):
                try:
                    self._op(
                        deadline,
                        lambda c, p=p: c.create_async(f"{partitions_path(topic)}/{p}", b""),
                    )
                except NodeExistsError:
                    pass
                try:
                    self._commit(
                        deadline,
                        lambda txn, p=p, state=state: txn.create(
                            partition_state_path(topic, p), state.to_json()
                        ),
                        controller_epoch_version,
                    )
                    result[p] = 0
                except NodeExistsError:
                    result[p] = None
            return result

        return await self._in_thread(create)

    async def update_partition_state(
        self,
        topic: str,
        partition: int,
        state: PartitionState,
        expected_version: int,
        *,
        controller_epoch_version: int | None = None,
    ) -> int | None:
        """Write the state if its znode is still at `expected_version`.

        Returns the new version, or None on a conflict (someone wrote in between:
        re-read and decide again). If a retried write finds its own earlier attempt
        applied (same content, version + 1), that counts as success, as in Kafka.
        Raises ControllerMoved (fenced write, stale epoch) or StoreError (no such
        partition).
        """
        result = await self.update_partition_states(
            topic,
            {partition: (state, expected_version)},
            controller_epoch_version=controller_epoch_version,
        )
        return result[partition]

    async def update_partition_states(
        self,
        topic: str,
        updates: Mapping[int, tuple[PartitionState, int]],
        *,
        controller_epoch_version: int | None = None,
    ) -> dict[int, int | None]:
        """Many `update_partition_state`s of one topic: {partition: new version or None}."""

        def write(deadline: float) -> dict[int, int | None]:
            result: dict[int, int | None] = {}
            for p, (state, expected) in sorted(updates.items()):
                path = partition_state_path(topic, p)
                data = state.to_json()
                try:
                    if controller_epoch_version is None:
                        stat = self._op(
                            deadline,
                            lambda c, path=path, data=data, v=expected: c.set_async(path, data, v),
                        )
                    else:
                        stat = self._commit(
                            deadline,
                            lambda txn, path=path, data=data, v=expected: txn.set_data(
                                path, data, v
                            ),
                            controller_epoch_version,
                        )[0]
                    result[p] = stat.version
                except BadVersionError:
                    found = self._get(deadline, path)
                    current = None if found is None else PartitionState.from_json(found[0])
                    if (
                        current is not None
                        and found[1].version == expected + 1
                        and current.same_as(state)
                    ):
                        result[p] = found[1].version
                    else:
                        result[p] = None
                except NoNodeError:
                    raise StoreError(f"partition {topic}-{p} has no state in ZooKeeper") from None
            return result

        return await self._in_thread(write)

    # ---- /feature (finalized features, KIP-584) ----

    async def write_znode(
        self, path: str, data: bytes, expected_version: int | None, controller_epoch_version: int
    ) -> int | None:
        """The controller's fenced write of a znode it owns (/feature): create it
        (expected_version None) or set it at that version. The new version, or None
        when someone else wrote first."""

        def write(deadline: float) -> int | None:
            if expected_version is None:
                build = lambda txn: txn.create(path, data)  # noqa: E731
            else:
                build = lambda txn: txn.set_data(path, data, expected_version)  # noqa: E731
            try:
                result = self._commit(deadline, build, controller_epoch_version)[0]
            except (NodeExistsError, BadVersionError, NoNodeError):
                return None
            return 0 if expected_version is None else result.version

        return await self._in_thread(write)

    # ---- log dir event notifications (JBOD: a broker's log dir failed) ----

    async def notify_log_dir_failure(self, broker_id: int) -> str:
        """Post /log_dir_event_notification/log_dir_event_<seq> for the controller, as
        Kafka's propagateLogDirEvent; returns the node's name."""
        note = _json({"version": 1, "broker": broker_id, "event": LOG_DIR_FAILURE_EVENT})
        prefix = f"{LOG_DIR_EVENTS_PATH}/{LOG_DIR_EVENT_PREFIX}"
        path = await self._in_thread(
            lambda d: self._op(d, lambda c: c.create_async(prefix, note, sequence=True))
        )
        return path.rsplit("/", 1)[-1]

    async def read_log_dir_events(self) -> dict[str, int]:
        """{notification name: broker id}, oldest first (failure events only)."""

        def read(deadline: float) -> dict[str, int]:
            names = sorted(self._children(deadline, LOG_DIR_EVENTS_PATH), key=_sequence)
            found = self._get_many(deadline, [f"{LOG_DIR_EVENTS_PATH}/{n}" for n in names])
            result = {}
            for name in names:
                got = found[f"{LOG_DIR_EVENTS_PATH}/{name}"]
                if got is not None:
                    note = json.loads(got[0])
                    if note.get("event", LOG_DIR_FAILURE_EVENT) == LOG_DIR_FAILURE_EVENT:
                        result[name] = int(note["broker"])
            return result

        return await self._in_thread(read)

    async def delete_log_dir_events(self, names: Iterable[str]) -> None:
        def delete(deadline: float) -> None:
            for name in names:
                try:
                    self._op(
                        deadline,
                        lambda c, name=name: c.delete_async(f"{LOG_DIR_EVENTS_PATH}/{name}"),
                    )
                except NoNodeError:
                    pass

        await self._in_thread(delete)

    # ---- consumer offsets of OffsetCommit v0 (Kafka's ZooKeeper-era layout) ----

    async def set_consumer_offset(
        self, group: str, topic: str, partition: int, offset: int
    ) -> None:
        path = consumer_offset_path(group, topic, partition)
        data = str(offset).encode()

        def write(deadline: float) -> None:
            while True:
                try:
                    self._op(deadline, lambda c: c.set_async(path, data))
                    return
                except NoNodeError:
                    pass
                try:
                    self._op(deadline, lambda c: c.create_async(path, data, makepath=True))
                    return
                except NodeExistsError:
                    continue  # created meanwhile: set it

        await self._in_thread(write)

    async def get_consumer_offset(self, group: str, topic: str, partition: int) -> int | None:
        found = await self._in_thread(self._get, consumer_offset_path(group, topic, partition))
        return None if found is None or not found[0] else int(found[0])

    # ---- producer ids ----

    async def allocate_producer_ids(self, broker_id: int, count: int) -> int:
        """Reserve the next `count` producer ids for `broker_id` as Kafka's
        ZkProducerIdManager does: a version-checked rewrite of /latest_producer_id_block
        (its JSON names the broker and the block's first and last id, as strings)."""

        def allocate(deadline: float) -> int:
            while True:
                found = self._get(deadline, PRODUCER_ID_BLOCK_PATH)
                if found is None:
                    try:
                        self._op(deadline, lambda c: c.create_async(PRODUCER_ID_BLOCK_PATH))
                    except NodeExistsError:
                        pass
                    continue
                data, stat = found
                start = int(json.loads(data)["block_end"]) + 1 if data else 0
                block = {
                    "version": 1,
                    "broker": broker_id,
                    "block_start": str(start),
                    "block_end": str(start + count - 1),
                }
                try:
                    self._op(
                        deadline,
                        lambda c, block=block, version=stat.version: c.set_async(
                            PRODUCER_ID_BLOCK_PATH, _json(block), version
                        ),
                    )
                except BadVersionError:
                    continue  # another broker took a block meanwhile: take the next
                return start

        return await self._in_thread(allocate)


def _setter(event: threading.Event) -> Callable[[Any], None]:
    return lambda _watched: event.set()


@asynccontextmanager
async def open_zookeeper_store(connect: str, **options: Any) -> AsyncIterator[ZooKeeperStore]:
    """A started ZooKeeperStore for the duration of the block (then its session ends).

    A failure to start (ZooKeeperUnavailable) or an exception from the block comes
    out as itself, not wrapped in an exception group by the store's nursery.
    """
    store = ZooKeeperStore(connect, **options)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(store.run)
            try:
                yield store
            finally:
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        if len(group.exceptions) == 1 and not isinstance(group.exceptions[0], BaseExceptionGroup):
            raise group.exceptions[0] from None
        raise
