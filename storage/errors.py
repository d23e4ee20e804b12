"""Exceptions raised by the storage layer, each carrying its Kafka error code.

Handlers turn `error_code` into the partition's error in the response. Record
validation errors (CORRUPT_MESSAGE, INVALID_RECORD, MESSAGE_TOO_LARGE) come from
`protocol.records.InvalidRecordError`, which carries `error_code` the same way.
"""

from __future__ import annotations

from protocol.errors import ErrorCode


class LogError(Exception):
    """Base of the storage errors; `error_code` is Kafka's (UNKNOWN_SERVER_ERROR here)."""

    error_code: int = ErrorCode.UNKNOWN_SERVER_ERROR


class OffsetOutOfRange(LogError):
    """OFFSET_OUT_OF_RANGE: outside [log start offset, log end offset]."""

    error_code = ErrorCode.OFFSET_OUT_OF_RANGE


class RecordListTooLarge(LogError):
    """RECORD_LIST_TOO_LARGE: an append bigger than a whole segment."""

    error_code = ErrorCode.RECORD_LIST_TOO_LARGE


class InvalidTimestamp(LogError):
    """INVALID_TIMESTAMP: CreateTime outside message.timestamp.before/after.max.ms."""

    error_code = ErrorCode.INVALID_TIMESTAMP


class InvalidConfiguration(LogError, ValueError):
    """INVALID_CONFIG: a topic config name or value Kafka would refuse."""

    error_code = ErrorCode.INVALID_CONFIG


class OutOfOrderSequence(LogError):
    """OUT_OF_ORDER_SEQUENCE_NUMBER: an idempotent producer's sequence has a gap."""

    error_code = ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER


class InvalidProducerEpoch(LogError):
    """INVALID_PRODUCER_EPOCH: a batch from an older epoch of a known producer."""

    error_code = ErrorCode.INVALID_PRODUCER_EPOCH


class StorageError(LogError):
    """KAFKA_STORAGE_ERROR: the disk failed us (I/O error on a log file)."""

    error_code = ErrorCode.KAFKA_STORAGE_ERROR


class TransactionCoordinatorFenced(LogError):
    """TRANSACTION_COORDINATOR_FENCED: a marker from an older coordinator epoch."""

    error_code = ErrorCode.TRANSACTION_COORDINATOR_FENCED


class UnexpectedAppendOffset(LogError):
    """A follower append whose offsets do not continue the log (a replication bug)."""

    error_code = ErrorCode.UNKNOWN_SERVER_ERROR
