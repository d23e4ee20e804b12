"""The ACL store: every broker enforces the same set of ACLs.

Cluster mode keeps them where Kafka 3.9's AclAuthorizer does, in its JSON:
- `/kafka-acl/<ResourceType>/<name>`: a LITERAL pattern's entries;
- `/kafka-acl-extended/prefixed/<ResourceType>/<name>`: a PREFIXED pattern's;
  both `{"version":1,"acls":[{"principal":"User:alice","permissionType":"Allow",
  "operation":"Read","host":"*"}]}`, written with the node's version (a concurrent
  change makes us read and try again);
- a sequential `acl_changes_` node under `/kafka-acl-changes` ("Topic:name") or
  `/kafka-acl-extended-changes` (JSON) after each write: every broker watches
  both and re-reads the resource named, so a change through one broker is enforced
  by all once ZooKeeper delivered the watch (milliseconds).
A single node keeps them in `kafka-compat-acls.json` in its data dir, same JSON per
resource. Either way the Authorizer's AclCache is what checks read.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

from kafka_compat.clock import wall_clock_ms
from kafka_compat.security.acl_types import (
    OPERATION_NAMES,
    PERMISSION_NAMES,
    RESOURCE_NAMES,
    AclOperation,
    PatternType,
    Permission,
    ResourceType,
)
from kafka_compat.security.authorizer import (
    AccessControlEntry,
    AclBinding,
    AclBindingFilter,
    AclCache,
    ResourcePattern,
)
from storage.checkpoint import write_atomically

log = logging.getLogger(__name__)

LITERAL_ROOT = "/kafka-acl"
PREFIXED_ROOT = "/kafka-acl-extended/prefixed"
LITERAL_CHANGES = "/kafka-acl-changes"
EXTENDED_CHANGES = "/kafka-acl-extended-changes"
CHANGE_PREFIX = "acl_changes_"
CHANGE_EXPIRY_S = 15 * 60

_TYPES_BY_NAME = {name: t for t, name in RESOURCE_NAMES.items()}
_OPS_BY_NAME = {name: op for op, name in OPERATION_NAMES.items()}
_PERMS_BY_NAME = {name: p for p, name in PERMISSION_NAMES.items()}


def encode_entries(entries: set[AccessControlEntry] | frozenset[AccessControlEntry]) -> bytes:
    acls = [
        {
            "principal": e.principal,
            "permissionType": PERMISSION_NAMES[e.permission],
            "operation": OPERATION_NAMES[e.operation],
            "host": e.host,
        }
        for e in sorted(entries, key=lambda e: (e.principal, e.operation, e.permission, e.host))
    ]
    return json.dumps({"version": 1, "acls": acls}, separators=(",", ":")).encode()


def decode_entries(raw: bytes | None) -> set[AccessControlEntry]:
    if not raw:
        return set()
    found = set()
    for acl in json.loads(raw).get("acls", []):
        try:
            found.add(
                AccessControlEntry(
                    acl["principal"],
                    acl["host"],
                    _OPS_BY_NAME[acl["operation"]],
                    _PERMS_BY_NAME[acl["permissionType"]],
                )
            )
        except KeyError:
            log.warning("Ignoring an ACL Kafka's JSON does not describe: %r", acl)
    return found


def resource_path(pattern: ResourcePattern) -> str:
    root = PREFIXED_ROOT if pattern.pattern_type == PatternType.PREFIXED else LITERAL_ROOT
    return f"{root}/{RESOURCE_NAMES[pattern.resource_type]}/{pattern.name}"


class AclStore:
    """Interface: create and delete ACLs; the cache stays current with every broker's."""

    def __init__(self, cache: AclCache) -> None:
        self.cache = cache

    async def create(self, bindings: list[AclBinding]) -> None:
        """Add the bindings (already validated); raises on a store failure."""
        by_pattern: dict[ResourcePattern, set[AccessControlEntry]] = {}
        for b in bindings:
            by_pattern.setdefault(b.pattern, set()).add(b.entry)
        for pattern, entries in by_pattern.items():
            await self._update(pattern, lambda current, add=entries: current | add)

    async def delete(self, filters: list[AclBindingFilter]) -> list[list[AclBinding]]:
        """Remove what each filter matches; per filter, the bindings it removed."""
        matched = [[b for b in self.cache.bindings() if f.matches(b)] for f in filters]
        doomed: dict[ResourcePattern, set[AccessControlEntry]] = {}
        for bindings in matched:
            for b in bindings:
                doomed.setdefault(b.pattern, set()).add(b.entry)
        for pattern, entries in doomed.items():
            await self._update(pattern, lambda current, gone=entries: current - gone)
        return matched

    async def _update(
        self,
        pattern: ResourcePattern,
        change: Callable[[set[AccessControlEntry]], set[AccessControlEntry]],
    ) -> None:
        raise NotImplementedError


class LocalAclStore(AclStore):
    """Single node: a JSON file in the data dir ({path: Kafka's JSON of the entries})."""

    FILE_NAME = "kafka-compat-acls.json"

    def __init__(self, cache: AclCache, data_dir: Path) -> None:
        super().__init__(cache)
        self.path = Path(data_dir) / self.FILE_NAME
        self._saved: dict[str, Any] = {}
        if self.path.exists():
            self._saved = json.loads(self.path.read_text())
            for path, acls in self._saved.items():
                pattern = _pattern_of_path(path)
                if pattern is not None:
                    cache.set(pattern, decode_entries(json.dumps(acls).encode()))

    async def _update(self, pattern, change) -> None:
        entries = change(set(self.cache.acls.get(pattern, ())))
        path = resource_path(pattern)
        if entries:
            self._saved[path] = json.loads(encode_entries(entries))
        else:
            self._saved.pop(path, None)
        write_atomically(self.path, json.dumps(self._saved, indent=1).encode())
        self.cache.set(pattern, entries)


def _pattern_of_path(path: str) -> ResourcePattern | None:
    for root, kind in ((PREFIXED_ROOT, PatternType.PREFIXED), (LITERAL_ROOT, PatternType.LITERAL)):
        if path.startswith(root + "/"):
            type_name, _, name = path[len(root) + 1 :].partition("/")
            resource_type = _TYPES_BY_NAME.get(type_name)
            if resource_type is None or not name:
                return None
            return ResourcePattern(resource_type, name, kind)
    return None


class ZkAclStore(AclStore):
    """Cluster mode: Kafka's znodes (module docstring), through the ZooKeeper store's
    public znode methods (`zk`: a cluster.zk_store.ZooKeeperStore, running; its
    ensure_paths, children, get_many, update_data, create_sequential, ...)."""

    def __init__(self, cache: AclCache, zk: Any) -> None:
        super().__init__(cache)
        self.zk = zk
        self._seen = {LITERAL_CHANGES: -1, EXTENDED_CHANGES: -1}
        self._changes: trio.MemorySendChannel | None = None

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Load every ACL, then apply change notifications until cancelled."""
        zk = self.zk
        await zk.ensure_paths([LITERAL_ROOT, PREFIXED_ROOT, LITERAL_CHANGES, EXTENDED_CHANGES])
        for root in (LITERAL_CHANGES, EXTENDED_CHANGES):
            children = await zk.children(root)
            self._seen[root] = max((_sequence(c) for c in children), default=-1)
        await self._load_all()
        send, receive = trio.open_memory_channel(math.inf)
        self._changes = send
        for root in (LITERAL_CHANGES, EXTENDED_CHANGES):
            await zk.watch_children(root, lambda c, root=root: send.send_nowait((root, c)))
        task_status.started()
        async for root, children in receive:
            while True:
                try:
                    await self._apply_changes(root, children)
                    break
                except Exception as exc:  # ZooKeeper away: try again once it is back
                    log.warning("Could not refresh ACLs from ZooKeeper (%s); retrying", exc)
                    await trio.sleep(0.5)

    async def _load_all(self) -> None:
        zk = self.zk
        for root, kind in (
            (LITERAL_ROOT, PatternType.LITERAL),
            (PREFIXED_ROOT, PatternType.PREFIXED),
        ):
            for type_name in await zk.children(root):
                resource_type = _TYPES_BY_NAME.get(type_name)
                if resource_type is None:
                    continue
                names = await zk.children(f"{root}/{type_name}")
                patterns = [ResourcePattern(resource_type, n, kind) for n in names]
                await self._reload(patterns)

    async def _reload(self, patterns: list[ResourcePattern]) -> None:
        paths = {p: resource_path(p) for p in patterns}
        read = await self.zk.get_many(list(paths.values()))
        for pattern, path in paths.items():
            found = read.get(path)
            self.cache.set(pattern, decode_entries(None if found is None else found[0]))

    async def _apply_changes(self, root: str, children: list[str]) -> None:
        fresh = sorted(c for c in children if _sequence(c) > self._seen[root])
        if not fresh:
            return
        notes = await self.zk.get_many([f"{root}/{c}" for c in fresh])
        patterns = set()
        for found in notes.values():
            if found is None:
                continue
            pattern = _pattern_of_note(root, found[0])
            if pattern is not None:
                patterns.add(pattern)
        await self._reload(sorted(patterns, key=repr))
        self._seen[root] = max(self._seen[root], _sequence(fresh[-1]))

    async def _update(self, pattern, change) -> None:
        """Write the resource's new ACLs (with the znode's version: a concurrent change
        is read again), then the change notification for the other brokers."""
        written: list[set] = []

        def new_data(data: bytes | None) -> bytes | None:
            current = decode_entries(data) if data is not None else set()
            entries = change(set(current))
            written[:] = [entries]
            if entries == current:
                return data
            return encode_entries(entries) if entries else None

        if await self.zk.update_data(resource_path(pattern), new_data):
            await self._notify(pattern)
        self.cache.set(pattern, written[0])  # this broker at once; the others by the note

    async def _notify(self, pattern: ResourcePattern) -> None:
        if pattern.pattern_type == PatternType.LITERAL:
            root = LITERAL_CHANGES
            note = f"{RESOURCE_NAMES[pattern.resource_type]}:{pattern.name}".encode()
        else:
            root = EXTENDED_CHANGES
            note = json.dumps(
                {
                    "version": 1,
                    "resourceType": RESOURCE_NAMES[pattern.resource_type],
                    "name": pattern.name,
                    "patternType": pattern.pattern_type.name,
                }
            ).encode()
        await self.zk.create_sequential(f"{root}/{CHANGE_PREFIX}", note)
        # Kafka's ZkNodeChangeNotificationListener drops notifications older than 15
        # minutes; every broker has read them by then.
        await self.zk.delete_children_created_before(root, wall_clock_ms() - CHANGE_EXPIRY_S * 1000)


def _sequence(name: str) -> int:
    digits = name.rpartition("_")[2]
    return int(digits) if digits.isdigit() else -1


def _pattern_of_note(root: str, raw: bytes) -> ResourcePattern | None:
    try:
        if root == LITERAL_CHANGES:
            type_name, _, name = raw.decode().partition(":")
            kind = PatternType.LITERAL
        else:
            note = json.loads(raw)
            type_name, name = note["resourceType"], note["name"]
            kind = PatternType[note.get("patternType", "PREFIXED")]
    except (ValueError, KeyError):
        return None
    resource_type = _TYPES_BY_NAME.get(type_name)
    if resource_type is None or not name:
        return None
    return ResourcePattern(resource_type, name, kind)


__all__ = [
    "AclOperation",
    "AclStore",
    "LocalAclStore",
    "Permission",
    "ResourceType",
    "ZkAclStore",
    "decode_entries",
    "encode_entries",
]
