"""copy_step (AlterReplicaLogDirs' copy): the future log follows what the current log
does meanwhile: appends, a truncation to another leader's epoch, a log start offset
moved up, segments removed by retention; batches are copied whole."""

import time

from kafka_compat.replica_alter_log_dirs import copy_step
from protocol.records import build_batch, iter_batch_headers
from storage.log import Log
from storage.log_config import LogConfig

NOW = int(time.time() * 1000)


def _batch(count=2, tag=b"v"):
    return bytearray(build_batch([(b"k", tag * 50, [], NOW + i) for i in range(count)]))


def _logs(tmp_path, config=None):
    config = config or LogConfig(segment_bytes=1024)
    return Log(tmp_path / "a" / "t-0", config), Log(tmp_path / "b" / "t-0.f-future", config)


def _copy_all(current, future, max_bytes=300):
    for _ in range(1000):
        if copy_step(current, future, max_bytes):
            return
    raise AssertionError("copy_step never caught up")


def _batches(value: Log) -> list[tuple[int, int, int]]:
    data = value.read(value.log_start_offset, 10**7).records
    return [
        (h.base_offset, h.last_offset_delta, h.partition_leader_epoch)
        for _, h in iter_batch_headers(data, check_crc=True)
    ]


def test_the_future_log_gets_every_batch_as_the_current_one_holds_it(tmp_path):
    current, future = _logs(tmp_path)
    for epoch in (0, 0, 1, 1, 1, 3):
        current.append(_batch(), leader_epoch=epoch)
    assert not copy_step(current, future, 150)  # one batch a step at most here
    _copy_all(current, future)
    assert _batches(future) == _batches(current)
    assert future.leader_epoch_cache.end_offset_for(1, future.log_end_offset) == (1, 10)
    current.append(_batch())  # the producer goes on: not level any more
    assert future.log_end_offset == 12 and not current.log_end_offset == future.log_end_offset
    _copy_all(current, future)
    assert future.log_end_offset == current.log_end_offset == 14


def test_a_truncation_of_the_current_log_is_followed(tmp_path):
    current, future = _logs(tmp_path)
    for _ in range(4):
        current.append(_batch(), leader_epoch=1)
    _copy_all(current, future)
    # A new leader (epoch 2) had less: the current log is cut and goes on differently.
    current.truncate_to(4)
    current.append_as_follower(_leader_batches(tmp_path, base=4, epoch=2, count=3))
    _copy_all(current, future)
    assert _batches(future) == _batches(current)
    assert [b[2] for b in _batches(future)] == [1, 1, 2, 2, 2]


def _leader_batches(tmp_path, base: int, epoch: int, count: int) -> bytearray:
    """Batches as another leader wrote them from `base` at `epoch`."""
    other = Log(tmp_path / "leader" / "t-0", LogConfig())
    other.truncate_fully_and_start_at(base)
    for _ in range(count):
        other.append(_batch(tag=b"n"), leader_epoch=epoch)
    return bytearray(other.read(base, 10**6).records)


def test_a_log_start_offset_moved_up_is_followed(tmp_path):
    current, future = _logs(tmp_path)
    for _ in range(20):
        current.append(_batch())
    copy_step(current, future, 150)
    assert future.log_end_offset == 2
    # DeleteRecords past what was copied, inside a batch; retention removes segments.
    current.maybe_increment_log_start_offset(25)
    current.delete_old_segments(NOW)
    _copy_all(current, future)
    assert future.log_start_offset == current.log_start_offset == 25
    assert future.log_end_offset == current.log_end_offset == 40
    assert _batches(future)[0][0] == 24  # the batch holding offset 25 comes whole
    current.maybe_increment_log_start_offset(31)
    assert copy_step(current, future)
    assert future.log_start_offset == 31
