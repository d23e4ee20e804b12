"""LogManager: loading partition directories, checkpoints, clean-shutdown marker."""

import json
import os
import time

from protocol.records import build_batch
from storage.log_config import LogConfig
from storage.log_manager import LogManager

NOW = int(time.time() * 1000)


def _batch(count=2):
    return bytearray(build_batch([(b"k", b"v" * 50, [], NOW + i) for i in range(count)]))


def test_load_opens_topics_with_dashes_and_dots(tmp_path):
    manager = LogManager(tmp_path, LogConfig())
    manager.load()
    for topic, partition in [("a-b-c", 0), ("a-b-c", 12), ("x.y", 3), ("__consumer_offsets", 49)]:
        manager.create_log(topic, partition, LogConfig()).append(_batch())
    manager.close()
    (tmp_path / "old-topic-0.0123456789abcdef-delete").mkdir()
    (tmp_path / "moving-1.0123456789abcdef-future").mkdir()
    (tmp_path / "lost+found").mkdir()
    reloaded = LogManager(tmp_path, LogConfig())
    reloaded.load()
    assert set(reloaded.logs()) == {
        ("a-b-c", 0),
        ("a-b-c", 12),
        ("x.y", 3),
        ("__consumer_offsets", 49),
    }
    assert reloaded.get_log("a-b-c", 12).log_end_offset == 2
    assert reloaded.get_log("nope", 0) is None
    assert not (tmp_path / "old-topic-0.0123456789abcdef-delete").exists()  # finished
    reloaded.close()


def test_topic_configs_are_applied_on_load(tmp_path):
    manager = LogManager(tmp_path, LogConfig())
    manager.load()
    manager.create_log("t", 0, LogConfig())
    manager.close()
    reloaded = LogManager(tmp_path, LogConfig())
    reloaded.load({"t": LogConfig(segment_bytes=4096)})
    assert reloaded.get_log("t", 0).config.segment_bytes == 4096
    reloaded.close()


def test_meta_properties_written_once(tmp_path):
    manager = LogManager(tmp_path, LogConfig(), broker_id=3, cluster_id="abcDEF123")
    manager.load()
    text = (tmp_path / "meta.properties").read_text()
    assert "version=0" in text and "broker.id=3" in text and "cluster.id=abcDEF123" in text
    manager.close()
    other = LogManager(tmp_path, LogConfig(), broker_id=4)
    other.load()
    assert other.meta_properties["broker.id"] == "3"  # the directory's, for the broker to check
    other.close()


def test_close_writes_checkpoints_in_kafkas_format(tmp_path):
    manager = LogManager(tmp_path, LogConfig())
    manager.load()
    log = manager.create_log("my-topic", 1, LogConfig())
    for _ in range(3):
        log.append(_batch())
    log.maybe_increment_log_start_offset(2)
    manager.create_log("other", 0, LogConfig())
    manager.close()
    recovery = (tmp_path / "recovery-point-offset-checkpoint").read_text().splitlines()
    assert recovery[:2] == ["0", "2"]
    assert sorted(recovery[2:]) == ["my-topic 1 6", "other 0 0"]
    start = (tmp_path / "log-start-offset-checkpoint").read_text().splitlines()
    assert sorted(start[2:]) == ["my-topic 1 2", "other 0 0"]
    marker = tmp_path / ".kafka_cleanshutdown"
    assert json.loads(marker.read_text())["version"] == 0
    reloaded = LogManager(tmp_path, LogConfig())
    reloaded.load()
    assert reloaded.had_clean_shutdown
    assert not marker.exists()  # a crash from now on is noticed
    assert reloaded.get_log("my-topic", 1).log_start_offset == 2
    reloaded.close()


def test_unclean_shutdown_is_detected_and_recovered(tmp_path):
    manager = LogManager(tmp_path, LogConfig(segment_bytes=1000))
    manager.load()
    log = manager.create_log("t", 0, LogConfig(segment_bytes=1000))
    for _ in range(20):
        log.append(_batch())
    path = log.active_segment.log_path
    manager.checkpoint()  # recovery point 0: nothing flushed
    # SIGKILL: no close. A torn write at the end:
    with open(path, "ab") as file:
        file.write(b"\x00" * 30)
    reloaded = LogManager(tmp_path, LogConfig(segment_bytes=1000))
    reloaded.load()
    assert not reloaded.had_clean_shutdown
    assert reloaded.get_log("t", 0).log_end_offset == 40
    assert os.path.getsize(path) % len(_batch()) == 0
    reloaded.close()


def test_create_log_is_idempotent_and_delete_removes_files(tmp_path):
    manager = LogManager(tmp_path, LogConfig())
    manager.load()
    first = manager.create_log("t", 0, LogConfig())
    assert manager.create_log("t", 0, LogConfig()) is first
    first.append(_batch())
    manager.delete_log("t", 0)
    assert manager.get_log("t", 0) is None
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == []
    manager.delete_log("t", 0)  # again: nothing to do
    manager.close()


def test_high_watermarks_are_checkpointed_and_restored_within_the_log(tmp_path):
    config = LogConfig()
    manager = LogManager(tmp_path, config)
    manager.load()
    for partition in range(3):
        log = manager.create_log("t", partition, config)
        for _ in range(partition + 1):
            log.append(_batch(5))
    manager.checkpoint_high_watermarks({("t", 0): 5, ("t", 1): 7, ("t", 2): 15, ("gone", 0): 3})
    text = (tmp_path / "replication-offset-checkpoint").read_text()
    lines = text.splitlines()
    assert lines[:2] == ["0", "3"]
    assert sorted(lines[2:]) == ["t 0 5", "t 1 7", "t 2 15"]  # no log here: left out
    # A partition not given keeps its last value.
    manager.checkpoint_high_watermarks({("t", 1): 10})
    assert manager.high_watermarks == {("t", 0): 5, ("t", 1): 10, ("t", 2): 15}
    manager.get_log("t", 2).truncate_to(10)  # the HW was ahead of what is left
    manager.close()
    reloaded = LogManager(tmp_path, config)
    reloaded.load()
    assert reloaded.high_watermarks == {("t", 0): 5, ("t", 1): 10, ("t", 2): 10}
    reloaded.delete_log("t", 0)
    assert ("t", 0) not in reloaded.high_watermarks
    reloaded.checkpoint_high_watermarks({})
    lines = (tmp_path / "replication-offset-checkpoint").read_text().splitlines()
    assert sorted(lines[2:]) == ["t 1 10", "t 2 10"]
    reloaded.close()


def test_without_a_high_watermark_checkpoint_none_are_restored(tmp_path):
    manager = LogManager(tmp_path, LogConfig())
    manager.load()
    manager.create_log("t", 0, LogConfig()).append(_batch())
    manager.close()
    reloaded = LogManager(tmp_path, LogConfig())
    reloaded.load()
    assert reloaded.high_watermarks == {}
    reloaded.close()


def test_checkpoint_writes_the_leader_epoch_files_that_changed(tmp_path):
    manager = LogManager(tmp_path, LogConfig())
    manager.load()
    busy = manager.create_log("t", 0, LogConfig())
    quiet = manager.create_log("t", 1, LogConfig())
    busy.append(_batch(), leader_epoch=3)
    manager.checkpoint()
    assert (busy.dir / "leader-epoch-checkpoint").read_text() == "0\n1\n3 0\n"
    assert not (quiet.dir / "leader-epoch-checkpoint").exists()
    manager.close()


def test_records_written_after_a_truncation_are_checked_by_recovery(tmp_path):
    """A follower truncates, then appends; the checkpoint written after the truncation
    (the replica fetcher asks for one) holds the lowered recovery point, so after an OS
    crash recovery checks the new records instead of trusting the old flushed ones."""
    size = len(_batch())
    config = LogConfig(segment_bytes=size * 4 + 1)  # 4 batches (8 records) a segment
    manager = LogManager(tmp_path, config)
    manager.load()
    log = manager.create_log("t", 0, config)
    for _ in range(20):
        log.append(_batch())
    log.flush()
    manager.checkpoint()
    assert log.recovery_point == 40
    log.truncate_to(10)
    manager.checkpoint()
    for _ in range(10):
        log.append(_batch())
    # The OS lost part of the unflushed data: a batch after the cut is garbage.
    damaged = log.segments[-2]
    with open(damaged.log_path, "r+b") as file:
        file.seek(size + 30)
        file.write(b"\xff" * 20)
    reloaded = LogManager(tmp_path, config)
    reloaded.load()
    assert reloaded.get_log("t", 0).log_end_offset == damaged.base_offset + 2
    reloaded.close()
