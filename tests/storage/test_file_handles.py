"""File descriptors: cold segments are opened lazily and closed again under a cap."""

import os
import time

from protocol.records import build_batch
from storage.file_handles import FileHandleCache
from storage.log import Log
from storage.log_config import LogConfig
from storage.log_manager import LogManager

NOW = int(time.time() * 1000)


def _batch(count=2):
    return bytearray(build_batch([(b"k", b"v" * 100, [], NOW + i) for i in range(count)]))


def _open_files(under):
    """Descriptors of this process pointing into `under`."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(under)):
            found.append(target)
    return found


def test_many_partitions_stay_under_the_descriptor_cap(tmp_path):
    config = LogConfig(segment_bytes=1000)
    manager = LogManager(tmp_path, config, max_open_segment_files=16)
    manager.load()
    logs = [manager.create_log("t", p, config) for p in range(60)]
    for _ in range(10):
        for log in logs:
            log.append(_batch())
    assert all(len(log.segments) >= 3 for log in logs)
    assert len(_open_files(tmp_path)) <= 16
    assert manager.open_segment_files <= 16
    for log in logs:  # every segment of every log still reads, through reopened files
        assert log.read(0, 10**6).next_offset == log.log_end_offset
    assert len(_open_files(tmp_path)) <= 16
    assert manager.file_cache.evicted_total > 0
    manager.close()
    assert _open_files(tmp_path) == []

    reloaded = LogManager(tmp_path, config, max_open_segment_files=16)
    reloaded.load()
    assert len(_open_files(tmp_path)) <= 16
    for log in reloaded.logs().values():
        assert log.append(_batch()).first_offset == 20
    assert len(_open_files(tmp_path)) <= 16
    reloaded.close()


def test_index_files_hold_no_descriptor(tmp_path):
    log = Log(tmp_path / "t-0", LogConfig(segment_bytes=1000, index_interval_bytes=100))
    for _ in range(30):
        log.append(_batch())
    assert all(s.index.entries for s in log.segments[:-1])
    assert not [f for f in _open_files(tmp_path) if f.endswith((".index", ".timeindex"))]
    log.close()


def test_close_idle_files_closes_what_was_not_used(tmp_path):
    clock = [100.0]
    cache = FileHandleCache(clock=lambda: clock[0])
    log = Log(tmp_path / "t-0", LogConfig(segment_bytes=1000), file_cache=cache)
    for _ in range(20):
        log.append(_batch())
    cold = log.segments[0]
    log.read(0, 100)  # opens the first segment
    assert cold.is_open and len(cache) >= 2
    clock[0] += 30
    log.append(_batch())  # uses the active segment only
    assert cache.close_idle(10_000) >= 1
    assert not cold.is_open and log.active_segment.is_open
    assert log.read(0, 100).records  # reopened on demand
    clock[0] += 60
    opened = sum(1 for s in log.segments if s.is_open)
    assert cache.close_idle(10_000) == opened == 2
    assert len(cache) == 0
    assert log.append(_batch()).first_offset == log.log_end_offset - 2  # reopens for writing
    log.close()


def test_an_evicted_active_segment_reopens_for_appends(tmp_path):
    cache = FileHandleCache(max_open=2)
    logs = [Log(tmp_path / f"t-{p}", LogConfig(), file_cache=cache) for p in range(5)]
    for round_ in range(3):
        for log in logs:
            assert log.append(_batch()).first_offset == round_ * 2
    assert len(cache) == 2
    for log in logs:
        assert log.read(0, 10**6).next_offset == 6
        log.close()
