"""TransactionIndex (.txnindex): ABORT markers recorded with the LSO, through roll,
truncation, deletion, restart and recovery; the aborted transactions a read_committed
read lists; markers refused from clients."""

import struct
import time

import pytest

from protocol.records import INVALID_RECORD, InvalidRecordError, build_batch, build_end_txn_marker
from storage.log import AppendOrigin, Log
from storage.log_config import LogConfig
from storage.transaction_index import ENTRY_SIZE, AbortedTxn, TransactionIndex

NOW = int(time.time() * 1000)


def _txn_batch(producer_id, sequence, count=2, value_size=50):
    records = [(b"k%d" % i, b"v" * value_size, [], NOW) for i in range(count)]
    return bytearray(
        build_batch(
            records,
            producer_id=producer_id,
            producer_epoch=0,
            base_sequence=sequence,
            transactional=True,
        )
    )


def _marker(producer_id, commit):
    return bytearray(
        build_end_txn_marker(
            commit=commit,
            producer_id=producer_id,
            producer_epoch=0,
            coordinator_epoch=1,
            timestamp=NOW,
        )
    )


class Writer:
    """Appends transactional batches and markers to a log, remembering sequences."""

    def __init__(self, log):
        self.log = log
        self.sequences = {}

    def data(self, producer_id, count=2):
        sequence = self.sequences.get(producer_id, 0)
        self.sequences[producer_id] = sequence + count
        return self.log.append(_txn_batch(producer_id, sequence, count))

    def end(self, producer_id, commit):
        return self.log.append(_marker(producer_id, commit), origin=AppendOrigin.COORDINATOR)

    def plain(self, count=2):
        records = [(b"p", b"x" * 50, [], NOW)] * count
        return self.log.append(bytearray(build_batch(records)))


def _all_entries(log):
    return [txn for segment in log.segments for txn in segment.txn_index.all_aborted_txns()]


@pytest.fixture
def config():
    return LogConfig(segment_bytes=700, index_interval_bytes=200)


def test_an_abort_marker_is_indexed_with_the_lso_of_the_moment_and_a_commit_is_not(
    tmp_path, config
):
    log = Log(tmp_path / "t-0", config)
    w = Writer(log)
    w.data(1)  # 0-1, producer 1 opens at 0
    w.data(2)  # 2-3, producer 2 opens at 2
    marker = w.end(1, commit=False)  # 4: the LSO is then producer 2's first offset
    assert marker.first_offset == 4
    assert _all_entries(log) == [AbortedTxn(1, 0, 4, 2)]
    w.end(2, commit=True)  # 5: commits leave no entry
    w.data(3)  # 6-7
    w.end(3, commit=False)  # 8: nothing else open: LSO = marker + 1
    assert _all_entries(log) == [AbortedTxn(1, 0, 4, 2), AbortedTxn(3, 6, 8, 9)]
    log.close()


def test_the_file_has_kafkas_layout_and_exists_only_with_entries(tmp_path, config):
    log = Log(tmp_path / "t-0", config)
    w = Writer(log)
    w.data(7)
    w.end(7, commit=True)
    assert not list((tmp_path / "t-0").glob("*.txnindex"))
    w.data(7)
    w.end(7, commit=False)
    (path,) = (tmp_path / "t-0").glob("*.txnindex")
    data = path.read_bytes()
    assert len(data) == ENTRY_SIZE == 34
    assert struct.unpack(">hqqqq", data) == (0, 7, 3, 5, 6)
    log.close()


def test_entries_go_to_the_active_segment_and_are_read_back_after_a_restart(tmp_path, config):
    log = Log(tmp_path / "t-0", config)
    w = Writer(log)
    for producer_id in range(1, 7):
        w.data(producer_id)
        w.end(producer_id, commit=producer_id % 2 == 0)
        w.plain()
    assert len(log.segments) > 2
    by_segment = {
        segment.base_offset: segment.txn_index.all_aborted_txns() for segment in log.segments
    }
    for base, entries in by_segment.items():
        for txn in entries:
            assert log.segments.floor(txn.last_offset).base_offset == base
    expected = _all_entries(log)
    assert [txn.producer_id for txn in expected] == [1, 3, 5]
    log.close()
    reopened = Log(tmp_path / "t-0", config)
    assert _all_entries(reopened) == expected
    reopened.close()


def test_truncation_drops_the_entries_of_markers_it_removes(tmp_path, config):
    log = Log(tmp_path / "t-0", config)
    w = Writer(log)
    w.data(1)
    first = w.end(1, commit=False).first_offset
    w.data(2)
    second = w.end(2, commit=False).first_offset
    assert [t.last_offset for t in _all_entries(log)] == [first, second]
    log.truncate_to(second)
    assert [t.last_offset for t in _all_entries(log)] == [first]
    log.truncate_to(first)
    assert _all_entries(log) == []
    assert not list((tmp_path / "t-0").glob("*.txnindex"))
    assert log.first_unstable_offset == 0  # producer 1's transaction is open again
    log.close()


def test_truncation_across_segments_deletes_their_transaction_indexes(tmp_path, config):
    log = Log(tmp_path / "t-0", config)
    w = Writer(log)
    w.plain()
    for producer_id in range(1, 6):
        w.data(producer_id)
        w.end(producer_id, commit=False)
    assert len(log.segments) > 1
    log.truncate_to(2)
    assert _all_entries(log) == []
    assert not list((tmp_path / "t-0").glob("*.txnindex"))
    log.close()


def test_segments_deleted_by_retention_take_their_transaction_index(tmp_path):
    config = LogConfig(segment_bytes=700, retention_bytes=0, file_delete_delay_ms=0)
    log = Log(tmp_path / "t-0", config)
    w = Writer(log)
    for producer_id in range(1, 5):
        w.data(producer_id)
        w.end(producer_id, commit=False)
    log.roll()
    assert log.delete_old_segments(NOW) > 0
    pending = [path.name for path, _ in log.pending_deletions.items()]
    assert any(name.endswith(".txnindex.deleted") for name in pending)
    log.pending_deletions.delete_due(NOW + 1)
    assert not list((tmp_path / "t-0").glob("*.txnindex*"))
    log.close()


def _unclean_reopen(path, config):
    return Log(path, config, recovery_point=0, had_clean_shutdown=False)


@pytest.mark.parametrize("keep_snapshots", [True, False])
def test_unclean_recovery_rebuilds_the_index_with_the_same_entries(
    tmp_path, config, keep_snapshots
):
    log = Log(tmp_path / "t-0", config)
    w = Writer(log)
    w.data(1)  # open across segments
    for producer_id in range(2, 8):
        w.data(producer_id)
        w.end(producer_id, commit=producer_id % 3 == 0)
        w.plain()
    w.end(1, commit=False)
    w.data(9)  # still open
    expected = _all_entries(log)
    last = expected[-1].last_offset
    assert len(expected) == 5 and expected[-1] == AbortedTxn(1, 0, last, last + 1)
    log.close()
    directory = tmp_path / "t-0"
    for path in directory.glob("*.txnindex"):
        path.unlink()  # lost with the page cache
    if not keep_snapshots:
        for path in directory.glob("*.snapshot"):
            path.unlink()
    reopened = _unclean_reopen(directory, config)
    assert _all_entries(reopened) == expected
    reopened.on_high_watermark_updated(reopened.log_end_offset)
    assert reopened.first_unstable_offset == expected[-1].last_offset + 1  # producer 9
    reopened.close()


def test_unclean_recovery_cutting_a_torn_marker_drops_its_entry(tmp_path, config):
    log = Log(tmp_path / "t-0", config)
    w = Writer(log)
    w.data(1)
    w.end(1, commit=False)
    w.data(2)
    w.end(2, commit=False)
    log.close()
    active = max((tmp_path / "t-0").glob("*.log"))
    with open(active, "r+b") as file:
        file.truncate(active.stat().st_size - 3)  # tear the last marker
    reopened = _unclean_reopen(tmp_path / "t-0", config)
    assert [t.producer_id for t in _all_entries(reopened)] == [1]
    assert reopened.first_unstable_offset is not None  # producer 2 is open again
    reopened.close()


def test_a_follower_indexes_the_markers_it_replicates(tmp_path, config):
    leader = Log(tmp_path / "t-0", config)
    w = Writer(leader)
    w.data(1)
    w.data(2)
    w.end(2, commit=False)
    w.end(1, commit=False)
    follower = Log(tmp_path / "follower" / "t-0", config)
    follower.append_as_follower(leader.read(0, 1 << 20).records)
    assert (
        _all_entries(follower)
        == _all_entries(leader)
        == [
            AbortedTxn(2, 2, 4, 0),
            AbortedTxn(1, 0, 5, 6),
        ]
    )
    leader.close()
    follower.close()


def test_collect_aborted_transactions_overlapping_a_range(tmp_path, config):
    log = Log(tmp_path / "t-0", config)
    w = Writer(log)
    w.data(1)  # 0-1
    w.end(1, commit=False)  # 2
    w.plain()  # 3-4
    w.data(2)  # 5-6
    w.end(2, commit=False)  # 7
    for _ in range(4):
        w.plain()
    w.data(3)
    w.end(3, commit=False)
    log.on_high_watermark_updated(log.log_end_offset)
    assert [t.producer_id for t in log.collect_aborted_transactions(0, 3)] == [1]
    assert [t.producer_id for t in log.collect_aborted_transactions(3, 5)] == []
    assert [t.producer_id for t in log.collect_aborted_transactions(3, 8)] == [2]
    assert [t.producer_id for t in log.collect_aborted_transactions(0, log.log_end_offset)] == [
        1,
        2,
        3,
    ]
    log.close()


def test_a_search_stops_at_an_entry_whose_lso_reaches_the_bound(tmp_path):
    index = TransactionIndex(tmp_path / "00000000000000000000.txnindex", 0)
    index.append(AbortedTxn(1, 0, 5, 6))
    index.append(AbortedTxn(2, 3, 9, 10))
    result = index.collect_aborted_txns(0, 6)
    assert result.aborted_transactions == [AbortedTxn(1, 0, 5, 6)]
    assert result.is_complete
    result = index.collect_aborted_txns(6, 20)
    assert result.aborted_transactions == [AbortedTxn(2, 3, 9, 10)]
    assert not result.is_complete
    with pytest.raises(ValueError):
        index.append(AbortedTxn(3, 9, 9, 10))
    assert TransactionIndex(index.path, 0).all_aborted_txns() == index.all_aborted_txns()


def test_clients_may_not_write_control_batches(tmp_path, config):
    log = Log(tmp_path / "t-0", config)
    with pytest.raises(InvalidRecordError) as raised:
        log.append(_marker(1, commit=False))  # AppendOrigin.CLIENT
    assert raised.value.error_code == INVALID_RECORD
    assert log.log_end_offset == 0
    log.close()


def test_idle_producers_expire_while_running_unless_a_transaction_is_open(tmp_path, config):
    log = Log(tmp_path / "t-0", config, producer_id_expiration_ms=1000)
    w = Writer(log)
    w.data(1)
    w.end(1, commit=True)
    w.data(2)  # open
    assert log.remove_expired_producers(NOW + 500) == []
    assert log.remove_expired_producers(NOW + 1000) == [1]
    assert log.producer_state.last_entry(1) is None
    assert log.producer_state.last_entry(2) is not None
    log.close()


def test_a_rebuilt_entry_finds_a_first_offset_older_than_the_expiration_horizon(tmp_path, config):
    log = Log(tmp_path / "t-0", config, producer_id_expiration_ms=60_000)
    old = NOW - 3_600_000
    log.append(
        bytearray(
            build_batch(
                [(b"k", b"v" * 50, [], old)] * 2,
                producer_id=4,
                producer_epoch=0,
                base_sequence=0,
                transactional=True,
            )
        )
    )
    w = Writer(log)
    for i in range(12):
        records = [(b"p", b"x" * 50, [], old if i < 8 else NOW)] * 2
        log.append(bytearray(build_batch(records)))
    assert log.segments[0].largest_timestamp < NOW - 60_000 and len(log.segments) > 2
    marker = w.end(4, commit=False).first_offset
    expected = _all_entries(log)
    assert expected == [AbortedTxn(4, 0, marker, marker + 1)]
    recovery_point = log.active_segment.base_offset
    log.close()
    for path in (tmp_path / "t-0").glob("*.snapshot"):
        path.unlink()
    for path in (tmp_path / "t-0").glob("*.txnindex"):
        path.unlink()
    reopened = Log(
        tmp_path / "t-0",
        config,
        recovery_point=recovery_point,
        had_clean_shutdown=False,
        producer_id_expiration_ms=60_000,
    )
    assert _all_entries(reopened) == expected
    reopened.close()
