"""The transaction state machine (Kafka's TransactionMetadata) and the
__transaction_state records (Kafka's TransactionLogKey / TransactionLogValue)."""

from __future__ import annotations

import pytest

from kafka_compat.txn.metadata import (
    IllegalTransition,
    TransactionMetadata,
    TransactionState,
)
from kafka_compat.txn.records import (
    TxnLogValue,
    decode_txn_key,
    decode_txn_value,
    txn_key,
    txn_value,
)

S = TransactionState


def test_records_round_trip_in_kafkas_layout():
    value = TxnLogValue(7, 3, 60000, int(S.ONGOING), frozenset({("a", 0), ("a", 2)}), 20, 10)
    encoded = txn_value(value)
    # Version 0, then producer id (int64), epoch (int16), timeout (int32), status (int8).
    assert encoded[:17] == bytes.fromhex("0000000000000000000700030000ea6001")
    assert decode_txn_value(encoded) == value
    assert txn_key("my-id") == bytes.fromhex("00000005") + b"my-id"
    assert decode_txn_key(txn_key("my-id")) == "my-id"


def test_a_transaction_goes_through_prepare_and_complete():
    m = TransactionMetadata("t", 5, last_update_ms=0)
    m.complete_transition(m.prepare_increment_producer_epoch(60000, None, 1))
    assert (m.state, m.producer_epoch) == (S.EMPTY, 0)
    m.complete_transition(m.prepare_add_partitions({("a", 0)}, 2))
    assert (m.state, m.partitions, m.start_ms) == (S.ONGOING, {("a", 0)}, 2)
    m.complete_transition(m.prepare_add_partitions({("b", 1)}, 3))
    assert m.partitions == {("a", 0), ("b", 1)} and m.start_ms == 2
    m.complete_transition(m.prepare_abort_or_commit(S.PREPARE_COMMIT, 4))
    complete = m.prepare_complete(5)
    assert m.pending_state == S.COMPLETE_COMMIT
    with pytest.raises(IllegalTransition):
        m.prepare_add_partitions({("c", 0)}, 5)  # one transition at a time
    m.complete_transition(complete)
    assert (m.state, m.partitions, m.pending_state) == (S.COMPLETE_COMMIT, set(), None)


def test_invalid_transitions_are_refused():
    m = TransactionMetadata("t", 5, producer_epoch=0)
    with pytest.raises(IllegalTransition):
        m.prepare_abort_or_commit(S.PREPARE_COMMIT, 1)  # from Empty
    with pytest.raises(IllegalTransition):
        m.prepare_fence_producer_epoch()  # only an Ongoing transaction is fenced


def test_kip_360_expected_epochs():
    m = TransactionMetadata("t", 5, producer_epoch=4, last_producer_epoch=3)
    assert m.prepare_increment_producer_epoch(1000, 2, 1) is None  # fenced
    retry = m.prepare_increment_producer_epoch(1000, 3, 1)  # a retry of the last bump
    assert (retry.producer_epoch, retry.last_producer_epoch) == (4, 3)
