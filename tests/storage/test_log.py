"""Log: append, read, roll, reopen, recovery, timestamps, idempotence, truncation."""

import os
import time

import pytest

from protocol.records import (
    build_batch,
    build_end_txn_marker,
    decode_batch,
    iter_batch_headers,
)
from storage.errors import (
    InvalidProducerEpoch,
    OffsetOutOfRange,
    OutOfOrderSequence,
    UnexpectedAppendOffset,
)
from storage.log import AppendOrigin, Log
from storage.log_config import LogConfig

NOW = int(time.time() * 1000)


def _batch(count=2, *, value_size=100, timestamp=None, **kwargs):
    ts = NOW if timestamp is None else timestamp
    records = [(b"key-%d" % i, b"v" * value_size, [], ts + i) for i in range(count)]
    return bytearray(build_batch(records, **kwargs))


def _headers(data):
    return [header for _, header in iter_batch_headers(data, check_crc=True)]


def _fill(log, batches, count=2, **kwargs):
    for _ in range(batches):
        log.append(_batch(count, **kwargs))


@pytest.fixture
def small(tmp_path):
    """A log with ~1 KiB segments and an index entry every ~300 bytes."""
    config = LogConfig(segment_bytes=1024, index_interval_bytes=300)
    log = Log(tmp_path / "orders-0", config)
    yield log
    log.close()


def test_append_assigns_offsets_by_patching_only_offset_and_epoch(small):
    data = _batch(3)
    original = bytes(data)
    info = small.append(data, leader_epoch=4)
    assert (info.first_offset, info.last_offset, info.duplicate) == (0, 2, False)
    info = small.append(_batch(2), leader_epoch=4)
    assert (info.first_offset, info.last_offset) == (3, 4)
    assert small.log_end_offset == 5
    stored = small.read(0, 10**6).records
    assert stored[16 : len(original)] == original[16:]  # from magic on: untouched
    headers = _headers(stored)
    assert [(h.base_offset, h.partition_leader_epoch) for h in headers] == [(0, 4), (3, 4)]


def test_append_and_read_across_many_segments(small):
    _fill(small, 60)
    assert len(small.segments) > 5
    assert all(s.size <= 1024 for s in small.segments)
    assert [s.base_offset for s in small.segments] == sorted(s.base_offset for s in small.segments)
    for offset in range(0, 120):
        result = small.read(offset, 1)  # min one batch: exactly the containing batch
        [header] = _headers(result.records)
        assert header.base_offset <= offset <= header.last_offset
        assert result.next_offset == header.last_offset + 1
    everything = small.read(0, 10**9)
    assert [h.base_offset for h in _headers(everything.records)] == list(range(0, 120, 2))
    assert everything.next_offset == 120


def test_read_from_a_middle_offset_returns_the_containing_batch(small):
    _fill(small, 10, count=5)
    result = small.read(23, 10**6)
    first = _headers(result.records)[0]
    assert (first.base_offset, first.last_offset) == (20, 24)


def test_read_respects_max_bytes_with_whole_batches(small):
    _fill(small, 30)
    size = len(_batch())
    result = small.read(0, size * 3 + size // 2)
    assert len(result.records) == size * 3
    assert result.next_offset == 6
    # crossing segment boundaries still yields whole batches within max_bytes
    result = small.read(10, size * 12)
    assert len(result.records) == size * 12
    assert [h.base_offset for h in _headers(result.records)] == list(range(10, 34, 2))


def test_first_batch_comes_whole_unless_min_one_batch_is_off(small):
    small.append(_batch(4))
    small.append(_batch(1))
    result = small.read(1, 10)
    assert [h.base_offset for h in _headers(result.records)] == [0]
    assert small.read(1, 10, min_one_batch=False).records == b""


def test_max_offset_bounds_the_read(small):
    _fill(small, 20)
    result = small.read(0, 10**6, max_offset=9)
    assert [h.base_offset for h in _headers(result.records)] == [0, 2, 4, 6, 8]
    assert small.read(12, 10**6, max_offset=12).records == b""
    assert small.read(12, 10**6, max_offset=10).records == b""


def test_fetch_outside_the_log_is_offset_out_of_range(small):
    _fill(small, 3)
    assert small.read(6, 1000).records == b""  # the log end offset itself is fine
    with pytest.raises(OffsetOutOfRange) as excinfo:
        small.read(7, 1000)
    assert excinfo.value.error_code == 1
    small.maybe_increment_log_start_offset(3)
    with pytest.raises(OffsetOutOfRange):
        small.read(2, 1000)
    assert _headers(small.read(3, 1000).records)[0].base_offset == 2  # containing batch


def test_roll_by_size(tmp_path):
    log = Log(tmp_path / "t-0", LogConfig(segment_bytes=1000))
    size = len(_batch())
    per_segment = 1000 // size
    _fill(log, per_segment * 3)
    assert [s.base_offset for s in log.segments] == [0, per_segment * 2, per_segment * 4]
    assert all(s.size == per_segment * size for s in log.segments)
    names = sorted(p.name for p in (tmp_path / "t-0").iterdir())
    assert f"{per_segment * 2:020d}.log" in names


def test_roll_when_the_index_is_full(tmp_path):
    config = LogConfig(index_interval_bytes=1, segment_index_bytes=8 * 3)
    log = Log(tmp_path / "t-0", config)
    _fill(log, 12)
    assert len(log.segments) > 1
    assert all(s.index.entries <= 3 for s in log.segments)


def test_roll_by_age_of_record_timestamps(tmp_path):
    log = Log(tmp_path / "t-0", LogConfig(segment_ms=1000))
    log.append(_batch(timestamp=NOW))
    log.append(_batch(timestamp=NOW + 500))
    assert len(log.segments) == 1
    log.append(_batch(timestamp=NOW + 1500))
    assert [s.base_offset for s in log.segments] == [0, 4]


def test_reopen_gives_the_same_end_offset_and_appends_continue(tmp_path):
    config = LogConfig(segment_bytes=1024, index_interval_bytes=300)
    log = Log(tmp_path / "t-0", config)
    _fill(log, 25)
    before = log.read(0, 10**9).records
    log.close()
    log = Log(tmp_path / "t-0", config)
    assert log.log_end_offset == 50
    assert log.read(0, 10**9).records == before
    assert log.append(_batch()).first_offset == 50
    log.close()


def _active_log_path(log):
    return log.active_segment.log_path


def test_torn_tail_is_truncated_to_the_last_whole_batch(tmp_path):
    config = LogConfig(segment_bytes=1024, index_interval_bytes=300)
    log = Log(tmp_path / "t-0", config)
    _fill(log, 12)
    path = _active_log_path(log)
    log.close()
    with open(path, "r+b") as file:
        file.truncate(os.path.getsize(path) - 40)  # the last batch loses its end
    log = Log(tmp_path / "t-0", config)
    assert log.log_end_offset == 22
    assert os.path.getsize(path) % len(_batch()) == 0
    assert log.append(_batch()).first_offset == 22
    log.close()


def test_garbage_after_the_last_batch_is_truncated(tmp_path):
    config = LogConfig(segment_bytes=1024, index_interval_bytes=300)
    log = Log(tmp_path / "t-0", config)
    _fill(log, 12)
    path = _active_log_path(log)
    size = os.path.getsize(path)
    log.close()
    with open(path, "ab") as file:
        file.write(os.urandom(333))
    log = Log(tmp_path / "t-0", config)
    assert log.log_end_offset == 24
    assert os.path.getsize(path) == size
    log.close()


def test_corrupt_last_batch_is_truncated(tmp_path):
    config = LogConfig(segment_bytes=10_000, index_interval_bytes=300)
    log = Log(tmp_path / "t-0", config)
    _fill(log, 12)
    path = _active_log_path(log)
    log.close()
    with open(path, "r+b") as file:
        file.seek(os.path.getsize(path) - 10)
        file.write(b"\xff" * 10)  # CRC no longer matches
    log = Log(tmp_path / "t-0", config)
    assert log.log_end_offset == 22
    log.close()


def test_missing_index_files_are_rebuilt(tmp_path):
    config = LogConfig(segment_bytes=2048, index_interval_bytes=300)
    log = Log(tmp_path / "t-0", config)
    _fill(log, 40)
    middle = log.segments[1]
    lookups = [middle.index.lookup(o) for o in range(middle.base_offset, middle.next_offset)]
    index_path = middle.index.path
    active_index = log.active_segment.index.path
    log.close()
    index_path.unlink()
    active_index.unlink()
    (tmp_path / "t-0" / (f"{middle.base_offset:020d}.timeindex")).unlink()
    log = Log(tmp_path / "t-0", config)
    assert index_path.exists() and active_index.exists()
    reopened = log.segments[1]
    assert [
        reopened.index.lookup(o) for o in range(reopened.base_offset, reopened.next_offset)
    ] == (lookups)
    assert log.log_end_offset == 80
    for offset in range(0, 80, 7):
        [header] = _headers(log.read(offset, 1).records)
        assert header.base_offset <= offset <= header.last_offset
    log.close()


def test_unclean_shutdown_recovers_from_the_recovery_point(tmp_path):
    config = LogConfig(segment_bytes=1024, index_interval_bytes=300)
    log = Log(tmp_path / "t-0", config)
    _fill(log, 30)
    bases = [s.base_offset for s in log.segments]
    second = log.segments[1].log_path
    log.close()
    with open(second, "r+b") as file:  # corrupt the second segment's last batch
        file.seek(os.path.getsize(second) - 5)
        file.write(b"\x00\x01\x02\x03\x04")
    log = Log(tmp_path / "t-0", config, recovery_point=bases[1], had_clean_shutdown=False)
    # the log now ends before the corrupt batch; later segments are gone
    assert len(log.segments) == 2
    assert log.log_end_offset == log.segments[1].next_offset < bases[2]
    assert log.recovery_point <= log.log_end_offset
    log.close()


def test_offset_for_timestamp_finds_the_exact_record(tmp_path):
    config = LogConfig(segment_bytes=1024, index_interval_bytes=200)
    log = Log(tmp_path / "t-0", config)
    for i in range(40):
        log.append(_batch(3, timestamp=NOW + i * 100))  # records at +i*100, +1, +2
    assert len(log.segments) > 3
    found = log.offset_for_timestamp(NOW + 2000 + 1)
    assert (found.offset, found.timestamp) == (61, NOW + 2001)
    found = log.offset_for_timestamp(NOW + 2000 + 50)  # between batches: next batch's first
    assert (found.offset, found.timestamp) == (63, NOW + 2100)
    assert log.offset_for_timestamp(0).offset == 0
    assert log.offset_for_timestamp(NOW + 10**7) is None
    assert log.offset_for_timestamp(NOW + 2001, max_offset=61) is None
    assert log.offset_for_timestamp(-2).offset == 0
    assert log.offset_for_timestamp(-1).offset == 120
    latest = log.offset_for_timestamp(-3)
    assert (latest.offset, latest.timestamp) == (119, NOW + 3902)
    log.close()
    log = Log(tmp_path / "t-0", config)
    assert log.offset_for_timestamp(NOW + 2001).offset == 61
    log.close()


def test_log_append_time(tmp_path):
    config = LogConfig(message_timestamp_type="LogAppendTime")
    log = Log(tmp_path / "t-0", config)
    info = log.append(_batch(3, timestamp=5), now_ms=NOW)
    assert info.log_append_time == NOW and info.max_timestamp == NOW
    header, records = decode_batch(log.read(0, 10**6).records, check_crc=True)
    assert header.is_log_append_time
    assert {r.timestamp for r in records} == {NOW}
    assert log.offset_for_timestamp(NOW).offset == 0


def test_idempotent_duplicate_returns_the_original_offsets(tmp_path):
    log = Log(tmp_path / "t-0", LogConfig())
    producer = {"producer_id": 77, "producer_epoch": 0}
    log.append(_batch(2, base_sequence=0, **producer))
    second = _batch(3, base_sequence=2, **producer)
    first_try = log.append(bytearray(second))
    log.append(_batch(1, base_sequence=5, **producer))
    size = log.size
    retry = log.append(bytearray(second))
    assert retry.duplicate
    assert (retry.first_offset, retry.last_offset) == (
        first_try.first_offset,
        first_try.last_offset,
    )
    assert log.size == size and log.log_end_offset == 6


def test_idempotent_gaps_and_fencing(tmp_path):
    log = Log(tmp_path / "t-0", LogConfig())
    log.append(_batch(2, producer_id=5, producer_epoch=1, base_sequence=0))
    with pytest.raises(OutOfOrderSequence) as excinfo:
        log.append(_batch(2, producer_id=5, producer_epoch=1, base_sequence=3))
    assert excinfo.value.error_code == 45
    with pytest.raises(InvalidProducerEpoch) as excinfo:
        log.append(_batch(2, producer_id=5, producer_epoch=0, base_sequence=2))
    assert excinfo.value.error_code == 47
    with pytest.raises(OutOfOrderSequence):
        log.append(_batch(2, producer_id=5, producer_epoch=2, base_sequence=2))
    log.append(_batch(2, producer_id=5, producer_epoch=2, base_sequence=0))
    assert log.log_end_offset == 4


def test_idempotent_sequence_wraps(tmp_path):
    log = Log(tmp_path / "t-0", LogConfig())
    top = 2**31 - 1
    log.append(_batch(2, producer_id=5, producer_epoch=0, base_sequence=top - 1))
    log.append(_batch(2, producer_id=5, producer_epoch=0, base_sequence=0))
    with pytest.raises(OutOfOrderSequence):
        log.append(_batch(1, producer_id=5, producer_epoch=0, base_sequence=0))


def test_producer_state_survives_a_reopen(tmp_path):
    log = Log(tmp_path / "t-0", LogConfig())
    batch = _batch(2, producer_id=9, producer_epoch=3, base_sequence=0)
    log.append(bytearray(batch))
    log.close()
    log = Log(tmp_path / "t-0", LogConfig())
    retry = log.append(bytearray(batch))
    assert retry.duplicate and retry.first_offset == 0
    with pytest.raises(OutOfOrderSequence):
        log.append(_batch(2, producer_id=9, producer_epoch=3, base_sequence=5))
    log.close()


def test_transaction_markers_move_the_first_unstable_offset(tmp_path):
    log = Log(tmp_path / "t-0", LogConfig())
    log.append(_batch(2, producer_id=3, producer_epoch=0, base_sequence=0, transactional=True))
    assert log.producer_state.first_unstable_offset() == 0
    marker = build_end_txn_marker(
        commit=True, producer_id=3, producer_epoch=0, coordinator_epoch=1, timestamp=NOW
    )
    log.append(bytearray(marker), origin=AppendOrigin.COORDINATOR)
    # Kafka: the transaction holds the LSO until the high watermark passes its marker.
    assert log.first_unstable_offset == 0
    log.on_high_watermark_updated(2)
    assert log.first_unstable_offset == 0
    log.on_high_watermark_updated(3)
    assert log.first_unstable_offset is None
    assert log.producer_state.first_unstable_offset() is None


def test_truncate_to_across_segments(small):
    _fill(small, 40)
    segments = len(small.segments)
    assert small.truncate_to(31)
    assert small.log_end_offset == 30  # the batch holding 31 went whole
    assert len(small.segments) < segments
    assert small.read(0, 10**9).next_offset == 30
    assert small.append(_batch()).first_offset == 30
    assert not small.truncate_to(1000)


def test_truncate_below_the_first_segment_restarts_the_log(small):
    _fill(small, 4)
    small.truncate_fully_and_start_at(100)
    assert (small.log_start_offset, small.log_end_offset) == (100, 100)
    assert small.append(_batch()).first_offset == 100


def test_follower_append_keeps_the_leaders_offsets(tmp_path):
    log = Log(tmp_path / "t-0", LogConfig(segment_bytes=1024))
    data = bytearray()
    for base in (0, 2, 10):  # a gap, as in a compacted log
        data += build_batch([(b"a", b"1", [], NOW), (b"b", b"2", [], NOW)], base_offset=base)
    info = log.append_as_follower(bytes(data))
    assert (info.first_offset, info.last_offset) == (0, 11)
    assert log.log_end_offset == 12
    assert [h.base_offset for h in _headers(log.read(0, 10**6).records)] == [0, 2, 10]
    assert _headers(log.read(5, 10**6).records)[0].base_offset == 10
    with pytest.raises(UnexpectedAppendOffset):
        log.append_as_follower(build_batch([(b"a", b"1", [], NOW)], base_offset=11))


def test_delete_removes_the_directory(tmp_path):
    log = Log(tmp_path / "t-0", LogConfig())
    log.append(_batch())
    log.delete()
    assert not (tmp_path / "t-0").exists()


def test_roll_when_the_time_index_is_full(tmp_path):
    # 12-byte time entries fill 36 bytes after 3; the offset index (8 bytes) has room for 4
    config = LogConfig(index_interval_bytes=1, segment_index_bytes=36)
    log = Log(tmp_path / "t-0", config)
    for i in range(12):
        log.append(_batch(timestamp=NOW + i * 10))
    assert len(log.segments) > 2
    assert all(s.time_index.entries <= 3 for s in log.segments)
    assert log.read(0, 10**9).next_offset == 24


def test_roll_when_offsets_would_not_fit_in_int32_of_the_base(tmp_path):
    log = Log(tmp_path / "t-0", LogConfig())
    log.append_as_follower(build_batch([(b"a", b"1", [], NOW)], base_offset=0))
    far = 2**31 + 10  # relative offset past int32: a new segment must start
    log.append_as_follower(build_batch([(b"a", b"2", [], NOW)], base_offset=far))
    assert [s.base_offset for s in log.segments] == [0, 1]
    assert log.log_end_offset == far + 1
    assert _headers(log.read(far, 10**6).records)[0].base_offset == far


def test_roll_jitter_shortens_segment_ms(tmp_path, monkeypatch):
    import storage.local_log as local_log_module

    monkeypatch.setattr(local_log_module, "random_roll_jitter", lambda jitter: 400)
    log = Log(tmp_path / "t-0", LogConfig(segment_ms=1000, segment_jitter_ms=500))
    log.append(_batch(timestamp=NOW))
    log.append(_batch(timestamp=NOW + 700))  # 700 > 1000 - 400
    assert [s.base_offset for s in log.segments] == [0, 2]


def test_roll_by_time_uses_the_first_batch_max_timestamp_after_reopen(tmp_path):
    config = LogConfig(segment_ms=1000)
    log = Log(tmp_path / "t-0", config)
    log.append(_batch(timestamp=NOW))
    log.close()
    log = Log(tmp_path / "t-0", config)
    log.append(_batch(timestamp=NOW + 900))
    assert len(log.segments) == 1
    log.append(_batch(timestamp=NOW + 1002))  # the first batch's max timestamp is NOW + 1
    assert len(log.segments) == 2
    log.close()


# -- replication: follower appends and truncation -----------------------------------------


def _epochs(log):
    return [tuple(entry) for entry in log.leader_epoch_cache.entries()]


def _replicate(leader, follower, max_bytes=10**9):
    """One follower fetch: what the leader holds from the follower's log end offset."""
    data = leader.read(follower.log_end_offset, max_bytes).records
    if data:
        follower.append_as_follower(data)
    return data


def test_follower_append_keeps_the_leaders_offsets_epochs_and_bytes(tmp_path):
    leader = Log(tmp_path / "leader" / "t-0", LogConfig(segment_bytes=1024))
    for epoch in (0, 0, 1, 1, 1, 4, 4):
        leader.append(_batch(3), leader_epoch=epoch)
    follower = Log(tmp_path / "follower" / "t-0", LogConfig(segment_bytes=1024))
    while follower.log_end_offset < leader.log_end_offset:
        _replicate(leader, follower, max_bytes=500)  # several fetches, rolls on the way
    assert follower.read(0, 10**9).records == leader.read(0, 10**9).records
    assert _epochs(follower) == _epochs(leader) == [(0, 0), (1, 6), (4, 15)]
    for epoch in range(-1, 6):
        assert follower.end_offset_for_epoch(epoch) == leader.end_offset_for_epoch(epoch)
    leader.close()
    follower.close()


def test_follower_append_refuses_overlaps_and_writes_nothing(tmp_path):
    leader = Log(tmp_path / "leader" / "t-0", LogConfig())
    for _ in range(3):
        leader.append(_batch(2), leader_epoch=1)
    follower = Log(tmp_path / "follower" / "t-0", LogConfig())
    data = _replicate(leader, follower)
    size = follower.size
    with pytest.raises(UnexpectedAppendOffset):
        follower.append_as_follower(data)  # the same batches again
    with pytest.raises(UnexpectedAppendOffset):
        follower.append_as_follower(leader.read(2, 10**9).records)  # starts inside the log
    # Offsets going backwards inside one payload: refused before anything is written.
    new = bytearray(build_batch([(b"a", b"1", [], NOW)] * 2, base_offset=6))
    stale = bytearray(build_batch([(b"a", b"1", [], NOW)] * 2, base_offset=5))
    with pytest.raises(UnexpectedAppendOffset):
        follower.append_as_follower(bytes(new + stale))
    assert (follower.size, follower.log_end_offset) == (size, 6)
    leader.close()
    follower.close()


def test_follower_append_decodes_no_record(tmp_path, monkeypatch):
    import protocol.records

    def refuse(*args, **kwargs):
        raise AssertionError("records decoded on the follower append path")

    monkeypatch.setattr(protocol.records, "decode_batch", refuse)
    monkeypatch.setattr(protocol.records, "_decode_records", refuse)
    monkeypatch.setattr("storage.log.decode_batch", refuse)
    leader = Log(tmp_path / "leader" / "t-0", LogConfig())
    for epoch in range(3):
        leader.append(_batch(50, value_size=10), leader_epoch=epoch)
    follower = Log(tmp_path / "follower" / "t-0", LogConfig())
    _replicate(leader, follower)
    assert follower.log_end_offset == 150
    leader.close()
    follower.close()


def test_a_follower_that_becomes_leader_dedups_the_old_leaders_retries(tmp_path):
    producer = {"producer_id": 42, "producer_epoch": 0}
    leader = Log(tmp_path / "leader" / "t-0", LogConfig())
    batches = [_batch(2, base_sequence=seq, **producer) for seq in (0, 2, 4)]
    offsets = [leader.append(bytearray(b), leader_epoch=3) for b in batches]
    follower = Log(tmp_path / "follower" / "t-0", LogConfig())
    _replicate(leader, follower)
    # The leader dies; the follower leads epoch 4 and the client retries what it had
    # no answer for: the original offsets, nothing written.
    follower.maybe_assign_epoch_start_offset(4)
    for batch, original in zip(batches, offsets, strict=True):
        retry = follower.append(bytearray(batch), leader_epoch=4)
        assert retry.duplicate
        assert (retry.first_offset, retry.last_offset) == (
            original.first_offset,
            original.last_offset,
        )
    assert follower.log_end_offset == 6
    with pytest.raises(OutOfOrderSequence):
        follower.append(_batch(2, base_sequence=7, **producer), leader_epoch=4)
    assert follower.append(_batch(2, base_sequence=6, **producer), leader_epoch=4).first_offset == 6
    assert _epochs(follower) == [(3, 0), (4, 6)]
    leader.close()
    follower.close()


def test_truncate_to_rebuilds_the_producer_state_below_the_cut(tmp_path):
    producer = {"producer_id": 42, "producer_epoch": 0}
    config = LogConfig(segment_bytes=1024)
    log = Log(tmp_path / "t-0", config)
    for seq in range(0, 20, 2):
        log.append(_batch(2, base_sequence=seq, **producer), leader_epoch=1)
    snapshots = [int(p.name.split(".")[0]) for p in log.dir.glob("*.snapshot")]
    assert min(snapshots) <= 8 < max(snapshots)  # rolls wrote snapshots on both sides
    assert log.truncate_to(8)  # keeps sequences 0..7
    assert all(int(p.name.split(".")[0]) <= 8 for p in log.dir.glob("*.snapshot"))
    assert log.producer_state.last_entry(42).last_seq == 7
    # The truncated batches are not duplicates any more: the old leader's unacknowledged
    # retry (sequence 8) is the next in order, sequence 10 is a gap.
    with pytest.raises(OutOfOrderSequence):
        log.append(_batch(2, base_sequence=10, **producer), leader_epoch=2)
    info = log.append(_batch(2, base_sequence=8, **producer), leader_epoch=2)
    assert (info.duplicate, info.first_offset) == (False, 8)
    assert log.append(_batch(2, base_sequence=0, **producer), leader_epoch=2).duplicate
    log.close()
    log = Log(tmp_path / "t-0", config)  # and the same state after a reopen
    assert log.producer_state.last_entry(42).last_seq == 9
    log.close()


def test_divergent_tail_is_truncated_by_leader_epoch_and_replaced(tmp_path):
    # The old leader (epoch 1) wrote offsets 12..14 that never reached the new leader,
    # which took over in epoch 2 at offset 12.
    config = LogConfig(segment_bytes=1024)
    old = Log(tmp_path / "b1" / "t-0", config)
    new = Log(tmp_path / "b2" / "t-0", config)
    old.append(_batch(5), leader_epoch=0)
    old.append(_batch(5), leader_epoch=0)
    old.append(_batch(2), leader_epoch=1)
    _replicate(old, new)
    old.append(_batch(3, value_size=7), leader_epoch=1)  # the divergent tail
    new.maybe_assign_epoch_start_offset(2)
    new.append(_batch(4), leader_epoch=2)
    new.append(_batch(4), leader_epoch=2)
    assert (old.log_end_offset, _epochs(old)) == (15, [(0, 0), (1, 10)])
    assert _epochs(new) == [(0, 0), (1, 10), (2, 12)]

    # The old leader comes back as a follower: OffsetForLeaderEpoch for its latest epoch.
    epoch, end_offset = new.end_offset_for_epoch(old.latest_epoch)
    assert (epoch, end_offset) == (1, 12)
    assert old.truncate_to(min(end_offset, old.log_end_offset))
    assert old.log_end_offset == 12
    assert _epochs(old) == [(0, 0), (1, 10)]
    _replicate(new, old)
    assert old.read(0, 10**9).records == new.read(0, 10**9).records
    assert _epochs(old) == _epochs(new)
    assert old.end_offset_for_epoch(1) == (1, 12)
    old.close()
    new.close()


def test_the_topic_id_is_kept_in_kafkas_partition_metadata_file(tmp_path):
    log = Log(tmp_path / "t-0", LogConfig())
    assert log.topic_id is None
    topic_id = bytes(range(16))
    log.assign_topic_id(topic_id)
    text = (tmp_path / "t-0" / "partition.metadata").read_text()
    assert text == "version: 0\ntopic_id: AAECAwQFBgcICQoLDA0ODw\n"  # Kafka's Uuid.toString
    log.close()
    assert Log(tmp_path / "t-0", LogConfig()).topic_id == topic_id
