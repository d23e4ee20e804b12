"""LeaderEpochFileCache and the log's leader epochs: the checkpoint file, Kafka's
OffsetForLeaderEpoch answers, truncation at both ends, loading after a crash."""

import os
import threading
import time

import pytest

from protocol.records import build_batch
from storage.checkpoint import CorruptCheckpoint
from storage.errors import StorageError
from storage.leader_epoch import (
    LEADER_EPOCH_CHECKPOINT,
    EpochEntry,
    LeaderEpochFileCache,
    decode_epoch_checkpoint,
    read_checkpoint,
)
from storage.log import Log
from storage.log_config import LogConfig

NOW = int(time.time() * 1000)


def _cache(tmp_path, *entries):
    cache = LeaderEpochFileCache(tmp_path / LEADER_EPOCH_CHECKPOINT)
    for epoch, start in entries:
        assert cache.assign(epoch, start)
    return cache


def _pairs(cache):
    return [tuple(entry) for entry in cache.entries()]


def _batch(count=2, value_size=100):
    return bytearray(build_batch([(b"k", b"v" * value_size, [], NOW + i) for i in range(count)]))


@pytest.fixture
def fsyncs(monkeypatch):
    calls = []
    real = os.fsync

    def counting(fd):
        calls.append(threading.current_thread().name)
        return real(fd)

    monkeypatch.setattr(os, "fsync", counting)
    return calls


# -- the checkpoint file -----------------------------------------------------------------


def test_checkpoint_file_is_kafkas_text_format(tmp_path):
    cache = _cache(tmp_path, (0, 0), (1, 10), (3, 20))
    assert cache.dirty
    assert cache.flush()
    assert (tmp_path / LEADER_EPOCH_CHECKPOINT).read_text() == "0\n3\n0 0\n1 10\n3 20\n"
    assert not cache.dirty and not cache.flush()  # unchanged: not written again
    loaded, usable = LeaderEpochFileCache.load(tmp_path / LEADER_EPOCH_CHECKPOINT)
    assert usable and _pairs(loaded) == [(0, 0), (1, 10), (3, 20)]
    assert not loaded.dirty


def test_an_empty_file_as_kafka_creates_it_holds_no_entries(tmp_path):
    assert decode_epoch_checkpoint("") == []
    (tmp_path / LEADER_EPOCH_CHECKPOINT).write_text("")
    loaded, usable = LeaderEpochFileCache.load(tmp_path / LEADER_EPOCH_CHECKPOINT)
    assert usable and len(loaded) == 0
    assert read_checkpoint(tmp_path / "absent") is None


@pytest.mark.parametrize(
    "text",
    [
        "1\n1\n0 0\n",  # unknown version
        "0\n2\n0 0\n",  # fewer entries than announced
        "0\n1\n0 0\n1 5\n",  # more
        "0\n1\nzero 0\n",
        "0\n1\n0\n",
        "0\n2\n3 10\n2 20\n",  # epochs going down
        "0\n2\n2 10\n3 5\n",  # start offsets going down
        "0\n1\n-1 0\n",
        "x",
    ],
)
def test_a_malformed_checkpoint_is_refused(tmp_path, text):
    with pytest.raises(CorruptCheckpoint):
        decode_epoch_checkpoint(text)
    (tmp_path / LEADER_EPOCH_CHECKPOINT).write_text(text)
    loaded, usable = LeaderEpochFileCache.load(tmp_path / LEADER_EPOCH_CHECKPOINT)
    assert not usable and len(loaded) == 0


def test_flush_writes_atomically_and_fsyncs(tmp_path, fsyncs, monkeypatch):
    cache = _cache(tmp_path, (0, 0))
    cache.flush()
    assert len(fsyncs) == 2  # the file, then the directory
    assert os.listdir(tmp_path) == [LEADER_EPOCH_CHECKPOINT]  # no .tmp left over
    cache.assign(1, 10)

    def crash(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(StorageError):
        cache.flush()
    # The old file is whole, and the change is still to be written.
    assert (tmp_path / LEADER_EPOCH_CHECKPOINT).read_text() == "0\n1\n0 0\n"
    assert cache.dirty
    monkeypatch.undo()
    assert cache.flush()
    assert read_checkpoint(tmp_path / LEADER_EPOCH_CHECKPOINT) == [(0, 0), (1, 10)]


def test_flush_from_a_worker_thread_writes_the_latest_entries(tmp_path, fsyncs):
    cache = _cache(tmp_path, (0, 0))
    cache.assign(2, 7)
    worker = threading.Thread(target=cache.flush, name="flusher")
    worker.start()
    worker.join()
    assert set(fsyncs) == {"flusher"}
    assert read_checkpoint(tmp_path / LEADER_EPOCH_CHECKPOINT) == [(0, 0), (2, 7)]


def test_flush_skips_a_deleted_partition_directory(tmp_path):
    cache = LeaderEpochFileCache(tmp_path / "gone-0" / LEADER_EPOCH_CHECKPOINT)
    cache.assign(0, 0)
    assert not cache.flush()


# -- assign ------------------------------------------------------------------------------


def test_an_epoch_keeps_its_first_start_offset(tmp_path):
    cache = _cache(tmp_path, (2, 6))
    assert not cache.assign(2, 7)
    assert not cache.assign(2, 10)
    assert _pairs(cache) == [(2, 6)]
    assert cache.latest_epoch == 2 and cache.latest_entry == EpochEntry(2, 6)


def test_the_same_epoch_at_a_lower_offset_replaces_the_later_entries(tmp_path):
    cache = _cache(tmp_path, (5, 11), (6, 12), (7, 13))
    assert cache.assign(7, 12)
    assert _pairs(cache) == [(5, 11), (7, 12)]
    assert cache.end_offset_for(5, 20) == (5, 12)
    assert cache.end_offset_for(6, 20) == (5, 12)


def test_a_new_epoch_at_the_same_offset_replaces_an_epoch_that_never_wrote(tmp_path):
    cache = _cache(tmp_path, (2, 9))
    assert cache.assign(3, 9)
    assert _pairs(cache) == [(3, 9)]


def test_a_new_epoch_below_the_latest_start_drops_the_later_entries(tmp_path):
    cache = _cache(tmp_path, (2, 6))
    assert cache.assign(3, 5)
    assert _pairs(cache) == [(3, 5)]


def test_epochs_below_the_latest_and_negative_ones_are_ignored(tmp_path):
    cache = _cache(tmp_path, (1, 5), (2, 6))
    assert not cache.assign(1, 7)
    assert not cache.assign(-1, 8)
    assert not cache.assign(3, -1)
    assert _pairs(cache) == [(1, 5), (2, 6)]


def test_epochs_tracked_as_leaders_change(tmp_path):
    # Kafka's shouldIncreaseAndTrackEpochsAsLeadersChangeManyTimes.
    cache = _cache(tmp_path, (0, 0))
    cache.assign(1, 0)
    assert cache.latest_epoch == 1
    assert cache.end_offset_for(1, 0) == (1, 0)
    assert cache.end_offset_for(0, 0) == (0, 0)
    assert cache.end_offset_for(1, 5) == (1, 5)
    cache.assign(2, 5)
    assert cache.end_offset_for(2, 10) == (2, 10)
    assert cache.end_offset_for(1, 10) == (1, 5)
    assert cache.end_offset_for(0, 10) == (0, 0)


# -- end_offset_for (OffsetForLeaderEpoch) ----------------------------------------------


def test_end_offset_for_epochs_with_a_gap(tmp_path):
    cache = _cache(tmp_path, (0, 0), (1, 10), (3, 20))
    leo = 30
    assert cache.end_offset_for(0, leo) == (0, 10)
    assert cache.end_offset_for(1, leo) == (1, 20)
    assert cache.end_offset_for(2, leo) == (1, 20)  # largest epoch <= 2, ended by epoch 3
    assert cache.end_offset_for(3, leo) == (3, 30)  # the latest: the log end offset


def test_end_offset_for_an_epoch_above_the_latest_is_undefined(tmp_path):
    # Kafka: no epoch above the requested one -> UNDEFINED (the leader assigns its own
    # epoch when it becomes leader, so a follower is never ahead of it).
    cache = _cache(tmp_path, (0, 0), (1, 10), (3, 20))
    assert cache.end_offset_for(4, 30) == (-1, -1)
    assert cache.end_offset_for(5, 30) == (-1, -1)


def test_end_offset_for_the_undefined_epoch_or_an_empty_cache(tmp_path):
    cache = _cache(tmp_path)
    assert cache.end_offset_for(0, 73) == (-1, -1)
    assert cache.end_offset_for(-1, 73) == (-1, -1)
    cache.assign(2, 11)
    cache.assign(3, 12)
    assert cache.end_offset_for(-1, 73) == (-1, -1)


def test_end_offset_for_an_epoch_below_the_first_is_the_first_start_offset(tmp_path):
    # Kafka: (requested epoch, first entry's start): older epochs' data was deleted and
    # the follower must start from the leader's first known epoch.
    cache = _cache(tmp_path, (5, 11), (6, 12), (7, 13))
    assert cache.end_offset_for(4, 20) == (4, 11)
    assert cache.end_offset_for(0, 20) == (0, 11)


def test_end_offset_for_an_epoch_between_known_ones(tmp_path):
    cache = _cache(tmp_path, (0, 10), (2, 13), (4, 17))
    assert cache.end_offset_for(1, 20) == (0, 13)
    assert cache.end_offset_for(2, 20) == (2, 17)
    assert cache.end_offset_for(3, 20) == (2, 17)
    assert cache.end_offset_for(4, 20) == (4, 20)


def test_epoch_for_offset(tmp_path):
    cache = _cache(tmp_path, (0, 0), (1, 10), (3, 20))
    assert [cache.epoch_for_offset(o) for o in (0, 9, 10, 19, 20, 99)] == [0, 0, 1, 1, 3, 3]
    assert _cache(tmp_path).epoch_for_offset(5) is None


# -- truncation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("end", "expected"),
    [
        (8, [(2, 6)]),  # on an epoch boundary: that epoch goes too
        (9, [(2, 6), (3, 8)]),
        (11, [(2, 6), (3, 8)]),
        (12, [(2, 6), (3, 8), (4, 11)]),
        (6, []),
        (0, []),
    ],
)
def test_truncate_from_end(tmp_path, end, expected):
    cache = _cache(tmp_path, (2, 6), (3, 8), (4, 11))
    cache.flush()
    removed = cache.truncate_from_end(end)
    assert _pairs(cache) == expected
    assert len(removed) == 3 - len(expected)
    assert cache.dirty == bool(removed)


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (1, [(2, 6), (3, 8), (4, 11)]),  # before the first epoch: nothing changes
        (6, [(2, 6), (3, 8), (4, 11)]),  # on the first start offset: neither
        (8, [(3, 8), (4, 11)]),  # on a boundary: that entry stays as it is
        (9, [(3, 9), (4, 11)]),  # between: the covering entry moves up
        (11, [(4, 11)]),
        (15, [(4, 15)]),  # beyond the last start: the latest epoch stays, moved up
    ],
)
def test_truncate_from_start(tmp_path, start, expected):
    cache = _cache(tmp_path, (2, 6), (3, 8), (4, 11))
    cache.truncate_from_start(start)
    assert _pairs(cache) == expected


def test_clear_rewrites_the_file_empty(tmp_path):
    cache = _cache(tmp_path, (1, 0))
    cache.flush()
    cache.clear()
    assert cache.dirty and len(cache) == 0 and cache.latest_epoch is None
    cache.flush()
    assert (tmp_path / LEADER_EPOCH_CHECKPOINT).read_text() == "0\n0\n"


# -- the log's epoch cache -------------------------------------------------------------


def _epochs(log):
    return [tuple(entry) for entry in log.leader_epoch_cache.entries()]


def _file_epochs(log):
    return read_checkpoint(log.dir / LEADER_EPOCH_CHECKPOINT)


def test_leader_appends_record_each_new_epoch_at_its_first_offset(tmp_path):
    log = Log(tmp_path / "t-0", LogConfig())
    for epoch in (0, 0, 1, 1, 3):
        log.append(_batch(2), leader_epoch=epoch)
    assert _epochs(log) == [(0, 0), (1, 4), (3, 8)]
    assert log.latest_epoch == 3
    assert log.end_offset_for_epoch(0) == (0, 4)
    assert log.end_offset_for_epoch(2) == (1, 8)
    assert log.end_offset_for_epoch(3) == (3, 10)
    assert log.end_offset_for_epoch(-1) == (-1, -1)
    log.close()


def test_a_stale_leader_epoch_is_written_but_not_recorded(tmp_path):
    log = Log(tmp_path / "t-0", LogConfig())
    log.append(_batch(), leader_epoch=4)
    log.append(_batch(), leader_epoch=3)
    assert _epochs(log) == [(4, 0)]
    log.close()


def test_a_new_leader_assigns_its_epoch_before_writing(tmp_path):
    log = Log(tmp_path / "t-0", LogConfig())
    log.append(_batch(5), leader_epoch=0)
    log.maybe_assign_epoch_start_offset(2)  # became leader in epoch 2 at offset 5
    assert _epochs(log) == [(0, 0), (2, 5)]
    # A follower that wrote in epoch 1 (never replicated) learns epoch 0 ended at 5.
    assert log.end_offset_for_epoch(1) == (0, 5)
    log.append(_batch(), leader_epoch=2)
    assert _epochs(log) == [(0, 0), (2, 5)]
    log.close()


def test_appends_do_not_write_the_checkpoint_flushes_and_close_do(tmp_path, fsyncs):
    log = Log(tmp_path / "t-0", LogConfig())
    fsyncs.clear()
    log.append(_batch(), leader_epoch=0)
    log.append(_batch(), leader_epoch=1)
    assert fsyncs == [] and _file_epochs(log) is None
    worker = threading.Thread(target=log.flush_files, name="flusher")
    worker.start()
    worker.join()
    assert _file_epochs(log) == [(0, 0), (1, 2)]
    assert set(fsyncs) == {"flusher"}
    log.append(_batch(), leader_epoch=2)
    log.close()
    assert _file_epochs(log) == [(0, 0), (1, 2), (2, 4)]


def test_reopen_after_a_clean_close_reads_the_checkpoint(tmp_path):
    log = Log(tmp_path / "t-0", LogConfig())
    for epoch in (0, 1, 5):
        log.append(_batch(), leader_epoch=epoch)
    log.close()
    log = Log(tmp_path / "t-0", LogConfig())
    assert _epochs(log) == [(0, 0), (1, 2), (5, 4)]
    assert log.load_report.leader_epochs_rebuilt_from is None
    assert not log.leader_epoch_cache.dirty
    log.close()


def test_a_missing_checkpoint_is_rebuilt_from_the_batch_headers(tmp_path):
    config = LogConfig(segment_bytes=1024)
    log = Log(tmp_path / "t-0", config)
    for epoch in (0, 0, 0, 2, 2, 2, 2, 7, 7):
        log.append(_batch(2), leader_epoch=epoch)
    assert len(log.segments) > 2
    expected = _epochs(log)
    log.close()
    (tmp_path / "t-0" / LEADER_EPOCH_CHECKPOINT).unlink()
    log = Log(tmp_path / "t-0", config)
    assert _epochs(log) == expected == [(0, 0), (2, 6), (7, 14)]
    assert log.load_report.leader_epochs_rebuilt_from == 0
    log.close()
    assert _file_epochs(log) == expected


def test_a_malformed_checkpoint_is_rebuilt_and_rewritten(tmp_path):
    log = Log(tmp_path / "t-0", LogConfig())
    log.append(_batch(), leader_epoch=1)
    log.append(_batch(), leader_epoch=3)
    log.close()
    (tmp_path / "t-0" / LEADER_EPOCH_CHECKPOINT).write_text("0\n5\n1 0\n")
    log = Log(tmp_path / "t-0", LogConfig())
    assert _epochs(log) == [(1, 0), (3, 2)]
    log.close()
    assert _file_epochs(log) == [(1, 0), (3, 2)]


def test_a_new_log_writes_no_checkpoint_until_it_has_an_epoch(tmp_path):
    log = Log(tmp_path / "t-0", LogConfig())
    assert not log.leader_epoch_cache.dirty
    log.close()
    assert _file_epochs(log) is None


def test_entries_beyond_the_log_are_trimmed_on_load(tmp_path):
    log = Log(tmp_path / "t-0", LogConfig())
    log.append(_batch(4), leader_epoch=1)
    log.close()
    # A checkpoint ahead of the log (data lost, or an epoch assigned without data).
    (tmp_path / "t-0" / LEADER_EPOCH_CHECKPOINT).write_text("0\n3\n0 0\n1 0\n2 4\n")
    log = Log(tmp_path / "t-0", LogConfig())
    assert _epochs(log) == [(1, 0)]
    assert log.end_offset_for_epoch(1) == (1, 4)
    log.close()


def test_reload_after_an_unclean_shutdown_relearns_the_tail(tmp_path):
    config = LogConfig(segment_bytes=1024)
    log = Log(tmp_path / "t-0", config)
    for epoch in (0, 0, 0, 1, 1, 1):
        log.append(_batch(2), leader_epoch=epoch)
    log.flush()  # recovery point and checkpoint: epochs 0 and 1
    recovery_point = log.recovery_point
    for epoch in (1, 4, 4, 4, 6):
        log.append(_batch(2), leader_epoch=epoch)
    expected = _epochs(log)
    assert expected == [(0, 0), (1, 6), (4, 14), (6, 20)]
    assert _file_epochs(log) == [(0, 0), (1, 6)]
    end = log.log_end_offset
    # Crash: no close, no snapshot, the checkpoint is stale.
    log.close_handlers()
    log = Log(tmp_path / "t-0", config, recovery_point=recovery_point, had_clean_shutdown=False)
    assert log.log_end_offset == end
    assert _epochs(log) == expected
    # Re-learnt from the segment holding the recovery point, which recovery re-read.
    holding = [s.base_offset for s in log.segments if s.base_offset <= recovery_point][-1]
    assert log.load_report.leader_epochs_rebuilt_from == holding > 0
    log.close()


def test_an_unclean_shutdown_drops_the_epoch_of_a_torn_tail(tmp_path):
    log = Log(tmp_path / "t-0", LogConfig())
    log.append(_batch(3), leader_epoch=0)
    log.append(_batch(3), leader_epoch=2)
    log.flush()  # the checkpoint holds (2, 3)
    assert _file_epochs(log) == [(0, 0), (2, 3)]
    path = log.active_segment.log_path
    log.close_handlers()
    size = os.path.getsize(path)
    with open(path, "r+b") as file:
        file.truncate(size - 10)  # the epoch-2 batch is torn
    log = Log(tmp_path / "t-0", LogConfig(), recovery_point=0, had_clean_shutdown=False)
    assert log.log_end_offset == 3
    assert _epochs(log) == [(0, 0)]
    assert log.end_offset_for_epoch(2) == (-1, -1)
    log.close()


def test_truncation_trims_the_epochs_and_writes_the_file_at_once(tmp_path):
    log = Log(tmp_path / "t-0", LogConfig())
    for epoch in (0, 1, 2):
        log.append(_batch(5), leader_epoch=epoch)
    log.flush()
    assert log.truncate_to(7)  # inside epoch 1's batch [5, 9]: the whole batch goes
    assert log.log_end_offset == 5
    assert _epochs(log) == [(0, 0)]
    assert _file_epochs(log) == [(0, 0)]  # no crash can bring epochs 1 and 2 back
    log.close()


def test_truncate_at_the_end_drops_an_epoch_that_never_wrote(tmp_path):
    log = Log(tmp_path / "t-0", LogConfig())
    log.append(_batch(5), leader_epoch=0)
    log.maybe_assign_epoch_start_offset(3)  # was leader in epoch 3, wrote nothing
    assert not log.truncate_to(5)  # now a follower: nothing to cut from the log...
    assert _epochs(log) == [(0, 0)]  # ...but epoch 3 goes, as in Kafka
    log.close()


def test_truncate_fully_clears_the_epochs(tmp_path):
    log = Log(tmp_path / "t-0", LogConfig())
    log.append(_batch(5), leader_epoch=2)
    log.flush()
    log.truncate_fully_and_start_at(100)
    assert _epochs(log) == [] and _file_epochs(log) == []
    log.append(_batch(), leader_epoch=4)
    assert _epochs(log) == [(4, 100)]
    log.close()


def test_delete_records_moves_the_first_epoch_start(tmp_path):
    log = Log(tmp_path / "t-0", LogConfig())
    log.append(_batch(5), leader_epoch=0)
    log.append(_batch(5), leader_epoch=1)
    log.maybe_increment_log_start_offset(3)
    assert _epochs(log) == [(0, 3), (1, 5)]
    log.maybe_increment_log_start_offset(7)
    assert _epochs(log) == [(1, 7)]
    assert log.end_offset_for_epoch(0) == (0, 7)  # below the first: its start
    log.close()


def test_retention_moves_the_first_epoch_start(tmp_path):
    config = LogConfig(segment_bytes=1024, retention_bytes=1500)
    log = Log(tmp_path / "t-0", config)
    for epoch in (0, 0, 0, 0, 1, 1, 1, 1, 2, 2):
        log.append(_batch(2), leader_epoch=epoch)
    assert log.delete_old_segments(NOW) > 0
    start = log.log_start_offset
    assert start > 0
    entries = _epochs(log)
    assert entries[0][1] == start
    assert all(s >= start for _, s in entries)
    assert entries[-1] == (2, 16)
    log.close()
