"""RecordBatch v2 (magic 2) as a view over bytes.

Layout of one batch (Kafka's DefaultRecordBatch), 61 header bytes then the records:

    0  baseOffset int64         \\ outside the CRC: the broker patches
    8  batchLength int32         | these in place when it assigns offsets
    12 partitionLeaderEpoch int32 /
    16 magic int8 (= 2)
    17 crc uint32 (CRC-32C of attributes .. end of batch)
    21 attributes int16 (codec 0-2, timestamp type 3, transactional 4, control 5)
    23 lastOffsetDelta int32
    27 baseTimestamp int64
    35 maxTimestamp int64
    43 producerId int64
    51 producerEpoch int16
    53 baseSequence int32
    57 recordsCount int32
    61 records (compressed as one block when codec != 0)

The produce and fetch paths work per batch only: `scan_batches` validates a
payload with one `unpack_from` and one CRC per batch, `assign_offsets` patches
base offsets without re-encoding, `set_log_append_time` rewrites two fields and
the CRC. Records are decoded (`decode_batch`) only where a feature needs them:
tests, the log cleaner, ListOffsets by timestamp, transaction markers.
Only record format v2 is accepted, as in Kafka 4.0.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import struct
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple


def _load_crc32c() -> Callable[[bytes | memoryview], int]:
    """CRC-32C from the `crc32c` package's C extension, loaded without the package.

    The package's ``__init__`` asks importlib.metadata for its own version, which
    reads every installed distribution's metadata: 20-100 ms of a broker's start-up
    on our machines. The extension alone has the function; should the package's
    layout change, the plain import is the fallback.
    """
    try:
        spec = importlib.util.find_spec("crc32c")  # finds, does not import
        for directory in spec.submodule_search_locations or ():
            for suffix in importlib.machinery.EXTENSION_SUFFIXES:
                path = Path(directory, "_crc32c" + suffix)
                if path.is_file():
                    loader = importlib.machinery.ExtensionFileLoader("crc32c._crc32c", str(path))
                    module = importlib.util.module_from_spec(
                        importlib.util.spec_from_loader(loader.name, loader)
                    )
                    loader.exec_module(module)
                    return module.crc32c
    except (ImportError, AttributeError, TypeError, OSError):
        pass
    from crc32c import crc32c

    return crc32c


crc32c = _load_crc32c()

# Kafka error codes raised from here (the full table lives in protocol/errors.py).
CORRUPT_MESSAGE = 2
MESSAGE_TOO_LARGE = 10
INVALID_RECORD = 87

MAGIC = 2
HEADER_SIZE = 61
LOG_OVERHEAD = 12  # baseOffset + batchLength: bytes not counted in batchLength
CRC_OFFSET = 17
ATTRIBUTES_OFFSET = 21
MAX_TIMESTAMP_OFFSET = 35

NO_TIMESTAMP = -1
NO_PRODUCER_ID = -1
NO_PRODUCER_EPOCH = -1
NO_SEQUENCE = -1
NO_PARTITION_LEADER_EPOCH = -1
INT32_MAX = 2**31 - 1

COMPRESSION_NONE = 0
COMPRESSION_GZIP = 1
COMPRESSION_SNAPPY = 2
COMPRESSION_LZ4 = 3
COMPRESSION_ZSTD = 4
CODEC_MASK = 0x07
TIMESTAMP_TYPE_MASK = 0x08  # set: LogAppendTime
TRANSACTIONAL_MASK = 0x10
CONTROL_MASK = 0x20
# KIP-534: the batch's baseTimestamp holds the delete horizon of its tombstones (the log
# cleaner sets it when it first cleans past them); record timestamps stay base + delta.
DELETE_HORIZON_MASK = 0x40

# Control record types (the key of a control record: version int16, type int16).
CONTROL_ABORT = 0
CONTROL_COMMIT = 1

_HEADER = struct.Struct(">qiibIhiqqqhii")
_OFFSET_LENGTH_EPOCH = struct.Struct(">qii")  # the patch assign_offsets writes
_LENGTH_AT = struct.Struct(">i")
_INT16 = struct.Struct(">h")
_INT32 = struct.Struct(">i")
_INT64 = struct.Struct(">q")
_UINT32 = struct.Struct(">I")
_CONTROL_KEY = struct.Struct(">hh")
_TXN_MARKER_VALUE = struct.Struct(">hi")

_XERIAL_MAGIC = b"\x82SNAPPY\x00"
_XERIAL_HEADER = _XERIAL_MAGIC + struct.pack(">ii", 1, 1)
_XERIAL_BLOCK = 32 * 1024  # what the Java client (xerial SnappyOutputStream) uses


class InvalidRecordError(Exception):
    """A produce payload (or log data) that is not whole, valid v2 batches."""

    def __init__(
        self,
        error_code: int,
        message: str,
        record_errors: list[tuple[int, str | None]] | None = None,
    ) -> None:
        super().__init__(message)
        self.error_code = error_code
        # KIP-467: (index of the record in its batch, message) per refused record.
        self.record_errors = record_errors


class BatchHeader(NamedTuple):
    """The 61-byte batch header, field for field."""

    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records_count: int

    @property
    def size(self) -> int:
        return self.batch_length + LOG_OVERHEAD

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def codec(self) -> int:
        return self.attributes & CODEC_MASK

    @property
    def is_log_append_time(self) -> bool:
        return bool(self.attributes & TIMESTAMP_TYPE_MASK)

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & TRANSACTIONAL_MASK)

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & CONTROL_MASK)

    @property
    def delete_horizon_ms(self) -> int | None:
        """When the cleaner may drop this batch's tombstones (KIP-534), None if unset."""
        return self.base_timestamp if self.attributes & DELETE_HORIZON_MASK else None

    @property
    def last_sequence(self) -> int:
        if self.base_sequence == NO_SEQUENCE:
            return NO_SEQUENCE
        return increment_sequence(self.base_sequence, self.last_offset_delta)


_make_header = BatchHeader._make


class BatchesInfo(NamedTuple):
    """What one pass over the batch headers of a payload learned.

    `headers` are as received: base offset, leader epoch and (for LogAppendTime)
    max timestamp are stale once the buffer has been patched. Producer fields come
    from the first batch, `last_sequence` from the last; produce v3+ carries
    exactly one batch per partition, so for produce they describe that batch.
    """

    positions: list[int]
    headers: list[BatchHeader]
    offset_count: int  # sum(last_offset_delta + 1): offsets to assign
    max_timestamp: int
    # Delta from the first assigned offset to the LAST offset of the batch holding
    # max_timestamp (Kafka's "shallow" offset of max timestamp, used by the time index).
    offset_delta_of_max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    last_sequence: int
    is_transactional: bool
    is_control: bool  # any batch is a control batch
    codec: int
    largest_batch_size: int
    size: int  # bytes validated (= len(buf))


def increment_sequence(sequence: int, increment: int) -> int:
    """Sequence numbers wrap from 2**31-1 to 0 (DefaultRecordBatch.incrementSequence)."""
    if sequence > INT32_MAX - increment:
        return increment - (INT32_MAX - sequence) - 1
    return sequence + increment


def read_batch_header(buf: bytes | bytearray | memoryview, pos: int = 0) -> BatchHeader:
    """Unpack the header at `pos` without any check (needs 61 bytes)."""
    return _make_header(_HEADER.unpack_from(buf, pos))


def validate_batch_at(
    buf: bytes | bytearray | memoryview, pos: int, max_batch_size: int | None = None
) -> BatchHeader:
    """Check the batch starting at `pos`: magic, length, whole, CRC. Returns its header."""
    remaining = len(buf) - pos
    if remaining < HEADER_SIZE:
        # Legacy message sets keep magic at the same place: name the real problem.
        if remaining > 16 and buf[pos + 16] != MAGIC:
            raise InvalidRecordError(
                INVALID_RECORD, f"only record batch format v2 is accepted (magic {buf[pos + 16]})"
            )
        raise InvalidRecordError(
            CORRUPT_MESSAGE, f"truncated record batch: {remaining} bytes left at {pos}"
        )
    header = _make_header(_HEADER.unpack_from(buf, pos))
    if header.magic != MAGIC:
        raise InvalidRecordError(
            INVALID_RECORD, f"only record batch format v2 is accepted (magic {header.magic})"
        )
    size = header.batch_length + LOG_OVERHEAD
    if size < HEADER_SIZE:
        raise InvalidRecordError(CORRUPT_MESSAGE, f"record batch length {size} too small")
    if size > remaining:
        raise InvalidRecordError(
            CORRUPT_MESSAGE, f"truncated record batch: {remaining} of {size} bytes"
        )
    if max_batch_size is not None and size > max_batch_size:
        raise InvalidRecordError(
            MESSAGE_TOO_LARGE,
            f"record batch of {size} bytes exceeds the maximum of {max_batch_size}",
        )
    with memoryview(buf) as view:
        crc = crc32c(view[pos + ATTRIBUTES_OFFSET : pos + size])
    if crc != header.crc:
        raise InvalidRecordError(
            CORRUPT_MESSAGE,
            f"record batch CRC mismatch (stored {header.crc}, computed {crc})",
        )
    return header


def scan_batches(
    buf: bytes | bytearray | memoryview, max_batch_size: int | None = None
) -> BatchesInfo:
    """Validate that `buf` is whole v2 batches (CRC checked); one pass, per batch work only."""
    positions: list[int] = []
    headers: list[BatchHeader] = []
    end = len(buf)
    pos = 0
    offset_count = 0
    max_timestamp = NO_TIMESTAMP
    delta_of_max = -1
    largest = 0
    is_control = False
    while pos < end:
        header = validate_batch_at(buf, pos, max_batch_size)
        positions.append(pos)
        headers.append(header)
        offset_count += header.last_offset_delta + 1
        if header.max_timestamp > max_timestamp:
            max_timestamp = header.max_timestamp
            delta_of_max = offset_count - 1
        size = header.batch_length + LOG_OVERHEAD
        if size > largest:
            largest = size
        if header.attributes & CONTROL_MASK:
            is_control = True
        pos += size
    if not headers:
        return BatchesInfo(
            positions, headers, 0, NO_TIMESTAMP, -1, NO_PRODUCER_ID, NO_PRODUCER_EPOCH,
            NO_SEQUENCE, NO_SEQUENCE, False, False, COMPRESSION_NONE, 0, 0,
        )  # fmt: skip
    first = headers[0]
    return BatchesInfo(
        positions,
        headers,
        offset_count,
        max_timestamp,
        delta_of_max,
        first.producer_id,
        first.producer_epoch,
        first.base_sequence,
        headers[-1].last_sequence,
        bool(first.attributes & TRANSACTIONAL_MASK),
        is_control,
        first.attributes & CODEC_MASK,
        largest,
        end,
    )


def assign_offsets(buf: bytearray, info: BatchesInfo, base_offset: int, leader_epoch: int) -> int:
    """Give the batches consecutive offsets from `base_offset`; returns the last offset.

    baseOffset and partitionLeaderEpoch sit outside the CRC: one 16-byte patch per batch
    (offset, the unchanged length, epoch), no re-encoding.
    """
    offset = base_offset
    pack_into = _OFFSET_LENGTH_EPOCH.pack_into
    for pos, header in zip(info.positions, info.headers, strict=True):
        pack_into(buf, pos, offset, header.batch_length, leader_epoch)
        offset += header.last_offset_delta + 1
    return offset - 1


def set_log_append_time(buf: bytearray, info: BatchesInfo, now_ms: int) -> None:
    """Mark every batch LogAppendTime with max timestamp `now_ms`; CRCs recomputed.

    As Kafka does in place: records keep their deltas, consumers use the batch's
    max timestamp for every record of a LogAppendTime batch.
    """
    with memoryview(buf) as view:
        for pos, header in zip(info.positions, info.headers, strict=True):
            _INT16.pack_into(buf, pos + ATTRIBUTES_OFFSET, header.attributes | TIMESTAMP_TYPE_MASK)
            _INT64.pack_into(buf, pos + MAX_TIMESTAMP_OFFSET, now_ms)
            crc = crc32c(view[pos + ATTRIBUTES_OFFSET : pos + header.batch_length + LOG_OVERHEAD])
            _UINT32.pack_into(buf, pos + CRC_OFFSET, crc)


def iter_batch_headers(
    buf: bytes | bytearray | memoryview, *, check_crc: bool = False
) -> Iterator[tuple[int, BatchHeader]]:
    """Yield (position, header) of each whole batch; stops before an incomplete tail.

    With `check_crc` a corrupt batch raises InvalidRecordError; without it only the
    magic and length are checked. For recovery and tools, never for produce/fetch.
    """
    end = len(buf)
    pos = 0
    while end - pos >= HEADER_SIZE:
        header = _make_header(_HEADER.unpack_from(buf, pos))
        size = header.batch_length + LOG_OVERHEAD
        if size > end - pos:
            return
        if check_crc:
            validate_batch_at(buf, pos)
        elif header.magic != MAGIC or size < HEADER_SIZE:
            raise InvalidRecordError(CORRUPT_MESSAGE, f"not a v2 record batch at {pos}")
        yield pos, header
        pos += size


# ---------------------------------------------------------------------------
# Records: encoding and decoding (tests, cleaner, ListOffsets by timestamp only)


class Record(NamedTuple):
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]


def _write_varint(out: bytearray, value: int) -> None:
    """Zigzag varint/varlong, as every v2 record field uses."""
    value = (value << 1) ^ (value >> 63)
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    shift = 0
    result = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return (result >> 1) ^ -(result & 1), pos
        shift += 7
        if shift > 63:
            raise InvalidRecordError(CORRUPT_MESSAGE, "varint too long")


def _write_bytes(out: bytearray, data: bytes | None) -> None:
    if data is None:
        out.append(1)  # zigzag(-1)
    else:
        _write_varint(out, len(data))
        out += data


def compress(codec: int, data: bytes | bytearray, level: int | None = None) -> bytes:
    """Compress a records block the way Kafka's Java producer writes it; `level` as
    Kafka's compression.<codec>.level (None or -1: the codec's default; snappy has none)."""
    import cramjam  # here: a broker whose clients do not compress never loads it

    if level == -1:
        level = None
    if codec == COMPRESSION_GZIP:
        return bytes(cramjam.gzip.compress(data, level=level))
    if codec == COMPRESSION_SNAPPY:
        # xerial block framing, as the Java client writes; librdkafka reads it too.
        out = bytearray(_XERIAL_HEADER)
        view = memoryview(data)
        for start in range(0, len(view), _XERIAL_BLOCK):
            block = bytes(cramjam.snappy.compress_raw(bytes(view[start : start + _XERIAL_BLOCK])))
            out += _INT32.pack(len(block))
            out += block
        return bytes(out)
    if codec == COMPRESSION_LZ4:
        # LZ4 frame, independent blocks, no content checksum (what Java's KafkaLZ4 writes).
        # Level 0: LZ4's fast mode, which Kafka's writer uses at its default level.
        compressor = cramjam.lz4.Compressor(
            level=level or 0, content_checksum=False, block_linked=False
        )
        compressor.compress(bytes(data))
        return bytes(compressor.finish())
    if codec == COMPRESSION_ZSTD:
        return bytes(cramjam.zstd.compress(data, level=3 if level is None else level))
    raise InvalidRecordError(CORRUPT_MESSAGE, f"unknown compression codec {codec}")


def decompress(codec: int, data: bytes | bytearray | memoryview) -> bytes:
    """Inverse of `compress`; snappy accepts raw snappy (librdkafka) and xerial framing (Java)."""
    import cramjam

    data = bytes(data)
    try:
        if codec == COMPRESSION_GZIP:
            return bytes(cramjam.gzip.decompress(data))
        if codec == COMPRESSION_SNAPPY:
            if data[:8] != _XERIAL_MAGIC:
                return bytes(cramjam.snappy.decompress_raw(data))
            out = bytearray()
            pos = 16  # magic(8) + version(4) + compatible version(4)
            while pos < len(data):
                (length,) = _INT32.unpack_from(data, pos)
                pos += 4
                if length < 0 or pos + length > len(data):
                    raise ValueError(f"bad xerial snappy block length {length}")
                out += cramjam.snappy.decompress_raw(data[pos : pos + length])
                pos += length
            return bytes(out)
        if codec == COMPRESSION_LZ4:
            return bytes(cramjam.lz4.decompress(data))
        if codec == COMPRESSION_ZSTD:
            return bytes(cramjam.zstd.decompress(data))
    except (cramjam.DecompressionError, ValueError, struct.error) as exc:
        raise InvalidRecordError(CORRUPT_MESSAGE, f"cannot decompress records: {exc}") from exc
    raise InvalidRecordError(CORRUPT_MESSAGE, f"unknown compression codec {codec}")


RecordInput = Record | Sequence  # Record, or (key, value[, headers[, timestamp]])


def build_batch(
    records: Iterable[RecordInput],
    *,
    base_offset: int = 0,
    compression: int = COMPRESSION_NONE,
    producer_id: int = NO_PRODUCER_ID,
    producer_epoch: int = NO_PRODUCER_EPOCH,
    base_sequence: int = NO_SEQUENCE,
    log_append_time: bool = False,
    transactional: bool = False,
    control: bool = False,
    partition_leader_epoch: int = NO_PARTITION_LEADER_EPOCH,
    last_offset_delta: int | None = None,
    delete_horizon_ms: int | None = None,
) -> bytes:
    """Encode one v2 batch.

    Each record is a `Record` (its offset must be >= base_offset: the cleaner keeps
    offsets, gaps allowed) or a tuple (key, value[, headers[, timestamp]]) placed at
    consecutive offsets. A missing timestamp is now. `last_offset_delta` overrides
    the batch's last offset (the cleaner keeps the original one for producer state).
    `delete_horizon_ms` sets the KIP-534 delete horizon: it becomes the batch's base
    timestamp (record timestamp deltas are taken from it) and attribute bit 6 is set.
    """
    items: list[tuple[int, int, bytes | None, bytes | None, Sequence]] = []
    now = None
    for index, item in enumerate(records):
        if isinstance(item, Record):
            items.append(
                (item.offset - base_offset, item.timestamp, item.key, item.value, item.headers)
            )
            continue
        key, value = item[0], item[1]
        headers = item[2] if len(item) > 2 and item[2] is not None else ()
        timestamp = item[3] if len(item) > 3 else None
        if timestamp is None:
            if now is None:
                now = int(time.time() * 1000)
            timestamp = now
        items.append((index, timestamp, key, value, headers))

    if items:
        first_timestamp = items[0][1]
        max_timestamp = max(item[1] for item in items)
        if delete_horizon_ms is not None:
            first_timestamp = delete_horizon_ms
        max_delta = max(item[0] for item in items)
    else:
        first_timestamp = max_timestamp = NO_TIMESTAMP
        max_delta = 0
    if last_offset_delta is None:
        last_offset_delta = max_delta

    body = bytearray()
    record = bytearray()
    for offset_delta, timestamp, key, value, headers in items:
        record.clear()
        record.append(0)  # record attributes: unused
        _write_varint(record, timestamp - first_timestamp)
        _write_varint(record, offset_delta)
        _write_bytes(record, key)
        _write_bytes(record, value)
        _write_varint(record, len(headers))
        for header_key, header_value in headers:
            _write_bytes(record, header_key.encode("utf-8"))
            _write_bytes(record, header_value)
        _write_varint(body, len(record))
        body += record

    attributes = compression & CODEC_MASK
    if log_append_time:
        attributes |= TIMESTAMP_TYPE_MASK
    if transactional:
        attributes |= TRANSACTIONAL_MASK
    if control:
        attributes |= CONTROL_MASK
    if delete_horizon_ms is not None:
        attributes |= DELETE_HORIZON_MASK
    if compression != COMPRESSION_NONE:
        body = compress(compression, body)

    out = bytearray(HEADER_SIZE)
    out += body
    _HEADER.pack_into(
        out,
        0,
        base_offset,
        len(out) - LOG_OVERHEAD,
        partition_leader_epoch,
        MAGIC,
        0,
        attributes,
        last_offset_delta,
        first_timestamp,
        max_timestamp,
        producer_id,
        producer_epoch,
        base_sequence,
        len(items),
    )
    with memoryview(out) as view:
        _UINT32.pack_into(out, CRC_OFFSET, crc32c(view[ATTRIBUTES_OFFSET:]))
    return bytes(out)


def build_empty_batch(header: BatchHeader) -> bytes:
    """A batch without records that keeps `header`'s offsets and producer fields.

    What Kafka's cleaner leaves when it removed every record of a producer's last
    batch: the base offset, last offset delta, producer id/epoch and base sequence
    survive, so the producer's last sequence survives too (a rebuild of producer
    state from batch headers still finds it). Both timestamps are the max timestamp.
    """
    out = bytearray(HEADER_SIZE)
    attributes = header.attributes & ~(CODEC_MASK | DELETE_HORIZON_MASK)
    _HEADER.pack_into(
        out,
        0,
        header.base_offset,
        HEADER_SIZE - LOG_OVERHEAD,
        header.partition_leader_epoch,
        MAGIC,
        0,
        attributes,
        header.last_offset_delta,
        header.max_timestamp,
        header.max_timestamp,
        header.producer_id,
        header.producer_epoch,
        header.base_sequence,
        0,
    )
    with memoryview(out) as view:
        _UINT32.pack_into(out, CRC_OFFSET, crc32c(view[ATTRIBUTES_OFFSET:]))
    return bytes(out)


def build_end_txn_marker(
    *,
    commit: bool,
    producer_id: int,
    producer_epoch: int,
    coordinator_epoch: int,
    timestamp: int,
    base_offset: int = 0,
    partition_leader_epoch: int = NO_PARTITION_LEADER_EPOCH,
) -> bytes:
    """A COMMIT/ABORT control batch (EndTransactionMarker), as WriteTxnMarkers writes."""
    key = _CONTROL_KEY.pack(0, CONTROL_COMMIT if commit else CONTROL_ABORT)
    value = _TXN_MARKER_VALUE.pack(0, coordinator_epoch)
    return build_batch(
        [(key, value, (), timestamp)],
        base_offset=base_offset,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        transactional=True,
        control=True,
        partition_leader_epoch=partition_leader_epoch,
    )


def control_record_type(key: bytes) -> int:
    """CONTROL_ABORT / CONTROL_COMMIT (or another type) from a control record's key."""
    if key is None or len(key) < 4:
        raise InvalidRecordError(CORRUPT_MESSAGE, "control record key too short")
    return _CONTROL_KEY.unpack_from(key)[1]


def read_end_txn_marker(batch: bytes | bytearray | memoryview) -> tuple[int, int]:
    """(control type, coordinator epoch) of a control batch's marker record."""
    _, records = decode_batch(batch)
    if not records:
        raise InvalidRecordError(CORRUPT_MESSAGE, "control batch without a record")
    marker = records[0]
    control_type = control_record_type(marker.key)
    coordinator_epoch = -1
    if marker.value is not None and len(marker.value) >= _TXN_MARKER_VALUE.size:
        coordinator_epoch = _TXN_MARKER_VALUE.unpack_from(marker.value)[1]
    return control_type, coordinator_epoch


def decode_batch(
    batch: bytes | bytearray | memoryview, *, check_crc: bool = False
) -> tuple[BatchHeader, list[Record]]:
    """Decode one whole batch (decompressing if needed) into its records."""
    if check_crc:
        header = validate_batch_at(batch, 0)
    else:
        if len(batch) < HEADER_SIZE:
            raise InvalidRecordError(CORRUPT_MESSAGE, "truncated record batch")
        header = _make_header(_HEADER.unpack_from(batch, 0))
        if header.magic != MAGIC:
            raise InvalidRecordError(
                INVALID_RECORD, f"only record batch format v2 is accepted (magic {header.magic})"
            )
        if header.size > len(batch) or header.size < HEADER_SIZE:
            raise InvalidRecordError(CORRUPT_MESSAGE, "truncated record batch")
    with memoryview(batch) as view:
        payload = view[HEADER_SIZE : header.size]
        codec = header.attributes & CODEC_MASK
        data = decompress(codec, payload) if codec else bytes(payload)
    append_time = header.max_timestamp if header.is_log_append_time else None
    try:
        records = _decode_records(
            data, header.records_count, header.base_offset, header.base_timestamp, append_time
        )
    except (IndexError, UnicodeDecodeError) as exc:
        raise InvalidRecordError(CORRUPT_MESSAGE, f"malformed record: {exc}") from exc
    return header, records


def _decode_records(
    data: bytes, count: int, base_offset: int, base_timestamp: int, append_time: int | None
) -> list[Record]:
    # Hot for the log cleaner: one-byte varints (most lengths and deltas) are read inline.
    records = []
    read_varint = _read_varint
    pos = 0
    for _ in range(count):
        b = data[pos]
        if b < 0x80:
            length = (b >> 1) ^ -(b & 1)
            pos += 1
        else:
            length, pos = read_varint(data, pos)
        end = pos + length
        pos += 1  # attributes
        b = data[pos]
        if b < 0x80:
            timestamp_delta = (b >> 1) ^ -(b & 1)
            pos += 1
        else:
            timestamp_delta, pos = read_varint(data, pos)
        b = data[pos]
        if b < 0x80:
            offset_delta = (b >> 1) ^ -(b & 1)
            pos += 1
        else:
            offset_delta, pos = read_varint(data, pos)
        b = data[pos]
        if b < 0x80:
            key_length = (b >> 1) ^ -(b & 1)
            pos += 1
        else:
            key_length, pos = read_varint(data, pos)
        key = None
        if key_length >= 0:
            key = data[pos : pos + key_length]
            pos += key_length
        b = data[pos]
        if b < 0x80:
            value_length = (b >> 1) ^ -(b & 1)
            pos += 1
        else:
            value_length, pos = read_varint(data, pos)
        value = None
        if value_length >= 0:
            value = data[pos : pos + value_length]
            pos += value_length
        b = data[pos]
        headers = []
        if b == 0:
            pos += 1
        else:
            header_count, pos = read_varint(data, pos)
            for _ in range(header_count):
                header_key_length, pos = read_varint(data, pos)
                header_key = data[pos : pos + header_key_length].decode("utf-8")
                pos += header_key_length
                header_value_length, pos = read_varint(data, pos)
                header_value = None
                if header_value_length >= 0:
                    header_value = data[pos : pos + header_value_length]
                    pos += header_value_length
                headers.append((header_key, header_value))
        if pos != end or end > len(data):
            raise InvalidRecordError(CORRUPT_MESSAGE, "record length does not match its fields")
        timestamp = append_time if append_time is not None else base_timestamp + timestamp_delta
        records.append(Record(base_offset + offset_delta, timestamp, key, value, headers))
    if pos != len(data):
        raise InvalidRecordError(
            CORRUPT_MESSAGE, f"{len(data) - pos} bytes after the last of {count} records"
        )
    return records
