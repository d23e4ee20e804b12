"""Message formats v0/v1: our conversions checked against kafka-python's legacy codec."""

import pytest
from kafka.record.legacy_records import LegacyRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords

from protocol.legacy_records import down_convert, encode_message, to_v2_batch
from protocol.records import (
    COMPRESSION_GZIP,
    CORRUPT_MESSAGE,
    InvalidRecordError,
    build_batch,
    build_end_txn_marker,
    decode_batch,
)

TS = 1_700_000_000_000


@pytest.mark.parametrize("magic", [0, 1])
@pytest.mark.parametrize("codec", [0, 1, 2])
def test_message_sets_convert_to_one_v2_batch(magic, codec):
    builder = LegacyRecordBatchBuilder(magic, codec, 1 << 20)
    for i in range(4):
        builder.append(i, TS + i if magic else None, None if i == 1 else b"k%d" % i, b"v%d" % i)
    header, records = decode_batch(to_v2_batch(bytes(builder.build())), check_crc=True)
    assert header.codec == codec
    assert [(r.offset, r.key, r.value) for r in records] == [
        (0, b"k0", b"v0"),
        (1, None, b"v1"),
        (2, b"k2", b"v2"),
        (3, b"k3", b"v3"),
    ]
    assert [r.timestamp for r in records] == ([TS + i for i in range(4)] if magic else [-1] * 4)


def test_a_wrong_crc32_is_corrupt_message():
    message = bytearray(encode_message(0, 1, b"k", b"v", TS))
    message[-1] ^= 1
    with pytest.raises(InvalidRecordError) as excinfo:
        to_v2_batch(bytes(message))
    assert excinfo.value.error_code == CORRUPT_MESSAGE


@pytest.mark.parametrize("magic", [0, 1])
def test_down_conversion_reads_back_with_kafka_python(magic):
    data = build_batch(
        [(b"a", b"1", (), TS), (None, b"2", (), TS + 1)], compression=COMPRESSION_GZIP
    )
    marker = build_end_txn_marker(
        base_offset=2,
        producer_id=7,
        producer_epoch=0,
        commit=True,
        coordinator_epoch=0,
        timestamp=TS,
    )
    more = build_batch([(b"c", b"3", (), TS + 2)], base_offset=3)
    converted = down_convert(data + marker + more, magic)
    batches = MemoryRecords(converted)
    got = []
    while batches.has_next():
        batch = batches.next_batch()
        assert batch.magic == magic
        assert batch.validate_crc()
        for record in batch:
            got.append((record.offset, record.key, record.value, record.timestamp))
    ts = [TS, TS + 1, TS + 2] if magic else [None, None, None]
    assert got == [(0, b"a", b"1", ts[0]), (1, None, b"2", ts[1]), (3, b"c", b"3", ts[2])]
