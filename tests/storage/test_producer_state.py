"""ProducerStateManager: duplicates, sequence gaps, epoch fencing, wrap, transactions."""

import pytest

from protocol.records import INT32_MAX
from storage.errors import InvalidProducerEpoch, OutOfOrderSequence, TransactionCoordinatorFenced
from storage.producer_state import ProducerStateManager

PID = 1000


def _append(state, epoch, first_seq, last_seq, first_offset, *, txn=False, validate=True):
    append = state.prepare_update(PID, validate_epoch=validate, validate_sequence=validate)
    append.append_data_batch(
        epoch,
        first_seq,
        last_seq,
        first_offset,
        first_offset + (last_seq - first_seq) % (INT32_MAX + 1),
        first_offset,
        txn,
    )
    state.update(append)


def test_in_sequence_batches_are_accepted_and_remembered():
    state = ProducerStateManager()
    _append(state, 0, 0, 4, 0)
    _append(state, 0, 5, 9, 5)
    entry = state.last_entry(PID)
    assert entry.producer_epoch == 0 and entry.last_seq == 9 and entry.last_offset == 9


def test_duplicate_of_one_of_the_last_five_batches_is_found():
    state = ProducerStateManager()
    for i in range(7):
        _append(state, 0, i * 2, i * 2 + 1, 100 + i * 2)
    assert state.find_duplicate(PID, 0, 12, 13).first_offset == 112
    assert state.find_duplicate(PID, 0, 4, 5).first_offset == 104  # 5th from the end
    assert state.find_duplicate(PID, 0, 2, 3) is None  # 6th: forgotten
    assert state.find_duplicate(PID, 1, 12, 13) is None  # other epoch
    assert state.find_duplicate(PID, 0, 12, 14) is None  # other range
    assert state.find_duplicate(PID + 1, 0, 12, 13) is None


def test_gap_is_out_of_order():
    state = ProducerStateManager()
    _append(state, 0, 0, 4, 0)
    with pytest.raises(OutOfOrderSequence) as excinfo:
        _append(state, 0, 6, 6, 5)
    assert excinfo.value.error_code == 45
    with pytest.raises(OutOfOrderSequence):
        _append(state, 0, 3, 6, 5)  # overlaps, not a duplicate
    assert state.last_entry(PID).last_seq == 4  # refused batches leave no trace


def test_older_epoch_is_fenced():
    state = ProducerStateManager()
    _append(state, 3, 0, 0, 0)
    with pytest.raises(InvalidProducerEpoch) as excinfo:
        _append(state, 2, 1, 1, 1)
    assert excinfo.value.error_code == 47


def test_new_epoch_must_start_at_zero():
    state = ProducerStateManager()
    _append(state, 0, 0, 9, 0)
    with pytest.raises(OutOfOrderSequence):
        _append(state, 1, 10, 10, 10)
    _append(state, 1, 0, 0, 10)
    assert state.last_entry(PID).producer_epoch == 1
    assert state.find_duplicate(PID, 0, 0, 9) is None  # old epoch's batches are gone


def test_unknown_producer_may_start_anywhere_as_in_kafka():
    # KIP-360: its state may have expired; Kafka accepts the first batch at any sequence.
    state = ProducerStateManager()
    _append(state, 5, 77, 80, 0)
    with pytest.raises(OutOfOrderSequence):
        _append(state, 5, 90, 90, 4)


def test_sequence_wraps_after_int32_max():
    state = ProducerStateManager()
    _append(state, 0, INT32_MAX - 1, INT32_MAX, 0)
    _append(state, 0, 0, 1, 2)
    _append(state, 0, 2, 2, 4)
    assert state.last_entry(PID).last_seq == 2


def test_replicated_batches_are_recorded_without_checks():
    state = ProducerStateManager()
    _append(state, 3, 0, 0, 0)
    _append(state, 2, 50, 50, 1, validate=False)
    assert state.last_entry(PID).last_seq == 50


def test_transactions_open_and_close_with_markers():
    state = ProducerStateManager()
    _append(state, 0, 0, 2, 10, txn=True)
    _append(state, 0, 3, 3, 13, txn=True)
    assert state.first_unstable_offset() == 10
    append = state.prepare_update(PID)
    completed = append.append_end_txn_marker(0, 4, 14, 14, commit=False)
    state.update(append)
    assert completed.first_offset == 10 and completed.last_offset == 14 and completed.is_aborted
    assert state.first_unstable_offset() == 10
    state.complete_txn(completed)
    assert state.last_stable_offset(completed) == 15
    # Not replicated yet: the transaction still holds the LSO (Kafka's unreplicatedTxns).
    assert state.first_unstable_offset() == 10
    assert not state.on_high_watermark_updated(14)
    assert state.on_high_watermark_updated(15)
    assert state.first_unstable_offset() is None
    append = state.prepare_update(PID)
    with pytest.raises(TransactionCoordinatorFenced):
        append.append_end_txn_marker(0, 3, 15, 15, commit=True)


def test_idle_producers_expire():
    state = ProducerStateManager()
    _append(state, 0, 0, 0, 1000)  # timestamp = first offset in this helper
    assert state.remove_expired(now_ms=1500, expiration_ms=1000) == []
    assert state.remove_expired(now_ms=2000, expiration_ms=1000) == [PID]
    assert state.last_entry(PID) is None
