"""LogValidator: what a leader append must pass before it is written (Kafka's LogValidator).

`validate_batches` runs the checks in this order: scan_batches (protocol/records.py)
validates the payload per batch (size against max.message.bytes, magic, CRC) and
counts the batches; a leader append is exactly one batch (else INVALID_RECORD); the
batches must fit a segment (else RECORD_LIST_TOO_LARGE); from clients, the batch
headers are checked (no control batches, record count matching the offset range, a
sequence with a producer id, no LogAppendTime type) and, on compacted topics, every
record must have a key (KIP-467: the only check here that decodes records, so only
compacted topics pay for it); with CreateTime, message.timestamp.before/after.max.ms
(not for batches without timestamps: converted magic 0). Otherwise batch headers
only (the CRC covers each whole batch): no record is decoded, no Python loop runs per
record.

What follows is the Log's (storage/log.py): idempotence checks in the producer state,
then `recompress` when the topic's compression.type names another codec than the
batch's (Kafka's LogValidator rebuilds the batch then; here its records block is
decompressed and compressed again at the topic's compression.<codec>.level, with no
record decoded, and the result's size checked again), then offsets and LogAppendTime
patched into the batch (protocol.records). Follower appends keep the leader's batches
and are not validated here.

Threading contract: plain functions on the caller's data; the Log calls them on the
broker's event loop thread.
"""

from __future__ import annotations

import struct

from protocol.records import (
    ATTRIBUTES_OFFSET,
    CODEC_MASK,
    COMPRESSION_GZIP,
    COMPRESSION_LZ4,
    COMPRESSION_NONE,
    COMPRESSION_SNAPPY,
    COMPRESSION_ZSTD,
    CONTROL_MASK,
    CRC_OFFSET,
    HEADER_SIZE,
    INVALID_RECORD,
    LOG_OVERHEAD,
    NO_TIMESTAMP,
    TIMESTAMP_TYPE_MASK,
    BatchesInfo,
    InvalidRecordError,
    compress,
    crc32c,
    decode_batch,
    decompress,
    read_batch_header,
    scan_batches,
)
from storage.errors import InvalidTimestamp, RecordListTooLarge
from storage.log_config import LONG_MAX, LogConfig

# A topic's compression.type -> the codec its batches are stored in ("producer": absent,
# the batch's own codec is kept).
TOPIC_CODECS = {
    "uncompressed": COMPRESSION_NONE,
    "gzip": COMPRESSION_GZIP,
    "snappy": COMPRESSION_SNAPPY,
    "lz4": COMPRESSION_LZ4,
    "zstd": COMPRESSION_ZSTD,
}
LZ4_DEFAULT_LEVEL = 9
_BATCH_LENGTH = struct.Struct(">i")  # after the baseOffset
_ATTRIBUTES = struct.Struct(">h")
_CRC = struct.Struct(">I")


def validate_batches(
    records: bytearray | memoryview,
    config: LogConfig,
    client: bool,
    log_append_time: bool,
    now: int,
    name: str = "",
) -> BatchesInfo:
    """Scan and check a leader append; returns the scan (no positions: nothing to append).

    `client`: the append comes from a producer (AppendOrigin.CLIENT);
    `log_append_time`: the topic stamps LogAppendTime (timestamps are then not judged).
    Raises InvalidRecordError (CORRUPT_MESSAGE, INVALID_RECORD, MESSAGE_TOO_LARGE),
    RecordListTooLarge or InvalidTimestamp.
    """
    info = scan_batches(records, config.max_message_bytes)
    if not info.positions:
        return info
    if len(info.positions) > 1:
        # Kafka's LogValidator: a leader append of format v2 is one batch (produce
        # v3+ carries exactly one per partition); counted by the scan above.
        raise InvalidRecordError(
            INVALID_RECORD,
            f"{len(info.positions)} record batches in one append: exactly one is allowed",
        )
    if info.size > config.segment_bytes:
        raise RecordListTooLarge(
            f"{info.size} bytes of batches exceed segment.bytes {config.segment_bytes}"
        )
    if client:
        _check_client_batches(info)
        if config.compact:
            _check_keys(records, info, name)
    if not log_append_time and (
        config.message_timestamp_before_max_ms != LONG_MAX
        or config.message_timestamp_after_max_ms != LONG_MAX
    ):
        _check_timestamps(info, now, config)
    return info


def _check_client_batches(info: BatchesInfo) -> None:
    """What Kafka's LogValidator refuses from clients, per batch header."""
    for header in info.headers:
        if header.attributes & CONTROL_MASK:
            raise InvalidRecordError(INVALID_RECORD, "clients may not write control batches")
        if header.records_count <= 0 or header.records_count != header.last_offset_delta + 1:
            raise InvalidRecordError(
                INVALID_RECORD,
                f"record count {header.records_count} does not match"
                f" the offset range {header.last_offset_delta + 1}",
            )
        if header.producer_id >= 0 and header.base_sequence < 0:
            raise InvalidRecordError(INVALID_RECORD, "producer id without a sequence number")
        if header.attributes & TIMESTAMP_TYPE_MASK:
            raise InvalidTimestamp("producers may not set the LogAppendTime timestamp type")


def _check_keys(records, info: BatchesInfo, name: str) -> None:
    """KIP-467: a compacted topic refuses records without a key, the whole batch, naming
    each such record (its index in the batch). Compacted topics only: this decodes."""
    errors: list[tuple[int, str | None]] = []
    for position in info.positions:
        with memoryview(records) as view:
            header = read_batch_header(view, position)
            _, batch_records = decode_batch(view[position : position + header.size])
        message = f"Compacted topic cannot accept message without key in topic partition {name}."
        errors.extend(
            (index, message) for index, record in enumerate(batch_records) if record.key is None
        )
    if errors:
        shown = ", ".join(
            f"RecordError(batchIndex={index}, message='{message}')" for index, message in errors[:3]
        )
        raise InvalidRecordError(
            INVALID_RECORD,
            f"One or more records have been rejected due to {len(errors)} record errors in"
            f" total, and only showing the first three errors at most: [{shown}]",
            errors,
        )


def _check_timestamps(info: BatchesInfo, now: int, config: LogConfig) -> None:
    """message.timestamp.before/after.max.ms, judged on each batch's first and max timestamp."""
    earliest = now - config.message_timestamp_before_max_ms
    latest = now + config.message_timestamp_after_max_ms
    for header in info.headers:
        if header.max_timestamp == NO_TIMESTAMP:
            continue  # converted magic 0 messages: no timestamp to judge (as Kafka)
        if header.base_timestamp < earliest or header.max_timestamp > latest:
            raise InvalidTimestamp(
                f"timestamps {header.base_timestamp}..{header.max_timestamp}"
                f" outside [{earliest}, {latest}]"
            )


def recompress(
    records: bytearray | memoryview, info: BatchesInfo, config: LogConfig
) -> tuple[bytearray, BatchesInfo] | None:
    """The append's one batch in the topic's codec, or None when it is stored as it is
    (compression.type "producer" or the batch's own codec, or an uncompressed control
    batch: Kafka never compresses markers written uncompressed).

    The records block is the same in every codec, so only it is decompressed and
    compressed again; the header keeps its producer, sequence and timestamp fields and
    gets the new codec, length and CRC. The result is scanned again: as in Kafka, a
    batch that grew past max.message.bytes is MESSAGE_TOO_LARGE (InvalidRecordError)
    and one past segment.bytes RecordListTooLarge.
    """
    codec = TOPIC_CODECS.get(config.compression_type)
    header = info.headers[0]
    source = header.attributes & CODEC_MASK
    if codec is None or codec == source:
        return None
    if source == COMPRESSION_NONE and header.attributes & CONTROL_MASK:
        return None
    start = info.positions[0]
    end = start + header.batch_length + LOG_OVERHEAD
    with memoryview(records) as view:
        body = view[start + HEADER_SIZE : end]
        raw = bytes(body) if source == COMPRESSION_NONE else decompress(source, body)
        batch = bytearray(view[start : start + HEADER_SIZE])
    if codec == COMPRESSION_NONE:
        batch += raw
    else:
        batch += compress(codec, raw, _level(config, codec))
    _BATCH_LENGTH.pack_into(batch, 8, len(batch) - LOG_OVERHEAD)
    _ATTRIBUTES.pack_into(batch, ATTRIBUTES_OFFSET, (header.attributes & ~CODEC_MASK) | codec)
    with memoryview(batch) as view:
        _CRC.pack_into(batch, CRC_OFFSET, crc32c(view[ATTRIBUTES_OFFSET:]))
    rebuilt = scan_batches(batch, config.max_message_bytes)
    if rebuilt.size > config.segment_bytes:
        raise RecordListTooLarge(
            f"{rebuilt.size} bytes of batches exceed segment.bytes {config.segment_bytes}"
        )
    return batch, rebuilt


def _level(config: LogConfig, codec: int) -> int | None:
    if codec == COMPRESSION_GZIP:
        return config.compression_gzip_level
    if codec == COMPRESSION_LZ4:
        # As Kafka's Lz4BlockOutputStream: the default level (9) keeps the fast
        # compressor, any other level is lz4's high-compression mode at that level.
        level = config.compression_lz4_level
        return None if level == LZ4_DEFAULT_LEVEL else level
    if codec == COMPRESSION_ZSTD:
        return config.compression_zstd_level
    return None  # snappy has no level
