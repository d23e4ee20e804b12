"""The versions Kafka 4.0 removed that a Kafka 3.9 ZooKeeper broker still serves
(ListOffsets v0, OffsetCommit v0-1, OffsetFetch v0, CreateTopics v0-1, DeleteTopics v0,
DescribeConfigs v0): our codecs, built from kafka-python's specs with validVersions
lowered, have the same fields on the wire as Kafka 3.9's own spec files, version by
version."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocol import messages, schema

KAFKA_39_SPECS = Path(__file__).resolve().parents[3] / "shared" / "kafka-protocol" / "messages"

needs_reference = pytest.mark.skipif(
    not KAFKA_39_SPECS.is_dir(), reason="Kafka 3.9 reference specs not present"
)


def _reference(name: str) -> schema.MessageSpec:
    path = KAFKA_39_SPECS / f"{name}.json"
    return schema.parse_spec(path.read_text(), source=str(path))


def _ours(name: str) -> schema.MessageSpec:
    reference_key = _reference(name).api_key
    return messages.spec(reference_key, response=name.endswith("Response"))


@needs_reference
@pytest.mark.parametrize("name", sorted(messages.OLDEST_VERSIONS))
def test_every_kafka_39_version_encodes_as_kafka_39_does(name: str) -> None:
    theirs = _reference(name)
    ours = _ours(name)
    assert ours.valid.lo == theirs.valid.lo
    assert ours.valid.hi >= theirs.valid.hi
    for version in theirs.valid:
        assert _wire(ours.root, version) == _wire(theirs.root, version), f"{name} v{version}"


def _wire(struct: schema.Struct, version: int) -> list:
    """What a version puts on the wire, in order: name, type, nullable, tag, and the
    nested struct's fields."""
    return [
        (
            f.name,
            f.type,
            version in f.nullable,
            f.tag if version in f.tagged else None,
            _wire(f.struct, version) if f.struct is not None else None,
        )
        for f in struct.fields
        if f.in_version(version)
    ]


def test_oldest_versions_round_trip() -> None:
    ListOffsetsRequest = messages.request_type(2)
    request = ListOffsetsRequest(
        replica_id=-1,
        topics=[
            ListOffsetsRequest.ListOffsetsTopic(
                name="t",
                partitions=[
                    ListOffsetsRequest.ListOffsetsPartition(
                        partition_index=0, timestamp=-2, max_num_offsets=5
                    )
                ],
            )
        ],
    )
    decoded = messages.decode_request(2, 0, messages.encode_request(2, 0, request))
    assert decoded.topics[0].partitions[0].max_num_offsets == 5
    OffsetCommitRequest = messages.request_type(8)
    Topic = OffsetCommitRequest.OffsetCommitRequestTopic
    commit = OffsetCommitRequest(
        group_id="g",
        generation_id_or_member_epoch=3,
        member_id="m",
        topics=[
            Topic(
                name="t",
                partitions=[
                    OffsetCommitRequest.OffsetCommitRequestPartition(
                        partition_index=1, committed_offset=7, commit_timestamp=1234
                    )
                ],
            )
        ],
    )
    decoded = messages.decode_request(8, 1, messages.encode_request(8, 1, commit))
    assert decoded.topics[0].partitions[0].commit_timestamp == 1234
