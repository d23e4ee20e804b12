"""ZooKeeper sessions and watches for a Trio program (Kafka's ZooKeeperClient).

`ZooKeeperClient` owns the KazooClient: it connects (creating the chroot of a
`host:port/chroot` connect string if missing, and Kafka's persistent paths), runs
every ZooKeeper call in a worker thread with a deadline, turns kazoo's connection
states into session events, and delivers watches to the Trio thread. The store
extends it (zk_cache.py, zk_admin.py, zk_store.py); only these ZooKeeper modules
import kazoo, so a single-node broker never loads it.

Threads and Trio. kazoo runs its own threads; nothing that blocks on ZooKeeper
runs on the Trio thread:
- every call is `trio.to_thread.run_sync(..., abandon_on_cancel=True)` and is
  bounded by `request_timeout` (it waits for a connection, retries on connection
  loss, and raises `ZooKeeperUnavailable` when the time is up). A write that timed
  out may still be applied later, as with any ZooKeeper client: writes that matter
  are version-checked.
- kazoo's watch and state callbacks never block: they hop to the Trio thread with
  `TrioToken.run_sync_soon` (the owner's `run()` sets `_token` before it connects).
  Callbacks registered here (`on_session_event`, `watch_children`, ...) run on the
  Trio thread, in the order ZooKeeper delivered the changes; they must not block
  (set an event, send on an unbounded channel, start a task).

Session loss is an event, never a crash: `SUSPENDED` (connection lost; the session
may live on; make no changes), `RECONNECTED` (the same session is back: ephemeral
nodes and watches intact), `EXPIRED` (the session is gone, and with it the broker
registration and /controller), `NEW_SESSION` (a new session is up and the broker
registration has been re-created; a controller must run for election again).
`_on_state` sees them on kazoo's connection thread and hands each to
`_session_changed` on the Trio thread, which the store implements.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable
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

from kafka_compat.cluster.store import ControllerMoved, ZooKeeperUnavailable
from kafka_compat.cluster.zk_data import CONTROLLER_EPOCH_PATH, PERSISTENT_PATHS, split_connect

log = logging.getLogger(__name__)

__all__ = ["SessionEvent", "Watch", "ZooKeeperClient"]


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


Callback = Callable[..., None]


class ZooKeeperClient:
    """A ZooKeeper session used from Trio (module docstring).

    Times are seconds. `session_timeout` is Kafka's zookeeper.session.timeout.ms
    (default 18 s; the server clamps it to 2-20 ticks); `connection_timeout` bounds
    the first connection; `request_timeout` (default: the session timeout) bounds
    every call.
    """

    def __init__(
        self,
        connect: str,
        *,
        session_timeout: float = 18.0,
        connection_timeout: float | None = None,
        request_timeout: float | None = None,
    ):
        self.connect = connect
        self.hosts, self.chroot = split_connect(connect)
        self.session_timeout = session_timeout
        self.connection_timeout = connection_timeout or session_timeout
        self.request_timeout = request_timeout or session_timeout

        self._client: KazooClient | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._connected = threading.Event()
        self._session_id: int | None = None
        self._disconnected = False  # kazoo's connection thread only
        self._stopping = False
        self._listeners: dict[str, list[Callback]] = {"session": []}

    # ---- connecting and closing (worker threads) ----

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
        """On the Trio thread: a session event `_on_state` saw, in order. The store
        implements it (it re-registers the broker before reporting a new session)."""
        raise NotImplementedError

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

    def _start_data_watch(self, deadline: float, path: str, func: Callback) -> None:
        """`_start_watch` with kazoo's DataWatch: func(data, stat) on a kazoo thread."""
        self._start_watch(deadline, DataWatch, path, func)

    def _deliver(self, watch: Watch, callback: Callback, *args: Any) -> None:
        if not watch.cancelled:
            try:
                callback(*args)
            except Exception:
                log.exception("ZooKeeper watch callback for %s failed", watch.path)

    # ---- raw access, for tools and tests ----

    async def get_raw(self, path: str) -> tuple[bytes, int] | None:
        """A znode's (data, version), or None."""
        found = await self._in_thread(self._get, path)
        return None if found is None else (found[0], found[1].version)

    async def children(self, path: str) -> list[str]:
        return sorted(await self._in_thread(self._children, path))

    # ---- znodes of stores above the cluster layer (security/acls.py) ----

    async def ensure_paths(self, paths: list[str]) -> None:
        """Create each persistent znode of `paths` that does not exist yet."""

        def create(deadline: float) -> None:
            for path in paths:
                try:
                    self._op(deadline, lambda c, p=path: c.create_async(p, b"", makepath=True))
                except NodeExistsError:
                    pass

        await self._in_thread(create)

    async def get_many(self, paths: list[str]) -> dict[str, tuple[bytes, int] | None]:
        """{path: (data, version) or None}, the reads in flight together."""
        found = await self._in_thread(self._get_many, paths)
        return {p: None if f is None else (f[0], f[1].version) for p, f in found.items()}

    async def update_data(self, path: str, change: Callable[[bytes | None], bytes | None]) -> bool:
        """Read-modify-write of one znode, optimistically: `change(data or None)` gives
        the new data (None: delete the znode), called in a worker thread; a concurrent
        change makes it read and call `change` again. True if it wrote (False when
        `change` returned the data unchanged)."""

        def update(deadline: float) -> bool:
            while True:
                found = self._get(deadline, path)
                data = None if found is None else found[0]
                new = change(data)
                if new == data:
                    return False
                try:
                    if found is None:
                        self._op(deadline, lambda c, d=new: c.create_async(path, d, makepath=True))
                    elif new is not None:
                        version = found[1].version
                        self._op(deadline, lambda c, d=new, v=version: c.set_async(path, d, v))
                    else:
                        version = found[1].version
                        self._op(deadline, lambda c, v=version: c.delete_async(path, v))
                    return True
                except (BadVersionError, NodeExistsError, NoNodeError):
                    continue  # changed under us: read it again

        return await self._in_thread(update)

    async def create_sequential(self, prefix: str, data: bytes) -> str:
        """A persistent sequential znode `<prefix><10 digits>`; its path."""
        return await self._in_thread(
            lambda deadline: self._op(
                deadline, lambda c: c.create_async(prefix, data, sequence=True)
            )
        )

    async def delete_children_created_before(self, path: str, ctime_ms: float) -> None:
        """Delete the children of `path` created before `ctime_ms` (ms since the epoch)."""

        def purge(deadline: float) -> None:
            children = [f"{path}/{c}" for c in self._children(deadline, path)]
            for child, found in self._get_many(deadline, children).items():
                if found is not None and found[1].ctime < ctime_ms:
                    try:
                        self._op(deadline, lambda c, p=child: c.delete_async(p))
                    except NoNodeError:
                        pass

        await self._in_thread(purge)

    @property
    def session_id(self) -> int | None:
        return self._session_id
