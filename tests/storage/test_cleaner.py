"""LogCleaner: compaction keeps the newest record per key, offsets, producer state."""

import os
import random
import threading
import time

import pytest

from protocol.records import (
    COMPRESSION_GZIP,
    COMPRESSION_LZ4,
    COMPRESSION_NONE,
    COMPRESSION_SNAPPY,
    COMPRESSION_ZSTD,
    build_batch,
    build_end_txn_marker,
    decode_batch,
    iter_batch_headers,
)
from storage.cleaner import CLEANER_OFFSET_CHECKPOINT, LogCleaner
from storage.log import AppendOrigin, Log
from storage.log_config import LogConfig
from storage.log_manager import LogManager

T0 = 1_700_000_000_000
DAY = 86_400_000


def _config(**overrides):
    values = {
        "cleanup_policy": "compact",
        "segment_bytes": 4096,
        "index_interval_bytes": 512,
        "min_cleanable_dirty_ratio": 0.5,
        "delete_retention_ms": DAY,
        "file_delete_delay_ms": 0,
    }
    values.update(overrides)
    return LogConfig(**values)


def _records(log):
    """Every (header, record) readable from the log start, checked batch by batch."""
    data = log.read(log.log_start_offset, 10**9).records
    out = []
    for position, header in iter_batch_headers(data, check_crc=True):
        _, records = decode_batch(data[position : position + header.size])
        out.extend((header, record) for record in records)
    return out


def _latest(log):
    latest = {}
    for _, record in _records(log):
        latest[record.key] = record.value
    return latest


def _put(log, key, value, timestamp=T0, **kwargs):
    return log.append(bytearray(build_batch([(key, value, [], timestamp)], **kwargs)))


def test_ten_thousand_updates_over_a_hundred_keys_end_with_the_latest_value_each(tmp_path):
    log = Log(tmp_path / "compacted-0", _config())
    rng = random.Random(7)
    expected = {}
    for i in range(10_000):
        key = b"key-%03d" % rng.randrange(100)
        value = b"value-%05d" % i
        _put(log, key, value, T0 + i)
        expected[key] = value
    size_before = log.size
    active_bytes = log.active_segment.log_path.read_bytes()
    cleaner = LogCleaner(tmp_path)
    stats = cleaner.clean(log, T0 + 20_000)
    assert stats is not None and stats.map_entries <= 100
    assert log.active_segment.log_path.read_bytes() == active_bytes  # never touched
    records = _records(log)
    offsets = [record.offset for _, record in records]
    assert offsets == sorted(set(offsets))  # increasing, gaps allowed
    below_active = [r for _, r in records if r.offset < log.active_segment.base_offset]
    assert len({r.key for r in below_active}) == len(below_active)  # one per key there
    assert _latest(log) == expected
    assert log.size < size_before / 10
    # a second round compacts the cleaned segments together
    log.roll()
    cleaner.clean(log, T0 + 20_000, force=True)
    records = _records(log)
    assert len(records) == 100 and _latest(log) == expected
    assert len(log.segments) < 10  # merged: groups up to segment.bytes of input
    # the checkpoint is Kafka's text format; a reopened log reads the same
    lines = (tmp_path / CLEANER_OFFSET_CHECKPOINT).read_text().splitlines()
    assert lines[:2] == ["0", "1"]
    assert lines[2] == f"compacted 0 {log.active_segment.base_offset}"
    log.close()
    log = Log(tmp_path / "compacted-0", _config())
    assert _latest(log) == expected and len(_records(log)) == 100
    log.close()


@pytest.mark.parametrize(
    "codec",
    [COMPRESSION_NONE, COMPRESSION_GZIP, COMPRESSION_SNAPPY, COMPRESSION_LZ4, COMPRESSION_ZSTD],
)
def test_compressed_batches_are_cleaned_and_recompressed_with_their_codec(tmp_path, codec):
    log = Log(tmp_path / "c-0", _config(segment_bytes=2000))
    expected = {}
    for i in range(60):
        batch = [(b"k%d" % ((i * 5 + j) % 13), b"v%d-%d" % (i, j) * 10, [("h", b"x")], T0 + i)
                 for j in range(5)]  # fmt: skip
        log.append(bytearray(build_batch(batch, compression=codec)))
        for key, value, _, _ in batch:
            expected[key] = value
    LogCleaner(tmp_path).clean(log, T0 + 1000)
    records = _records(log)
    assert {header.codec for header, _ in records} == {codec}
    assert _latest(log) == expected
    assert all(record.headers == [("h", b"x")] for _, record in records)
    below = [r.key for _, r in records if r.offset < log.active_segment.base_offset]
    assert len(below) == len(set(below))
    log.close()


def test_tombstones_stay_for_delete_retention_ms_then_go(tmp_path):
    log = Log(tmp_path / "c-0", _config(segment_bytes=1000))
    for i in range(40):
        _put(log, b"k%d" % (i % 10), b"value %d" % i, T0 + i)
    for key in range(5):
        _put(log, b"k%d" % key, None, T0 + 100)  # tombstones for k0..k4
    for i in range(30):
        _put(log, b"other%d" % (i % 3), b"x" * 30, T0 + 200 + i)  # push them out of the active
    cleaner = LogCleaner(tmp_path)
    now = T0 + 1000
    cleaner.clean(log, now)
    tombstones = [(h, r) for h, r in _records(log) if r.value is None]
    assert sorted(r.key for _, r in tombstones) == [b"k%d" % k for k in range(5)]
    assert {h.delete_horizon_ms for h, _ in tombstones} == {now + DAY}  # KIP-534 horizon
    assert {r.timestamp for _, r in tombstones} == {T0 + 100}  # timestamps unchanged
    assert log.next_delete_horizon_ms == now + DAY
    assert cleaner.prepare(log, now + DAY - 1) is None  # nothing dirty, horizon not due
    task = cleaner.prepare(log, now + DAY)  # due: the horizon passed
    assert task is not None
    task.run()
    stats = cleaner.swap(task, now + DAY)
    assert stats.tombstones_removed == 5
    assert not [r for _, r in _records(log) if r.value is None]
    assert set(_latest(log)) == {b"k%d" % k for k in range(5, 10)} | {
        b"other0",
        b"other1",
        b"other2",
    }
    assert log.next_delete_horizon_ms is None
    log.close()


def test_min_cleanable_dirty_ratio_and_the_filthiest_log_first(tmp_path):
    a = Log(tmp_path / "a-0", _config(segment_bytes=1000))
    b = Log(tmp_path / "b-0", _config(segment_bytes=1000))
    for i in range(200):
        _put(a, b"k%d" % i, b"v" * 20, T0 + i)  # distinct keys: cleaning keeps them all
        _put(b, b"k%d" % (i % 25), b"v" * 20, T0 + i)
    cleaner = LogCleaner(tmp_path)
    assert cleaner.clean(a, T0 + 10_000) is not None  # never cleaned: all dirty
    assert cleaner.cleanable(a, T0 + 10_000).ratio == 0.0
    for i in range(20):
        _put(a, b"k%d" % i, b"w" * 20, T0 + 1000 + i)
    a.roll()
    ratio = cleaner.cleanable(a, T0 + 10_000).ratio
    assert 0 < ratio < 0.5
    task = cleaner.grab_filthiest_log([a, b], T0 + 10_000)
    assert task.log is b and b.cleaning is task and a.cleaning is None
    cleaner.abort(task)
    assert b.cleaning is None
    assert cleaner.grab_filthiest_log([a], T0 + 10_000) is None  # below the ratio
    assert cleaner.prepare(a, T0 + 10_000) is None
    assert cleaner.prepare(a, T0 + 10_000, force=True) is not None
    a.config = _config(segment_bytes=1000, min_cleanable_dirty_ratio=0.01)  # AlterConfigs
    cleaner.abort(a.cleaning)
    assert cleaner.grab_filthiest_log([a], T0 + 10_000).log is a
    a.close()
    b.close()


def test_min_compaction_lag_keeps_young_segments_dirty(tmp_path):
    log = Log(tmp_path / "c-0", _config(segment_bytes=1000, min_compaction_lag_ms=60_000))
    for i in range(100):
        _put(log, b"k%d" % (i % 5), b"v%d" % i, T0 + i * 1000)  # 100 s of records
    bases = [s.base_offset for s in log.segments]
    now = T0 + 120_000  # only records older than T0 + 60 s may be cleaned
    plan = LogCleaner(tmp_path).cleanable(log, now)
    young = next(s for s in log.segments if s.largest_timestamp > now - 60_000)
    assert plan.end == young.base_offset < bases[-1]
    LogCleaner(tmp_path).clean(log, now)
    records = _records(log)
    assert [r.offset for _, r in records if r.offset >= young.base_offset] == list(
        range(young.base_offset, 100)
    )  # untouched
    log.close()


def test_max_compaction_lag_forces_a_cleaning_below_the_ratio(tmp_path):
    config = _config(segment_bytes=1000, min_cleanable_dirty_ratio=0.99, max_compaction_lag_ms=DAY)
    log = Log(tmp_path / "c-0", config)
    for i in range(50):
        _put(log, b"k%d" % (i % 5), b"v%d" % i, T0 + i)
    cleaner = LogCleaner(tmp_path)
    cleaner.clean(log, T0 + 1000, force=True)
    for i in range(10):
        _put(log, b"k%d" % (i % 5), b"w%d" % i, T0 + 2000 + i)
    log.roll()
    assert cleaner.prepare(log, T0 + 3000) is None  # ratio below 0.99, not yet overdue
    task = cleaner.prepare(log, T0 + 2000 + DAY + 1)
    assert task is not None
    task.run()
    assert cleaner.swap(task) is not None
    log.close()


def test_an_idempotent_producers_last_batch_survives_as_an_empty_batch(tmp_path):
    config = _config(segment_bytes=1000)
    log = Log(tmp_path / "c-0", config)
    now = int(time.time() * 1000)  # a live producer: not past producer.id.expiration.ms
    for seq in range(20):
        _put(
            log,
            b"same",
            b"p%d" % seq,
            now + seq,
            producer_id=7,
            producer_epoch=0,
            base_sequence=seq,
        )
    for i in range(30):  # the same key again, later, from a plain producer
        _put(log, b"same", b"plain%d" % i, now + 100 + i)
    log.roll()
    LogCleaner(tmp_path).clean(log, now + 1000)
    data = log.read(0, 10**9).records
    headers = [h for _, h in iter_batch_headers(data, check_crc=True)]
    producer_batches = [h for h in headers if h.producer_id == 7]
    assert len(producer_batches) == 1
    [kept] = producer_batches
    assert (kept.records_count, kept.base_offset, kept.last_sequence) == (0, 19, 19)
    assert _latest(log) == {b"same": b"plain29"}
    log.close()
    log = Log(tmp_path / "c-0", config, had_clean_shutdown=False, recovery_point=0)
    for name in os.listdir(log.dir):  # rebuild from the log alone, no snapshot
        if name.endswith(".snapshot"):
            os.unlink(log.dir / name)
    log.close()
    log = Log(tmp_path / "c-0", config)
    assert log.load_report.snapshot_offset is None
    assert log.producer_state.last_entry(7).last_seq == 19
    retry = build_batch(
        [(b"same", b"p19", [], T0)], producer_id=7, producer_epoch=0, base_sequence=19
    )
    assert log.append(bytearray(retry)).duplicate
    log.close()


def test_aborted_transactions_are_removed_and_markers_kept(tmp_path):
    log = Log(tmp_path / "c-0", _config(segment_bytes=1000))
    txn = {"producer_id": 9, "producer_epoch": 0, "transactional": True}

    def marker(commit):
        data = build_end_txn_marker(
            commit=commit, producer_id=9, producer_epoch=0, coordinator_epoch=1, timestamp=T0
        )
        log.append(bytearray(data), origin=AppendOrigin.COORDINATOR)

    _put(log, b"a", b"committed", T0, base_sequence=0, **txn)
    marker(True)
    _put(log, b"a", b"aborted", T0, base_sequence=1, **txn)
    _put(log, b"b", b"aborted", T0, base_sequence=2, **txn)
    marker(False)
    for i in range(25):
        _put(log, b"c%d" % (i % 3), b"x" * 40, T0 + i)
    log.roll()
    log.on_high_watermark_updated(log.log_end_offset)  # the markers are replicated
    LogCleaner(tmp_path).clean(log, T0 + 1000)
    records = _records(log)
    values = {(r.key, r.value) for h, r in records if not h.is_control}
    assert (b"a", b"committed") in values
    assert (b"a", b"aborted") not in values and (b"b", b"aborted") not in values
    assert sum(1 for h, _ in records if h.is_control) == 2
    log.close()


def test_markers_outlive_their_data_then_go_after_delete_retention(tmp_path):
    log = Log(tmp_path / "c-0", _config(segment_bytes=1000))
    cleaner = LogCleaner(tmp_path)
    sequences = {7: 0}

    def data(producer_id, key, value):
        _put(
            log,
            key,
            value,
            T0,
            producer_id=producer_id,
            producer_epoch=0,
            base_sequence=sequences[producer_id],
            transactional=True,
        )
        sequences[producer_id] += 1

    def marker(producer_id, commit):
        data = build_end_txn_marker(
            commit=commit,
            producer_id=producer_id,
            producer_epoch=0,
            coordinator_epoch=1,
            timestamp=T0,
        )
        return log.append(bytearray(data), origin=AppendOrigin.COORDINATOR).first_offset

    data(7, b"a", b"aborted")
    abort_at = marker(7, commit=False)
    # The producer's last data batch is kept (empty if need be) for its sequence
    # number, and would keep its transaction's marker: write a later one.
    data(7, b"c", b"committed")
    commit_at = marker(7, commit=True)
    for i in range(25):
        _put(log, b"x%d" % (i % 3), b"x" * 40, T0 + i)
    log.roll()
    log.on_high_watermark_updated(log.log_end_offset)

    def markers():
        return {h.base_offset: h.delete_horizon_ms for h, _ in _records(log) if h.is_control}

    def indexed():
        return [t.last_offset for s in log.segments for t in s.txn_index.all_aborted_txns()]

    def clean(now):  # new dirty data, so that there is a cleaning to do
        _put(log, b"x0", b"y", now)
        log.roll()
        cleaner.clean(log, now, force=True)

    assert indexed() == [abort_at]
    # First cleaning: the aborted data goes, its marker (and index entry) stay.
    cleaner.clean(log, T0 + 1000, force=True)
    assert (b"a", b"aborted") not in {(r.key, r.value) for _, r in _records(log)}
    assert markers() == {abort_at: None, commit_at: None}
    assert indexed() == [abort_at]
    # Next: no data of the aborted transaction left: a delete horizon, no index entry.
    # The commit marker stays while its transaction's record does.
    clean(T0 + 2000)
    assert markers() == {abort_at: T0 + 2000 + DAY, commit_at: None}
    assert indexed() == []
    clean(T0 + 3000)
    assert markers() == {abort_at: T0 + 2000 + DAY, commit_at: None}
    # Past the horizon the marker goes.
    clean(T0 + 2001 + DAY)
    assert markers() == {commit_at: None}
    log.close()


def test_an_open_transaction_bounds_the_cleaning(tmp_path):
    log = Log(tmp_path / "c-0", _config(segment_bytes=600))
    for i in range(10):
        _put(log, b"k", b"v%d" % i, T0 + i)
    first_open = log.log_end_offset
    _put(
        log,
        b"k",
        b"in-txn",
        T0,
        producer_id=3,
        producer_epoch=0,
        base_sequence=0,
        transactional=True,
    )
    for i in range(20):
        _put(log, b"k", b"after%d" % i, T0 + 20 + i)
    log.roll()
    assert log.producer_state.first_unstable_offset() == first_open
    plan = LogCleaner(tmp_path).cleanable(log, T0 + 1000)
    holding = max(s.base_offset for s in log.segments if s.base_offset <= first_open)
    assert plan.end == holding
    log.close()


def test_cleaning_runs_in_a_thread_while_the_active_segment_takes_appends(tmp_path):
    log = Log(tmp_path / "c-0", _config(segment_bytes=3000))
    expected = {}
    for i in range(2000):
        _put(log, b"k%d" % (i % 50), b"v%d" % i, T0 + i)
        expected[b"k%d" % (i % 50)] = b"v%d" % i
    cleaner = LogCleaner(tmp_path)
    task = cleaner.prepare(log, T0 + 10_000)
    assert cleaner.prepare(log, T0 + 10_000) is None  # one cleaning per log at a time
    worker = threading.Thread(target=task.run)
    worker.start()
    i = 2000
    while worker.is_alive() or i < 2100:  # the event loop's side: appends and reads
        _put(log, b"k%d" % (i % 50), b"v%d" % i, T0 + i)
        expected[b"k%d" % (i % 50)] = b"v%d" % i
        log.read(0, 10_000)
        i += 1
    worker.join()
    assert task.error is None
    assert cleaner.swap(task) is not None
    assert _latest(log) == expected
    offsets = [r.offset for _, r in _records(log)]
    assert offsets == sorted(set(offsets)) and offsets[-1] == log.log_end_offset - 1
    log.close()


def test_a_swap_is_discarded_when_the_log_changed_underneath(tmp_path):
    config = _config(segment_bytes=1000, cleanup_policy="compact,delete", retention_ms=DAY)
    log = Log(tmp_path / "c-0", config)
    for i in range(100):
        _put(log, b"k%d" % (i % 4), b"v%d" % i, T0 + i)
    before = _records(log)
    cleaner = LogCleaner(tmp_path)
    task = cleaner.prepare(log, T0 + 1000)
    task.run()
    assert any(p.name.endswith(".cleaned") for p in log.dir.iterdir())
    log.truncate_to(log.log_end_offset - 3)  # a follower truncation meanwhile
    assert cleaner.swap(task) is None
    assert not any(p.name.endswith(".cleaned") for p in log.dir.iterdir())
    assert log.cleaning is None
    assert [r.offset for _, r in _records(log)] == [r.offset for _, r in before][:-3]
    # retention deleting segments during a cleaning discards it too
    task = cleaner.prepare(log, T0 + 1000)
    task.run()
    assert log.delete_old_segments(T0 + 2 * DAY) > 0
    assert cleaner.swap(task) is None
    log.close()


def test_the_checkpoint_lets_cleaning_resume_where_it_was(tmp_path):
    manager = LogManager(tmp_path, _config())
    manager.load()
    log = manager.create_log("c", 0, _config(segment_bytes=1000))
    for i in range(200):
        _put(log, b"k%d" % (i % 7), b"v%d" % i, T0 + i)
    task = manager.grab_filthiest_log(T0 + 1000)
    task.run()
    end = manager.cleaner.swap(task).end_offset
    manager.cleaner.write_checkpoint()
    manager.close()
    reloaded = LogManager(tmp_path, _config())
    reloaded.load({"c": _config(segment_bytes=1000)})
    log = reloaded.get_log("c", 0)
    assert reloaded.cleaner.checkpoint_offset("c", 0) == end
    assert reloaded.cleaner.first_dirty_offset(log) == end
    assert reloaded.cleaner.grab_filthiest_log(reloaded.logs().values(), T0 + 1000) is None
    reloaded.delete_log("c", 0)
    assert reloaded.cleaner.checkpoint_offset("c", 0) is None
    reloaded.close()


def test_log_append_time_batches_keep_their_timestamps(tmp_path):
    config = _config(segment_bytes=1000, message_timestamp_type="LogAppendTime")
    log = Log(tmp_path / "c-0", config)
    for i in range(60):
        log.append(
            bytearray(build_batch([(b"k%d" % (i % 3), b"v%d" % i, []), (b"z", None, [])])),
            now_ms=T0 + i,
        )
    log.roll()
    LogCleaner(tmp_path).clean(log, T0 + 1000)
    for header, record in _records(log):
        assert header.is_log_append_time
        assert record.timestamp == header.max_timestamp
    log.close()


def test_interrupted_cleaning_leftovers_are_handled_on_open(tmp_path):
    config = _config(segment_bytes=1000)
    log = Log(tmp_path / "c-0", config)
    expected = {}
    for i in range(100):
        _put(log, b"k%d" % (i % 4), b"v%d" % i, T0 + i)
        expected[b"k%d" % (i % 4)] = b"v%d" % i
    cleaner = LogCleaner(tmp_path)
    task = cleaner.prepare(log, T0 + 1000)
    task.run()
    log.close()
    # crash before the swap: .cleaned files are dropped, the old segments stay
    reopened = Log(tmp_path / "c-0", config, had_clean_shutdown=False, recovery_point=0)
    assert not any(p.name.endswith(".cleaned") for p in reopened.dir.iterdir())
    assert _latest(reopened) == expected and len(_records(reopened)) == 100
    reopened.close()

    # crash mid-swap: the cleaned group renamed .swap, the old segments not yet .deleted
    log = Log(tmp_path / "c-0", config)
    task = LogCleaner(tmp_path).prepare(log, T0 + 1000)
    task.run()
    old, new = task.results[0]
    new.change_file_suffix(".cleaned", ".swap")
    log.close()
    reopened = Log(tmp_path / "c-0", config, had_clean_shutdown=False, recovery_point=0)
    assert reopened.load_report.swaps_completed == [new.log_path.name.removesuffix(".swap")]
    names = {p.name for p in reopened.dir.iterdir()}
    assert not any(n.endswith((".swap", ".cleaned")) for n in names)
    for segment in old[1:]:
        assert segment.log_path.name not in names  # covered by the swap: gone
    offsets = [r.offset for _, r in _records(reopened)]
    assert offsets == sorted(set(offsets))
    assert _latest(reopened) == expected
    reopened.close()

    # crash later in the swap: old segments already .deleted
    log = Log(tmp_path / "c-0", config)
    for i in range(100, 160):
        _put(log, b"k%d" % (i % 4), b"v%d" % i, T0 + i)
        expected[b"k%d" % (i % 4)] = b"v%d" % i
    task = LogCleaner(tmp_path).prepare(log, T0 + 1000, force=True)
    task.run()
    old, new = task.results[0]
    new.change_file_suffix(".cleaned", ".swap")
    for segment in old:
        segment.close()
        segment.change_file_suffix("", ".deleted")
    log.closed = True
    reopened = Log(tmp_path / "c-0", config, had_clean_shutdown=False, recovery_point=0)
    assert reopened.load_report.swaps_completed
    assert _latest(reopened) == expected
    reopened.close()


def test_a_swap_cut_before_its_log_file_leaves_the_old_segments_intact(tmp_path):
    config = _config(segment_bytes=1000)
    log = Log(tmp_path / "c-0", config)
    for i in range(100):
        _put(log, b"k%d" % (i % 4), b"v%d" % i, T0 + i)
    before = _records(log)
    old_index = log.segments[0].index.path.read_bytes()
    task = LogCleaner(tmp_path).prepare(log, T0 + 1000)
    task.run()
    _, new = task.results[0]
    # the crash came after the indexes were renamed .cleaned -> .swap, before the log
    for index in (new.index, new.time_index):
        os.replace(index.path, str(index.path).removesuffix(".cleaned") + ".swap")
    log.close()
    reopened = Log(tmp_path / "c-0", config, had_clean_shutdown=False, recovery_point=0)
    assert not reopened.load_report.swaps_completed
    assert not any(p.name.endswith((".swap", ".cleaned")) for p in reopened.dir.iterdir())
    assert reopened.segments[0].index.path.read_bytes() == old_index
    assert [r.offset for _, r in _records(reopened)] == [r.offset for _, r in before]
    reopened.close()


def test_a_full_offset_map_stops_at_a_segment_boundary_and_the_rest_waits(tmp_path):
    log = Log(tmp_path / "c-0", _config(segment_bytes=1000))
    expected = {}
    for i in range(300):
        key = b"k%03d" % (i % 150)
        _put(log, key, b"v%d" % i, T0 + i)
        expected[key] = b"v%d" % i
    log.roll()
    cleaner = LogCleaner(tmp_path, max_map_entries=40)
    first = cleaner.clean(log, T0 + 1000)
    assert 40 <= first.map_entries < 150
    assert first.end_offset < log.active_segment.base_offset
    assert first.end_offset in {s.base_offset for s in log.segments}
    rounds = 1
    while cleaner.checkpoint_offset("c", 0) < log.active_segment.base_offset:
        assert cleaner.clean(log, T0 + 1000, force=True) is not None
        rounds += 1
    assert rounds > 2
    assert _latest(log) == expected
    assert len(_records(log)) == 150
    log.close()
