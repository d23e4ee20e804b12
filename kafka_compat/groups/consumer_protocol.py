"""The consumer protocol (protocol type "consumer"): what clients put in a member's
JoinGroup metadata (ConsumerProtocolSubscription) and in SyncGroup assignments
(ConsumerProtocolAssignment). Both are an int16 version followed by the struct.

The coordinator does not need them to run a group: it reads subscriptions only to
know which topics a group consumes (offset expiry, OffsetDelete), and tools read
assignments to show who owns what. Versions newer than we know are read with the
newest format, as Kafka's ConsumerProtocol does.
"""

from __future__ import annotations

import struct

from protocol import messages

PROTOCOL_TYPE = "consumer"
_VERSION = struct.Struct(">h")
_MAX_VERSION = 3


def _decode(name: str, data: bytes | None):
    if not data or len(data) < 2:
        return None
    (version,) = _VERSION.unpack_from(data)
    if version < 0:
        return None
    try:
        return messages.decode_data(name, min(version, _MAX_VERSION), memoryview(data)[2:])
    except messages.DecodeError:
        return None


def subscription_topics(metadata: bytes | None) -> set[str] | None:
    """The topics a member subscribed to, or None if the metadata does not parse."""
    subscription = _decode("ConsumerProtocolSubscription", metadata)
    return None if subscription is None else set(subscription.topics)


def assigned_partitions(assignment: bytes | None) -> list[tuple[str, int]] | None:
    """(topic, partition) pairs of an assignment; [] when empty, None if unreadable."""
    if assignment is not None and len(assignment) == 0:
        return []
    decoded = _decode("ConsumerProtocolAssignment", assignment)
    if decoded is None:
        return None
    return [(tp.topic, p) for tp in decoded.assigned_partitions for p in tp.partitions]


def encode_subscription(topics: list[str]) -> bytes:
    """A version 0 ConsumerProtocolSubscription of these topics."""
    cls = messages.data_type("ConsumerProtocolSubscription")
    return _VERSION.pack(0) + messages.encode_data(
        "ConsumerProtocolSubscription", 0, cls(topics=sorted(topics), user_data=None)
    )


def encode_assignment(partitions: dict[str, list[int]]) -> bytes:
    """A version 0 ConsumerProtocolAssignment: topic name -> partitions."""
    cls = messages.data_type("ConsumerProtocolAssignment")
    return _VERSION.pack(0) + messages.encode_data(
        "ConsumerProtocolAssignment",
        0,
        cls(
            assigned_partitions=[
                cls.TopicPartition(topic=topic, partitions=sorted(ps))
                for topic, ps in sorted(partitions.items())
            ],
            user_data=None,
        ),
    )
