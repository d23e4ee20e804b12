"""ZooKeeper paths and the JSON values of Kafka's znodes (Kafka's ZkData).

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
    /config/brokers/<id>, /config/brokers/<default>
                                          {"version":1,"config":{"log.retention.ms":"1000"}}
    /config/users/<sanitized user>        {"version":1,"config":{"SCRAM-SHA-256":
                                           "salt=…,stored_key=…,server_key=…,iterations=4096"}}
    /config/users/<user>/clients/<client-id>, /config/clients/<client-id>, /config/ips/<ip>
                                          {"version":1,"config":{"producer_byte_rate":"1024"}}
    /config/changes/config_change_<seq>   {"version":2,"entity_path":"topics/<t>"}
    /admin/delete_topics/<t>              (empty: the topic is marked for deletion)
    /log_dir_event_notification/log_dir_event_<seq>
                                          {"version":1,"broker":1,"event":1}  (a log dir failed)

as Kafka 3.x writes them, so `zkCli.sh`, kafka-topics.sh --zookeeper and other tools
that read Kafka's ZooKeeper data understand a kafka-compat cluster.

Plain values and functions, no kazoo and no Trio: usable on any thread. The
underscored helpers (`_json`, `_sequence`, `_controller_id`, `_configs`) are shared
by the ZooKeeper modules of this package (zk_cache.py, zk_admin.py, zk_store.py).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from kafka_compat.clock import wall_clock_ms

# Entity names in /config/<type>/<name> (dynamic_config.py, where a single node's quota
# store finds them without loading this module).
from kafka_compat.dynamic_config import DEFAULT_ENTITY, desanitize_entity, sanitize_entity

__all__ = [
    "DEFAULT_ENTITY",
    "BrokerRegistration",
    "PartitionState",
    "TopicAssignment",
    "consumer_offset_path",
    "desanitize_entity",
    "partition_state_path",
    "partitions_path",
    "sanitize_entity",
    "split_connect",
    "topic_path",
    "uuid_from_str",
    "uuid_to_str",
]

# ---- paths (Kafka's ZkData) ----

CLUSTER_ID_PATH = "/cluster/id"
CONTROLLER_PATH = "/controller"
CONTROLLER_EPOCH_PATH = "/controller_epoch"
PRODUCER_ID_BLOCK_PATH = "/latest_producer_id_block"
BROKER_IDS_PATH = "/brokers/ids"
TOPICS_PATH = "/brokers/topics"
CONFIG_TOPICS_PATH = "/config/topics"
CONFIG_BROKERS_PATH = "/config/brokers"  # dynamic broker configs, by id or <default>
CONFIG_USERS_PATH = "/config/users"  # SCRAM credentials and user quotas
CONFIG_CLIENTS_PATH = "/config/clients"  # client-id quotas
CONFIG_IPS_PATH = "/config/ips"  # connection_creation_rate per IP
CONFIG_CHANGES_PATH = "/config/changes"
CONFIG_CHANGE_PREFIX = "config_change_"
DELETE_TOPICS_PATH = "/admin/delete_topics"
LOG_DIR_EVENTS_PATH = "/log_dir_event_notification"
LOG_DIR_EVENT_PREFIX = "log_dir_event_"
LOG_DIR_FAILURE_EVENT = 1
# Created at start-up by every Kafka broker (ZkData.PersistentZkPaths).
PERSISTENT_PATHS = (
    "/consumers",
    BROKER_IDS_PATH,
    TOPICS_PATH,
    CONFIG_CHANGES_PATH,
    DELETE_TOPICS_PATH,
    "/brokers/seqid",
    "/isr_change_notification",  # Kafka's pre-KIP-497 ISR path: made, never used
    PRODUCER_ID_BLOCK_PATH,
    LOG_DIR_EVENTS_PATH,
    CONFIG_TOPICS_PATH,
    CONFIG_CLIENTS_PATH,
    CONFIG_USERS_PATH,
    "/config/brokers",
    CONFIG_IPS_PATH,
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


def consumer_offset_path(group: str, topic: str, partition: int) -> str:
    """Where OffsetCommit v0 keeps a group's offset (Kafka's ConsumerOffset znode)."""
    return f"/consumers/{group}/offsets/{topic}/{partition}"


def _json(value: object) -> bytes:
    # Jackson's compact form, as Kafka writes it.
    return json.dumps(value, separators=(",", ":")).encode()


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
    # listener_security_protocol_map, as (listener, protocol) pairs; empty: each
    # endpoint's listener name is its protocol.
    protocol_map: tuple[tuple[str, str], ...] = ()

    def listener_protocols(self) -> dict[str, str]:
        names = [e.split("://", 1)[0] for e in self.endpoints]
        return {**{n: n for n in names}, **dict(self.protocol_map)}

    def to_json(self) -> bytes:
        endpoints = self.endpoints or (f"PLAINTEXT://{self.host}:{self.port}",)
        data: dict[str, Any] = {
            "features": {},
            "listener_security_protocol_map": {
                **{e.split("://", 1)[0]: e.split("://", 1)[0] for e in endpoints},
                **dict(self.protocol_map),
            },
            "endpoints": list(endpoints),
            "jmx_port": -1,
            "port": self.port,
            "host": self.host,
            "version": 5,
            "timestamp": self.timestamp or str(wall_clock_ms()),
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
            protocol_map=tuple((data.get("listener_security_protocol_map") or {}).items()),
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


# ---- reading znode names and values ----


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


def user_znode(user: str) -> str:
    """/config/users/<this>: the user sanitized, the default user (quotas) as is."""
    return user if user == DEFAULT_ENTITY else sanitize_entity(user)


def _configs(found) -> dict[str, str] | None:
    if found is None:
        return None
    if not found[0]:
        return {}  # a parent made by a recursive create (/config/users/<u> of <u>/clients/<c>)
    return {k: str(v) for k, v in (json.loads(found[0]).get("config") or {}).items()}
