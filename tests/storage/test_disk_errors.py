"""Disk errors: a failed write is KAFKA_STORAGE_ERROR, logged once, and leaves no trace."""

import errno
import logging
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import storage.segment
from protocol.records import build_batch, iter_batch_headers
from storage.errors import StorageError
from storage.log import Log
from storage.log_config import LogConfig
from storage.log_manager import LogManager

NOW = int(time.time() * 1000)
REPO = Path(__file__).resolve().parents[2]


def _batch(count=2, value=b"v" * 100):
    return bytearray(build_batch([(b"k", value, [], NOW + i) for i in range(count)]))


class FailingDisk:
    """Replaces segment writes: the next `failures` writes store half, then fail."""

    def __init__(self, monkeypatch, error=errno.ENOSPC):
        self.failures = 0
        self.error = error
        real = storage.segment._pwrite

        def pwrite(fd, data, position):
            if self.failures:
                self.failures -= 1
                half = len(data) // 2
                real(fd, data[:half], position)
                raise OSError(self.error, "simulated")
            return real(fd, data, position)

        monkeypatch.setattr(storage.segment, "_pwrite", pwrite)


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EIO])
def test_a_failed_append_is_a_storage_error_and_leaves_the_log_as_it_was(
    tmp_path, monkeypatch, caplog, error
):
    disk = FailingDisk(monkeypatch, error)
    log = Log(tmp_path / "t-0", LogConfig(segment_bytes=10_000, index_interval_bytes=200))
    for _ in range(5):
        log.append(_batch())
    size = log.active_segment.log_path.stat().st_size
    entries = log.active_segment.index.entries
    state = (log.log_end_offset, log.active_segment.size, log.active_segment.next_offset)
    disk.failures = 2
    with caplog.at_level(logging.DEBUG, logger="storage.log"):
        for _ in range(2):
            with pytest.raises(StorageError) as excinfo:
                log.append(_batch())
            assert excinfo.value.error_code == 56
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "KAFKA_STORAGE_ERROR" in errors[0].getMessage()
    assert log.active_segment.log_path.stat().st_size == size  # the half write was cut
    assert log.active_segment.index.entries == entries
    assert (log.log_end_offset, log.active_segment.size, log.active_segment.next_offset) == state
    assert log.append(_batch()).first_offset == 10  # a retry later succeeds
    headers = [h for _, h in iter_batch_headers(log.read(0, 10**6).records, check_crc=True)]
    assert [h.base_offset for h in headers] == [0, 2, 4, 6, 8, 10]
    log.close()
    log = Log(tmp_path / "t-0", LogConfig(segment_bytes=10_000, index_interval_bytes=200))
    assert log.log_end_offset == 12 and not log.load_report.truncations
    log.close()


def test_a_failed_idempotent_append_does_not_advance_the_producer(tmp_path, monkeypatch):
    disk = FailingDisk(monkeypatch)
    log = Log(tmp_path / "t-0", LogConfig())
    producer = {"producer_id": 4, "producer_epoch": 0}
    log.append(bytearray(build_batch([(b"k", b"v", [], NOW)], base_sequence=0, **producer)))
    disk.failures = 1
    retry = build_batch([(b"k", b"w", [], NOW)], base_sequence=1, **producer)
    with pytest.raises(StorageError):
        log.append(bytearray(retry))
    assert log.producer_state.last_entry(4).last_seq == 0
    info = log.append(bytearray(retry))  # the client retries the same batch
    assert not info.duplicate and info.first_offset == 1
    log.close()


_FILE_SIZE_LIMIT = textwrap.dedent(
    """
    import resource, signal, sys, time
    sys.path.insert(0, {repo!r})
    from protocol.records import build_batch
    from storage.errors import StorageError
    from storage.log import Log
    from storage.log_config import LogConfig

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
    log = Log({path!r}, LogConfig())
    resource.setrlimit(resource.RLIMIT_FSIZE, (5000, 5000))
    batch = build_batch([(b"k", b"v" * 300, [], int(time.time() * 1000))])
    written = 0
    failures = 0
    for _ in range(40):
        try:
            log.append(bytearray(batch))
            written += 1
        except StorageError as exc:
            failures += 1
            assert exc.error_code == 56
    print(written, failures, log.log_end_offset, log.active_segment.size)
    """
)


def test_a_real_write_failure_from_the_kernel(tmp_path):
    """RLIMIT_FSIZE makes the kernel refuse writes past 5000 bytes (EFBIG)."""
    script = _FILE_SIZE_LIMIT.format(repo=str(REPO), path=str(tmp_path / "t-0"))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    written, failures, end, size = map(int, out.stdout.split())
    assert written > 0 and failures == 40 - written and end == written
    path = tmp_path / "t-0" / "00000000000000000000.log"
    assert path.stat().st_size == size <= 5000
    log = Log(tmp_path / "t-0", LogConfig(), had_clean_shutdown=False, recovery_point=0)
    assert log.log_end_offset == written and not log.load_report.truncations
    log.close()


def test_an_unreadable_log_is_reported_offline_and_never_recreated(tmp_path, caplog):
    config = LogConfig(segment_bytes=1000)
    manager = LogManager(tmp_path, config)
    manager.load()
    for partition in (0, 1):
        log = manager.create_log("t", partition, config)
        for _ in range(12):
            log.append(_batch())
    broken = manager.get_log("t", 1).active_segment.log_path
    manager.close()
    broken.unlink()
    broken.mkdir()  # opening it fails with an OSError (EISDIR)
    reloaded = LogManager(tmp_path, config)
    with caplog.at_level(logging.ERROR):
        reloaded.load()
    assert set(reloaded.logs()) == {("t", 0)}
    assert ("t", 1) in reloaded.offline_logs
    assert any("offline" in r.getMessage() for r in caplog.records)
    with pytest.raises(StorageError):
        reloaded.create_log("t", 1, config)
    assert broken.is_dir()  # nothing was dropped or recreated
    reloaded.close()
