"""LogValidator: what a leader append must pass (size, CRC, one batch, client and
timestamp checks), refused with Kafka's errors and nothing written."""

import time

import pytest

from protocol.records import (
    CORRUPT_MESSAGE,
    INVALID_RECORD,
    MESSAGE_TOO_LARGE,
    InvalidRecordError,
    build_batch,
    build_end_txn_marker,
)
from storage.errors import InvalidTimestamp, RecordListTooLarge
from storage.log import AppendOrigin, Log
from storage.log_config import LogConfig

NOW = int(time.time() * 1000)


def _batch(count=2, *, value_size=100, timestamp=None, **kwargs):
    ts = NOW if timestamp is None else timestamp
    records = [(b"key-%d" % i, b"v" * value_size, [], ts + i) for i in range(count)]
    return bytearray(build_batch(records, **kwargs))


def test_create_time_limits(tmp_path):
    config = LogConfig(message_timestamp_after_max_ms=1000, message_timestamp_before_max_ms=5000)
    log = Log(tmp_path / "t-0", config)
    log.append(_batch(timestamp=NOW), now_ms=NOW)
    with pytest.raises(InvalidTimestamp) as excinfo:
        log.append(_batch(timestamp=NOW + 2000), now_ms=NOW)
    assert excinfo.value.error_code == 32
    with pytest.raises(InvalidTimestamp):
        log.append(_batch(timestamp=NOW - 6000), now_ms=NOW)


def test_clients_may_not_claim_log_append_time(tmp_path):
    log = Log(tmp_path / "t-0", LogConfig())
    with pytest.raises(InvalidTimestamp):
        log.append(_batch(log_append_time=True))


def test_oversized_batch_is_message_too_large(tmp_path):
    log = Log(tmp_path / "t-0", LogConfig(max_message_bytes=500))
    with pytest.raises(InvalidRecordError) as excinfo:
        log.append(_batch(5))
    assert excinfo.value.error_code == MESSAGE_TOO_LARGE
    assert log.log_end_offset == 0


def test_append_larger_than_a_segment_is_record_list_too_large(tmp_path):
    log = Log(tmp_path / "t-0", LogConfig(segment_bytes=300))
    with pytest.raises(RecordListTooLarge) as excinfo:
        log.append(_batch(4))
    assert excinfo.value.error_code == 18


def test_more_than_one_batch_in_an_append_is_invalid_record_and_nothing_written(tmp_path):
    log = Log(tmp_path / "t-0", LogConfig())
    for origin in (AppendOrigin.CLIENT, AppendOrigin.COORDINATOR):
        with pytest.raises(InvalidRecordError) as excinfo:
            log.append(_batch(2) + _batch(3), origin=origin)
        assert excinfo.value.error_code == INVALID_RECORD
    assert (log.log_end_offset, log.active_segment.size) == (0, 0)
    assert log.append(_batch(2)).first_offset == 0


def test_corrupt_payload_is_refused_and_nothing_written(tmp_path):
    log = Log(tmp_path / "t-0", LogConfig())
    data = _batch()
    data[-1] ^= 1
    with pytest.raises(InvalidRecordError) as excinfo:
        log.append(data)
    assert excinfo.value.error_code == CORRUPT_MESSAGE
    assert log.active_segment.size == 0


def test_clients_may_not_write_control_batches(tmp_path):
    log = Log(tmp_path / "t-0", LogConfig())
    marker = build_end_txn_marker(
        commit=True, producer_id=1, producer_epoch=0, coordinator_epoch=0, timestamp=NOW
    )
    with pytest.raises(InvalidRecordError) as excinfo:
        log.append(bytearray(marker))
    assert excinfo.value.error_code == INVALID_RECORD
    assert log.append(bytearray(marker), origin=AppendOrigin.COORDINATOR).first_offset == 0


def test_producer_batch_without_sequence_is_invalid(tmp_path):
    log = Log(tmp_path / "t-0", LogConfig())
    with pytest.raises(InvalidRecordError) as excinfo:
        log.append(_batch(2, producer_id=9, producer_epoch=0, base_sequence=-1))
    assert excinfo.value.error_code == INVALID_RECORD


def test_batches_without_timestamps_skip_the_create_time_limits(tmp_path):
    """Converted magic 0 messages (Produce v0-1) carry no timestamp (-1): Kafka does not
    judge them against message.timestamp.before/after.max.ms."""
    config = LogConfig(message_timestamp_after_max_ms=1000, message_timestamp_before_max_ms=5000)
    log = Log(tmp_path / "t-0", config)
    info = log.append(_batch(timestamp=-1, count=1), now_ms=NOW)
    assert info.first_offset == 0


def test_compacted_topic_refuses_null_keys_from_clients_only(tmp_path):
    """KIP-467: the whole batch, each keyless record named by its index in the batch."""
    log = Log(tmp_path / "t-0", LogConfig(cleanup_policy="compact"))
    batch = bytearray(build_batch([(b"k", b"v", [], NOW), (None, b"v", [], NOW)]))
    with pytest.raises(InvalidRecordError) as excinfo:
        log.append(bytearray(batch), now_ms=NOW)
    assert excinfo.value.error_code == INVALID_RECORD
    assert [i for i, _ in excinfo.value.record_errors] == [1]
    assert "topic partition t-0." in excinfo.value.record_errors[0][1]
    assert log.log_end_offset == 0
    log.append(batch, origin=AppendOrigin.REPLICATION, now_ms=NOW)  # followers: no check
    assert log.log_end_offset == 2
