"""__consumer_offsets records in Kafka's schemas, checked against bytes written out by
hand from the schemas (kafka-python has no parser for them to cross-check with), and
the group -> partition mapping against Java's String.hashCode."""

from __future__ import annotations

import struct

import pytest

from kafka_compat.groups import consumer_protocol
from kafka_compat.groups.records import (
    GroupKey,
    GroupMetadataValue,
    MemberMetadata,
    OffsetAndMetadata,
    OffsetKey,
    RecordError,
    decode_group_value,
    decode_key,
    decode_offset_value,
    group_key,
    group_value,
    offset_key,
    offset_value,
)
from protocol import messages


def s16(text: str | None) -> bytes:
    """A non-flexible string: int16 length (-1 = null) + UTF-8."""
    if text is None:
        return struct.pack(">h", -1)
    data = text.encode()
    return struct.pack(">h", len(data)) + data


def b32(data: bytes) -> bytes:
    return struct.pack(">i", len(data)) + data


def compact(text: str | None) -> bytes:
    """A flexible (compact) string: uvarint length+1 (0 = null), for short strings."""
    if text is None:
        return b"\x00"
    data = text.encode()
    return bytes([len(data) + 1]) + data


def i16(v: int) -> bytes:
    return struct.pack(">h", v)


def i32(v: int) -> bytes:
    return struct.pack(">i", v)


def i64(v: int) -> bytes:
    return struct.pack(">q", v)


# ---- keys ----


def test_offset_commit_key_is_version_1_group_topic_partition():
    assert offset_key("grp", "tpc", 7) == i16(1) + s16("grp") + s16("tpc") + i32(7)


@pytest.mark.parametrize("version", [0, 1])
def test_offset_commit_keys_of_both_versions_decode(version):
    data = i16(version) + s16("g") + s16("t") + i32(3)
    assert decode_key(data) == OffsetKey("g", "t", 3)


def test_group_metadata_key_is_version_2_group():
    assert group_key("grp") == i16(2) + s16("grp")
    assert decode_key(group_key("grp")) == GroupKey("grp")


def test_newer_record_types_are_skipped_not_misread():
    # Version 3+ keys are KIP-848 consumer-group records.
    assert decode_key(i16(3) + s16("g")) is None


def test_a_truncated_key_is_an_error():
    with pytest.raises(RecordError):
        decode_key(b"\x00")
    with pytest.raises(RecordError):
        decode_key(i16(1) + s16("g") + b"\x00")


# ---- offset values ----


def test_offset_commit_value_is_version_3():
    value = OffsetAndMetadata(offset=42, leader_epoch=5, metadata="m", commit_timestamp=1000)
    assert offset_value(value) == i16(3) + i64(42) + i32(5) + s16("m") + i64(1000)
    assert decode_offset_value(offset_value(value)) == value


def test_offset_with_its_own_expiry_is_written_as_version_1():
    value = OffsetAndMetadata(42, -1, "", 1000, expire_timestamp=5000)
    assert offset_value(value) == i16(1) + i64(42) + s16("") + i64(1000) + i64(5000)
    assert decode_offset_value(offset_value(value)) == value


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (i16(0) + i64(9) + s16("md") + i64(77), OffsetAndMetadata(9, -1, "md", 77)),
        (i16(2) + i64(9) + s16("md") + i64(77), OffsetAndMetadata(9, -1, "md", 77)),
        # v4 is flexible: compact string, then an empty tagged-field section.
        (
            i16(4) + i64(9) + i32(3) + compact("md") + i64(77) + b"\x00",
            OffsetAndMetadata(9, 3, "md", 77),
        ),
    ],
    ids=["v0", "v2", "v4"],
)
def test_older_and_newer_offset_values_decode(data, expected):
    assert decode_offset_value(data) == expected


def test_an_unknown_offset_value_version_is_an_error():
    with pytest.raises(RecordError):
        decode_offset_value(i16(9) + i64(1))


# ---- group values ----


def _member(**overrides):
    fields = {
        "member_id": "m-1",
        "group_instance_id": "instance-1",
        "client_id": "client",
        "client_host": "/127.0.0.1",
        "rebalance_timeout": 300000,
        "session_timeout": 10000,
        "subscription": b"\x00\x01sub",
        "assignment": b"\x00\x01asg",
    }
    fields.update(overrides)
    return MemberMetadata(**fields)


def test_group_metadata_value_is_version_3():
    value = GroupMetadataValue(
        protocol_type="consumer",
        generation=4,
        protocol="range",
        leader="m-1",
        current_state_timestamp=1234,
        members=[_member()],
    )
    expected = (
        i16(3)
        + s16("consumer")
        + i32(4)
        + s16("range")
        + s16("m-1")
        + i64(1234)
        + i32(1)
        + s16("m-1")
        + s16("instance-1")
        + s16("client")
        + s16("/127.0.0.1")
        + i32(300000)
        + i32(10000)
        + b32(b"\x00\x01sub")
        + b32(b"\x00\x01asg")
    )
    assert group_value(value) == expected
    assert decode_group_value(expected) == (3, value)


def test_empty_group_value_has_null_protocol_and_leader():
    value = GroupMetadataValue(
        protocol_type="consumer",
        generation=5,
        protocol=None,
        leader=None,
        current_state_timestamp=99,
        members=[],
    )
    expected = i16(3) + s16("consumer") + i32(5) + s16(None) + s16(None) + i64(99) + i32(0)
    assert group_value(value) == expected


def test_version_0_group_value_has_no_rebalance_timeout_or_instance_id():
    data = (
        i16(0)
        + s16("consumer")
        + i32(1)
        + s16("range")
        + s16("m")
        + i32(1)
        + s16("m")
        + s16("c")
        + s16("/h")
        + i32(6000)
        + b32(b"s")
        + b32(b"a")
    )
    version, value = decode_group_value(data)
    assert version == 0
    member = value.members[0]
    assert (member.member_id, member.group_instance_id, member.session_timeout) == ("m", None, 6000)
    assert member.rebalance_timeout == -1
    assert value.current_state_timestamp == -1


def test_version_4_group_value_is_flexible():
    data = (
        i16(4)
        + compact("consumer")
        + i32(2)
        + compact("range")
        + compact("m")
        + i64(5)
        + b"\x02"  # one member (compact array: n + 1)
        + compact("m")
        + compact(None)
        + compact("c")
        + compact("/h")
        + i32(100)
        + i32(200)
        + b"\x02s"  # compact bytes
        + b"\x02a"
        + b"\x00"  # the member's tagged fields
        + b"\x00"  # the value's tagged fields
    )
    version, value = decode_group_value(data)
    assert version == 4
    assert value.generation == 2
    assert value.members[0].subscription == b"s"
    assert value.members[0].assignment == b"a"


# ---- partitioning ----


# ---- consumer protocol (what tools and OffsetDelete read) ----


def test_consumer_protocol_subscription_and_assignment_are_read():
    Subscription = messages.data_type("ConsumerProtocolSubscription")
    Assignment = messages.data_type("ConsumerProtocolAssignment")
    sub = i16(1) + messages.encode_data(
        "ConsumerProtocolSubscription", 1, Subscription(topics=["a", "b"])
    )
    assert consumer_protocol.subscription_topics(sub) == {"a", "b"}
    asg = i16(0) + messages.encode_data(
        "ConsumerProtocolAssignment",
        0,
        Assignment(assigned_partitions=[Assignment.TopicPartition(topic="a", partitions=[0, 2])]),
    )
    assert consumer_protocol.assigned_partitions(asg) == [("a", 0), ("a", 2)]
    assert consumer_protocol.assigned_partitions(b"") == []
    assert consumer_protocol.subscription_topics(b"junk") is None
