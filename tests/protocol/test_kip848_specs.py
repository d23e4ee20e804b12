"""The KIP-848 APIs (ConsumerGroupHeartbeat, ConsumerGroupDescribe) and the ConsumerGroup*
records of __consumer_offsets: our declarations against Kafka 3.9's own spec files,
field by field (ConsumerGroupHeartbeat v1 adds only SubscribedTopicRegex, Kafka 4.0)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kafka_compat.groups import consumer_records
from protocol import kip848, schema
from tests.protocol.test_interbroker import _compare_structs

SHARED = Path(__file__).resolve().parents[3] / "shared" / "kafka-protocol"
needs_reference = pytest.mark.skipif(
    not SHARED.is_dir(), reason="Kafka 3.9 reference specs not present"
)


def _reference(path: Path) -> schema.MessageSpec:
    return schema.parse_spec(path.read_text(), source=str(path))


def _without_regex(spec: schema.MessageSpec) -> schema.MessageSpec:
    spec.root.fields = [f for f in spec.root.fields if f.name != "SubscribedTopicRegex"]
    spec.valid = spec.root.versions = schema.Versions(0, 0)
    return spec


@needs_reference
@pytest.mark.parametrize("name", sorted(kip848.SPECS))
def test_api_declaration_matches_kafka_39(name):
    ours = kip848.parsed_specs()[name]
    theirs = _reference(SHARED / "messages" / f"{name}.json")
    if name.startswith("ConsumerGroupHeartbeat"):
        assert ours.valid == schema.Versions(0, 1)
        ours = _without_regex(ours)
    assert (ours.type, ours.api_key, ours.valid, ours.flexible) == (
        theirs.type,
        theirs.api_key,
        theirs.valid,
        theirs.flexible,
    )
    _compare_structs(ours.root, theirs.root, name)


@needs_reference
@pytest.mark.parametrize("name", sorted(consumer_records.SPECS))
def test_record_declaration_matches_kafka_39(name):
    ours = schema.parse_spec({"type": "data", "name": name, **consumer_records.SPECS[name]})
    theirs = _reference(SHARED / "internal" / f"{name}.json")
    assert (ours.valid, ours.flexible) == (theirs.valid, theirs.flexible)
    _compare_structs(ours.root, theirs.root, name)
