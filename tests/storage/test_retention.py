"""Retention: whole segments go by retention.ms / retention.bytes / log start offset."""

import pytest

from protocol.records import build_batch, iter_batch_headers
from storage.errors import OffsetOutOfRange
from storage.log import Log
from storage.log_config import LogConfig
from storage.log_manager import LogManager

T0 = 1_700_000_000_000  # record timestamps; `now` is injected
HOUR = 3_600_000


def _batch(timestamp, count=2):
    return bytearray(build_batch([(b"k%d" % i, b"v" * 100, [], timestamp) for i in range(count)]))


def _hourly_log(path, hours=10, **config):
    """One segment per hour of record timestamps (segment.ms is just under an hour: a
    segment rolls when its age is more than segment.ms, as in Kafka)."""
    config = LogConfig(segment_ms=HOUR - 1, **config)
    log = Log(path, config)
    for hour in range(hours):
        for minute in range(0, 60, 20):
            log.append(_batch(T0 + hour * HOUR + minute * 60_000))
    return log


def _names(log):
    return sorted(p.name for p in log.dir.iterdir())


def test_retention_by_time_deletes_whole_old_segments_and_moves_the_start(tmp_path):
    log = _hourly_log(tmp_path / "t-0", retention_ms=3 * HOUR, file_delete_delay_ms=60_000)
    assert len(log.segments) == 10
    bases = [s.base_offset for s in log.segments]
    # segment h's largest timestamp is h:40; at 9:50 those before 6:50 are past 3 hours
    now = T0 + 9 * HOUR + 50 * 60_000
    assert log.delete_old_segments(now) == 7
    assert [s.base_offset for s in log.segments] == bases[7:]
    assert log.log_start_offset == bases[7]
    assert log.offset_for_timestamp(-2).offset == bases[7]
    with pytest.raises(OffsetOutOfRange):
        log.read(bases[7] - 1, 1000)
    first = next(iter_batch_headers(log.read(bases[7], 1000).records))[1]
    assert first.base_offset == bases[7]
    # renamed at once, removed after file.delete.delay.ms
    deleted = [n for n in _names(log) if n.endswith(".deleted")]
    assert f"{bases[0]:020d}.log.deleted" in deleted and len(deleted) == 7 * 3
    assert log.pending_deletions.delete_due(now + 59_999) == 0
    assert log.pending_deletions.delete_due(now + 60_000) == 21
    assert not [n for n in _names(log) if n.endswith(".deleted")]
    assert log.delete_old_segments(now) == 0
    log.close()


def test_retention_ms_minus_one_keeps_everything(tmp_path):
    log = _hourly_log(tmp_path / "t-0", retention_ms=-1)
    assert log.delete_old_segments(T0 + 1000 * HOUR) == 0
    assert log.log_start_offset == 0
    log.close()


def test_when_every_segment_expired_the_active_one_is_rolled_first(tmp_path):
    log = _hourly_log(tmp_path / "t-0", hours=3, retention_ms=HOUR)
    end = log.log_end_offset
    assert log.delete_old_segments(T0 + 100 * HOUR) == 3
    assert len(log.segments) == 1
    assert log.active_segment.base_offset == end and log.active_segment.size == 0
    assert (log.log_start_offset, log.log_end_offset) == (end, end)
    assert log.offset_for_timestamp(-2).offset == end
    assert log.append(_batch(T0 + 100 * HOUR)).first_offset == end
    # an empty active segment is never deleted
    assert log.delete_old_segments(T0 + 1000 * HOUR) == 1  # the one just written, rolled
    assert log.delete_old_segments(T0 + 1000 * HOUR) == 0
    log.close()


def test_retention_by_size_keeps_at_least_retention_bytes(tmp_path):
    log = Log(tmp_path / "t-0", LogConfig(segment_bytes=1000, retention_ms=-1))
    for i in range(40):
        log.append(_batch(T0 + i))
    sizes = [s.size for s in log.segments]
    total = sum(sizes)
    keep = total - sizes[0] - sizes[1] - 1  # two segments must go, the third must stay
    log.config = LogConfig(segment_bytes=1000, retention_ms=-1, retention_bytes=keep)
    assert log.delete_old_segments(T0) == 2
    assert log.size == total - sizes[0] - sizes[1] >= keep
    assert log.delete_old_segments(T0) == 0
    log.close()


def test_retention_bytes_zero_empties_the_log_keeping_its_offsets(tmp_path):
    log = Log(tmp_path / "t-0", LogConfig(segment_bytes=1000, retention_ms=-1, retention_bytes=0))
    for i in range(20):
        log.append(_batch(T0 + i))
    end = log.log_end_offset
    assert log.delete_old_segments(T0) > 0
    assert log.size == 0 and log.log_start_offset == end == log.log_end_offset
    log.close()


def test_only_segments_below_the_high_watermark_go(tmp_path):
    log = _hourly_log(tmp_path / "t-0", retention_ms=HOUR)
    hw = log.segments[4].base_offset + 1  # inside the fifth segment
    assert log.delete_old_segments(T0 + 100 * HOUR, high_watermark=hw) == 4
    assert log.log_start_offset == log.segments[0].base_offset
    log.close()


def test_compact_only_topics_are_not_deleted_by_time_or_size(tmp_path):
    log = _hourly_log(
        tmp_path / "t-0", cleanup_policy="compact", retention_ms=HOUR, retention_bytes=0
    )
    assert log.delete_old_segments(T0 + 100 * HOUR) == 0
    log.close()


def test_compact_delete_topics_are(tmp_path):
    log = _hourly_log(tmp_path / "t-0", cleanup_policy="compact,delete", retention_ms=HOUR)
    assert log.delete_old_segments(T0 + 100 * HOUR) == 10
    log.close()


def test_delete_records_start_offset_removes_wholly_covered_segments(tmp_path):
    log = _hourly_log(tmp_path / "t-0", cleanup_policy="compact", retention_ms=-1)
    bases = [s.base_offset for s in log.segments]
    target = bases[3] + 2  # inside the fourth segment
    assert log.maybe_increment_log_start_offset(target)
    assert log.offset_for_timestamp(-2).offset == target
    assert log.delete_old_segments(T0) == 3  # the fourth one still holds live offsets
    assert log.segments[0].base_offset == bases[3]
    assert log.log_start_offset == target
    log.close()


def test_log_manager_retention_pass_and_pending_file_deletion(tmp_path):
    config = LogConfig(segment_ms=HOUR - 1, retention_ms=HOUR, file_delete_delay_ms=1000)
    manager = LogManager(tmp_path, config)
    manager.load()
    for partition in range(3):
        log = manager.create_log("events", partition, config)
        for hour in range(4):
            log.append(_batch(T0 + hour * HOUR))
    kept = manager.create_log("kept", 0, LogConfig(segment_ms=HOUR - 1, retention_ms=-1))
    for hour in range(4):
        kept.append(_batch(T0 + hour * HOUR))
    now = T0 + 10 * HOUR
    assert manager.retention_pass(now) == 3 * 4
    assert len(manager.pending_deletions) == 3 * 4 * 3
    assert manager.delete_pending_files(now + 999) == 0
    assert manager.delete_pending_files(now + 1000) == 36
    assert kept.log_start_offset == 0
    manager.close()
    starts = (tmp_path / "log-start-offset-checkpoint").read_text().splitlines()[2:]
    assert sorted(starts) == ["events 0 8", "events 1 8", "events 2 8", "kept 0 0"]
    reloaded = LogManager(tmp_path, config)
    reloaded.load()
    log = reloaded.get_log("events", 1)
    assert (log.log_start_offset, log.log_end_offset) == (8, 8)
    assert log.offset_for_timestamp(-2).offset == 8
    reloaded.close()


def test_leftover_deleted_files_are_removed_on_open(tmp_path):
    log = _hourly_log(tmp_path / "t-0", retention_ms=HOUR, file_delete_delay_ms=10**9)
    log.delete_old_segments(T0 + 5 * HOUR)
    assert any(n.endswith(".deleted") for n in _names(log))
    log.close()
    log = Log(tmp_path / "t-0", log.config)  # the broker died before the delay passed
    assert not any(n.endswith(".deleted") for n in _names(log))
    assert log.load_report.leftovers_removed
    log.close()
