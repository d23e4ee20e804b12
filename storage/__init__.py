"""The partition log on disk, in Kafka's layout. Knows record batches, nothing of the network.

Imports only `protocol.records` (the RecordBatch view) and `protocol.errors` (Kafka's
error codes, for the storage errors) from the protocol package.
"""

from storage.cleaner import CleanerStats, CleaningTask, LogCleaner
from storage.errors import (
    InvalidProducerEpoch,
    LogError,
    OffsetOutOfRange,
    OutOfOrderSequence,
    StorageError,
)
from storage.file_handles import FileHandleCache
from storage.leader_epoch import EpochEntry, LeaderEpochFileCache
from storage.log import (
    AppendOrigin,
    FetchDataInfo,
    Log,
    LogAppendInfo,
    LogFlush,
    PendingDeletions,
)
from storage.log_config import LogConfig
from storage.log_loader import LoadReport
from storage.log_manager import LogManager
from storage.segment import LogSegment, TimestampAndOffset

__all__ = [
    "AppendOrigin",
    "CleanerStats",
    "CleaningTask",
    "EpochEntry",
    "FetchDataInfo",
    "FileHandleCache",
    "InvalidProducerEpoch",
    "LeaderEpochFileCache",
    "LoadReport",
    "Log",
    "LogAppendInfo",
    "LogCleaner",
    "LogConfig",
    "LogError",
    "LogFlush",
    "LogManager",
    "LogSegment",
    "PendingDeletions",
    "OffsetOutOfRange",
    "OutOfOrderSequence",
    "StorageError",
    "TimestampAndOffset",
]
