"""OffsetIndex / TimeIndex: Kafka's file formats, lookups, truncation, lazy loading."""

import struct

import pytest

from storage.index import CorruptIndex, OffsetIndex, TimeIndex


def test_offset_index_file_is_kafkas_format(tmp_path):
    index = OffsetIndex(tmp_path / "00000000000000000100.index", 100)
    index.append(110, 4096)
    index.append(125, 8200)
    index.close()
    data = (tmp_path / "00000000000000000100.index").read_bytes()
    assert data == struct.pack(">iiii", 10, 4096, 25, 8200)


def test_offset_index_lookup_is_the_last_entry_at_or_below(tmp_path):
    index = OffsetIndex(tmp_path / "0.index", 100)
    for offset, position in [(110, 1000), (120, 2000), (130, 3000)]:
        index.append(offset, position)
    assert index.lookup(99) == (100, 0)
    assert index.lookup(100) == (100, 0)
    assert index.lookup(109) == (100, 0)
    assert index.lookup(110) == (110, 1000)
    assert index.lookup(125) == (120, 2000)
    assert index.lookup(10**9) == (130, 3000)
    index.append(130, 5000)  # not increasing: ignored
    assert index.entries == 3


def test_offset_index_reloads_lazily_from_disk(tmp_path):
    path = tmp_path / "0.index"
    index = OffsetIndex(path, 0)
    for i in range(1, 1001):
        index.append(i * 10, i * 100)
    index.close()
    reopened = OffsetIndex(path, 0)
    assert reopened.entries == 1000
    assert reopened.last_entry() == (10000, 100000)  # read without loading
    assert not reopened._loaded
    assert reopened.lookup(5555) == (5550, 55500)
    assert reopened._loaded


def test_offset_index_truncation(tmp_path):
    path = tmp_path / "0.index"
    index = OffsetIndex(path, 0)
    for i in range(1, 6):
        index.append(i * 10, i * 100)
    index.truncate_to(30)  # entries for offsets >= 30 go
    assert index.last_entry() == (20, 200)
    assert path.stat().st_size == 16
    index.truncate_to_position(150)
    assert index.last_entry() == (10, 100)
    assert index.entries == 1


def test_offset_index_full(tmp_path):
    index = OffsetIndex(tmp_path / "0.index", 0, max_index_size=24)
    for i in range(1, 4):
        assert not index.is_full
        index.append(i, i * 10)
    assert index.is_full


def test_partial_entry_is_corrupt(tmp_path):
    path = tmp_path / "0.index"
    path.write_bytes(b"\x00" * 12)
    with pytest.raises(CorruptIndex):
        OffsetIndex(path, 0)


def test_time_index_file_format_and_monotonic_appends(tmp_path):
    path = tmp_path / "00000000000000000100.timeindex"
    index = TimeIndex(path, 100)
    index.maybe_append(5000, 103)
    index.maybe_append(5000, 108)  # not above the last timestamp: skipped
    index.maybe_append(4000, 110)  # lower: skipped
    index.maybe_append(7000, 120)
    index.close()
    assert path.read_bytes() == struct.pack(">qiqi", 5000, 3, 7000, 20)
    reopened = TimeIndex(path, 100)
    assert reopened.last_entry() == (7000, 120)
    assert reopened.lookup(4999) == (-1, 100)
    assert reopened.lookup(5000) == (5000, 103)
    assert reopened.lookup(6999) == (5000, 103)
    assert reopened.lookup(10**12) == (7000, 120)
    reopened.truncate_to(120)
    assert reopened.last_entry() == (5000, 103)
    assert path.stat().st_size == 12
