"""RecordBatch v2 view: validation, offset patching, LogAppendTime, encode/decode.

Cross-checked against kafka-python's independent implementation
(kafka.record.default_records) in both directions, for every codec.
"""

import struct

import cramjam
import pytest
from crc32c import crc32c
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
from kafka.record.legacy_records import LegacyRecordBatchBuilder

from protocol.records import (
    CONTROL_ABORT,
    CONTROL_COMMIT,
    CORRUPT_MESSAGE,
    HEADER_SIZE,
    INT32_MAX,
    INVALID_RECORD,
    MESSAGE_TOO_LARGE,
    InvalidRecordError,
    Record,
    assign_offsets,
    build_batch,
    build_empty_batch,
    build_end_txn_marker,
    decode_batch,
    increment_sequence,
    iter_batch_headers,
    read_batch_header,
    read_end_txn_marker,
    scan_batches,
    set_log_append_time,
)

CODECS = [0, 1, 2, 3, 4]
CODEC_NAMES = ["none", "gzip", "snappy", "lz4", "zstd"]

RECORDS = [
    (b"key-0", b"value " * 50, [("h1", b"x"), ("h2", None)], 1_700_000_000_000),
    (None, b"no key", [], 1_700_000_000_005),
    (b"tombstone", None, [], 1_699_999_999_990),  # earlier than the first: negative delta
    (b"", b"", [("empty", b"")], 1_700_000_000_001),
]


def _expected(records, base_offset=0):
    return [
        Record(base_offset + i, ts, key, value, list(headers))
        for i, (key, value, headers, ts) in enumerate(records)
    ]


def _kafka_python_batch(codec, records, producer=(-1, -1, -1), transactional=False):
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=codec,
        is_transactional=transactional,
        producer_id=producer[0],
        producer_epoch=producer[1],
        base_sequence=producer[2],
        batch_size=1 << 20,
    )
    for offset, (key, value, headers, ts) in enumerate(records):
        builder.append(offset, ts, key, value, headers)
    return bytes(builder.build())


def _with_codec(batch: bytes, codec: int, compressed_body: bytes) -> bytes:
    """Re-pack an uncompressed batch's header around another codec's body, with its CRC."""
    out = bytearray(batch[:HEADER_SIZE]) + compressed_body
    struct.pack_into(">i", out, 8, len(out) - 12)
    attributes = struct.unpack_from(">h", out, 21)[0] & ~0x07 | codec
    struct.pack_into(">h", out, 21, attributes)
    struct.pack_into(">I", out, 17, crc32c(bytes(out[21:])))
    return bytes(out)


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_NAMES)
def test_build_decode_round_trip(codec):
    batch = build_batch(RECORDS, compression=codec, base_offset=100)
    header, records = decode_batch(batch, check_crc=True)
    assert header.codec == codec
    assert header.records_count == 4
    assert header.last_offset_delta == 3
    assert header.base_timestamp == RECORDS[0][3]
    assert header.max_timestamp == max(r[3] for r in RECORDS)
    assert records == _expected(RECORDS, 100)


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_NAMES)
def test_decodes_batches_written_by_kafka_python(codec):
    batch = _kafka_python_batch(codec, RECORDS, producer=(42, 3, 17))
    info = scan_batches(batch)
    assert info.codec == codec
    assert (info.producer_id, info.producer_epoch, info.base_sequence) == (42, 3, 17)
    assert info.last_sequence == 20
    _, records = decode_batch(batch)
    assert records == _expected(RECORDS)


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_NAMES)
def test_kafka_python_reads_our_batches(codec):
    batch = build_batch(
        RECORDS, compression=codec, producer_id=7, producer_epoch=1, base_sequence=0
    )
    theirs = DefaultRecordBatch(batch)
    assert theirs.validate_crc()
    assert theirs.compression_type == codec
    assert theirs.producer_id == 7
    got = [(r.offset, r.timestamp, r.key, r.value, list(r.headers)) for r in theirs]
    assert got == [tuple(r) for r in _expected(RECORDS)]


def test_snappy_accepts_raw_and_xerial_framing():
    plain = build_batch(RECORDS)
    body = plain[HEADER_SIZE:]
    raw = _with_codec(plain, 2, bytes(cramjam.snappy.compress_raw(body)))  # librdkafka
    assert decode_batch(raw, check_crc=True)[1] == _expected(RECORDS)
    # xerial framing with several blocks, as the Java client writes for large batches
    big = [(b"k", bytes([i % 251]) * 1000 + b"z" * 50_000, [], 1_700_000_000_000) for i in range(3)]
    xerial = build_batch(big, compression=2)
    assert xerial[HEADER_SIZE : HEADER_SIZE + 8] == b"\x82SNAPPY\x00"
    assert [r.value for r in decode_batch(xerial)[1]] == [r[1] for r in big]


def test_zstd_frame_without_content_size_is_accepted():
    import zstandard

    plain = build_batch(RECORDS)
    compressor = zstandard.ZstdCompressor(write_content_size=False)
    chunker = compressor.compressobj()
    body = chunker.compress(plain[HEADER_SIZE:]) + chunker.flush()
    batch = _with_codec(plain, 4, body)
    assert decode_batch(batch)[1] == _expected(RECORDS)


def test_lz4_frame_from_the_lz4_library_is_accepted():
    import lz4.frame

    plain = build_batch(RECORDS)
    body = lz4.frame.compress(plain[HEADER_SIZE:], block_linked=False, content_checksum=True)
    assert decode_batch(_with_codec(plain, 3, body))[1] == _expected(RECORDS)


def test_corrupt_crc_is_corrupt_message():
    batch = bytearray(build_batch(RECORDS))
    batch[-1] ^= 0xFF
    with pytest.raises(InvalidRecordError) as excinfo:
        scan_batches(batch)
    assert excinfo.value.error_code == CORRUPT_MESSAGE
    with pytest.raises(InvalidRecordError):
        decode_batch(batch, check_crc=True)


def test_truncated_batch_is_corrupt_message():
    batch = build_batch(RECORDS)
    for cut in (5, 30, HEADER_SIZE, len(batch) - 1):
        with pytest.raises(InvalidRecordError) as excinfo:
            scan_batches(batch[:cut])
        assert excinfo.value.error_code == CORRUPT_MESSAGE, cut


def test_length_below_header_is_corrupt_message():
    batch = bytearray(build_batch(RECORDS))
    struct.pack_into(">i", batch, 8, 20)
    with pytest.raises(InvalidRecordError) as excinfo:
        scan_batches(batch)
    assert excinfo.value.error_code == CORRUPT_MESSAGE


def test_magic_1_is_invalid_record():
    builder = LegacyRecordBatchBuilder(magic=1, compression_type=0, batch_size=10_000)
    builder.append(0, timestamp=1000, key=b"k", value=b"v")
    legacy = bytes(builder.build())
    with pytest.raises(InvalidRecordError) as excinfo:
        scan_batches(legacy)
    assert excinfo.value.error_code == INVALID_RECORD
    assert "v2" in str(excinfo.value)
    # a long legacy message set too
    builder = LegacyRecordBatchBuilder(magic=1, compression_type=0, batch_size=10_000)
    builder.append(0, timestamp=1000, key=b"k", value=b"v" * 200)
    with pytest.raises(InvalidRecordError) as excinfo:
        scan_batches(bytes(builder.build()))
    assert excinfo.value.error_code == INVALID_RECORD


def test_batch_above_max_size_is_message_too_large():
    batch = build_batch(RECORDS)
    scan_batches(batch, max_batch_size=len(batch))
    with pytest.raises(InvalidRecordError) as excinfo:
        scan_batches(batch, max_batch_size=len(batch) - 1)
    assert excinfo.value.error_code == MESSAGE_TOO_LARGE


def test_scan_batches_summarises_several_batches():
    first = build_batch([(b"a", b"1", [], 5000), (b"b", b"2", [], 9000)])
    second = build_batch([(b"c", b"3", [], 7000)])
    third = build_batch([(b"d", b"4", [], 8000), (b"e", b"5", [], 6000), (b"f", b"6", [], 1)])
    payload = first + second + third
    info = scan_batches(payload)
    assert info.positions == [0, len(first), len(first) + len(second)]
    assert info.offset_count == 6
    assert info.max_timestamp == 9000
    assert info.offset_delta_of_max_timestamp == 1  # last offset of the first batch
    assert info.largest_batch_size == max(len(first), len(second), len(third))
    assert info.size == len(payload)
    assert info.producer_id == -1 and not info.is_transactional and not info.is_control


def test_scan_of_nothing_is_empty():
    info = scan_batches(b"")
    assert info.positions == [] and info.offset_count == 0 and info.size == 0


def test_assign_offsets_is_a_patch_outside_the_crc():
    one = build_batch([(b"a", b"1", [], 1), (b"b", b"2", [], 2)])
    two = build_batch([(b"c", b"3", [], 3)])
    payload = bytearray(one + two)
    info = scan_batches(payload)
    last = assign_offsets(payload, info, 1000, leader_epoch=7)
    assert last == 1002
    assert scan_batches(payload).offset_count == 3  # CRCs still valid
    headers = [h for _, h in iter_batch_headers(payload, check_crc=True)]
    assert [(h.base_offset, h.partition_leader_epoch) for h in headers] == [(1000, 7), (1002, 7)]
    # only offset and epoch changed
    assert payload[16 : len(one)] == one[16:]
    theirs = DefaultRecordBatch(bytes(payload[: len(one)]))
    assert [r.offset for r in theirs] == [1000, 1001]


def test_set_log_append_time_rewrites_timestamps_and_crc():
    payload = bytearray(build_batch(RECORDS, compression=1) + build_batch([(b"k", b"v", [], 5)]))
    info = scan_batches(payload)
    set_log_append_time(payload, info, 1_800_000_000_000)
    for position, header in iter_batch_headers(payload, check_crc=True):
        assert header.is_log_append_time
        assert header.max_timestamp == 1_800_000_000_000
        _, records = decode_batch(payload[position : position + header.size])
        assert {r.timestamp for r in records} == {1_800_000_000_000}
    theirs = DefaultRecordBatch(bytes(payload[: info.positions[1]]))
    assert theirs.timestamp_type == 1
    assert {r.timestamp for r in theirs} == {1_800_000_000_000}


def test_iter_batch_headers_stops_before_an_incomplete_tail():
    one = build_batch([(b"a", b"1", [], 1)])
    two = build_batch([(b"b", b"2", [], 2)])
    payload = one + two[:-3]
    assert [pos for pos, _ in iter_batch_headers(payload)] == [0]


def test_records_keep_their_offsets_and_last_offset_delta():
    # What the cleaner writes: gaps in offsets, the original last offset kept.
    kept = [Record(105, 10, b"a", b"1", []), Record(109, 12, b"b", b"2", [("h", b"v")])]
    batch = build_batch(kept, base_offset=100, last_offset_delta=14)
    header, records = decode_batch(batch)
    assert header.last_offset == 114 and header.records_count == 2
    assert records == kept


def test_empty_batch_keeps_an_offset_range():
    batch = build_batch([], base_offset=50, last_offset_delta=4, producer_id=1, producer_epoch=0)
    header, records = decode_batch(batch, check_crc=True)
    assert records == [] and header.last_offset == 54 and header.max_timestamp == -1


def test_end_txn_marker():
    marker = build_end_txn_marker(
        commit=True, producer_id=9, producer_epoch=2, coordinator_epoch=5, timestamp=77
    )
    header = read_batch_header(marker)
    assert header.is_control and header.is_transactional and header.producer_id == 9
    assert read_end_txn_marker(marker) == (CONTROL_COMMIT, 5)
    abort = build_end_txn_marker(
        commit=False, producer_id=9, producer_epoch=2, coordinator_epoch=6, timestamp=78
    )
    assert read_end_txn_marker(abort) == (CONTROL_ABORT, 6)
    assert scan_batches(marker + abort).is_control


def test_sequences_wrap():
    assert increment_sequence(10, 4) == 14
    assert increment_sequence(INT32_MAX, 1) == 0
    assert increment_sequence(INT32_MAX - 1, 3) == 1
    batch = build_batch(
        [(b"a", b"1"), (b"b", b"2"), (b"c", b"3")],
        producer_id=1,
        producer_epoch=0,
        base_sequence=INT32_MAX - 1,
    )
    assert scan_batches(batch).last_sequence == 0  # MAX-1, MAX, 0


def test_malformed_records_are_corrupt_message():
    batch = build_batch(RECORDS)
    body = bytearray(batch[HEADER_SIZE:])
    body[0] = 0x7E  # first record's length now wrong
    broken = _with_codec(batch, 0, bytes(body))
    with pytest.raises(InvalidRecordError) as excinfo:
        decode_batch(broken)
    assert excinfo.value.error_code == CORRUPT_MESSAGE
    with pytest.raises(InvalidRecordError):
        decode_batch(_with_codec(batch, 1, b"not gzip at all"))


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_NAMES)
def test_delete_horizon_sits_in_the_base_timestamp_and_record_times_stay(codec):
    # KIP-534: attribute bit 6, the horizon in baseTimestamp, deltas taken from it.
    kept = [Record(3, 1_000, b"a", None, []), Record(5, 1_200, b"b", b"x", [])]
    batch = build_batch(kept, base_offset=0, compression=codec, delete_horizon_ms=90_000)
    header, records = decode_batch(batch, check_crc=True)
    assert header.attributes & 0x40 and header.delete_horizon_ms == 90_000
    assert header.base_timestamp == 90_000 and header.max_timestamp == 1_200
    assert records == kept
    theirs = DefaultRecordBatch(batch)  # kafka-python reads the record timestamps the same
    assert [r.timestamp for r in theirs] == [1_000, 1_200]
    assert read_batch_header(build_batch(kept)).delete_horizon_ms is None


def test_empty_batch_from_a_header_keeps_offsets_and_sequence():
    original = build_batch(
        [(b"k", b"v", [], 500), (b"k", b"w", [], 700)],
        base_offset=40,
        compression=3,
        producer_id=9,
        producer_epoch=2,
        base_sequence=17,
        transactional=True,
        partition_leader_epoch=6,
    )
    empty = build_empty_batch(read_batch_header(original))
    assert len(empty) == HEADER_SIZE
    header, records = decode_batch(empty, check_crc=True)
    assert records == [] and header.records_count == 0 and header.codec == 0
    assert (header.base_offset, header.last_offset, header.partition_leader_epoch) == (40, 41, 6)
    assert (header.producer_id, header.producer_epoch) == (9, 2)
    assert (header.base_sequence, header.last_sequence) == (17, 18)
    assert header.is_transactional
    assert header.base_timestamp == header.max_timestamp == 700
