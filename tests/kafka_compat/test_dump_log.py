"""`kafka-compat dump-log` on files the storage modules write: each on-disk format
(offset and time indexes, transaction index, producer snapshot, offset and leader
epoch checkpoints, a segment with a torn tail) comes back as Kafka's tool prints it."""

from __future__ import annotations

from pathlib import Path

from kafka_compat import cli
from protocol.records import build_batch, build_end_txn_marker
from storage.checkpoint import OffsetCheckpointFile
from storage.index import OffsetIndex, TimeIndex
from storage.leader_epoch import EpochEntry, encode_epoch_checkpoint
from storage.producer_state import BatchMetadata, ProducerStateEntry, encode_snapshot
from storage.transaction_index import AbortedTxn, TransactionIndex

BASE = "00000000000000000100"


def dump(capsys, *paths: Path, flags: tuple[str, ...] = ()) -> list[str]:
    assert cli.main(["dump-log", "--files", ",".join(map(str, paths)), *flags]) == 0
    return capsys.readouterr().out.splitlines()


def test_indexes_snapshot_and_checkpoints(tmp_path, capsys):
    index = OffsetIndex(tmp_path / f"{BASE}.index", 100)
    index.append(105, 4096)
    index.append(110, 8192)
    index.write_pending()
    times = TimeIndex(tmp_path / f"{BASE}.timeindex", 100)
    times.maybe_append(1_700_000_000_000, 104)
    times.maybe_append(1_700_000_000_500, 109)
    times.write_pending()
    txns = TransactionIndex(tmp_path / f"{BASE}.txnindex", 100)
    txns.append(AbortedTxn(7, 101, 103, 101))
    (tmp_path / f"{BASE}.snapshot").write_bytes(
        encode_snapshot(
            [
                ProducerStateEntry(
                    7,
                    2,
                    [BatchMetadata(0, 4, 100, 104, 1_700_000_000_000)],
                    3,
                    101,
                    1_700_000_000_001,
                )
            ]
        )
    )
    OffsetCheckpointFile(tmp_path / "recovery-point-offset-checkpoint").write({("t", 0): 42})
    (tmp_path / "leader-epoch-checkpoint").write_bytes(
        encode_epoch_checkpoint([EpochEntry(0, 0), EpochEntry(3, 100)])
    )
    assert dump(capsys, tmp_path) == [
        f"Dumping {tmp_path / f'{BASE}.index'}",
        "offset: 105 position: 4096",
        "offset: 110 position: 8192",
        f"Dumping {tmp_path / f'{BASE}.timeindex'}",
        "timestamp: 1700000000000 offset: 104",
        "timestamp: 1700000000500 offset: 109",
        f"Dumping {tmp_path / f'{BASE}.txnindex'}",
        "version: 0 producerId: 7 firstOffset: 101 lastOffset: 103 lastStableOffset: 101",
        f"Dumping {tmp_path / f'{BASE}.snapshot'}",
        "producerId: 7 producerEpoch: 2 coordinatorEpoch: 3 currentTxnFirstOffset: "
        "OptionalLong[101] lastTimestamp: 1700000000001 firstSequence: 0 lastSequence: 4 "
        "lastOffset: 104 offsetDelta: 4 timestamp: 1700000000001",
        f"Dumping {tmp_path / 'leader-epoch-checkpoint'}",
        "epoch: 0 startOffset: 0",
        "epoch: 3 startOffset: 100",
        f"Dumping {tmp_path / 'recovery-point-offset-checkpoint'}",
        "topic: t partition: 0 offset: 42",
    ]


def test_segment_batches_markers_and_a_torn_tail(tmp_path, capsys):
    segment = tmp_path / f"{BASE}.log"
    data = build_batch(
        [(b"k", b"v", [("h", b"1")], 1000), (None, b"w", (), 1001)],
        base_offset=100,
        producer_id=7,
        producer_epoch=2,
        base_sequence=0,
        transactional=True,
    )
    marker = build_end_txn_marker(
        commit=False, producer_id=7, producer_epoch=2, coordinator_epoch=5, timestamp=1002,
        base_offset=102,
    )  # fmt: skip
    segment.write_bytes(data + marker + b"\x00" * 10)
    lines = dump(capsys, segment, flags=("--print-data-log",))
    assert lines[:2] == [f"Dumping {segment}", "Log starting offset: 100"]
    assert lines[2].startswith(
        "baseOffset: 100 lastOffset: 101 count: 2 baseSequence: 0 lastSequence: 1 producerId: 7 "
        "producerEpoch: 2 partitionLeaderEpoch: -1 isTransactional: true isControl: false "
        "deleteHorizonMs: OptionalLong.empty position: 0 CreateTime: 1001 "
    )
    assert lines[3:5] == [
        "| offset: 100 CreateTime: 1000 keySize: 1 valueSize: 1 sequence: 0 headerKeys: [h] "
        "key: k payload: v",
        "| offset: 101 CreateTime: 1001 keySize: -1 valueSize: 1 sequence: 1 headerKeys: [] "
        "payload: w",
    ]
    assert f"position: {len(data)} CreateTime: 1002" in lines[5] and "isControl: true" in lines[5]
    assert lines[6] == (
        "| offset: 102 CreateTime: 1002 keySize: 4 valueSize: 6 sequence: -1 headerKeys: [] "
        "endTxnMarker: ABORT coordinatorEpoch: 5"
    )
    assert lines[7] == f"Found 10 invalid bytes at the end of {segment.name}"
    # Garbage long enough to look like a header: the batches before it, then the count.
    segment.write_bytes(data + b"\x00" * 100)
    lines = dump(capsys, segment)
    assert len(lines) == 4
    assert lines[3] == f"Found 100 invalid bytes at the end of {segment.name}"
