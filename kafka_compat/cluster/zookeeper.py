"""Cluster metadata in ZooKeeper, in Kafka's znode layout (kazoo underneath).

    /cluster/id                           {"version":"1","id":"<base64 uuid>"}
    /controller                  (eph.)   {"version":2,"brokerid":1,"timestamp":"…",
                                           "kraftControllerEpoch":-1}
    /controller_epoch                     "7"
    /brokers/ids/<id>            (eph.)   {"features":{},"listener_security_protocol_map":{…},
                                           "endpoints":["PLAINTEXT://h:p"],"jmx_port":-1,
                                           "port":p,"host":"h","version":5,"timestamp":"…"}
    /brokers/topics/<t>                   {"partitions":{"0":[1,2,3]},"topic_id":"…",
                                           "adding_replicas":{},"removing_replicas":{},"version":3}
    /brokers/topics/<t>/partitions/<p>/state
                                          {"controller_epoch":1,"leader":1,"version":1,
                                           "leader_epoch":0,"isr":[1,2,3]}
    /config/topics/<t>                    {"version":1,"config":{"retention.ms":"1000"}}
    /config/changes/config_change_<seq>   {"version":2,"entity_path":"topics/<t>"}
    /admin/delete_topics/<t>              (empty: the topic is marked for deletion)
    /isr_change_notification/isr_change_<seq>
                                          {"version":1,"partitions":[{"topic":"t","partition":0}]}

as Kafka 3.x writes them, so `zkCli.sh`, kafka-topics.sh --zookeeper and other tools
that read Kafka's ZooKeeper data understand a kafka-compat cluster. The connect
string may end in a chroot (`host:port/kafka`), which is created if missing.

Who writes what (as in Kafka): every broker registers itself; whoever creates
/controller is the controller, and only it writes partition states and removes
deleted topics; admin requests (create topic, add partitions, configs, deletion
markers) are written by whichever broker received them; leaders write ISR changes
(version-checked) and an ISR change notification for the controller.

Threads and Trio. kazoo runs its own threads; nothing that blocks on ZooKeeper
runs on the Trio thread:
- every call is `trio.to_thread.run_sync(..., abandon_on_cancel=True)` and is
  bounded by `request_timeout` (it waits for a connection, retries on connection
  loss, and raises `ZooKeeperUnavailable` when the time is up). A write that timed
  out may still be applied later, as with any ZooKeeper client: writes that matter
  are version-checked.
- kazoo's watch and state callbacks never block: they hop to the Trio thread with
  `TrioToken.run_sync_soon`. Callbacks registered here (`on_brokers_change`,
  `on_session_event`, `watch_children`, ...) run on the Trio thread, in the order
  ZooKeeper delivered the changes; they must not block (set an event, send on an
  unbounded channel, start a task).

Ownership: `await nursery.start(store.run)` connects, creates Kafka's persistent
paths and the cluster id, loads brokers and topics, sets the watches, and then
keeps the caches (`topics`, `assignments`, `brokers`, `controller_id`,
`topics_being_deleted`) current until cancelled, when it closes the session (so
the registration and /controller, if held, go at once). `open_zookeeper_store()`
wraps that for tests and tools.

Session loss is an event, never a crash: `SUSPENDED` (connection lost; the session
may live on; make no changes), `RECONNECTED` (the same session is back: ephemeral
nodes and watches intact), `EXPIRED` (the session is gone, and with it the broker
registration and /controller), `NEW_SESSION` (a new session is up and the broker
registration has been re-created; a controller must run for election again).
"""

from __future__ import annotations

import base64
import enum
import json
import logging
import math
import random
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import trio
from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import (
    BadVersionError,
    ConnectionClosedError,
    ConnectionLoss,
    NodeExistsError,
    NoNodeError,
    SessionExpiredError,
)
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.recipe.watchers import ChildrenWatch, DataWatch

from kafka_compat.cluster.store import MetadataStore, TopicMetadata, new_cluster_id

log = logging.getLogger(__name__)

__all__ = [
    "BrokerIdTaken",
    "BrokerRegistration",
    "ControllerMoved",
    "Election",
    "InvalidPartitions",
    "InvalidReplicationFactor",
    "NoSuchTopic",
    "PartitionState",
    "SessionEvent",
    "StoreError",
    "TopicAssignment",
    "TopicExists",
    "Watch",
    "ZooKeeperStore",
    "ZooKeeperUnavailable",
    "assign_replicas",
    "open_zookeeper_store",
    "split_connect",
]

# ---- paths (Kafka's ZkData) ----

CLUSTER_ID_PATH = "/cluster/id"
CONTROLLER_PATH = "/controller"
CONTROLLER_EPOCH_PATH = "/controller_epoch"
PRODUCER_ID_BLOCK_PATH = "/latest_producer_id_block"
BROKER_IDS_PATH = "/brokers/ids"
TOPICS_PATH = "/brokers/topics"
CONFIG_TOPICS_PATH = "/config/topics"
CONFIG_CHANGES_PATH = "/config/changes"
CONFIG_CHANGE_PREFIX = "config_change_"
DELETE_TOPICS_PATH = "/admin/delete_topics"
ISR_CHANGES_PATH = "/isr_change_notification"
ISR_CHANGE_PREFIX = "isr_change_"
# Created at start-up by every Kafka broker (ZkData.PersistentZkPaths).
PERSISTENT_PATHS = (
    "/consumers",
    BROKER_IDS_PATH,
    TOPICS_PATH,
    CONFIG_CHANGES_PATH,
    DELETE_TOPICS_PATH,
    "/brokers/seqid",
    ISR_CHANGES_PATH,
    PRODUCER_ID_BLOCK_PATH,
    "/log_dir_event_notification",
    CONFIG_TOPICS_PATH,
    "/config/clients",
    "/config/users",
    "/config/brokers",
    "/config/ips",
)
# Config change notifications older than this are purged (Kafka: 15 minutes).
CONFIG_CHANGE_EXPIRY_S = 15 * 60

ZERO_UUID = bytes(16)


def topic_path(topic: str) -> str:
    return f"{TOPICS_PATH}/{topic}"


def partitions_path(topic: str) -> str:
    return f"{TOPICS_PATH}/{topic}/partitions"


def partition_state_path(topic: str, partition: int) -> str:
    return f"{TOPICS_PATH}/{topic}/partitions/{partition}/state"


def _json(value: object) -> bytes:
    # Jackson's compact form, as Kafka writes it.
    return json.dumps(value, separators=(",", ":")).encode()


def _now_ms() -> str:
    return str(int(time.time() * 1000))


def uuid_to_str(raw: bytes) -> str:
    """Kafka's Uuid.toString: base64url without padding."""
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def uuid_from_str(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def split_connect(connect: str) -> tuple[str, str | None]:
    """'h1:2181,h2:2181/kafka' -> ('h1:2181,h2:2181', '/kafka'); no chroot: None."""
    hosts, slash, chroot = connect.partition("/")
    chroot = "/" + chroot.strip("/") if slash and chroot.strip("/") else None
    return hosts, chroot


# ---- errors ----


class StoreError(Exception):
    """A metadata operation that could not be done."""


class ZooKeeperUnavailable(StoreError):
    """No ZooKeeper connection within the request timeout (or the store is closed)."""


class ControllerMoved(StoreError):
    """A fenced write found a newer controller epoch: this broker is not the controller."""


class BrokerIdTaken(StoreError):
    """/brokers/ids/<id> is held by another live session."""


class TopicExists(StoreError):
    pass


class NoSuchTopic(StoreError):
    pass


class InvalidReplicationFactor(StoreError):
    pass


class InvalidPartitions(StoreError):
    pass


# ---- values ----


@dataclass(frozen=True)
class BrokerRegistration:
    """/brokers/ids/<id>. `epoch` is the znode's czxid (Kafka's broker epoch, KIP-380)."""

    broker_id: int
    host: str
    port: int
    endpoints: tuple[str, ...] = ()
    rack: str | None = None
    timestamp: str = ""
    epoch: int = -1

    def to_json(self) -> bytes:
        endpoints = self.endpoints or (f"PLAINTEXT://{self.host}:{self.port}",)
        data: dict[str, Any] = {
            "features": {},
            "listener_security_protocol_map": {
                e.split("://", 1)[0]: e.split("://", 1)[0] for e in endpoints
            },
            "endpoints": list(endpoints),
            "jmx_port": -1,
            "port": self.port,
            "host": self.host,
            "version": 5,
            "timestamp": self.timestamp or _now_ms(),
        }
        if self.rack is not None:
            data["rack"] = self.rack
        return _json(data)

    @classmethod
    def from_json(cls, broker_id: int, raw: bytes, epoch: int = -1) -> BrokerRegistration:
        data = json.loads(raw)
        endpoints = tuple(data.get("endpoints") or ())
        host, port = data.get("host"), data.get("port", -1)
        if (not host or port in (None, -1)) and endpoints:
            # No PLAINTEXT listener: the first endpoint, "NAME://host:port".
            host, _, port_text = endpoints[0].split("://", 1)[1].rpartition(":")
            port = int(port_text)
        return cls(
            broker_id=broker_id,
            host=host or "",
            port=int(port),
            endpoints=endpoints,
            rack=data.get("rack"),
            timestamp=str(data.get("timestamp", "")),
            epoch=epoch,
        )


@dataclass
class TopicAssignment:
    """/brokers/topics/<t>: replicas per partition. `version` is the znode's version."""

    topic_id: bytes
    partitions: dict[int, list[int]]
    adding_replicas: dict[int, list[int]] = field(default_factory=dict)
    removing_replicas: dict[int, list[int]] = field(default_factory=dict)
    version: int = -1

    def to_json(self) -> bytes:
        data: dict[str, Any] = {
            "partitions": {str(p): r for p, r in sorted(self.partitions.items())},
            "adding_replicas": {str(p): r for p, r in sorted(self.adding_replicas.items())},
            "removing_replicas": {str(p): r for p, r in sorted(self.removing_replicas.items())},
            "version": 3,
        }
        if self.topic_id != ZERO_UUID:
            data["topic_id"] = uuid_to_str(self.topic_id)
        return _json(data)

    @classmethod
    def from_json(cls, raw: bytes, version: int = -1) -> TopicAssignment:
        data = json.loads(raw)

        def replicas(key: str) -> dict[int, list[int]]:
            return {int(p): list(r) for p, r in (data.get(key) or {}).items()}

        topic_id = data.get("topic_id")
        return cls(
            topic_id=uuid_from_str(topic_id) if topic_id else ZERO_UUID,
            partitions=replicas("partitions"),
            adding_replicas=replicas("adding_replicas"),
            removing_replicas=replicas("removing_replicas"),
            version=version,
        )


@dataclass
class PartitionState:
    """/brokers/topics/<t>/partitions/<p>/state.

    `version` is the znode's version: Kafka's zkVersion, sent as PartitionEpoch in
    LeaderAndIsr and ZkVersion in UpdateMetadata; -1 when not read from ZooKeeper.
    """

    leader: int
    leader_epoch: int
    isr: list[int]
    controller_epoch: int
    leader_recovery_state: int = 0
    version: int = -1

    def to_json(self) -> bytes:
        data: dict[str, Any] = {
            "controller_epoch": self.controller_epoch,
            "leader": self.leader,
            "version": 1,
            "leader_epoch": self.leader_epoch,
            "isr": list(self.isr),
        }
        if self.leader_recovery_state != 0:
            data["leader_recovery_state"] = self.leader_recovery_state
        return _json(data)

    @classmethod
    def from_json(cls, raw: bytes, version: int = -1) -> PartitionState:
        data = json.loads(raw)
        return cls(
            leader=data["leader"],
            leader_epoch=data["leader_epoch"],
            isr=list(data["isr"]),
            controller_epoch=data["controller_epoch"],
            leader_recovery_state=data.get("leader_recovery_state", 0),
            version=version,
        )

    def same_as(self, other: PartitionState) -> bool:
        """Equal in everything but the znode version."""
        return (
            self.leader,
            self.leader_epoch,
            list(self.isr),
            self.controller_epoch,
            self.leader_recovery_state,
        ) == (
            other.leader,
            other.leader_epoch,
            list(other.isr),
            other.controller_epoch,
            other.leader_recovery_state,
        )


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


class SessionEvent(enum.Enum):
    SUSPENDED = "suspended"
    RECONNECTED = "reconnected"
    EXPIRED = "expired"
    NEW_SESSION = "new_session"


class Watch:
    """A watch set with `watch_children` / `watch_data`; `cancel()` ends it."""

    def __init__(self, path: str):
        self.path = path
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


# ---- replica placement ----


def assign_replicas(
    broker_ids: Iterable[int],
    partitions: int,
    replication_factor: int,
    start_index: int | None = None,
    shift: int | None = None,
    *,
    start_partition: int = 0,
    rng: random.Random | None = None,
    racks: Mapping[int, str | None] | None = None,
) -> dict[int, list[int]]:
    """Kafka's replica placement (AdminUtils.assignReplicasToBrokers): rack-aware when
    every broker has a rack (`racks`: broker.rack per broker id), else rack-unaware.

    Rack-unaware (assignReplicasToBrokersRackUnaware): brokers are taken in id order.
    Partition p's first replica (its preferred leader) is broker (p + start_index)
    mod n, so leaders go round-robin; the other replicas follow at a distance of
    1 + (shift + j) mod (n - 1), and the shift grows by one after every n partitions,
    so followers spread too. Rack-aware: the same walk over the brokers taken one
    rack at a time (racks by name), skipping a broker whose rack already holds a
    replica of the partition until every rack does. Kafka picks start_index and
    shift at random; a given start_index is also the shift unless one is given
    (Kafka's fixedStartIndex). start_partition numbers the partitions from there,
    for added partitions (Kafka passes the current count and, as start_index, the
    index of partition 0's first replica).
    """
    brokers = sorted(broker_ids)
    n = len(brokers)
    if partitions <= 0:
        raise InvalidPartitions("Number of partitions must be larger than 0.")
    if replication_factor <= 0:
        raise InvalidReplicationFactor("Replication factor must be larger than 0.")
    if replication_factor > n:
        raise InvalidReplicationFactor(
            f"Replication factor: {replication_factor} larger than available brokers: {n}."
        )
    rng = rng or random.Random()
    if start_index is None:
        start_index = rng.randrange(n)
        if shift is None:
            shift = rng.randrange(n)
    elif shift is None:
        shift = start_index
    if not (racks and all(racks.get(b) is not None for b in brokers)):
        # Rack-unaware is the rack-aware walk with every broker in a rack of its own.
        racks = {b: b for b in brokers}
    return _place(
        brokers, racks, partitions, replication_factor, start_index, shift, start_partition
    )


def _place(
    brokers: list[int],
    racks: Mapping[int, object],
    partitions: int,
    replication_factor: int,
    start_index: int,
    shift: int,
    start_partition: int,
) -> dict[int, list[int]]:
    """The walk assign_replicas describes (Kafka's assignReplicasToBrokersRackAware;
    with one broker per rack it is exactly the rack-unaware placement)."""
    by_rack: dict[object, list[int]] = {}
    for broker in brokers:
        by_rack.setdefault(racks[broker], []).append(broker)
    queues = [iter(by_rack[rack]) for rack in sorted(by_rack)]
    arranged: list[int] = []
    turn = 0
    while len(arranged) < len(brokers):
        broker = next(queues[turn], None)
        if broker is not None:
            arranged.append(broker)
        turn = (turn + 1) % len(queues)
    n, rack_count = len(arranged), len(by_rack)
    result: dict[int, list[int]] = {}
    partition = max(0, start_partition)
    for _ in range(partitions):
        if partition > 0 and partition % n == 0:
            shift += 1
        first = (partition + start_index) % n
        replicas = [arranged[first]]
        used_racks = {racks[arranged[first]]}
        k = 0
        for _ in range(replication_factor - 1):
            while True:
                broker = arranged[(first + 1 + (shift * rack_count + k) % (n - 1)) % n]
                k += 1
                rack_free = racks[broker] not in used_racks or len(used_racks) == rack_count
                if rack_free and broker not in replicas:
                    replicas.append(broker)
                    used_racks.add(racks[broker])
                    break
        result[partition] = replicas
        partition += 1
    return result


# ---- the store ----


Callback = Callable[..., None]


class ZooKeeperStore(MetadataStore):
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
        self.connect = connect
        self.hosts, self.chroot = split_connect(connect)
        self.session_timeout = session_timeout
        self.connection_timeout = connection_timeout or session_timeout
        self.request_timeout = request_timeout or session_timeout
        self.default_replication_factor = default_replication_factor

        # Caches, kept current by run(); read them on the Trio thread only.
        self.cluster_id = ""
        self.topics: dict[str, TopicMetadata] = {}
        self.assignments: dict[str, TopicAssignment] = {}
        self.topics_being_deleted: set[str] = set()
        self.brokers: dict[int, BrokerRegistration] = {}
        self.controller_id = -1
        self.session_state: SessionEvent | None = None
        self.registration: BrokerRegistration | None = None

        self._client: KazooClient | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._nursery: trio.Nursery | None = None
        self._updates: trio.MemorySendChannel | None = None
        self._connected = threading.Event()
        self._session_id: int | None = None
        self._disconnected = False  # kazoo's connection thread only
        self._registered_session: int | None = None  # the session holding our registration
        self._new_session_untold = False  # NEW_SESSION not yet reported to listeners
        self._session_changes = 0
        self._stopping = False
        self._topic_watches: dict[str, Watch] = {}
        self._last_config_change = -1
        self._listeners: dict[str, list[Callback]] = {
            "session": [],
            "brokers": [],
            "topics": [],
            "controller": [],
            "deletions": [],
            "isr_changes": [],
        }

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

    def _start_client(self) -> None:
        # Reconnect within a second of ZooKeeper coming back (kazoo's default backs
        # off to a minute); recipes' own retries give up after a request timeout.
        retry = {"max_tries": -1, "delay": 0.05, "backoff": 2, "max_delay": 1.0}
        command_retry = {**retry, "deadline": self.request_timeout}
        if self.chroot:
            # Create the chroot with a session of its own, then work inside it.
            bootstrap = KazooClient(hosts=self.hosts, timeout=self.session_timeout)
            try:
                bootstrap.start(timeout=self.connection_timeout)
                bootstrap.ensure_path(self.chroot)
            except KazooTimeoutError:
                raise ZooKeeperUnavailable(
                    f"cannot connect to ZooKeeper at {self.hosts} within {self.connection_timeout}s"
                ) from None
            finally:
                bootstrap.stop()
                bootstrap.close()
        client = KazooClient(
            hosts=self.hosts + (self.chroot or ""),
            timeout=self.session_timeout,
            connection_retry=retry,
            command_retry=command_retry,
        )
        client.add_listener(self._on_state)
        try:
            client.start(timeout=self.connection_timeout)
        except KazooTimeoutError:
            raise ZooKeeperUnavailable(
                f"cannot connect to ZooKeeper at {self.connect} within {self.connection_timeout}s"
            ) from None
        self._client = client
        self._session_id = client.client_id[0]
        self._connected.set()
        for path in PERSISTENT_PATHS:
            client.ensure_path(path)

    def _stop_client(self) -> None:
        self._stopping = True
        self._connected.clear()
        client, self._client = self._client, None
        if client is not None:
            try:
                client.stop()
            finally:
                client.close()

    # ---- calling ZooKeeper (worker threads only) ----

    async def _in_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run fn(deadline, *args) in a worker thread; the Trio thread never blocks."""
        deadline = time.monotonic() + self.request_timeout
        return await trio.to_thread.run_sync(fn, deadline, *args, abandon_on_cancel=True)

    def _op(self, deadline: float, start: Callable[[KazooClient], Any]) -> Any:
        """One ZooKeeper request: wait for a connection, retry on connection loss."""
        while True:
            client = self._client
            if client is None or self._stopping:
                raise ZooKeeperUnavailable("the ZooKeeper store is closed")
            if not self._connected.wait(max(0.0, deadline - time.monotonic())):
                raise ZooKeeperUnavailable(
                    f"no ZooKeeper connection ({self.connect}) within {self.request_timeout}s"
                )
            try:
                return start(client).get(timeout=max(0.001, deadline - time.monotonic()))
            except (ConnectionLoss, SessionExpiredError) as exc:
                # Wait for the (new) session and send it again.
                if time.monotonic() >= deadline:
                    raise ZooKeeperUnavailable(
                        f"lost the ZooKeeper connection ({self.connect})"
                    ) from exc
                time.sleep(0.01)
            except KazooTimeoutError:
                raise ZooKeeperUnavailable(
                    f"ZooKeeper ({self.connect}) did not answer within {self.request_timeout}s"
                ) from None
            except ConnectionClosedError:
                raise ZooKeeperUnavailable("the ZooKeeper store is closed") from None

    def _get(self, deadline: float, path: str):
        """(data, stat) or None if the node does not exist."""
        try:
            return self._op(deadline, lambda c: c.get_async(path))
        except NoNodeError:
            return None

    def _children(self, deadline: float, path: str) -> list[str]:
        try:
            return self._op(deadline, lambda c: c.get_children_async(path))
        except NoNodeError:
            return []

    def _get_many(self, deadline: float, paths: list[str]) -> dict[str, Any]:
        """Read many nodes with their requests in flight together: {path: (data, stat)|None}."""
        client = self._client
        if client is None:
            raise ZooKeeperUnavailable("the ZooKeeper store is closed")
        pending = {p: client.get_async(p) for p in paths} if self._connected.is_set() else {}
        result = {}
        for path in paths:
            try:
                if path in pending:
                    try:
                        result[path] = pending[path].get(
                            timeout=max(0.001, deadline - time.monotonic())
                        )
                        continue
                    except (ConnectionLoss, SessionExpiredError):
                        pass
                    except KazooTimeoutError:
                        raise ZooKeeperUnavailable(
                            f"ZooKeeper ({self.connect}) did not answer within "
                            f"{self.request_timeout}s"
                        ) from None
                result[path] = self._get(deadline, path)
            except NoNodeError:
                result[path] = None
        return result

    def _commit(self, deadline: float, build: Callable[[Any], None], fence: int | None) -> list:
        """Run a multi-op transaction; with `fence`, it first checks /controller_epoch's
        version. Returns the results; raises the first failure (ControllerMoved for
        the fence)."""

        def start(client: KazooClient):
            txn = client.transaction()
            if fence is not None:
                txn.check(CONTROLLER_EPOCH_PATH, fence)
            build(txn)
            return txn.commit_async()

        results = self._op(deadline, start)
        failures = [r for r in results if isinstance(r, Exception)]
        if not failures:
            return results[1:] if fence is not None else results
        if fence is not None and isinstance(results[0], Exception):
            if isinstance(results[0], (BadVersionError, NoNodeError)):
                raise ControllerMoved(
                    f"controller epoch znode is no longer at version {fence}: "
                    "another broker is the controller"
                )
        real = [r for r in failures if type(r).__name__ != "RolledBackError"]
        raise (real or failures)[0]

    # ---- hopping to Trio (kazoo threads) ----

    def _to_trio(self, fn: Callable[..., None], *args: Any) -> None:
        """Run fn(*args) on the Trio thread soon; never blocks the calling thread."""
        token = self._token
        if token is None:
            return
        try:
            token.run_sync_soon(fn, *args)
        except trio.RunFinishedError:
            pass

    def _post(self, *item: Any) -> None:
        """From a kazoo thread: queue a cache update for run()'s updater task."""
        self._to_trio(self._post_now, item)

    def _post_now(self, item: tuple) -> None:
        if self._updates is not None:
            try:
                self._updates.send_nowait(item)
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                pass

    def _on_state(self, state: str) -> None:
        """kazoo's connection listener (its connection thread): must not block."""
        event = None
        if state == KazooState.CONNECTED:
            client = self._client
            session = client._session_id if client is not None else None
            self._connected.set()
            if self._session_id is not None and session != self._session_id:
                event = SessionEvent.NEW_SESSION
            elif self._disconnected:
                event = SessionEvent.RECONNECTED
            self._disconnected = False
            if session is not None:
                self._session_id = session
        elif state == KazooState.SUSPENDED:
            self._connected.clear()
            self._disconnected = True
            event = SessionEvent.SUSPENDED
        elif state == KazooState.LOST:
            self._connected.clear()
            self._disconnected = True
            if not self._stopping:
                event = SessionEvent.EXPIRED
        if event is not None:
            self._to_trio(self._session_changed, event)

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
                    reg.broker_id, reg.host, reg.port, rack=reg.rack, endpoints=reg.endpoints
                )
            except StoreError as exc:
                log.warning("Re-registering broker %d failed (%s); retrying", reg.broker_id, exc)
                await trio.sleep(0.5)
        if self._session_changes == change:  # else a later event took over
            if self._new_session_untold:
                self._new_session_untold = False
                event = SessionEvent.NEW_SESSION
            self._notify("session", event)

    def _notify(self, kind: str, *args: Any) -> None:
        for callback in list(self._listeners[kind]):
            try:
                callback(*args)
            except Exception:
                log.exception("ZooKeeper %s listener %r failed", kind, callback)

    # ---- listeners (callbacks run on the Trio thread; must not block) ----

    def on_session_event(self, callback: Callable[[SessionEvent], None]) -> None:
        """callback(SessionEvent) on every session change."""
        self._listeners["session"].append(callback)

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

    def on_isr_changes(self, callback: Callable[[list[str]], None]) -> None:
        """callback(names) with the ISR change notification nodes present; the controller
        reads them with `read_isr_changes` and removes them with `delete_isr_changes`."""
        self._listeners["isr_changes"].append(callback)

    async def watch_children(self, path: str, callback: Callable[[list[str]], None]) -> Watch:
        """callback(children) now and whenever `path`'s children change (path must exist)."""
        watch = Watch(path)

        def changed(children: list[str]) -> bool | None:
            if watch.cancelled:
                return False
            self._to_trio(self._deliver, watch, callback, sorted(children))
            return None

        await self._in_thread(self._start_watch, ChildrenWatch, path, changed)
        return watch

    async def watch_data(
        self, path: str, callback: Callable[[bytes | None, int | None], None]
    ) -> Watch:
        """callback(data, version) now and whenever `path` changes; (None, None) while
        the node does not exist."""
        watch = Watch(path)

        def changed(data: bytes | None, stat) -> bool | None:
            if watch.cancelled:
                return False
            self._to_trio(
                self._deliver, watch, callback, data, None if stat is None else stat.version
            )
            return None

        await self._in_thread(self._start_watch, DataWatch, path, changed)
        return watch

    def _start_watch(self, deadline: float, recipe: type, path: str, func: Callback) -> None:
        # The recipe's first read is a plain kazoo call, which would wait for a
        # connection without limit: only start it while connected.
        if not self._connected.wait(max(0.0, deadline - time.monotonic())):
            raise ZooKeeperUnavailable(f"no ZooKeeper connection ({self.connect})")
        recipe(self._client, path, func)

    def _deliver(self, watch: Watch, callback: Callback, *args: Any) -> None:
        if not watch.cancelled:
            try:
                callback(*args)
            except Exception:
                log.exception("ZooKeeper watch callback for %s failed", watch.path)

    # ---- keeping the caches current ----

    def _set_watches(self, deadline: float) -> None:
        """In a worker thread: the watches behind the caches. Each delivers its
        current value at once (queued before this returns), then every change."""
        client = self._client
        children = self._children(deadline, CONFIG_CHANGES_PATH)
        self._last_config_change = max((_sequence(c) for c in children), default=-1)
        ChildrenWatch(client, BROKER_IDS_PATH, lambda c: self._post("brokers", c))
        ChildrenWatch(client, TOPICS_PATH, lambda c: self._post("topics", c))
        ChildrenWatch(client, DELETE_TOPICS_PATH, lambda c: self._post("deletions", c))
        ChildrenWatch(client, ISR_CHANGES_PATH, lambda c: self._post("isr_changes", c))
        ChildrenWatch(client, CONFIG_CHANGES_PATH, lambda c: self._post("config_changes", c))
        DataWatch(client, CONTROLLER_PATH, lambda d, s: self._post("controller", d))

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
        elif kind == "isr_changes":
            self._notify("isr_changes", sorted(args[0]))
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
                    await self._in_thread(self._start_watch, DataWatch, watch.path, changed)
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
        topics = set()
        for found in notes.values():
            if found is None:
                continue
            entity = json.loads(found[0]).get("entity_path", "")
            kind, _, name = entity.partition("/")
            if kind == "topics" and name in self.topics:
                topics.add(name)
        if not topics:
            return
        paths = {name: f"{CONFIG_TOPICS_PATH}/{name}" for name in topics}
        read = await self._in_thread(self._get_many, list(paths.values()))
        for name, path in paths.items():
            topic = self.topics.get(name)
            if topic is not None:
                topic.configs = _configs(read[path]) or {}
        self._notify("topics", topics)

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
        wait_for_previous: float | None = None,
    ) -> BrokerRegistration:
        """Create /brokers/ids/<id> (ephemeral), Kafka's JSON v5, and keep it: after a
        new session the store re-creates it before reporting NEW_SESSION.

        If another session still holds the id (this broker was killed and restarted
        before ZooKeeper expired its old session), wait up to `wait_for_previous`
        seconds (default: 1.5 session timeouts) for it to go, then raise BrokerIdTaken.
        Returns the registration, with `epoch` the znode's czxid (the broker epoch).
        """
        reg = BrokerRegistration(broker_id, host, port, tuple(endpoints), rack, timestamp=_now_ms())
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
                    "timestamp": _now_ms(),
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

    def _write_configs(
        self, deadline: float, name: str, configs: dict[str, str], notify: bool
    ) -> None:
        path = f"{CONFIG_TOPICS_PATH}/{name}"
        data = _json({"version": 1, "config": configs})
        try:
            self._op(deadline, lambda c: c.set_async(path, data))
        except NoNodeError:
            try:
                self._op(deadline, lambda c: c.create_async(path, data, makepath=True))
            except NodeExistsError:
                self._op(deadline, lambda c: c.set_async(path, data))
        if notify:
            note = _json({"version": 2, "entity_path": f"topics/{name}"})
            prefix = f"{CONFIG_CHANGES_PATH}/{CONFIG_CHANGE_PREFIX}"
            self._op(deadline, lambda c: c.create_async(prefix, note, sequence=True))
            self._purge_config_changes(deadline)

    def _purge_config_changes(self, deadline: float) -> None:
        oldest = (time.time() - CONFIG_CHANGE_EXPIRY_S) * 1000
        children = self._children(deadline, CONFIG_CHANGES_PATH)
        paths = [f"{CONFIG_CHANGES_PATH}/{c}" for c in children]
        for path, found in self._get_many(deadline, paths).items():
            if found is not None and found[1].ctime < oldest:
                try:
                    self._op(deadline, lambda c, path=path: c.delete_async(path))
                except NoNodeError:
                    pass

    # ---- topics: what the controller needs ----

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

    # ---- ISR change notifications ----

    async def notify_isr_change(self, partitions: Iterable[tuple[str, int]]) -> str:
        """Post /isr_change_notification/isr_change_<seq> for the controller (a leader
        does this after writing ISR changes); returns the node's name."""
        note = _json(
            {
                "version": 1,
                "partitions": [{"topic": t, "partition": p} for t, p in partitions],
            }
        )
        prefix = f"{ISR_CHANGES_PATH}/{ISR_CHANGE_PREFIX}"
        path = await self._in_thread(
            lambda d: self._op(d, lambda c: c.create_async(prefix, note, sequence=True))
        )
        return path.rsplit("/", 1)[-1]

    async def read_isr_changes(self) -> dict[str, list[tuple[str, int]]]:
        """{notification name: [(topic, partition), ...]}, oldest first."""

        def read(deadline: float) -> dict[str, list[tuple[str, int]]]:
            names = sorted(self._children(deadline, ISR_CHANGES_PATH), key=_sequence)
            found = self._get_many(deadline, [f"{ISR_CHANGES_PATH}/{n}" for n in names])
            result = {}
            for name in names:
                got = found[f"{ISR_CHANGES_PATH}/{name}"]
                if got is not None:
                    parts = json.loads(got[0]).get("partitions", [])
                    result[name] = [(x["topic"], x["partition"]) for x in parts]
            return result

        return await self._in_thread(read)

    async def delete_isr_changes(self, names: Iterable[str]) -> None:
        def delete(deadline: float) -> None:
            for name in names:
                try:
                    self._op(
                        deadline, lambda c, name=name: c.delete_async(f"{ISR_CHANGES_PATH}/{name}")
                    )
                except NoNodeError:
                    pass

        await self._in_thread(delete)

    # ---- raw access, for tools and tests ----

    async def get_raw(self, path: str) -> tuple[bytes, int] | None:
        """A znode's (data, version), or None."""
        found = await self._in_thread(self._get, path)
        return None if found is None else (found[0], found[1].version)

    async def children(self, path: str) -> list[str]:
        return sorted(await self._in_thread(self._children, path))

    @property
    def session_id(self) -> int | None:
        return self._session_id


def _setter(event: threading.Event) -> Callable[[Any], None]:
    return lambda _watched: event.set()


def _sequence(name: str) -> int:
    digits = name[-10:]
    return int(digits) if digits.isdigit() else -1


def _controller_id(data: bytes | None) -> int:
    if not data:
        return -1
    try:
        return int(json.loads(data)["brokerid"])
    except (ValueError, KeyError, TypeError):
        return -1


def _configs(found) -> dict[str, str] | None:
    if found is None:
        return None
    return {k: str(v) for k, v in (json.loads(found[0]).get("config") or {}).items()}


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
