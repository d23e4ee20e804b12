"""Recovery after an unclean shutdown: torn writes are cut, indexes rebuilt, all logged."""

import logging
import os
import time

from protocol.records import build_batch, iter_batch_headers
from storage.log import Log
from storage.log_config import LogConfig
from storage.log_manager import LogManager

NOW = int(time.time() * 1000)
CONFIG = LogConfig(segment_bytes=1200, index_interval_bytes=300)


def _batch(count=2):
    return bytearray(build_batch([(b"k", b"v" * 100, [], NOW + i) for i in range(count)]))


def _written_log(path, batches=30):
    log = Log(path, CONFIG)
    for _ in range(batches):
        log.append(_batch())
    return log


def _crash(log):
    """What SIGKILL leaves: the files as they are, no close (no snapshot at the end)."""
    log.close_handlers()


def _reopen(path, recovery_point=0):
    return Log(path, CONFIG, recovery_point=recovery_point, had_clean_shutdown=False)


def _offsets(log):
    data = log.read(log.log_start_offset, 10**9).records
    return [h.base_offset for _, h in iter_batch_headers(data, check_crc=True)]


def test_a_segment_truncated_mid_batch_is_cut_to_its_last_whole_batch(tmp_path, caplog):
    log = _written_log(tmp_path / "t-0")
    path = log.active_segment.log_path
    size = os.path.getsize(path)
    _crash(log)
    with open(path, "r+b") as file:
        file.truncate(size - 70)  # the last batch loses its end
    with caplog.at_level(logging.INFO):
        log = _reopen(tmp_path / "t-0")
    assert log.log_end_offset == 58
    [(name, position, cut, reason)] = log.load_report.truncations
    assert name == path.name and cut == size - 70 - position and "cut short" in reason
    assert path.name in log.load_report.recovered_segments
    message = next(r.getMessage() for r in caplog.records if "unclean shutdown" in r.getMessage())
    assert "t-0" in message and f"cut {cut} bytes from {path.name}" in message
    assert "log end offset 58" in message
    assert _offsets(log) == list(range(0, 58, 2))
    log.close()


def test_a_flipped_byte_cuts_the_log_at_that_batch_and_drops_later_segments(tmp_path, caplog):
    log = _written_log(tmp_path / "t-0")
    second = log.segments[1]
    later = [s.log_path.name for s in log.segments[2:]]
    positions = [p for p, _ in second.batch_headers()]
    target = positions[2]
    _crash(log)
    with open(second.log_path, "r+b") as file:
        file.seek(target + 70)  # inside the third batch's records: its CRC fails
        byte = file.read(1)
        file.seek(target + 70)
        file.write(bytes([byte[0] ^ 0x5A]))
    with caplog.at_level(logging.WARNING):
        log = _reopen(tmp_path / "t-0")
    [(name, position, cut, reason)] = log.load_report.truncations
    assert (name, position, reason) == (second.log_path.name, target, "CRC mismatch")
    assert log.load_report.deleted_segments == later
    assert log.log_end_offset == second.base_offset + 4
    assert any("claims offset" in r.getMessage() for r in caplog.records)
    assert _offsets(log)[-1] == second.base_offset + 2
    assert log.append(_batch()).first_offset == second.base_offset + 4
    log.close()


def test_garbage_appended_after_the_last_batch_is_cut(tmp_path):
    log = _written_log(tmp_path / "t-0")
    path = log.active_segment.log_path
    size = os.path.getsize(path)
    _crash(log)
    with open(path, "ab") as file:
        file.write(os.urandom(500))
    log = _reopen(tmp_path / "t-0", recovery_point=log.active_segment.base_offset)
    assert os.path.getsize(path) == size and log.log_end_offset == 60
    assert log.load_report.truncations[0][2] == 500
    assert log.load_report.recovered_segments == [path.name]  # older ones were flushed
    log.close()


def test_deleted_index_files_are_rebuilt_after_a_clean_shutdown(tmp_path):
    log = _written_log(tmp_path / "t-0")
    middle = log.segments[1]
    lookups = [middle.index.lookup(o) for o in range(middle.base_offset, middle.next_offset)]
    log.close()
    (tmp_path / "t-0" / f"{middle.base_offset:020d}.index").unlink()
    (tmp_path / "t-0" / f"{middle.base_offset:020d}.timeindex").unlink()
    log = Log(tmp_path / "t-0", CONFIG)
    assert log.load_report.indexes_rebuilt == [middle.log_path.name]
    assert not log.load_report.truncations
    again = log.segments[1]
    assert [again.index.lookup(o) for o in range(again.base_offset, again.next_offset)] == lookups
    assert again.index.path.exists() and again.time_index.path.exists()
    assert log.offset_for_timestamp(NOW + 1).offset == 1
    log.close()


def test_a_clean_open_reports_nothing(tmp_path, caplog):
    log = _written_log(tmp_path / "t-0")
    log.close()
    with caplog.at_level(logging.INFO, logger="storage.log_loader"):
        log = Log(tmp_path / "t-0", CONFIG)
    report = log.load_report
    assert report.clean_shutdown and not (report.truncations or report.indexes_rebuilt)
    assert not [r for r in caplog.records if "recovered" in r.getMessage()]
    log.close()


def test_log_manager_recovers_every_partition_after_a_crash(tmp_path):
    manager = LogManager(tmp_path, CONFIG)
    manager.load()
    paths = []
    for partition in range(3):
        log = manager.create_log("t", partition, CONFIG)
        for _ in range(10):
            log.append(_batch())
        paths.append(log.active_segment.log_path)
        log.close_handlers()
    manager.checkpoint()  # recovery points 0; then SIGKILL
    with open(paths[1], "ab") as file:
        file.write(b"\x00" * 33)
    reloaded = LogManager(tmp_path, CONFIG)
    reloaded.load()
    assert not reloaded.had_clean_shutdown
    reports = {p: reloaded.get_log("t", p).load_report for p in range(3)}
    assert [bool(reports[p].truncations) for p in range(3)] == [False, True, False]
    assert all(reloaded.get_log("t", p).log_end_offset == 20 for p in range(3))
    reloaded.close()
