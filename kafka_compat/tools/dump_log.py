"""`kafka-compat dump-log`, like kafka-dump-log.sh: what is on disk, read with the
storage modules, no broker needed.

`--files` takes files and directories (comma separated or repeated): a data dir
(its checkpoint files and meta.properties, then every partition directory), a
partition directory (its segments, indexes, producer snapshots, leader-epoch
checkpoint, partition.metadata) or single files: `.log` (batches; with
`--deep-iteration` their records; with `--print-data-log` also keys and values,
which implies deep iteration, as in Kafka), `.index`, `.timeindex`, `.txnindex`,
`.snapshot`, `*-checkpoint`. Lines are Kafka's DumpLogSegments lines where Kafka has
the file type. `--output json` gives one document with every file.

A large `.log` shows a progress bar on stderr (a terminal only), by bytes read.
"""

from __future__ import annotations

import argparse
import base64
import json
import struct
import sys
from collections.abc import Iterator
from pathlib import Path

from kafka_compat.groups import records as group_records
from kafka_compat.tools.common import Progress, UsageError, add_output_argument, print_json, run
from kafka_compat.tools.connection import ToolError
from kafka_compat.txn import records as txn_records
from protocol import records
from storage.checkpoint import OffsetCheckpointFile
from storage.errors import StorageError
from storage.leader_epoch import read_checkpoint
from storage.producer_state import decode_snapshot
from storage.transaction_index import TransactionIndex

CODEC_NAMES = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}
CONTROL_NAMES = {records.CONTROL_ABORT: "ABORT", records.CONTROL_COMMIT: "COMMIT"}
_OFFSET_ENTRY = struct.Struct(">ii")
_TIME_ENTRY = struct.Struct(">qi")
_SEGMENT_ORDER = {".log": 0, ".index": 1, ".timeindex": 2, ".txnindex": 3, ".snapshot": 4}
OFFSET_CHECKPOINTS = (
    "recovery-point-offset-checkpoint",
    "log-start-offset-checkpoint",
    "replication-offset-checkpoint",
    "cleaner-offset-checkpoint",
)
PROGRESS_MIN_BYTES = 16 << 20
CHUNK_BYTES = 8 << 20


def _text(data: bytes | None) -> str:
    return "null" if data is None else data.decode("utf-8", errors="replace")


def base_offset_of(path: Path) -> int:
    try:
        return int(path.name.split(".", 1)[0])
    except ValueError:
        raise ToolError(f"{path}: not a segment file name (<base offset>{path.suffix})") from None


# ---- one file -> (lines, document) ----


def dump_segment(
    path: Path, deep: bool, contents: bool, decoder=None
) -> Iterator[tuple[str, dict]]:
    """Kafka's batch lines ("baseOffset: ... isvalid: true") and "| offset:" record lines."""
    size = path.stat().st_size
    yield (
        f"Log starting offset: {base_offset_of(path)}",
        {"log_starting_offset": base_offset_of(path)},
    )
    if size == 0:
        return
    # Read in chunks (a segment may be a GiB); a batch across chunks waits for the next.
    with open(path, "rb") as file, Progress(path.name, size) as progress:
        progress.enabled = progress.enabled and size >= PROGRESS_MIN_BYTES
        start = 0  # file position of buf[0]
        buf = b""
        garbage = False  # bytes that are not a batch header: the rest is not read
        while not garbage and (chunk := file.read(CHUNK_BYTES)):
            buf += chunk
            used = 0
            batches = records.iter_batch_headers(buf)
            while True:
                try:
                    position, header = next(batches)
                except StopIteration:
                    break
                except records.InvalidRecordError:
                    garbage = True
                    break
                batch = buf[position : position + header.size]
                try:
                    records.validate_batch_at(batch, 0)
                    valid = True
                except records.InvalidRecordError:
                    valid = False
                yield from _batch_lines(
                    start + position, header, batch, valid, deep, contents, decoder
                )
                used = position + header.size
                progress.advance(header.size)
            buf = buf[used:]
            start += used
        if start < size:
            yield (
                f"Found {size - start} invalid bytes at the end of {path.name}",
                {"trailing_invalid_bytes": size - start, "position": start},
            )


def _batch_lines(position, header, batch, valid, deep, contents, decoder=None):
    kind = "LogAppendTime" if header.is_log_append_time else "CreateTime"
    horizon = header.delete_horizon_ms
    horizon_text = "OptionalLong.empty" if horizon is None else f"OptionalLong[{horizon}]"
    yield (
        f"baseOffset: {header.base_offset} lastOffset: {header.last_offset} "
        f"count: {header.records_count} baseSequence: {header.base_sequence} "
        f"lastSequence: {header.last_sequence} producerId: {header.producer_id} "
        f"producerEpoch: {header.producer_epoch} "
        f"partitionLeaderEpoch: {header.partition_leader_epoch} "
        f"isTransactional: {str(header.is_transactional).lower()} "
        f"isControl: {str(header.is_control).lower()} "
        f"deleteHorizonMs: {horizon_text} "
        f"position: {position} {kind}: {header.max_timestamp} size: {header.size} "
        f"magic: {header.magic} compresscodec: {CODEC_NAMES.get(header.codec, header.codec)} "
        f"crc: {header.crc} isvalid: {str(valid).lower()}",
        {
            "batch": {
                "base_offset": header.base_offset,
                "last_offset": header.last_offset,
                "count": header.records_count,
                "base_sequence": header.base_sequence,
                "last_sequence": header.last_sequence,
                "producer_id": header.producer_id,
                "producer_epoch": header.producer_epoch,
                "partition_leader_epoch": header.partition_leader_epoch,
                "is_transactional": header.is_transactional,
                "is_control": header.is_control,
                "delete_horizon_ms": horizon,
                "position": position,
                "timestamp_type": kind,
                "max_timestamp": header.max_timestamp,
                "size": header.size,
                "magic": header.magic,
                "compression": CODEC_NAMES.get(header.codec, header.codec),
                "crc": header.crc,
                "is_valid": valid,
            }
        },
    )
    if not (deep or contents or decoder) or not valid:
        return
    _, batch_records = records.decode_batch(batch)
    for record in batch_records:
        sequence = -1
        if header.base_sequence >= 0:
            sequence = records.increment_sequence(
                header.base_sequence, record.offset - header.base_offset
            )
        line = (
            f"| offset: {record.offset} {kind}: {record.timestamp} "
            f"keySize: {-1 if record.key is None else len(record.key)} "
            f"valueSize: {-1 if record.value is None else len(record.value)} "
            f"sequence: {sequence} headerKeys: [{','.join(k for k, _ in record.headers)}]"
        )
        document = {
            "offset": record.offset,
            "timestamp": record.timestamp,
            "key_size": -1 if record.key is None else len(record.key),
            "value_size": -1 if record.value is None else len(record.value),
            "sequence": sequence,
            "header_keys": [k for k, _ in record.headers],
        }
        if header.is_control:
            control = records.control_record_type(record.key)
            name = CONTROL_NAMES.get(control, f"UNKNOWN({control})")
            epoch = -1
            if record.value is not None and len(record.value) >= 6:
                epoch = struct.unpack_from(">hi", record.value)[1]
            line += f" endTxnMarker: {name} coordinatorEpoch: {epoch}"
            document["end_txn_marker"] = {"type": name, "coordinator_epoch": epoch}
        elif decoder is not None:
            key, payload = decoder(record.key, record.value)
            line += f" key: {key} payload: {payload}"
            document["key"], document["payload"] = key, payload
        elif contents:
            # Kafka prints each only when the record has it.
            if record.key is not None:
                line += f" key: {_text(record.key)}"
            if record.value is not None:
                line += f" payload: {_text(record.value)}"
            document["key"] = None if record.key is None else _text(record.key)
            document["payload"] = None if record.value is None else _text(record.value)
            document["headers"] = {k: None if v is None else _text(v) for k, v in record.headers}
        yield line, {"record": document}


# ---- --offsets-decoder, --transaction-log-decoder (Kafka's message parsers) ----


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


def _json_of(value):
    """A decoded protocol message as Kafka's JSON converters print it (camelCase)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, (list, tuple, frozenset, set)):
        return [_json_of(v) for v in value]
    slots = getattr(type(value), "__slots__", None)
    if slots:
        return {_camel(k): _json_of(getattr(value, k)) for k in slots if not k.startswith("_")}
    return value


def _dumps(document) -> str:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def decode_offsets_record(key: bytes | None, value: bytes | None) -> tuple[str, str]:
    """(key, payload) of a __consumer_offsets record, as kafka-dump-log --offsets-decoder."""
    try:
        version = struct.unpack_from(">h", key)[0]
        decoded = group_records.decode_key(key)
        if isinstance(decoded, group_records.OffsetKey):
            key_text = _dumps({"type": str(version), "data": decoded._asdict()})
            if value is None:
                return key_text, "<DELETE>"
            offset = group_records.decode_offset_value(value)
            data = {
                "offset": offset.offset,
                "leaderEpoch": offset.leader_epoch,
                "metadata": offset.metadata,
                "commitTimestamp": offset.commit_timestamp,
            }
            if offset.expire_timestamp >= 0:
                data["expireTimestamp"] = offset.expire_timestamp
            value_version = struct.unpack_from(">h", value)[0]
            return key_text, _dumps({"version": str(value_version), "data": data})
        if isinstance(decoded, group_records.GroupKey):
            key_text = _dumps({"type": str(version), "data": {"group": decoded.group}})
            if value is None:
                return key_text, "<DELETE>"
            value_version, metadata = group_records.decode_group_value(value)
            return key_text, _dumps({"version": str(value_version), "data": _json_of(metadata)})
    except (group_records.RecordError, struct.error) as exc:
        return f"unknown ({exc})", "unknown"
    return f"unknown key version {version}", "unknown"


def decode_transaction_record(key: bytes | None, value: bytes | None) -> tuple[str, str]:
    """(key, payload) of a __transaction_state record (--transaction-log-decoder)."""
    try:
        transactional_id = txn_records.decode_txn_key(key)
        key_text = _dumps({"type": "0", "data": {"transactionalId": transactional_id}})
        if value is None:
            return key_text, "<DELETE>"
        txn = txn_records.decode_txn_value(value)
        by_topic: dict[str, list[int]] = {}
        for topic, partition in sorted(txn.partitions):
            by_topic.setdefault(topic, []).append(partition)
        data = {
            "producerId": txn.producer_id,
            "producerEpoch": txn.producer_epoch,
            "transactionTimeoutMs": txn.timeout_ms,
            "transactionStatus": txn.state,
            "transactionPartitions": [
                {"topic": t, "partitionIds": ps} for t, ps in by_topic.items()
            ],
            "transactionLastUpdateTimestampMs": txn.last_update_ms,
            "transactionStartTimestampMs": txn.start_ms,
        }
        value_version = struct.unpack_from(">h", value)[0]
        return key_text, _dumps({"version": str(value_version), "data": data})
    except (txn_records.RecordError, struct.error) as exc:
        return f"unknown ({exc})", "unknown"


def dump_offset_index(path: Path) -> Iterator[tuple[str, dict]]:
    base = base_offset_of(path)
    data = path.read_bytes()
    usable = len(data) - len(data) % _OFFSET_ENTRY.size
    for relative, position in _OFFSET_ENTRY.iter_unpack(data[:usable]):
        yield (
            f"offset: {base + relative} position: {position}",
            {"offset": base + relative, "position": position},
        )


def dump_time_index(path: Path) -> Iterator[tuple[str, dict]]:
    base = base_offset_of(path)
    data = path.read_bytes()
    usable = len(data) - len(data) % _TIME_ENTRY.size
    for timestamp, relative in _TIME_ENTRY.iter_unpack(data[:usable]):
        yield (
            f"timestamp: {timestamp} offset: {base + relative}",
            {"timestamp": timestamp, "offset": base + relative},
        )


def dump_txn_index(path: Path) -> Iterator[tuple[str, dict]]:
    for txn in TransactionIndex(path, base_offset_of(path)).all_aborted_txns():
        yield (
            f"version: 0 producerId: {txn.producer_id} firstOffset: {txn.first_offset} "
            f"lastOffset: {txn.last_offset} lastStableOffset: {txn.last_stable_offset}",
            {"aborted_txn": txn._asdict()},
        )


def dump_snapshot(path: Path) -> Iterator[tuple[str, dict]]:
    for entry in decode_snapshot(path.read_bytes()):
        txn = entry.current_txn_first_offset
        txn_text = "OptionalLong.empty" if txn is None else f"OptionalLong[{txn}]"
        head = (
            f"producerId: {entry.producer_id} producerEpoch: {entry.producer_epoch} "
            f"coordinatorEpoch: {entry.coordinator_epoch} currentTxnFirstOffset: {txn_text} "
            f"lastTimestamp: {entry.last_timestamp}"
        )
        batches = list(entry.batches)
        document = {
            "producer_id": entry.producer_id,
            "producer_epoch": entry.producer_epoch,
            "coordinator_epoch": entry.coordinator_epoch,
            "current_txn_first_offset": txn,
            "last_timestamp": entry.last_timestamp,
            "batches": [b._asdict() for b in batches],
        }
        if not batches:
            yield head, {"producer": document}
            continue
        tail = " ".join(
            f"firstSequence: {b.first_seq} lastSequence: {b.last_seq} lastOffset: {b.last_offset} "
            f"offsetDelta: {b.last_offset - b.first_offset} timestamp: {b.timestamp}"
            for b in batches
        )
        yield f"{head} {tail}", {"producer": document}


def dump_offset_checkpoint(path: Path) -> Iterator[tuple[str, dict]]:
    for (topic, partition), offset in sorted(OffsetCheckpointFile(path).read().items()):
        yield (
            f"topic: {topic} partition: {partition} offset: {offset}",
            {"topic": topic, "partition": partition, "offset": offset},
        )


def dump_epoch_checkpoint(path: Path) -> Iterator[tuple[str, dict]]:
    for entry in read_checkpoint(path) or ():
        yield (
            f"epoch: {entry.epoch} startOffset: {entry.start_offset}",
            {"epoch": entry.epoch, "start_offset": entry.start_offset},
        )


def dump_text(path: Path) -> Iterator[tuple[str, dict]]:
    for line in path.read_text("utf-8", errors="replace").splitlines():
        if line.strip() and not line.startswith("#"):
            yield line, {"line": line}


def dumper_for(path: Path, deep: bool, contents: bool, decoder=None):
    name = path.name
    if name.endswith(".log"):
        return lambda: dump_segment(path, deep, contents, decoder)
    if name.endswith(".index"):
        return lambda: dump_offset_index(path)
    if name.endswith(".timeindex"):
        return lambda: dump_time_index(path)
    if name.endswith(".txnindex"):
        return lambda: dump_txn_index(path)
    if name.endswith(".snapshot"):
        return lambda: dump_snapshot(path)
    if name in OFFSET_CHECKPOINTS:
        return lambda: dump_offset_checkpoint(path)
    if name == "leader-epoch-checkpoint":
        return lambda: dump_epoch_checkpoint(path)
    if name in ("meta.properties", "partition.metadata"):
        return lambda: dump_text(path)
    return None


def expand(path: Path) -> list[Path]:
    """A directory -> the files it holds that dump-log reads, in Kafka's order: a data
    dir's own files first, then each partition directory's, segments by base offset."""
    if not path.is_dir():
        return [path]
    own = sorted(
        (p for p in path.iterdir() if p.is_file() and dumper_for(p, False, False)),
        key=lambda p: (p.name.split(".", 1)[0], _SEGMENT_ORDER.get(p.suffix, 9), p.name),
    )
    nested = []
    for child in sorted(p for p in path.iterdir() if p.is_dir()):
        nested += expand(child)
    return own + nested


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "dump-log", help="print segments, indexes, snapshots, checkpoints (kafka-dump-log.sh)"
    )
    parser.add_argument(
        "--files",
        action="append",
        required=True,
        help="files or directories (a data dir, a partition dir), comma separated",
    )
    parser.add_argument("--deep-iteration", action="store_true", help="records, not only batches")
    parser.add_argument(
        "--print-data-log", action="store_true", help="keys and values too (implies deep iteration)"
    )
    parser.add_argument(
        "--offsets-decoder", action="store_true", help="read __consumer_offsets records"
    )
    parser.add_argument(
        "--transaction-log-decoder", action="store_true", help="read __transaction_state records"
    )
    add_output_argument(parser)
    parser.set_defaults(run=lambda args: run(main, args))


def main(args: argparse.Namespace) -> int:
    paths = [Path(p) for item in args.files for p in item.split(",") if p.strip()]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise ToolError(f"{missing[0]}: no such file or directory")
    files = [f for p in paths for f in expand(p)]
    json_out = args.output == "json"
    documents = []
    out = sys.stdout
    for path in files:
        decoder = None
        if args.offsets_decoder:
            decoder = decode_offsets_record
        elif args.transaction_log_decoder:
            decoder = decode_transaction_record
        dumper = dumper_for(path, args.deep_iteration, args.print_data_log, decoder)
        if dumper is None:
            if len(paths) == 1 and path == paths[0]:
                raise UsageError(f"{path}: not a file dump-log reads")
            continue
        entries = []
        if not json_out:
            out.write(f"Dumping {path}\n")
        try:
            for line, document in dumper():
                if json_out:
                    entries.append(document)
                else:
                    out.write(line + "\n")
        except BrokenPipeError:
            raise
        except (StorageError, records.InvalidRecordError, OSError) as exc:
            raise ToolError(f"{path}: {exc}") from None
        if json_out:
            documents.append({"file": str(path), "entries": entries})
    if json_out:
        print_json({"files": documents})
    return 0
