"""LogDirs (JBOD): meta.properties in every dir, placement, per-dir checkpoints, failed
dirs, and moving a log to another dir through a future log."""

import errno
import os
import threading
import time

import pytest

import storage.segment
from protocol.records import build_batch, iter_batch_headers
from storage.checkpoint import OffsetCheckpointFile
from storage.errors import StorageError
from storage.log_config import LogConfig
from storage.log_dirs import LogDirError, LogDirs, read_meta_properties

NOW = int(time.time() * 1000)


def _batch(count=2):
    return bytearray(build_batch([(b"k", b"v" * 50, [], NOW + i) for i in range(count)]))


def _dirs(tmp_path, names=("a", "b", "c"), **kwargs) -> LogDirs:
    kwargs.setdefault("broker_id", 1)
    kwargs.setdefault("cluster_id", "cluster-x")
    dirs = LogDirs([tmp_path / n for n in names], LogConfig(), **kwargs)
    dirs.load()
    return dirs


def test_every_dir_gets_the_same_meta_properties(tmp_path):
    dirs = _dirs(tmp_path)
    dirs.close()
    for name in "abc":
        meta = read_meta_properties(tmp_path / name / "meta.properties")
        assert meta == {"version": "0", "broker.id": "1", "cluster.id": "cluster-x"}
    # A dir added later gets the ids the others hold (the broker then checks them
    # against its configuration), not new ones.
    more = _dirs(tmp_path, ("a", "b", "c", "d"), cluster_id="another", broker_id=7)
    assert more.meta_properties == {"version": "0", "broker.id": "1", "cluster.id": "cluster-x"}
    assert read_meta_properties(tmp_path / "d" / "meta.properties") == more.meta_properties
    more.close()


def test_a_dir_of_another_cluster_or_broker_stops_start_up(tmp_path):
    _dirs(tmp_path, ("a", "b")).close()
    (tmp_path / "b" / "meta.properties").write_text("version=0\nbroker.id=1\ncluster.id=other\n")
    with pytest.raises(LogDirError, match="not consistent across log.dirs") as refused:
        _dirs(tmp_path, ("a", "b"))
    assert "cluster.id=other" in str(refused.value) and str(tmp_path / "b") in str(refused.value)
    meta = tmp_path / "b" / "meta.properties"
    meta.write_text("version=0\nbroker.id=2\ncluster.id=cluster-x\n")
    with pytest.raises(LogDirError, match="not consistent"):
        _dirs(tmp_path, ("a", "b"))


def test_new_partitions_go_to_the_dir_with_the_fewest(tmp_path):
    dirs = _dirs(tmp_path)
    for p in range(2):
        dirs.create_log("busy", p, LogConfig())  # a, then b
    placed = [dirs.dir_of(dirs.create_log("t", p, LogConfig())).name for p in range(4)]
    assert placed == ["c", "a", "b", "c"]
    assert {d.name: n for d, n in dirs.log_counts().items()} == {"a": 2, "b": 2, "c": 2}
    assert dirs.create_log("t", 0, LogConfig()) is dirs.get_log("t", 0)  # idempotent
    dirs.close()
    reopened = _dirs(tmp_path)
    assert {k: reopened.dir_of(v).name for k, v in reopened.logs().items()} == {
        ("busy", 0): "a",
        ("busy", 1): "b",
        ("t", 0): "c",
        ("t", 1): "a",
        ("t", 2): "b",
        ("t", 3): "c",
    }
    reopened.close()


def test_a_preferred_dir_wins_over_placement(tmp_path):
    dirs = _dirs(tmp_path)
    dirs.preferred_dirs[("t", 0)] = tmp_path / "c"
    assert dirs.dir_of(dirs.create_log("t", 0, LogConfig())) == tmp_path / "c"
    assert ("t", 0) not in dirs.preferred_dirs
    dirs.close()


def test_each_dir_checkpoints_its_own_partitions(tmp_path):
    dirs = _dirs(tmp_path, ("a", "b"))
    for p in range(2):
        dirs.create_log("t", p, LogConfig()).append(_batch(p + 1))
    dirs.checkpoint_high_watermarks({("t", 0): 1, ("t", 1): 2})
    dirs.close()
    for name, partition in (("a", 0), ("b", 1)):
        for checkpoint in (
            "recovery-point-offset-checkpoint",
            "replication-offset-checkpoint",
            "log-start-offset-checkpoint",
        ):
            offsets = OffsetCheckpointFile(tmp_path / name / checkpoint).read()
            assert set(offsets) == {("t", partition)}, (name, checkpoint)
        assert (tmp_path / name / "cleaner-offset-checkpoint").exists()
        assert (tmp_path / name / ".kafka_cleanshutdown").exists()
    reopened = _dirs(tmp_path, ("a", "b"))
    assert reopened.high_watermarks == {("t", 0): 1, ("t", 1): 2}
    reopened.close()


def test_a_partition_in_two_dirs_stops_start_up(tmp_path):
    dirs = _dirs(tmp_path, ("a", "b"))
    dirs.create_log("t", 0, LogConfig()).append(_batch())
    dirs.close()
    (tmp_path / "b" / "t-0").mkdir()
    with pytest.raises(LogDirError, match="Duplicate log directories for t-0") as refused:
        _dirs(tmp_path, ("a", "b"))
    assert str(tmp_path / "a" / "t-0") in str(refused.value)


def test_an_unusable_dir_is_offline_at_start_up_and_the_others_serve(tmp_path):
    dirs = _dirs(tmp_path, ("a", "b"))
    dirs.create_log("t", 0, LogConfig()).append(_batch())  # in a
    dirs.create_log("t", 1, LogConfig()).append(_batch())  # in b
    dirs.close()
    os.rename(tmp_path / "b", tmp_path / "b-away")
    (tmp_path / "b").write_text("not a directory")
    reopened = _dirs(tmp_path, ("a", "b"))
    assert list(reopened.offline_dirs) == [tmp_path / "b"]
    assert set(reopened.logs()) == {("t", 0)}
    # A partition that is not new is not created empty elsewhere while a dir is offline.
    with pytest.raises(StorageError, match="are offline"):
        reopened.create_log("t", 1, LogConfig(), is_new=False)
    assert reopened.dir_of(reopened.create_log("new", 0, LogConfig())) == tmp_path / "a"
    reopened.close()
    (tmp_path / "b").unlink()
    (tmp_path / "a").rename(tmp_path / "a-away")
    (tmp_path / "a").write_text("")
    os.rename(tmp_path / "b-away", tmp_path / "b")
    os.rename(tmp_path / "a-away", tmp_path / "c")
    with pytest.raises(LogDirError, match="can be created or validated"):
        LogDirs([tmp_path / "a"], LogConfig()).load()


class FailingDir:
    """Segment writes under `path` fail with EIO."""

    def __init__(self, monkeypatch, path):
        self.path = str(path)
        real = storage.segment._pwrite

        def pwrite(fd, data, position):
            if os.readlink(f"/proc/self/fd/{fd}").startswith(self.path + os.sep):
                raise OSError(errno.EIO, "simulated")
            return real(fd, data, position)

        monkeypatch.setattr(storage.segment, "_pwrite", pwrite)


def test_a_failed_append_takes_only_its_dir_offline(tmp_path, monkeypatch):
    dirs = _dirs(tmp_path, ("a", "b"))
    told = []
    dirs.on_dir_failure = lambda path, reason: told.append(path)
    healthy = dirs.create_log("t", 0, LogConfig())  # a
    doomed = dirs.create_log("t", 1, LogConfig())  # b
    FailingDir(monkeypatch, tmp_path / "b")
    with pytest.raises(StorageError):
        doomed.append(_batch())
    assert told == [tmp_path / "b"] and list(dirs.offline_dirs) == [tmp_path / "b"]
    assert dirs.take_dir_offline(tmp_path / "b") == ([("t", 1)], [])
    assert "EIO" in dirs.offline_reason("t", 1) or "simulated" in dirs.offline_reason("t", 1)
    assert healthy.append(_batch()).first_offset == 0
    assert set(dirs.logs()) == {("t", 0)}
    # New partitions go to the live dir only; the failed dir's checkpoints are left.
    assert dirs.dir_of(dirs.create_log("t", 2, LogConfig())) == tmp_path / "a"
    dirs.checkpoint()
    dirs.close()
    assert not (tmp_path / "b" / ".kafka_cleanshutdown").exists()


def test_the_last_live_dir_is_never_taken_offline(tmp_path, monkeypatch):
    dirs = _dirs(tmp_path, ("a",))
    value = dirs.create_log("t", 0, LogConfig())
    disk = FailingDir(monkeypatch, tmp_path / "a")
    with pytest.raises(StorageError):
        value.append(_batch())
    assert not dirs.offline_dirs
    disk.path = "/nowhere"
    assert value.append(_batch()).first_offset == 0  # a retry later succeeds
    dirs.close()


def test_a_future_log_replaces_the_current_one(tmp_path):
    dirs = _dirs(tmp_path, ("a", "b"))
    current = dirs.create_log("t", 0, LogConfig())  # a
    for _ in range(3):
        current.append(_batch())
    future = dirs.create_future_log("t", 0, tmp_path / "b", current.config)
    assert future.dir.parent == tmp_path / "b" and future.dir.name.endswith("-future")
    assert future.dir.name.startswith("t-0.")
    assert dirs.log_counts() == {tmp_path / "a": 1, tmp_path / "b": 1}
    future.append_as_follower(current.read(0, 10**6).records)
    # A restart in the middle: the future log is found again, the move goes on.
    dirs.close()
    dirs = _dirs(tmp_path, ("a", "b"))
    assert dirs.future_logs[("t", 0)].log_end_offset == 6
    moved = dirs.replace_current_with_future("t", 0)
    assert moved.dir == tmp_path / "b" / "t-0" and moved.log_end_offset == 6
    assert not (tmp_path / "a" / "t-0").exists()
    assert not dirs.future_logs and dirs.get_log("t", 0) is moved
    assert moved.append(_batch()).first_offset == 6
    dirs.close()
    reopened = _dirs(tmp_path, ("a", "b"))
    value = reopened.get_log("t", 0)
    assert reopened.dir_of(value) == tmp_path / "b"
    headers = [h for _, h in iter_batch_headers(value.read(0, 10**6).records, check_crc=True)]
    assert [h.base_offset for h in headers] == [0, 2, 4, 6]
    reopened.close()


def test_a_future_log_without_its_partition_is_dropped(tmp_path):
    dirs = _dirs(tmp_path, ("a", "b"))
    dirs.close()
    stale = tmp_path / "b" / f"gone-0.{'0' * 32}-future"
    stale.mkdir()
    reopened = _dirs(tmp_path, ("a", "b"))
    assert not reopened.future_logs and not stale.exists()
    reopened.close()


def test_a_failed_flush_in_a_worker_thread_takes_its_dir_offline(tmp_path, monkeypatch):
    dirs = _dirs(tmp_path, ("a", "b"))
    told = []
    dirs.on_dir_failure = lambda path, reason: told.append((path, threading.get_ident()))
    dirs.create_log("t", 0, LogConfig()).append(_batch())  # a
    doomed = dirs.create_log("t", 1, LogConfig())  # b
    doomed.append(_batch())
    real_fsync = os.fsync

    def fsync(fd):
        if os.readlink(f"/proc/self/fd/{fd}").startswith(str(tmp_path / "b") + os.sep):
            raise OSError(errno.EIO, "simulated")
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    failures = []

    def flush():
        try:
            doomed.flush_files()
        except StorageError as exc:
            failures.append(exc)

    worker = threading.Thread(target=flush)
    worker.start()
    worker.join()
    assert failures and told == [(tmp_path / "b", worker.ident)]
    assert dirs.take_dir_offline(tmp_path / "b") == ([("t", 1)], [])
    dirs.close()
