"""Exceptions raised by the storage layer, each carrying its Kafka error code.

Handlers turn `error_code` into the partition's error in the response. Record
validation errors (CORRUPT_MESSAGE, INVALID_RECORD, MESSAGE_TOO_LARGE) come from
`protocol.records.InvalidRecordError`, which carries `error_code` the same way.
"""

from __future__ import annotations


class LogError(Exception):
    """Base of the storage errors; `error_code` is Kafka's (UNKNOWN_SERVER_ERROR here)."""

    error_code: int = -1


class OffsetOutOfRange(LogError):
    """OFFSET_OUT_OF_RANGE: outside [log start offset, log end offset]."""

    error_code = 1


class RecordListTooLarge(LogError):
    """RECORD_LIST_TOO_LARGE: an append bigger than a whole segment."""

    error_code = 18


class InvalidTimestamp(LogError):
    """INVALID_TIMESTAMP: CreateTime outside message.timestamp.before/after.max.ms."""

    error_code = 32


class InvalidConfiguration(LogError, ValueError):
    """INVALID_CONFIG: a topic config name or value Kafka would refuse."""

    error_code = 40


class OutOfOrderSequence(LogError):
    """OUT_OF_ORDER_SEQUENCE_NUMBER: an idempotent producer's sequence has a gap."""

    error_code = 45


class InvalidProducerEpoch(LogError):
    """INVALID_PRODUCER_EPOCH: a batch from an older epoch of a known producer."""

    error_code = 47


class StorageError(LogError):
    """KAFKA_STORAGE_ERROR: the disk failed us (I/O error on a log file)."""

    error_code = 56


class TransactionCoordinatorFenced(LogError):
    """TRANSACTION_COORDINATOR_FENCED: a marker from an older coordinator epoch."""

    error_code = 52


class UnexpectedAppendOffset(LogError):
    """A follower append whose offsets do not continue the log (a replication bug)."""

    error_code = -1
