"""What the group coordinator writes to `__consumer_offsets`, in Kafka's own schemas.

Every record's key and value start with an int16 schema version:

    key v0/v1  OffsetCommitKey     group, topic, partition     (we write v1)
    key v2     GroupMetadataKey    group                       (we write v2)
    value      OffsetCommitValue   v0-4; we write v3, or v1 when the commit carries an
                                   expire timestamp (OffsetCommit v2-4 retention_time_ms)
    value      GroupMetadataValue  v0-4; we write v3

as Kafka 2.3-3.x brokers do, so tools that read the topic (kafka-console-consumer's
formatters, Burrow) understand it. A null value is a tombstone: that offset, or the
whole group, was removed. Key versions 3 and up are KIP-848 consumer-group and
share-group records, which a classic coordinator skips.

The schemas are transcribed from Kafka's `internal/*.json` into the dicts below and
compiled by our protocol codec, like every API message.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from protocol import codec, schema
from protocol.messages import LazyTable

OFFSET_KEY_VERSION = 1
GROUP_KEY_VERSION = 2
OFFSET_VALUE_VERSION = 3
OFFSET_VALUE_VERSION_WITH_EXPIRY = 1
GROUP_VALUE_VERSION = 3

_VERSION = struct.Struct(">h")


# -- the schemas (Kafka's group-coordinator/src/main/resources/common/message/*.json) --

_SPECS = {
    "OffsetCommitKey": {
        "validVersions": "0-1",
        "flexibleVersions": "none",
        "fields": [
            {"name": "group", "type": "string", "versions": "0-1"},
            {"name": "topic", "type": "string", "versions": "0-1"},
            {"name": "partition", "type": "int32", "versions": "0-1"},
        ],
    },
    "OffsetCommitValue": {
        "validVersions": "0-4",
        "flexibleVersions": "4+",
        "fields": [
            {"name": "offset", "type": "int64", "versions": "0+"},
            {"name": "leaderEpoch", "type": "int32", "versions": "3+", "default": -1},
            {"name": "metadata", "type": "string", "versions": "0+"},
            {"name": "commitTimestamp", "type": "int64", "versions": "0+"},
            {"name": "expireTimestamp", "type": "int64", "versions": "1", "default": -1},
        ],
    },
    "GroupMetadataKey": {
        "validVersions": "2",
        "flexibleVersions": "none",
        "fields": [{"name": "group", "type": "string", "versions": "2"}],
    },
    "GroupMetadataValue": {
        "validVersions": "0-4",
        "flexibleVersions": "4+",
        "fields": [
            {"name": "protocolType", "type": "string", "versions": "0+"},
            {"name": "generation", "type": "int32", "versions": "0+"},
            {"name": "protocol", "type": "string", "versions": "0+", "nullableVersions": "0+"},
            {"name": "leader", "type": "string", "versions": "0+", "nullableVersions": "0+"},
            {"name": "currentStateTimestamp", "type": "int64", "versions": "2+", "default": -1},
            {"name": "members", "type": "[]MemberMetadata", "versions": "0+"},
        ],
        "commonStructs": [
            {
                "name": "MemberMetadata",
                "versions": "0+",
                "fields": [
                    {"name": "memberId", "type": "string", "versions": "0+"},
                    {
                        "name": "groupInstanceId",
                        "type": "string",
                        "versions": "3+",
                        "default": "null",
                        "nullableVersions": "3+",
                    },
                    {"name": "clientId", "type": "string", "versions": "0+"},
                    {"name": "clientHost", "type": "string", "versions": "0+"},
                    {"name": "rebalanceTimeout", "type": "int32", "versions": "1+", "default": -1},
                    {"name": "sessionTimeout", "type": "int32", "versions": "0+"},
                    {"name": "subscription", "type": "bytes", "versions": "0+"},
                    {"name": "assignment", "type": "bytes", "versions": "0+"},
                ],
            }
        ],
    },
}


def _compile(name: str) -> codec.CompiledMessage:
    spec = schema.parse_spec({"type": "data", "name": name, **_SPECS[name]}, source=__name__)
    return codec.compile_message(spec, module=__name__)


# Compiled on first use (the first commit or group, or loading the topic), not at start.
_COMPILED: dict[str, codec.CompiledMessage] = LazyTable(_compile)


def __getattr__(name: str) -> type:
    """The schemas' classes as module attributes: OffsetCommitKey, OffsetCommitValue,
    GroupMetadataKey, GroupMetadataValue and GroupMetadataValue's MemberMetadata."""
    if name == "MemberMetadata":
        return _COMPILED["GroupMetadataValue"].cls.MemberMetadata
    if name in _SPECS:
        return _COMPILED[name].cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class RecordError(ValueError):
    """A key or value in __consumer_offsets that cannot be read."""


# -- what the coordinator works with --------------------------------------------------


class OffsetAndMetadata(NamedTuple):
    """A committed offset (Kafka's OffsetAndMetadata)."""

    offset: int
    leader_epoch: int = -1  # -1: none given
    metadata: str = ""
    commit_timestamp: int = -1
    expire_timestamp: int = -1  # -1: none (the group's retention applies)


class OffsetKey(NamedTuple):
    group: str
    topic: str
    partition: int


class GroupKey(NamedTuple):
    group: str


# -- encoding -------------------------------------------------------------------------


def _prefixed(compiled: codec.CompiledMessage, version: int, message) -> bytes:
    return _VERSION.pack(version) + compiled.encoders[version](message)


def offset_key(group: str, topic: str, partition: int) -> bytes:
    compiled = _COMPILED["OffsetCommitKey"]
    message = compiled.cls(group=group, topic=topic, partition=partition)
    return _prefixed(compiled, OFFSET_KEY_VERSION, message)


def offset_value(offset: OffsetAndMetadata) -> bytes:
    """Version 3, or version 1 when the commit carries its own expire timestamp."""
    version = (
        OFFSET_VALUE_VERSION if offset.expire_timestamp < 0 else OFFSET_VALUE_VERSION_WITH_EXPIRY
    )
    compiled = _COMPILED["OffsetCommitValue"]
    message = compiled.cls(
        offset=offset.offset,
        leader_epoch=offset.leader_epoch,
        metadata=offset.metadata,
        commit_timestamp=offset.commit_timestamp,
        expire_timestamp=offset.expire_timestamp,
    )
    return _prefixed(compiled, version, message)


def group_key(group: str) -> bytes:
    compiled = _COMPILED["GroupMetadataKey"]
    return _prefixed(compiled, GROUP_KEY_VERSION, compiled.cls(group=group))


def group_value(value, version: int = GROUP_VALUE_VERSION) -> bytes:
    """`value`: a GroupMetadataValue."""
    return _prefixed(_COMPILED["GroupMetadataValue"], version, value)


# -- decoding -------------------------------------------------------------------------


def _split_version(data: bytes, what: str) -> tuple[int, memoryview]:
    if data is None or len(data) < 2:
        raise RecordError(f"{what} shorter than its version")
    (version,) = _VERSION.unpack_from(data)
    return version, memoryview(data)[2:]


def decode_key(data: bytes) -> OffsetKey | GroupKey | None:
    """The key of a __consumer_offsets record; None for record types we do not use."""
    version, body = _split_version(data, "key")
    try:
        if version in (0, 1):
            key = _COMPILED["OffsetCommitKey"].decoders[version](body)
            return OffsetKey(key.group, key.topic, key.partition)
        if version == GROUP_KEY_VERSION:
            return GroupKey(_COMPILED["GroupMetadataKey"].decoders[version](body).group)
    except codec.DecodeError as exc:
        raise RecordError(f"bad key v{version}: {exc}") from exc
    return None


def decode_offset_value(data: bytes) -> OffsetAndMetadata:
    version, body = _split_version(data, "offset commit value")
    decoder = _COMPILED["OffsetCommitValue"].decoders.get(version)
    if decoder is None:
        raise RecordError(f"unknown offset commit value version {version}")
    try:
        value = decoder(body)
    except codec.DecodeError as exc:
        raise RecordError(f"bad offset commit value v{version}: {exc}") from exc
    return OffsetAndMetadata(
        value.offset,
        value.leader_epoch,
        value.metadata,
        value.commit_timestamp,
        value.expire_timestamp,
    )


def decode_group_value(data: bytes) -> tuple[int, object]:
    """(schema version, GroupMetadataValue); version 0 values have no rebalance timeout."""
    version, body = _split_version(data, "group metadata value")
    decoder = _COMPILED["GroupMetadataValue"].decoders.get(version)
    if decoder is None:
        raise RecordError(f"unknown group metadata value version {version}")
    try:
        return version, decoder(body)
    except codec.DecodeError as exc:
        raise RecordError(f"bad group metadata value v{version}: {exc}") from exc
