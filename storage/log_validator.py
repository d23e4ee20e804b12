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
then offsets and LogAppendTime patched into the batch (protocol.records). Follower
appends keep the leader's batches and are not validated here.

Threading contract: plain functions on the caller's data; the Log calls them on the
broker's event loop thread.
"""

from __future__ import annotations

from protocol.records import (
    CONTROL_MASK,
    INVALID_RECORD,
    NO_TIMESTAMP,
    TIMESTAMP_TYPE_MASK,
    BatchesInfo,
    InvalidRecordError,
    decode_batch,
    read_batch_header,
    scan_batches,
)
from storage.errors import InvalidTimestamp, RecordListTooLarge
from storage.log_config import LONG_MAX, LogConfig


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
