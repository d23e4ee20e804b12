"""The delegation token APIs (38-41): our declarations against Kafka 3.9's own spec
files, field by field."""

from __future__ import annotations

import pytest

from protocol import delegation_tokens
from tests.protocol.test_interbroker import _compare_structs, _reference, needs_reference


@needs_reference
@pytest.mark.parametrize("name", sorted(delegation_tokens.SPECS))
def test_declaration_matches_kafka_39(name):
    ours, theirs = delegation_tokens.parsed_specs()[name], _reference(name)
    assert (ours.type, ours.api_key, ours.valid, ours.flexible) == (
        theirs.type,
        theirs.api_key,
        theirs.valid,
        theirs.flexible,
    )
    assert sorted(ours.structs) == sorted(theirs.structs)
    _compare_structs(ours.root, theirs.root, name)
