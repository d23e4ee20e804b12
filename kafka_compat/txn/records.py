"""What the transaction coordinator writes to `__transaction_state`, in Kafka's schemas.

Every record's key and value start with an int16 schema version:

    key    TransactionLogKey    v0: transactional id
    value  TransactionLogValue  v0-1; we write v0, as Kafka 3.x does for clients of
                                transaction version 0 (v1 is flexible)

A null value is a tombstone: the transactional id expired. Kafka's tools
(kafka-console-consumer's TransactionLogMessageFormatter) read the topic this way.
The schemas are transcribed from Kafka's `TransactionLogKey.json` and
`TransactionLogValue.json` and compiled by our protocol codec.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from protocol import codec, schema
from protocol.messages import LazyTable

KEY_VERSION = 0
VALUE_VERSION = 0

_VERSION = struct.Struct(">h")

_SPECS = {
    "TransactionLogKey": {
        "validVersions": "0",
        "flexibleVersions": "none",
        "fields": [{"name": "TransactionalId", "type": "string", "versions": "0"}],
    },
    "TransactionLogValue": {
        "validVersions": "0-1",
        "flexibleVersions": "1+",
        "fields": [
            {"name": "ProducerId", "type": "int64", "versions": "0+"},
            {"name": "ProducerEpoch", "type": "int16", "versions": "0+"},
            {"name": "TransactionTimeoutMs", "type": "int32", "versions": "0+"},
            {"name": "TransactionStatus", "type": "int8", "versions": "0+"},
            {
                "name": "TransactionPartitions",
                "type": "[]PartitionsSchema",
                "versions": "0+",
                "nullableVersions": "0+",
                "fields": [
                    {"name": "Topic", "type": "string", "versions": "0+"},
                    {"name": "PartitionIds", "type": "[]int32", "versions": "0+"},
                ],
            },
            {"name": "TransactionLastUpdateTimestampMs", "type": "int64", "versions": "0+"},
            {"name": "TransactionStartTimestampMs", "type": "int64", "versions": "0+"},
        ],
    },
}


def _compile(name: str) -> codec.CompiledMessage:
    spec = schema.parse_spec({"type": "data", "name": name, **_SPECS[name]}, source=__name__)
    return codec.compile_message(spec, module=__name__)


# Compiled on first use (the first transaction, or loading the topic), not at start.
_COMPILED: dict[str, codec.CompiledMessage] = LazyTable(_compile)


class RecordError(ValueError):
    """A key or value in __transaction_state that cannot be read."""


class TxnLogValue(NamedTuple):
    """A TransactionLogValue as the coordinator uses it."""

    producer_id: int
    producer_epoch: int
    timeout_ms: int
    state: int  # TransactionState's id
    partitions: frozenset[tuple[str, int]]
    last_update_ms: int
    start_ms: int


# -- encoding and decoding ------------------------------------------------------------


def txn_key(transactional_id: str) -> bytes:
    compiled = _COMPILED["TransactionLogKey"]
    return _VERSION.pack(KEY_VERSION) + compiled.encoders[KEY_VERSION](
        compiled.cls(transactional_id=transactional_id)
    )


def txn_value(value: TxnLogValue) -> bytes:
    by_topic: dict[str, list[int]] = {}
    for topic, partition in sorted(value.partitions):
        by_topic.setdefault(topic, []).append(partition)
    compiled = _COMPILED["TransactionLogValue"]
    PartitionsSchema = compiled.cls.PartitionsSchema
    message = compiled.cls(
        producer_id=value.producer_id,
        producer_epoch=value.producer_epoch,
        transaction_timeout_ms=value.timeout_ms,
        transaction_status=value.state,
        transaction_partitions=[
            PartitionsSchema(topic=topic, partition_ids=ids) for topic, ids in by_topic.items()
        ],
        transaction_last_update_timestamp_ms=value.last_update_ms,
        transaction_start_timestamp_ms=value.start_ms,
    )
    return _VERSION.pack(VALUE_VERSION) + compiled.encoders[VALUE_VERSION](message)


def _split_version(data, what: str) -> tuple[int, memoryview]:
    if data is None or len(data) < 2:
        raise RecordError(f"{what} shorter than its version")
    (version,) = _VERSION.unpack_from(data)
    return version, memoryview(data)[2:]


def decode_txn_key(data) -> str:
    version, body = _split_version(data, "key")
    if version != KEY_VERSION:
        raise RecordError(f"unknown transaction log key version {version}")
    try:
        return _COMPILED["TransactionLogKey"].decoders[version](body).transactional_id
    except codec.DecodeError as exc:
        raise RecordError(f"bad key: {exc}") from exc


def decode_txn_value(data) -> TxnLogValue:
    version, body = _split_version(data, "value")
    decoder = _COMPILED["TransactionLogValue"].decoders.get(version)
    if decoder is None:
        raise RecordError(f"unknown transaction log value version {version}")
    try:
        value = decoder(body)
    except codec.DecodeError as exc:
        raise RecordError(f"bad value v{version}: {exc}") from exc
    partitions = frozenset(
        (p.topic, index) for p in value.transaction_partitions or () for index in p.partition_ids
    )
    return TxnLogValue(
        value.producer_id,
        value.producer_epoch,
        value.transaction_timeout_ms,
        value.transaction_status,
        partitions,
        value.transaction_last_update_timestamp_ms,
        value.transaction_start_timestamp_ms,
    )
