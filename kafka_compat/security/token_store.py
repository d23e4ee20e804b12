"""Where delegation tokens are kept (security/delegation_tokens.py has the rules).

Cluster mode keeps them where Kafka 3.9's DelegationTokenManagerZk does:
- `/delegation_token/tokens/<tokenId>`: the TokenInformation as Kafka's JSON
  (`{"version":3,"owner":"User%3Aalice","tokenRequester":...,"renewers":[...],
  "issueTimestamp":...,"maxTimestamp":...,"expiryTimestamp":...,"tokenId":...}`);
- a sequential `token_change_` node under `/delegation_token/token_changes` holding
  the token id after each write or removal: every broker watches it and re-reads that
  token (gone: removed), so a token created through one broker logs in on every broker
  once ZooKeeper delivered the watch (milliseconds).
A single node keeps the same JSON per token id in its metadata file (LocalStore's
`delegation_tokens`), beside the SCRAM credentials. Tokens survive a restart either way.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import trio

from kafka_compat.clock import wall_clock_ms
from kafka_compat.security.delegation_tokens import DelegationTokenManager, TokenInformation

__all__ = ["LocalTokenStore", "TokenStore", "ZkTokenStore", "run_expiry_check"]

log = logging.getLogger(__name__)

TOKENS_PATH = "/delegation_token/tokens"
CHANGES_PATH = "/delegation_token/token_changes"
CHANGE_PREFIX = "token_change_"
CHANGE_EXPIRY_S = 15 * 60  # Kafka's ZkNodeChangeNotificationListener drops older ones


class TokenStore:
    """Interface: write and remove tokens; the manager's cache follows every change."""

    def __init__(self, manager: DelegationTokenManager) -> None:
        self.manager = manager
        manager.store = self

    async def save(self, info: TokenInformation) -> None:
        raise NotImplementedError

    async def remove(self, token_id: str) -> None:
        raise NotImplementedError


def _load(manager: DelegationTokenManager, token_id: str, raw: bytes | None) -> None:
    if raw is None:
        manager.removed(token_id)
        return
    try:
        manager.updated(TokenInformation.from_json(raw))
    except ValueError as exc:
        log.error("Error while getting Token for tokenId: %s: %s", token_id, exc)


class LocalTokenStore(TokenStore):
    """Single node: the metadata store's `delegation_tokens` ({token id: JSON text})."""

    def __init__(self, manager: DelegationTokenManager, store: Any) -> None:
        super().__init__(manager)
        self.store = store  # cluster.store.LocalStore
        for token_id, text in store.delegation_tokens.items():
            _load(manager, token_id, text.encode())

    async def save(self, info: TokenInformation) -> None:
        await self.store.set_delegation_token(info.token_id, info.to_json().decode())
        self.manager.updated(info)

    async def remove(self, token_id: str) -> None:
        await self.store.set_delegation_token(token_id, None)
        self.manager.removed(token_id)


class ZkTokenStore(TokenStore):
    """Cluster mode: Kafka's znodes (module docstring), through the ZooKeeper store's
    public znode methods (`zk`: a cluster.zk_store.ZooKeeperStore, running)."""

    def __init__(self, manager: DelegationTokenManager, zk: Any) -> None:
        super().__init__(manager)
        self.zk = zk
        self._seen = -1

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Load every token, then apply change notifications until cancelled."""
        zk = self.zk
        await zk.ensure_paths([CHANGES_PATH, TOKENS_PATH])
        changes = await zk.children(CHANGES_PATH)
        self._seen = max((_sequence(c) for c in changes), default=-1)
        await self._reload(await zk.children(TOKENS_PATH))
        send, receive = trio.open_memory_channel(math.inf)
        await zk.watch_children(CHANGES_PATH, send.send_nowait)
        task_status.started()
        async for children in receive:
            while True:
                try:
                    await self._apply_changes(children)
                    break
                except Exception as exc:  # ZooKeeper away: try again once it is back
                    log.warning("Could not refresh delegation tokens (%s); retrying", exc)
                    await trio.sleep(0.5)

    async def _reload(self, token_ids: list[str]) -> None:
        found = await self.zk.get_many([f"{TOKENS_PATH}/{t}" for t in token_ids])
        for token_id in token_ids:
            data = found.get(f"{TOKENS_PATH}/{token_id}")
            _load(self.manager, token_id, None if data is None else data[0])

    async def _apply_changes(self, children: list[str]) -> None:
        fresh = sorted(c for c in children if _sequence(c) > self._seen)
        if not fresh:
            return
        notes = await self.zk.get_many([f"{CHANGES_PATH}/{c}" for c in fresh])
        token_ids = {found[0].decode() for found in notes.values() if found is not None}
        await self._reload(sorted(token_ids))
        self._seen = max(self._seen, _sequence(fresh[-1]))

    async def save(self, info: TokenInformation) -> None:
        data = info.to_json()
        await self.zk.update_data(f"{TOKENS_PATH}/{info.token_id}", lambda _old: data)
        self.manager.updated(info)  # this broker at once; the others by the note
        await self._notify(info.token_id)

    async def remove(self, token_id: str) -> None:
        await self.zk.update_data(f"{TOKENS_PATH}/{token_id}", lambda _old: None)
        self.manager.removed(token_id)
        await self._notify(token_id)

    async def _notify(self, token_id: str) -> None:
        await self.zk.create_sequential(f"{CHANGES_PATH}/{CHANGE_PREFIX}", token_id.encode())
        await self.zk.delete_children_created_before(
            CHANGES_PATH, wall_clock_ms() - CHANGE_EXPIRY_S * 1000
        )


def _sequence(name: str) -> int:
    digits = name.rpartition("_")[2]
    return int(digits) if digits.isdigit() else -1


async def run_expiry_check(
    manager: DelegationTokenManager, active: Callable[[], bool] = lambda: True
) -> None:
    """Remove expired tokens every `delegation.token.expiry.check.interval.ms`, the
    first time at once (Kafka's delete-expired-tokens task, which in ZooKeeper mode
    runs on the controller: `active`)."""
    while True:
        if active():
            try:
                await manager.remove_expired()
            except Exception as exc:  # ZooKeeper away: the next round tries again
                log.warning("Could not remove expired delegation tokens: %s", exc)
        await trio.sleep(manager.check_interval_ms / 1000)
