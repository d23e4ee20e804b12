"""Message formats v0 and v1 (magic 0 and 1): up-conversion on produce, down-conversion on fetch.

Kafka 3.x stores only v2 record batches: Produce v0-2 from old clients carry message
sets of magic 0/1, which the leader converts to one v2 batch on append (Kafka's
LogValidator.convertAndAssignOffsetsNonCompressed and
validateMessagesAndAssignOffsetsCompressed), and Fetch v0-3 answers old consumers in
the format they read (v0-1: magic 0, v2-3: magic 1), dropping control batches
(Kafka's RecordsUtil.downConvert). Old clients only: this is per-message Python work,
never on the v2 path.

Layout of one message (the offset and size are the log overhead):
    offset int64, message_size int32, crc int32 (CRC32 of what follows), magic int8,
    attributes int8 (codec in bits 0-2, LogAppendTime in bit 3 for magic 1),
    [timestamp int64: magic 1], key bytes (int32 length, -1 null), value bytes.
A compressed message's value is a compressed message set (inner offsets relative to
the wrapper for magic 1, KIP-31). LZ4 under magic 0 carries a wrong frame header
checksum (KAFKA-3160): the checksum is recomputed before decompressing.
"""

from __future__ import annotations

import struct
import zlib

from protocol.records import (
    CODEC_MASK,
    COMPRESSION_LZ4,
    COMPRESSION_NONE,
    COMPRESSION_ZSTD,
    CONTROL_MASK,
    CORRUPT_MESSAGE,
    HEADER_SIZE,
    INVALID_RECORD,
    LOG_OVERHEAD,
    NO_TIMESTAMP,
    InvalidRecordError,
    build_batch,
    compress,
    decode_batch,
    decompress,
    read_batch_header,
)

MAGIC_OFFSET = 16  # the same place in a message and in a v2 batch
TIMESTAMP_TYPE_BIT = 0x08
_MESSAGE_HEAD = struct.Struct(">qiIbb")  # offset, size, crc, magic, attributes
_INT32 = struct.Struct(">i")
_INT64 = struct.Struct(">q")
_MIN_SIZE = (14, 22)  # message_size minimum per magic: crc+magic+attrs[+ts]+2 lengths


def first_magic(records: bytes | bytearray | memoryview) -> int:
    """The magic of the first message or batch (-1 if too short to say)."""
    if len(records) <= MAGIC_OFFSET:
        return -1
    return records[MAGIC_OFFSET]


def _messages(data, outer_magic: int | None = None):
    """Yield (offset, magic, attributes, timestamp, key, value) of each whole message,
    checking its CRC32; a truncated trailing message is ignored (Kafka trims it)."""
    view = memoryview(data)
    pos = 0
    end = len(view)
    while pos + LOG_OVERHEAD <= end:
        offset, size = struct.unpack_from(">qi", view, pos)
        if size < _MIN_SIZE[0]:
            raise InvalidRecordError(CORRUPT_MESSAGE, f"message size {size} too small")
        stop = pos + LOG_OVERHEAD + size
        if stop > end:
            break
        _, _, crc, magic, attributes = _MESSAGE_HEAD.unpack_from(view, pos)
        if magic not in (0, 1):
            raise InvalidRecordError(INVALID_RECORD, f"magic {magic} in a v0/v1 message set")
        if outer_magic is not None and magic != outer_magic:
            raise InvalidRecordError(
                INVALID_RECORD, "compressed message with inner magic unlike its wrapper"
            )
        if size < _MIN_SIZE[magic]:
            raise InvalidRecordError(CORRUPT_MESSAGE, f"message size {size} too small")
        if zlib.crc32(view[pos + 16 : stop]) != crc:
            raise InvalidRecordError(CORRUPT_MESSAGE, "message CRC does not match its content")
        cursor = pos + 18
        timestamp = NO_TIMESTAMP
        if magic == 1:
            (timestamp,) = _INT64.unpack_from(view, cursor)
            cursor += 8
        key, cursor = _read_bytes(view, cursor, stop)
        value, cursor = _read_bytes(view, cursor, stop)
        if cursor != stop:
            raise InvalidRecordError(CORRUPT_MESSAGE, "message size does not match its fields")
        yield offset, magic, attributes, timestamp, key, value
        pos = stop


def _read_bytes(view: memoryview, pos: int, stop: int) -> tuple[bytes | None, int]:
    if pos + 4 > stop:
        raise InvalidRecordError(CORRUPT_MESSAGE, "truncated message")
    (length,) = _INT32.unpack_from(view, pos)
    pos += 4
    if length < 0:
        return None, pos
    if pos + length > stop:
        raise InvalidRecordError(CORRUPT_MESSAGE, "truncated message")
    return bytes(view[pos : pos + length]), pos + length


def to_v2_batch(records: bytes | bytearray | memoryview) -> bytes:
    """One v2 batch (CreateTime; the Log stamps LogAppendTime where the topic wants it)
    holding every message of a magic 0/1 message set, in the codec of its first
    compressed wrapper (none if there is none). Raises InvalidRecordError."""
    items: list[tuple[bytes | None, bytes | None, tuple, int]] = []
    codec = COMPRESSION_NONE
    for _, magic, attributes, timestamp, key, value in _messages(records):
        message_codec = attributes & CODEC_MASK
        if message_codec == COMPRESSION_NONE:
            items.append((key, value, (), timestamp))
            continue
        if message_codec >= COMPRESSION_ZSTD:
            raise InvalidRecordError(
                INVALID_RECORD, f"compression codec {message_codec} in a v{magic} message"
            )
        if value is None:
            raise InvalidRecordError(INVALID_RECORD, "compressed message without a value")
        if codec == COMPRESSION_NONE:
            codec = message_codec
        if message_codec == COMPRESSION_LZ4 and magic == 0:
            value = _fix_lz4_header_checksum(value)
        inner = decompress(message_codec, value)
        for _, _, inner_attributes, inner_timestamp, inner_key, inner_value in _messages(
            inner, magic
        ):
            if inner_attributes & CODEC_MASK:
                raise InvalidRecordError(INVALID_RECORD, "nested compressed messages")
            items.append((inner_key, inner_value, (), inner_timestamp))
    if not items:
        raise InvalidRecordError(INVALID_RECORD, "Produce records hold no message")
    return build_batch(items, compression=codec)


def _fix_lz4_header_checksum(frame: bytes) -> bytes:
    """KAFKA-3160: Kafka 0.8-0.9 hashed the frame magic into the header checksum (HC);
    rewrite HC as the LZ4 frame format defines it (xxh32 of the descriptor, byte 1)."""
    if len(frame) < 7 or frame[:4] != b"\x04\x22\x4d\x18":
        return frame
    flags = frame[4]
    end = 6 + (8 if flags & 0x08 else 0) + (4 if flags & 0x01 else 0)
    if len(frame) <= end:
        return frame
    checksum = (_xxh32_short(frame[4:end]) >> 8) & 0xFF
    return frame[:end] + bytes((checksum,)) + frame[end + 1 :]


_P1, _P2, _P3, _P4, _P5 = 2654435761, 2246822519, 3266489917, 668265263, 374761393
_M32 = 0xFFFFFFFF


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _M32


def _xxh32_short(data: bytes) -> int:
    """xxHash32 with seed 0 of fewer than 16 bytes (an LZ4 frame descriptor)."""
    h = (_P5 + len(data)) & _M32
    pos = 0
    while pos + 4 <= len(data):
        (word,) = struct.unpack_from("<I", data, pos)
        h = (_rotl((h + word * _P3) & _M32, 17) * _P4) & _M32
        pos += 4
    for byte in data[pos:]:
        h = (_rotl((h + byte * _P5) & _M32, 11) * _P1) & _M32
    h ^= h >> 15
    h = (h * _P2) & _M32
    h ^= h >> 13
    h = (h * _P3) & _M32
    h ^= h >> 16
    return h


def encode_message(
    offset: int, magic: int, key: bytes | None, value: bytes | None, timestamp: int, attributes=0
) -> bytes:
    """One uncompressed (or wrapper) message of magic 0 or 1, with its log overhead."""
    body = bytearray((magic, attributes))
    if magic == 1:
        body += _INT64.pack(timestamp)
    for field in (key, value):
        if field is None:
            body += _INT32.pack(-1)
        else:
            body += _INT32.pack(len(field))
            body += field
    crc = zlib.crc32(body)
    return struct.pack(">qiI", offset, len(body) + 4, crc) + bytes(body)


def down_convert(
    records: bytes | bytearray | memoryview, magic: int, first_offset: int = 0
) -> bytes:
    """Fetch v0-3: the whole v2 batches of `records` as magic `magic` messages with
    their offsets from `first_offset` on (the fetch offset: Kafka's
    RecordsUtil.downConvert drops the records before it). A gzip, snappy or lz4 batch
    becomes one wrapper message of the same codec, as Kafka recompresses (but lz4 for
    magic 0, see below); zstd (which no client this old reads) and uncompressed
    batches become plain messages. Control
    batches (transaction markers) are dropped, as is a truncated trailing batch.
    Batches already of magic <= `magic` pass as they are."""
    out = bytearray()
    view = memoryview(records)
    pos = 0
    end = len(view)
    while pos + HEADER_SIZE <= end:
        if view[pos + MAGIC_OFFSET] != 2:
            (size,) = _INT32.unpack_from(view, pos + 8)
            if pos + LOG_OVERHEAD + size > end:
                break
            out += view[pos : pos + LOG_OVERHEAD + size]
            pos += LOG_OVERHEAD + size
            continue
        header = read_batch_header(view, pos)
        if pos + header.size > end:
            break
        batch = view[pos : pos + header.size]
        pos += header.size
        if header.attributes & CONTROL_MASK:
            continue
        _, batch_records = decode_batch(batch)
        wanted = [r for r in batch_records if r.offset >= first_offset]
        if not wanted:
            continue
        attributes = TIMESTAMP_TYPE_BIT if magic == 1 and header.is_log_append_time else 0
        codec = header.attributes & CODEC_MASK
        # LZ4 under magic 0: readers disagree on its header checksum (KAFKA-3160: the
        # Java 0.8-0.9 client wants the broken one, Sarama's decoder the right one);
        # plain messages suit them all.
        if codec in (COMPRESSION_NONE, COMPRESSION_ZSTD) or (
            codec == COMPRESSION_LZ4 and magic == 0
        ):
            for r in wanted:
                out += encode_message(r.offset, magic, r.key, r.value, r.timestamp, attributes)
            continue
        out += _wrapper(wanted, magic, codec, attributes, header.max_timestamp)
    return bytes(out)


def _wrapper(records, magic: int, codec: int, attributes: int, max_timestamp: int) -> bytes:
    """One compressed message holding `records` (Kafka's legacy compressed layout):
    magic 1 numbers the inner messages relative to the first (KIP-31), magic 0 keeps
    absolute offsets; the wrapper carries the last offset, and for magic 1 the largest
    timestamp (or the log append time)."""
    first, last = records[0].offset, records[-1].offset
    inner = bytearray()
    for r in records:
        offset = r.offset - first if magic == 1 else r.offset
        inner += encode_message(offset, magic, r.key, r.value, r.timestamp, attributes)
    value = compress(codec, inner)
    if magic == 1 and not attributes & TIMESTAMP_TYPE_BIT:
        max_timestamp = max(r.timestamp for r in records)
    return encode_message(last, magic, None, value, max_timestamp, attributes | codec)
