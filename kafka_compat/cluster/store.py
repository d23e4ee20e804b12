"""What the broker knows about the cluster, behind one interface.

`MetadataStore` is what handlers and the broker use: topics with their ids,
partition counts and config overrides. `LocalStore` (single node) keeps it in a
file in the data dir; the ZooKeeper store (cluster mode, cluster/zk_store.py)
implements the same methods against Kafka's znode layout.

The store errors live here, not with the ZooKeeper store, because handlers and the
group coordinator catch them in single-node mode too (this module never imports
kazoo).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from storage.checkpoint import write_atomically


@dataclass
class TopicMetadata:
    name: str
    topic_id: bytes  # 16 raw bytes (Kafka's Uuid)
    partitions: int
    configs: dict[str, str] = field(default_factory=dict)


class MetadataStore:
    """Interface: what every metadata backend provides. Mutations are async."""

    cluster_id: str
    topics: dict[str, TopicMetadata]
    # Dynamic broker configs by entity: "<default>" (the cluster's) or a broker id.
    broker_configs: dict[str, dict[str, str]]
    # Per-user configs by user name (Kafka's /config/users/<user>): SCRAM credentials
    # as "salt=...,stored_key=...,server_key=...,iterations=N" under the mechanism.
    user_configs: dict[str, dict[str, str]]
    # The other quota entities' configs by path under /config: clients/<c>,
    # users/<u>/clients/<c>, ips/<ip> (names sanitized as Kafka does; quotas/store.py).
    quota_configs: dict[str, dict[str, str]]

    async def create_topic(
        self, name: str, partitions: int, configs: dict[str, str]
    ) -> TopicMetadata:
        raise NotImplementedError

    async def delete_topic(self, name: str) -> None:
        raise NotImplementedError

    async def add_partitions(self, name: str, total: int) -> None:
        raise NotImplementedError

    async def set_topic_configs(self, name: str, configs: dict[str, str]) -> None:
        raise NotImplementedError

    async def set_broker_configs(self, entity: str, configs: dict[str, str]) -> None:
        """Replace the dynamic broker configs of `entity` ("<default>" or a broker id);
        in a cluster every broker hears of it (config change notification)."""
        raise NotImplementedError

    async def update_user_configs(
        self, user: str, set_keys: dict[str, str], delete_keys: set[str]
    ) -> dict[str, str]:
        """Set and remove keys of the user's configs, keeping the others; in a cluster
        every broker hears of it. Returns the user's configs after the change.
        MissingConfigs (nothing changed) if a key to delete is not there."""
        raise NotImplementedError

    async def update_quota_configs(
        self, path: str, set_keys: dict[str, str], delete_keys: set[str]
    ) -> dict[str, str]:
        """Set and remove keys of a quota entity's configs (removing a key that is not
        there is no error); in a cluster every broker hears of it."""
        raise NotImplementedError

    async def allocate_producer_ids(self, broker_id: int, count: int) -> int:
        """Reserve `count` producer ids never handed out before (also across
        restarts); returns the first."""
        raise NotImplementedError

    async def set_consumer_offset(
        self, group: str, topic: str, partition: int, offset: int
    ) -> None:
        """OffsetCommit v0: the offset kept where ZooKeeper-era consumers kept it
        (/consumers/<group>/offsets/<topic>/<partition>); the group coordinator and
        __consumer_offsets never see it, as in Kafka."""
        raise NotImplementedError

    async def get_consumer_offset(self, group: str, topic: str, partition: int) -> int | None:
        """OffsetFetch v0: what set_consumer_offset kept, None if nothing."""
        raise NotImplementedError


# ---- errors (metadata operations, either backend; replica placement) ----


class StoreError(Exception):
    """A metadata operation that could not be done."""


class ZooKeeperUnavailable(StoreError):
    """No ZooKeeper connection within the request timeout (or the store is closed)."""


class ControllerMoved(StoreError):
    """A fenced write found a newer controller epoch: this broker is not the controller."""


class NotController(Exception):
    """This broker is not (or no longer) the controller: the request's NOT_CONTROLLER."""


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


class MissingConfigs(StoreError):
    """A config key to delete is not there (checked against the store, not a cache)."""


def change_entity_configs(
    entity: str, configs: dict[str, str], set_keys: dict[str, str], delete_keys: set[str]
) -> None:
    """Apply a change to an entity's configs in place (both stores)."""
    missing = sorted(k for k in delete_keys if k not in configs)
    if missing:
        raise MissingConfigs(f"{entity} has no {', '.join(missing)}")
    for key in delete_keys:
        del configs[key]
    configs.update(set_keys)


def new_cluster_id() -> str:
    """Kafka's cluster ids are base64url-encoded random UUIDs without padding."""
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


class LocalStore(MetadataStore):
    """Single-node metadata: one JSON file in the data dir, rewritten atomically."""

    FILE_NAME = "kafka-compat-metadata.json"
    PRODUCER_ID_FILE_NAME = "kafka-compat-producer-id-block"  # the next unreserved id

    def __init__(self, data_dir: Path, cluster_id: str):
        self.path = Path(data_dir) / self.FILE_NAME
        self.producer_id_path = Path(data_dir) / self.PRODUCER_ID_FILE_NAME
        self.cluster_id = cluster_id
        self.topics = {}
        # OffsetCommit v0's offsets: {group: {"topic/partition": offset}}.
        self.consumer_offsets: dict[str, dict[str, int]] = {}
        self.broker_configs = {}
        self.user_configs = {}
        self.quota_configs = {}
        # Delegation tokens: {token id: Kafka's JSON} (security/token_store.py).
        self.delegation_tokens: dict[str, str] = {}
        if self.path.exists():
            saved = json.loads(self.path.read_text())
            self.consumer_offsets = saved.get("consumer_offsets", {})
            self.broker_configs = saved.get("broker_configs", {})
            self.user_configs = saved.get("user_configs", {})
            self.quota_configs = saved.get("quota_configs", {})
            self.delegation_tokens = saved.get("delegation_tokens", {})
            for t in saved["topics"]:
                self.topics[t["name"]] = TopicMetadata(
                    t["name"], bytes.fromhex(t["topic_id"]), t["partitions"], t["configs"]
                )

    def _save(self) -> None:
        data = {
            "version": 1,
            "topics": [
                {
                    "name": t.name,
                    "topic_id": t.topic_id.hex(),
                    "partitions": t.partitions,
                    "configs": t.configs,
                }
                for t in self.topics.values()
            ],
            "consumer_offsets": self.consumer_offsets,
            "broker_configs": self.broker_configs,
            "user_configs": self.user_configs,
            "quota_configs": self.quota_configs,
            "delegation_tokens": self.delegation_tokens,
        }
        write_atomically(self.path, json.dumps(data, indent=1).encode())

    async def create_topic(
        self, name: str, partitions: int, configs: dict[str, str]
    ) -> TopicMetadata:
        topic = TopicMetadata(name, uuid.uuid4().bytes, partitions, dict(configs))
        self.topics[name] = topic
        self._save()
        return topic

    async def delete_topic(self, name: str) -> None:
        del self.topics[name]
        self._save()

    async def add_partitions(self, name: str, total: int) -> None:
        self.topics[name].partitions = total
        self._save()

    async def set_topic_configs(self, name: str, configs: dict[str, str]) -> None:
        self.topics[name].configs = dict(configs)
        self._save()

    async def set_broker_configs(self, entity: str, configs: dict[str, str]) -> None:
        if configs:
            self.broker_configs[entity] = dict(configs)
        else:
            self.broker_configs.pop(entity, None)
        self._save()

    async def update_user_configs(
        self, user: str, set_keys: dict[str, str], delete_keys: set[str]
    ) -> dict[str, str]:
        configs = dict(self.user_configs.get(user, {}))
        change_entity_configs(user, configs, set_keys, delete_keys)
        if configs:
            self.user_configs[user] = configs
        else:
            self.user_configs.pop(user, None)
        self._save()
        return dict(configs)

    async def update_quota_configs(
        self, path: str, set_keys: dict[str, str], delete_keys: set[str]
    ) -> dict[str, str]:
        configs = dict(self.quota_configs.get(path, {}))
        for key in delete_keys:
            configs.pop(key, None)
        configs.update(set_keys)
        if configs:
            self.quota_configs[path] = configs
        else:
            self.quota_configs.pop(path, None)
        self._save()
        return dict(configs)

    async def set_delegation_token(self, token_id: str, info_json: str | None) -> None:
        """Keep (or, with None, drop) a delegation token's JSON."""
        if info_json is None:
            self.delegation_tokens.pop(token_id, None)
        else:
            self.delegation_tokens[token_id] = info_json
        self._save()

    async def set_consumer_offset(
        self, group: str, topic: str, partition: int, offset: int
    ) -> None:
        self.consumer_offsets.setdefault(group, {})[f"{topic}/{partition}"] = offset
        self._save()

    async def get_consumer_offset(self, group: str, topic: str, partition: int) -> int | None:
        return self.consumer_offsets.get(group, {}).get(f"{topic}/{partition}")

    async def allocate_producer_ids(self, broker_id: int, count: int) -> int:
        path = self.producer_id_path
        start = int(path.read_text()) if path.exists() else 0
        write_atomically(path, str(start + count).encode())
        return start
