"""The delegation token APIs (38-41): our declarations against Kafka 3.9's own spec
files, field by field."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocol import delegation_tokens, schema
from tests.protocol.test_interbroker import _compare_structs

SHARED = Path(__file__).resolve().parents[3] / "shared" / "kafka-protocol"
needs_reference = pytest.mark.skipif(
    not SHARED.is_dir(), reason="Kafka 3.9 reference specs not present"
)


@needs_reference
@pytest.mark.parametrize("name", sorted(delegation_tokens.SPECS))
def test_declaration_matches_kafka_39(name):
    ours = delegation_tokens.parsed_specs()[name]
    path = SHARED / "messages" / f"{name}.json"
    theirs = schema.parse_spec(path.read_text(), source=str(path))
    assert (ours.type, ours.api_key, ours.valid, ours.flexible) == (
        theirs.type,
        theirs.api_key,
        theirs.valid,
        theirs.flexible,
    )
    _compare_structs(ours.root, theirs.root, name)
