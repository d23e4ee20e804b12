"""The partition log on disk, in Kafka's layout. Knows record batches, nothing of the network.

Imports only `protocol.records` from the protocol package.
"""

from storage.errors import (
    InvalidProducerEpoch,
    LogError,
    OffsetOutOfRange,
    OutOfOrderSequence,
    StorageError,
)
from storage.log import AppendOrigin, FetchDataInfo, Log, LogAppendInfo
from storage.log_config import LogConfig
from storage.log_manager import LogManager
from storage.segment import LogSegment, TimestampAndOffset

__all__ = [
    "AppendOrigin",
    "FetchDataInfo",
    "InvalidProducerEpoch",
    "Log",
    "LogAppendInfo",
    "LogConfig",
    "LogError",
    "LogManager",
    "LogSegment",
    "OffsetOutOfRange",
    "OutOfOrderSequence",
    "StorageError",
    "TimestampAndOffset",
]
