"""Flushing: appends never fsync; flush.messages / flush.ms / rolls make a log due."""

import os
import threading
import time

import pytest

from protocol.records import build_batch
from storage.log import Log
from storage.log_config import LogConfig
from storage.log_manager import LogManager

NOW = int(time.time() * 1000)


def _batch(count=2):
    return bytearray(build_batch([(b"k", b"v" * 100, [], NOW + i) for i in range(count)]))


@pytest.fixture
def fsyncs(monkeypatch):
    calls = []
    real = os.fsync

    def counting(fd):
        calls.append(threading.current_thread().name)
        return real(fd)

    monkeypatch.setattr(os, "fsync", counting)
    return calls


def test_flush_messages_marks_the_log_due_without_fsyncing_inline(tmp_path, fsyncs):
    due = []
    log = Log(tmp_path / "t-0", LogConfig(flush_messages=5), on_flush_due=due.append)
    fsyncs.clear()
    log.append(_batch())
    log.append(_batch())
    assert due == [] and log.flush_due(NOW) is None
    log.append(_batch())  # 6 messages
    log.append(_batch())
    assert due == [log]  # signalled once
    assert fsyncs == []
    flush = log.flush_due(NOW)
    assert flush is not None and flush.up_to == 8
    assert log.recovery_point == 0
    worker = threading.Thread(target=flush.run, name="flusher")
    worker.start()
    worker.join()
    assert fsyncs and set(fsyncs) == {"flusher"}
    assert log.recovery_point == 0  # moves on the loop thread only
    flush.complete()
    assert log.recovery_point == 8
    assert log.flush_due(NOW) is None
    log.append(_batch())
    assert log.flush_due(NOW) is None
    log.close()


def test_flush_ms_makes_a_log_due_after_the_interval(tmp_path):
    log = Log(tmp_path / "t-0", LogConfig(flush_ms=1000))
    log.last_flush_ms = NOW
    log.append(_batch())
    assert log.flush_due(NOW + 999) is None
    flush = log.flush_due(NOW + 1000)
    assert flush.up_to == 2
    flush.run()
    flush.complete()
    assert log.recovery_point == 2
    assert log.flush_due(NOW + 5000) is None  # nothing new
    log.close()


def test_a_roll_makes_the_rolled_segment_due_even_with_kafkas_defaults(tmp_path):
    log = Log(tmp_path / "t-0", LogConfig(segment_bytes=1000))
    while len(log.segments) < 2:
        log.append(_batch())
    base = log.active_segment.base_offset
    log.append(_batch())
    flush = log.flush_due(NOW)
    assert flush.up_to == base < log.log_end_offset
    flush.run()
    flush.complete()
    assert log.recovery_point == base
    assert log.flush_due(NOW) is None
    log.close()


def test_a_truncation_during_a_flush_keeps_the_recovery_point(tmp_path):
    log = Log(tmp_path / "t-0", LogConfig(flush_messages=1))
    for _ in range(5):
        log.append(_batch())
    flush = log.flush_due(NOW)
    flush.run()
    log.truncate_to(4)
    flush.complete()
    assert log.recovery_point == 0
    log.close()


def test_flush_pass_and_checkpoint(tmp_path, fsyncs):
    config = LogConfig(flush_messages=3)
    manager = LogManager(tmp_path, config)
    woken = []
    manager.on_flush_due = woken.append
    manager.load()
    busy = manager.create_log("t", 0, config)
    quiet = manager.create_log("t", 1, config)
    fsyncs.clear()
    for _ in range(2):
        busy.append(_batch())
    quiet.append(_batch(1))
    assert fsyncs == [] and woken == [busy]
    flushes = manager.flush_pass(NOW)
    assert [f.log for f in flushes] == [busy]
    for flush in flushes:
        flush.run()
        flush.complete()
    manager.checkpoint()
    lines = (tmp_path / "recovery-point-offset-checkpoint").read_text().splitlines()
    assert sorted(lines[2:]) == ["t 0 4", "t 1 0"]
    manager.close()
