"""A topic's compression.type applied on the leader's append (Kafka's LogValidator): a
batch in another codec is stored in the topic's, at its compression.<codec>.level, with
its records, producer fields and timestamps unchanged; markers written uncompressed stay
so; a batch that grows past max.message.bytes is refused and nothing is written."""

import os
import random
import time

import pytest

from protocol.records import (
    COMPRESSION_GZIP,
    COMPRESSION_LZ4,
    COMPRESSION_NONE,
    COMPRESSION_SNAPPY,
    COMPRESSION_ZSTD,
    MESSAGE_TOO_LARGE,
    InvalidRecordError,
    build_batch,
    build_end_txn_marker,
    decode_batch,
    iter_batch_headers,
)
from storage.log import AppendOrigin, Log
from storage.log_config import LogConfig

NOW = int(time.time() * 1000)
CODECS = {
    "uncompressed": COMPRESSION_NONE,
    "gzip": COMPRESSION_GZIP,
    "snappy": COMPRESSION_SNAPPY,
    "lz4": COMPRESSION_LZ4,
    "zstd": COMPRESSION_ZSTD,
}
RECORDS = [
    (b"key-%d" % i, b"value %d " % i * 40, [("h", b"%d" % i)], NOW + i) for i in range(20)
] + [(None, b"no key", [], NOW + 20), (b"no value", None, [], NOW + 21)]


def _stored(log):
    """(header, records) of every batch in the log, CRCs checked."""
    data = bytes(log.read(0, 10**9).records)
    return [
        decode_batch(data[pos : pos + header.size], check_crc=True)
        for pos, header in iter_batch_headers(data, check_crc=True)
    ]


def _plain(records):
    return [(r.key, r.value, [(k, bytes(v)) for k, v in r.headers], r.timestamp) for r in records]


@pytest.mark.parametrize("topic", sorted(CODECS))
@pytest.mark.parametrize("sent", sorted(CODECS))
def test_batches_are_stored_in_the_topics_codec(tmp_path, topic, sent):
    log = Log(tmp_path / "t-0", LogConfig(compression_type=topic))
    batch = build_batch(
        RECORDS, compression=CODECS[sent], producer_id=7, producer_epoch=2, base_sequence=0
    )
    log.append(bytearray(build_batch(RECORDS[:1])))
    info = log.append(bytearray(batch), leader_epoch=3, now_ms=NOW)
    assert (info.first_offset, info.last_offset) == (1, len(RECORDS))
    header, records = _stored(log)[1]
    assert header.codec == CODECS[topic]
    assert (header.base_offset, header.partition_leader_epoch) == (1, 3)
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (7, 2, 0)
    assert (header.records_count, header.max_timestamp) == (len(RECORDS), NOW + 21)
    assert _plain(records) == [(k, v, h, t) for k, v, h, t in RECORDS]
    # The producer's retry is still recognised as a duplicate, with its offsets.
    retry = log.append(bytearray(batch))
    assert (retry.first_offset, retry.last_offset) == (1, len(RECORDS))
    assert log.log_end_offset == len(RECORDS) + 1


def test_producer_keeps_the_batchs_codec(tmp_path):
    log = Log(tmp_path / "t-0", LogConfig(compression_type="producer"))
    for codec in CODECS.values():
        log.append(bytearray(build_batch(RECORDS, compression=codec)))
    assert [header.codec for header, _ in _stored(log)] == list(CODECS.values())


def test_log_append_time_on_a_recompressed_batch(tmp_path):
    config = LogConfig(compression_type="zstd", message_timestamp_type="LogAppendTime")
    log = Log(tmp_path / "t-0", config)
    log.append(bytearray(build_batch(RECORDS)), now_ms=NOW + 5000)
    header, records = _stored(log)[0]
    assert (header.codec, header.is_log_append_time, header.max_timestamp) == (
        COMPRESSION_ZSTD,
        True,
        NOW + 5000,
    )
    assert [r.value for r in records] == [r[1] for r in RECORDS]


@pytest.mark.parametrize(
    ("topic", "low", "high"), [("gzip", 1, 9), ("lz4", 1, 12), ("zstd", 1, 19)]
)
def test_the_compression_level_applies(tmp_path, topic, low, high):
    words = [b"alpha", b"beta", b"gamma", b"delta", b"kafka", b"broker", b"topic", b"offset"]
    pick = random.Random(7).choice
    text = [(b"k", b" ".join(pick(words) for _ in range(20000)), [], NOW)]
    sizes = {}
    for level in (low, high):
        config = LogConfig(compression_type=topic, **{f"compression_{topic}_level": level})
        log = Log(tmp_path / f"{topic}{level}-0", config)
        log.append(bytearray(build_batch(text)))
        sizes[level] = log.size
    assert sizes[high] < sizes[low] * 0.8


def test_uncompressed_markers_stay_uncompressed(tmp_path):
    """Kafka: "Do not compress control records unless they are written compressed"."""
    log = Log(tmp_path / "t-0", LogConfig(compression_type="gzip"))
    log.append(
        bytearray(
            build_batch(
                RECORDS, producer_id=4, producer_epoch=0, base_sequence=0, transactional=True
            )
        )
    )
    marker = build_end_txn_marker(
        commit=True, producer_id=4, producer_epoch=0, coordinator_epoch=1, timestamp=NOW
    )
    log.append(bytearray(marker), origin=AppendOrigin.COORDINATOR)
    assert [(h.codec, h.is_control) for h, _ in _stored(log)] == [
        (COMPRESSION_GZIP, False),
        (COMPRESSION_NONE, True),
    ]


def test_a_batch_grown_past_max_message_bytes_is_refused(tmp_path):
    """Random bytes do not compress: gzip adds its framing, so a batch that fits
    uncompressed is MESSAGE_TOO_LARGE once recompressed (Kafka checks sizes again)."""
    batch = bytearray(build_batch([(b"k", os.urandom(4000), [], NOW)]))
    log = Log(tmp_path / "t-0", LogConfig(compression_type="gzip", max_message_bytes=len(batch)))
    with pytest.raises(InvalidRecordError) as excinfo:
        log.append(batch)
    assert excinfo.value.error_code == MESSAGE_TOO_LARGE
    assert (log.log_end_offset, log.active_segment.size) == (0, 0)
