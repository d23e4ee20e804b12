"""The KIP-848 consumer group records of `__consumer_offsets` (Kafka's schemas).

    key version  record                                   value
    3            ConsumerGroupMetadata (group epoch)          v0
    4            ConsumerGroupPartitionMetadata (topics)      v0
    5            ConsumerGroupMemberMetadata (subscription)   v0
    6            ConsumerGroupTargetAssignmentMetadata        v0
    7            ConsumerGroupTargetAssignmentMember          v0
    8            ConsumerGroupCurrentMemberAssignment         v0

Every key starts with its int16 version (the record type), every value with its
int16 schema version, as for the classic records (records.py). A null value is a
tombstone. A group is deleted by tombstones of all its records, the group epoch
record last; replaying (`ConsumerGroupRecords`) applies them in log order.

The schemas are transcribed from Kafka 3.9's `group-coordinator/src/main/resources/
common/message/ConsumerGroup*.json` into the dicts below (checked field by field
against them by tests/protocol/test_kip848_specs.py) and compiled by our codec.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import replace
from typing import NamedTuple

from kafka_compat.groups.consumer_group import ConsumerGroup, ConsumerGroupMember, MemberState
from protocol import codec, schema
from protocol.messages import LazyTable

_VERSION = struct.Struct(">h")

SPECS: dict[str, dict] = {
    "ConsumerGroupCurrentMemberAssignmentKey": {
        "type": "data",
        "validVersions": "8",
        "flexibleVersions": "none",
        "fields": [
            {"name": "GroupId", "type": "string", "versions": "8"},
            {"name": "MemberId", "type": "string", "versions": "8"},
        ],
    },
    "ConsumerGroupCurrentMemberAssignmentValue": {
        "type": "data",
        "validVersions": "0",
        "flexibleVersions": "0+",
        "fields": [
            {"name": "MemberEpoch", "versions": "0+", "type": "int32"},
            {"name": "PreviousMemberEpoch", "versions": "0+", "type": "int32"},
            {"name": "State", "versions": "0+", "type": "int8"},
            {"name": "AssignedPartitions", "versions": "0+", "type": "[]TopicPartitions"},
            {"name": "PartitionsPendingRevocation", "versions": "0+", "type": "[]TopicPartitions"},
        ],
        "commonStructs": [
            {
                "name": "TopicPartitions",
                "versions": "0+",
                "fields": [
                    {"name": "TopicId", "type": "uuid", "versions": "0+"},
                    {"name": "Partitions", "type": "[]int32", "versions": "0+"},
                ],
            }
        ],
    },
    "ConsumerGroupMemberMetadataKey": {
        "type": "data",
        "validVersions": "5",
        "flexibleVersions": "none",
        "fields": [
            {"name": "GroupId", "type": "string", "versions": "5"},
            {"name": "MemberId", "type": "string", "versions": "5"},
        ],
    },
    "ConsumerGroupMemberMetadataValue": {
        "type": "data",
        "validVersions": "0",
        "flexibleVersions": "0+",
        "fields": [
            {"name": "InstanceId", "versions": "0+", "nullableVersions": "0+", "type": "string"},
            {"name": "RackId", "versions": "0+", "nullableVersions": "0+", "type": "string"},
            {"name": "ClientId", "versions": "0+", "type": "string"},
            {"name": "ClientHost", "versions": "0+", "type": "string"},
            {"name": "SubscribedTopicNames", "versions": "0+", "type": "[]string"},
            {
                "name": "SubscribedTopicRegex",
                "versions": "0+",
                "nullableVersions": "0+",
                "type": "string",
            },
            {"name": "RebalanceTimeoutMs", "type": "int32", "versions": "0+", "default": -1},
            {
                "name": "ServerAssignor",
                "versions": "0+",
                "nullableVersions": "0+",
                "type": "string",
            },
            {
                "name": "ClassicMemberMetadata",
                "versions": "0+",
                "nullableVersions": "0+",
                "type": "ClassicMemberMetadata",
                "default": None,
                "taggedVersions": "0+",
                "tag": 0,
                "fields": [
                    {"name": "SessionTimeoutMs", "type": "int32", "versions": "0+"},
                    {
                        "name": "SupportedProtocols",
                        "type": "[]ClassicProtocol",
                        "versions": "0+",
                        "fields": [
                            {"name": "Name", "type": "string", "versions": "0+"},
                            {"name": "Metadata", "type": "bytes", "versions": "0+"},
                        ],
                    },
                ],
            },
        ],
    },
    "ConsumerGroupMetadataKey": {
        "type": "data",
        "validVersions": "3",
        "flexibleVersions": "none",
        "fields": [{"name": "GroupId", "type": "string", "versions": "3"}],
    },
    "ConsumerGroupMetadataValue": {
        "type": "data",
        "validVersions": "0",
        "flexibleVersions": "0+",
        "fields": [{"name": "Epoch", "versions": "0+", "type": "int32"}],
    },
    "ConsumerGroupPartitionMetadataKey": {
        "type": "data",
        "validVersions": "4",
        "flexibleVersions": "none",
        "fields": [{"name": "GroupId", "type": "string", "versions": "4"}],
    },
    "ConsumerGroupPartitionMetadataValue": {
        "type": "data",
        "validVersions": "0",
        "flexibleVersions": "0+",
        "fields": [
            {
                "name": "Topics",
                "versions": "0+",
                "type": "[]TopicMetadata",
                "fields": [
                    {"name": "TopicId", "versions": "0+", "type": "uuid"},
                    {"name": "TopicName", "versions": "0+", "type": "string"},
                    {"name": "NumPartitions", "versions": "0+", "type": "int32"},
                    {
                        "name": "PartitionMetadata",
                        "versions": "0+",
                        "type": "[]PartitionMetadata",
                        "fields": [
                            {"name": "Partition", "versions": "0+", "type": "int32"},
                            {"name": "Racks", "versions": "0+", "type": "[]string"},
                        ],
                    },
                ],
            }
        ],
    },
    "ConsumerGroupTargetAssignmentMemberKey": {
        "type": "data",
        "validVersions": "7",
        "flexibleVersions": "none",
        "fields": [
            {"name": "GroupId", "type": "string", "versions": "7"},
            {"name": "MemberId", "type": "string", "versions": "7"},
        ],
    },
    "ConsumerGroupTargetAssignmentMemberValue": {
        "type": "data",
        "validVersions": "0",
        "flexibleVersions": "0+",
        "fields": [
            {
                "name": "TopicPartitions",
                "versions": "0+",
                "type": "[]TopicPartition",
                "fields": [
                    {"name": "TopicId", "versions": "0+", "type": "uuid"},
                    {"name": "Partitions", "versions": "0+", "type": "[]int32"},
                ],
            }
        ],
    },
    "ConsumerGroupTargetAssignmentMetadataKey": {
        "type": "data",
        "validVersions": "6",
        "flexibleVersions": "none",
        "fields": [{"name": "GroupId", "type": "string", "versions": "6"}],
    },
    "ConsumerGroupTargetAssignmentMetadataValue": {
        "type": "data",
        "validVersions": "0",
        "flexibleVersions": "0+",
        "fields": [{"name": "AssignmentEpoch", "versions": "0+", "type": "int32"}],
    },
}

GROUP_METADATA = 3
PARTITION_METADATA = 4
MEMBER_METADATA = 5
TARGET_ASSIGNMENT_METADATA = 6
TARGET_ASSIGNMENT_MEMBER = 7
CURRENT_MEMBER_ASSIGNMENT = 8

_NAMES = {
    GROUP_METADATA: "ConsumerGroupMetadata",
    PARTITION_METADATA: "ConsumerGroupPartitionMetadata",
    MEMBER_METADATA: "ConsumerGroupMemberMetadata",
    TARGET_ASSIGNMENT_METADATA: "ConsumerGroupTargetAssignmentMetadata",
    TARGET_ASSIGNMENT_MEMBER: "ConsumerGroupTargetAssignmentMember",
    CURRENT_MEMBER_ASSIGNMENT: "ConsumerGroupCurrentMemberAssignment",
}
KEY_VERSIONS = frozenset(_NAMES)
_MEMBER_KEYS = frozenset({MEMBER_METADATA, TARGET_ASSIGNMENT_MEMBER, CURRENT_MEMBER_ASSIGNMENT})


def _compile(name: str) -> codec.CompiledMessage:
    spec = schema.parse_spec({"type": "data", "name": name, **SPECS[name]}, source=__name__)
    return codec.compile_message(spec, module=__name__)


# Compiled on first use (a KIP-848 group's first record), not at start: 12 specs, ~5 ms.
_KEYS: dict[int, codec.CompiledMessage] = LazyTable(lambda kind: _compile(_NAMES[kind] + "Key"))
_VALUES: dict[int, codec.CompiledMessage] = LazyTable(lambda kind: _compile(_NAMES[kind] + "Value"))


class ConsumerGroupKey(NamedTuple):
    """The key of a consumer group record: its type (= key version), group, member."""

    kind: int
    group: str
    member: str | None = None


# -- encoding -------------------------------------------------------------------------


def key(kind: int, group: str, member: str | None = None) -> bytes:
    compiled = _KEYS[kind]
    fields = {"group_id": group}
    if kind in _MEMBER_KEYS:
        fields["member_id"] = member
    return _VERSION.pack(kind) + compiled.encoders[kind](compiled.cls(**fields))


def value(kind: int, **fields) -> bytes:
    compiled = _VALUES[kind]
    return _VERSION.pack(0) + compiled.encoders[0](compiled.cls(**fields))


def _topic_partitions(cls, assignment) -> list:
    return [
        cls(topic_id=topic_id, partitions=sorted(partitions))
        for topic_id, partitions in sorted(assignment.items())
        if partitions
    ]


def group_epoch_record(group: str, epoch: int) -> tuple[bytes, bytes]:
    return key(GROUP_METADATA, group), value(GROUP_METADATA, epoch=epoch)


def partition_metadata_record(
    group: str, topics: dict[str, tuple[bytes, int]]
) -> tuple[bytes, bytes]:
    Topic = _VALUES[PARTITION_METADATA].cls.TopicMetadata
    return key(PARTITION_METADATA, group), value(
        PARTITION_METADATA,
        topics=[
            Topic(topic_id=topic_id, topic_name=name, num_partitions=n, partition_metadata=[])
            for name, (topic_id, n) in sorted(topics.items())
        ],
    )


def member_metadata_record(group: str, member) -> tuple[bytes, bytes]:
    """`member`: a ConsumerGroupMember (consumer_group.py)."""
    return key(MEMBER_METADATA, group, member.member_id), value(
        MEMBER_METADATA,
        instance_id=member.instance_id,
        rack_id=member.rack_id,
        client_id=member.client_id,
        client_host=member.client_host,
        subscribed_topic_names=list(member.subscribed_topic_names),
        subscribed_topic_regex=member.subscribed_topic_regex,
        rebalance_timeout_ms=member.rebalance_timeout_ms,
        server_assignor=member.server_assignor,
    )


def target_assignment_epoch_record(group: str, epoch: int) -> tuple[bytes, bytes]:
    return key(TARGET_ASSIGNMENT_METADATA, group), value(
        TARGET_ASSIGNMENT_METADATA, assignment_epoch=epoch
    )


def target_assignment_record(group: str, member_id: str, assignment) -> tuple[bytes, bytes]:
    return key(TARGET_ASSIGNMENT_MEMBER, group, member_id), value(
        TARGET_ASSIGNMENT_MEMBER,
        topic_partitions=_topic_partitions(
            _VALUES[TARGET_ASSIGNMENT_MEMBER].cls.TopicPartition, assignment
        ),
    )


def current_assignment_record(group: str, member) -> tuple[bytes, bytes]:
    TopicPartitions = _VALUES[CURRENT_MEMBER_ASSIGNMENT].cls.TopicPartitions
    return key(CURRENT_MEMBER_ASSIGNMENT, group, member.member_id), value(
        CURRENT_MEMBER_ASSIGNMENT,
        member_epoch=member.member_epoch,
        previous_member_epoch=member.previous_member_epoch,
        state=int(member.state),
        assigned_partitions=_topic_partitions(TopicPartitions, member.assigned),
        partitions_pending_revocation=_topic_partitions(TopicPartitions, member.pending_revocation),
    )


def member_tombstones(group: str, member_id: str) -> list[tuple[bytes, None]]:
    """What removing a member writes: current assignment, target, metadata (Kafka's order)."""
    return [
        (key(CURRENT_MEMBER_ASSIGNMENT, group, member_id), None),
        (key(TARGET_ASSIGNMENT_MEMBER, group, member_id), None),
        (key(MEMBER_METADATA, group, member_id), None),
    ]


def group_tombstones(group: str) -> list[tuple[bytes, None]]:
    """What deleting an empty group writes (its members' records went with them)."""
    return [
        (key(TARGET_ASSIGNMENT_METADATA, group), None),
        (key(PARTITION_METADATA, group), None),
        (key(GROUP_METADATA, group), None),
    ]


# -- decoding -------------------------------------------------------------------------


class ConsumerRecordError(ValueError):
    pass


def decode_key(kind: int, body: memoryview) -> ConsumerGroupKey:
    try:
        decoded = _KEYS[kind].decoders[kind](body)
    except codec.DecodeError as exc:
        raise ConsumerRecordError(f"bad consumer group key v{kind}: {exc}") from exc
    return ConsumerGroupKey(kind, decoded.group_id, getattr(decoded, "member_id", None))


def decode_value(kind: int, data: bytes):
    if data is None or len(data) < 2:
        raise ConsumerRecordError("value shorter than its version")
    (version,) = _VERSION.unpack_from(data)
    decoder = _VALUES[kind].decoders.get(version)
    if decoder is None:
        # A newer coordinator wrote it: read it as the newest version we know, as
        # Kafka's serde reads values of versions it does not know with the latest.
        decoder = _VALUES[kind].decoders[0]
    try:
        return decoder(memoryview(data)[2:])
    except codec.DecodeError as exc:
        raise ConsumerRecordError(f"bad {_NAMES[kind]} value v{version}: {exc}") from exc


def assignment_of(topic_partitions) -> dict[bytes, set[int]]:
    return {bytes(tp.topic_id): set(tp.partitions) for tp in topic_partitions if tp.partitions}


# -- replaying ------------------------------------------------------------------------


class LoadedConsumerGroup:
    """The last value of each of one group's records, as replayed."""

    __slots__ = ("epoch", "topics", "members", "assignment_epoch", "targets", "current")

    def __init__(self) -> None:
        self.epoch: int | None = None
        self.topics: dict[str, tuple[bytes, int]] = {}
        self.members: dict[str, object] = {}  # member id -> its MemberMetadata value
        self.assignment_epoch = 0
        self.targets: dict[str, dict[bytes, set[int]]] = {}
        self.current: dict[str, object] = {}  # member id -> its CurrentMemberAssignment value


def replay(groups: dict[str, LoadedConsumerGroup], k: ConsumerGroupKey, data) -> None:
    """Apply one record (`data` None: a tombstone) to what was replayed so far."""
    if k.kind == GROUP_METADATA and data is None:
        groups.pop(k.group, None)
        return
    group = groups.setdefault(k.group, LoadedConsumerGroup())
    decoded = None if data is None else decode_value(k.kind, data)
    if k.kind == GROUP_METADATA:
        group.epoch = decoded.epoch
    elif k.kind == PARTITION_METADATA:
        group.topics = (
            {}
            if decoded is None
            else {t.topic_name: (bytes(t.topic_id), t.num_partitions) for t in decoded.topics}
        )
    elif k.kind == TARGET_ASSIGNMENT_METADATA:
        group.assignment_epoch = 0 if decoded is None else decoded.assignment_epoch
    else:
        table = {
            MEMBER_METADATA: group.members,
            TARGET_ASSIGNMENT_MEMBER: group.targets,
            CURRENT_MEMBER_ASSIGNMENT: group.current,
        }[k.kind]
        if decoded is None:
            table.pop(k.member, None)
        elif k.kind == TARGET_ASSIGNMENT_MEMBER:
            table[k.member] = assignment_of(decoded.topic_partitions)
        else:
            table[k.member] = decoded


def group_from_records(group_id: str, loaded: LoadedConsumerGroup) -> ConsumerGroup:
    """A ConsumerGroup as its replayed records describe it."""
    group = ConsumerGroup(group_id)
    group.group_epoch = loaded.epoch or 0
    group.assignment_epoch = loaded.assignment_epoch
    group.subscription_metadata = dict(loaded.topics)
    for member_id, meta in loaded.members.items():
        current = loaded.current.get(member_id)
        member = ConsumerGroupMember(
            member_id,
            instance_id=meta.instance_id,
            rack_id=meta.rack_id,
            rebalance_timeout_ms=meta.rebalance_timeout_ms,
            client_id=meta.client_id,
            client_host=meta.client_host,
            subscribed_topic_names=tuple(meta.subscribed_topic_names),
            subscribed_topic_regex=meta.subscribed_topic_regex,
            server_assignor=meta.server_assignor,
        )
        if current is not None:
            try:
                state = MemberState(current.state)
            except ValueError:
                state = MemberState.UNKNOWN
            member = replace(
                member,
                member_epoch=current.member_epoch,
                previous_member_epoch=current.previous_member_epoch,
                state=state,
                assigned=assignment_of(current.assigned_partitions),
                pending_revocation=assignment_of(current.partitions_pending_revocation),
            )
        group.update_member(member)
    for member_id, target in loaded.targets.items():
        group.target_assignment[member_id] = target
    return group


def loaded_groups(
    loaded: dict[str, LoadedConsumerGroup],
) -> Iterable[tuple[str, ConsumerGroup]]:
    for group_id, value in loaded.items():
        if value.epoch is not None:
            yield group_id, group_from_records(group_id, value)
