"""Producer state snapshots: Kafka's file layout, written at roll and close, loaded on open."""

import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from crc32c import crc32c

from protocol.records import build_batch, decode_batch, iter_batch_headers
from storage.errors import OutOfOrderSequence
from storage.log import Log
from storage.log_config import LogConfig
from storage.log_manager import LogManager
from storage.producer_state import (
    BatchMetadata,
    CorruptSnapshot,
    ProducerStateEntry,
    decode_snapshot,
    encode_snapshot,
)

NOW = int(time.time() * 1000)
REPO = Path(__file__).resolve().parents[2]


def _batch(pid, seq, count=2, epoch=0, **kwargs):
    records = [(b"k%d" % i, b"v" * 80, [], NOW + i) for i in range(count)]
    return bytearray(
        build_batch(records, producer_id=pid, producer_epoch=epoch, base_sequence=seq, **kwargs)
    )


def _snapshots(path):
    return sorted(p.name for p in path.iterdir() if p.name.endswith(".snapshot"))


def test_snapshot_bytes_follow_kafkas_producer_snapshot_layout():
    entry = ProducerStateEntry(
        42,
        3,
        [BatchMetadata(10, 14, 100, 104, NOW)],
        coordinator_epoch=7,
        current_txn_first_offset=90,
        last_timestamp=NOW + 5,
    )
    data = encode_snapshot([entry])
    version, crc, count = struct.unpack_from(">hIi", data)
    assert (version, count) == (1, 1)
    assert crc == crc32c(data[6:])  # CRC-32C of everything after the CRC field
    fields = struct.unpack_from(">qhiqiqiq", data, 10)
    # producer id, epoch, last seq, last offset, offset delta, timestamp, coord epoch, txn
    assert fields == (42, 3, 14, 104, 4, NOW + 5, 7, 90)
    assert len(data) == 10 + 46
    [back] = decode_snapshot(data)
    assert (back.producer_id, back.producer_epoch, back.coordinator_epoch) == (42, 3, 7)
    assert back.current_txn_first_offset == 90
    assert list(back.batches) == [BatchMetadata(10, 14, 100, 104, NOW + 5)]


def test_snapshot_keeps_the_last_five_batches_and_wrapped_sequences():
    top = 2**31 - 1
    batches = [BatchMetadata(i * 2, i * 2 + 1, i * 2, i * 2 + 1, NOW + i) for i in range(4)]
    batches.append(BatchMetadata(top - 1, 0, 8, 10, NOW + 4))  # wraps past int32 max
    entry = ProducerStateEntry(7, 0, batches, last_timestamp=NOW + 4)
    marker_only = ProducerStateEntry(8, 2, [], coordinator_epoch=3, last_timestamp=NOW)
    decoded = {e.producer_id: e for e in decode_snapshot(encode_snapshot([entry, marker_only]))}
    assert list(decoded[7].batches) == batches
    assert decoded[8].producer_epoch == 2 and not decoded[8].batches
    assert decoded[8].coordinator_epoch == 3


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty", "version"])
def test_a_damaged_snapshot_is_refused(damage):
    data = bytearray(encode_snapshot([ProducerStateEntry(1, 0, [BatchMetadata(0, 0, 0, 0, 1)])]))
    if damage == "flip":
        data[20] ^= 0xFF
    elif damage == "truncate":
        del data[-3:]
    elif damage == "empty":
        data = bytearray()
    else:
        data[1] = 9
    with pytest.raises(CorruptSnapshot):
        decode_snapshot(bytes(data))


def test_snapshots_are_written_at_roll_and_close(tmp_path):
    log = Log(tmp_path / "t-0", LogConfig(segment_bytes=1000))
    seq = 0
    for _ in range(12):
        log.append(_batch(5, seq))
        seq += 2
    bases = [s.base_offset for s in log.segments]
    assert len(bases) > 2
    assert _snapshots(log.dir) == [f"{b:020d}.snapshot" for b in bases[1:]]
    log.close()
    assert _snapshots(log.dir)[-1] == f"{log.log_end_offset:020d}.snapshot"


def test_clean_reopen_loads_the_snapshot_without_scanning(tmp_path, monkeypatch):
    log = Log(tmp_path / "t-0", LogConfig(segment_bytes=1000))
    for seq in range(0, 40, 2):
        log.append(_batch(5, seq))
    end = log.log_end_offset
    log.close()
    scanned = []
    original = Log._replay_batch
    monkeypatch.setattr(
        Log, "_replay_batch", lambda self, *a: scanned.append(a) or original(self, *a)
    )
    log = Log(tmp_path / "t-0", LogConfig(segment_bytes=1000))
    assert log.load_report.snapshot_offset == end
    assert scanned == []
    assert log.producer_state.last_entry(5).last_seq == 39
    for seq in range(30, 40, 2):  # each of the last five batches is still a duplicate
        assert log.append(_batch(5, seq)).duplicate
    log.close()


def test_unclean_reopen_uses_the_roll_snapshot_and_the_log_after_it(tmp_path):
    config = LogConfig(segment_bytes=1000)
    log = Log(tmp_path / "t-0", config)
    for seq in range(0, 30, 2):
        log.append(_batch(5, seq))
        log.append(_batch(6, seq))
    roll_snapshots = _snapshots(log.dir)
    # SIGKILL: no close, so no snapshot at the log end offset
    log = Log(tmp_path / "t-0", config, recovery_point=0, had_clean_shutdown=False)
    assert log.load_report.snapshot_offset == int(roll_snapshots[-1].split(".")[0])
    for pid in (5, 6):
        assert log.producer_state.last_entry(pid).last_seq == 29
        for seq in range(20, 30, 2):
            assert log.append(_batch(pid, seq)).duplicate
        with pytest.raises(OutOfOrderSequence):
            log.append(_batch(pid, 40))
        assert not log.append(_batch(pid, 30)).duplicate
    log.close()


def test_snapshots_past_a_truncated_end_are_dropped(tmp_path):
    config = LogConfig(segment_bytes=1000)
    log = Log(tmp_path / "t-0", config)
    for seq in range(0, 40, 2):
        log.append(_batch(5, seq))
    bases = [s.base_offset for s in log.segments]
    log.close()
    # a torn tail in the second segment: everything after it goes, their snapshots too
    second = log.segments[1].log_path
    with open(second, "r+b") as file:
        file.truncate(os.path.getsize(second) - 10)
    log = Log(tmp_path / "t-0", config, recovery_point=bases[1], had_clean_shutdown=False)
    end = log.log_end_offset
    assert end < bases[2]
    assert all(int(name.split(".")[0]) <= end for name in _snapshots(log.dir))
    assert log.producer_state.last_entry(5).last_offset == end - 1
    # the producer continues from what the log holds
    last_seq = log.producer_state.last_entry(5).last_seq
    assert log.append(_batch(5, last_seq + 1)).first_offset == end
    log.close()


def test_a_corrupt_newest_snapshot_falls_back_to_an_older_one(tmp_path):
    config = LogConfig(segment_bytes=1000)
    log = Log(tmp_path / "t-0", config)
    for seq in range(0, 40, 2):
        log.append(_batch(5, seq))
    log.close()
    newest = log.dir / _snapshots(log.dir)[-1]
    newest.write_bytes(b"\x00\x01garbage")
    log = Log(tmp_path / "t-0", config)
    assert log.load_report.snapshot_offset < log.log_end_offset
    assert not newest.exists()
    assert log.producer_state.last_entry(5).last_seq == 39
    assert log.append(_batch(5, 38)).duplicate
    log.close()


def test_follower_truncation_rebuilds_the_state_below_the_cut(tmp_path):
    log = Log(tmp_path / "t-0", LogConfig(segment_bytes=1000))
    for seq in range(0, 40, 2):
        log.append(_batch(5, seq))
    log.truncate_to(21)  # batch 20-21 (seqs 20, 21) goes
    assert log.producer_state.last_entry(5).last_seq == 19
    assert all(int(n.split(".")[0]) <= log.log_end_offset for n in _snapshots(log.dir))
    assert log.append(_batch(5, 20)).first_offset == 20
    log.close()


def test_snapshots_go_with_the_segments_retention_deletes(tmp_path):
    config = LogConfig(segment_bytes=1000, retention_ms=1000, file_delete_delay_ms=0)
    log = Log(tmp_path / "t-0", config)
    for seq in range(0, 40, 2):
        log.append(_batch(5, seq))
    bound = log.segments[-2].base_offset
    before = _snapshots(log.dir)
    count = len(log.segments)
    # every segment is old by NOW + 10_000; the bound keeps the last two
    assert log.delete_old_segments(NOW + 10_000, high_watermark=bound) == count - 2
    assert log.segments[0].base_offset == bound
    assert _snapshots(log.dir) == [n for n in before if int(n.split(".")[0]) >= bound]
    log.close()


_CRASHER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {repo!r})
    from protocol.records import build_batch
    from storage.log_config import LogConfig
    from storage.log_manager import LogManager

    manager = LogManager({data!r}, LogConfig(segment_bytes=4000))
    manager.load()
    log = manager.create_log("crash", 0, LogConfig(segment_bytes=4000))
    seq = log.producer_state.last_entry(99)
    seq = 0 if seq is None else seq.last_seq + 1
    while True:
        batch = build_batch(
            [(b"k", b"%010d" % (seq + i), [], int(time.time() * 1000)) for i in range(3)],
            producer_id=99, producer_epoch=0, base_sequence=seq,
        )
        log.append(bytearray(batch))
        print(seq, flush=True)  # acknowledged
        seq += 3
    """
)


def test_idempotent_producer_state_survives_sigkill(tmp_path):
    data = tmp_path / "data"
    script = _CRASHER.format(repo=str(REPO), data=str(data))
    acked = []
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        for line in proc.stdout:
            acked.append(int(line))
            if len(acked) % 150 == 0:
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    manager = LogManager(data, LogConfig(segment_bytes=4000))
    manager.load()
    assert not manager.had_clean_shutdown
    log = manager.get_log("crash", 0)
    assert len(log.segments) > 3
    records = log.read(0, 10**9).records
    values = []
    for position, header in iter_batch_headers(records, check_crc=True):
        _, batch_records = decode_batch(records[position : position + header.size])
        values.extend(int(r.value) for r in batch_records)
    # every acknowledged sequence is there exactly once, in order; nothing is duplicated
    assert values == list(range(len(values)))
    assert set(acked) <= set(values[::3])
    last = log.producer_state.last_entry(99)
    assert last.last_seq == values[-1]
    retry = build_batch(
        [(b"k", b"%010d" % (values[-3] + i), [], NOW) for i in range(3)],
        producer_id=99,
        producer_epoch=0,
        base_sequence=values[-3],
    )
    assert log.append(bytearray(retry)).duplicate
    manager.close()
