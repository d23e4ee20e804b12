"""LogSegment: append with sparse index entries, offset translation, reads, recovery."""

import os

from protocol.records import assign_offsets, build_batch, iter_batch_headers, scan_batches
from storage.segment import LogSegment


def _batch(offset, count=2, timestamp=1000, size=100):
    records = [(b"k%d" % i, b"v" * size, [], timestamp + i) for i in range(count)]
    data = bytearray(build_batch(records))
    info = scan_batches(data)
    assign_offsets(data, info, offset, 0)
    return data, info


def _fill(segment, batches=20, count=2, base=None):
    offset = segment.base_offset if base is None else base
    for _ in range(batches):
        data, info = _batch(offset, count, timestamp=1000 + offset)
        segment.append(data, info, offset)
        offset += count
    return offset


def test_files_are_named_by_base_offset(tmp_path):
    segment = LogSegment(tmp_path, 1234)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "00000000000000001234.index",
        "00000000000000001234.log",
        "00000000000000001234.timeindex",
    ]
    segment.close()


def test_append_writes_sparse_index_entries(tmp_path):
    segment = LogSegment(tmp_path, 0, index_interval_bytes=500)
    end = _fill(segment, 20)
    assert segment.next_offset == end == 40
    assert 0 < segment.index.entries < 20
    for offset in range(0, 40, 3):
        position, header = segment.translate_offset(offset)
        assert header.base_offset <= offset <= header.last_offset
    assert segment.translate_offset(40) is None


def test_read_returns_whole_batches_from_the_containing_one(tmp_path):
    segment = LogSegment(tmp_path, 0, index_interval_bytes=300)
    _fill(segment, 10)
    result = segment.read(5, 10**6, 10**9, True)
    bases = [h.base_offset for _, h in iter_batch_headers(result.data)]
    assert bases == list(range(4, 20, 2))
    assert result.next_offset == 20 and result.reached_end
    # a bound below the end stops at a batch boundary
    result = segment.read(5, 10**6, 9, True)
    assert [h.base_offset for _, h in iter_batch_headers(result.data)] == [4, 6, 8]
    assert result.next_offset == 10 and not result.reached_end


def test_recover_rebuilds_the_same_index(tmp_path):
    segment = LogSegment(tmp_path, 0, index_interval_bytes=400)
    _fill(segment, 30)
    segment.close()  # adds the final max timestamp to the time index, as recovery does
    entries = [segment.index.lookup(o) for o in range(60)]
    times = [segment.time_index.lookup(t) for t in range(990, 1070)]
    os.unlink(tmp_path / "00000000000000000000.index")
    reopened = LogSegment(tmp_path, 0, index_interval_bytes=400)
    assert reopened.needs_index_rebuild
    assert reopened.recover() == 0
    assert [reopened.index.lookup(o) for o in range(60)] == entries
    assert [reopened.time_index.lookup(t) for t in range(990, 1070)] == times


def test_recover_cuts_a_torn_tail(tmp_path):
    segment = LogSegment(tmp_path, 0, index_interval_bytes=400)
    _fill(segment, 10)
    size = segment.size
    segment.close()
    with open(tmp_path / "00000000000000000000.log", "ab") as file:
        file.write(_batch(20)[0][:50])
    reopened = LogSegment(tmp_path, 0, index_interval_bytes=400)
    assert reopened.recover_tail() == 50
    assert reopened.size == size and reopened.next_offset == 20


def test_find_offset_by_timestamp_decodes_the_batch(tmp_path):
    segment = LogSegment(tmp_path, 0, index_interval_bytes=200)
    for offset in range(0, 40, 4):
        data, info = _batch(offset, count=4, timestamp=10_000 + offset * 10)
        segment.append(data, info, offset)
    # records at offset o have timestamp 10_000 + base*10 + (o - base)
    found = segment.find_offset_by_timestamp(10_000 + 12 * 10 + 2, 0)
    assert (found.offset, found.timestamp) == (14, 10_122)
    found = segment.find_offset_by_timestamp(10_000 + 12 * 10 + 3, 0)
    assert found.offset == 15
    assert segment.find_offset_by_timestamp(10**9, 0) is None


def test_truncate_to_removes_the_containing_batch_and_after(tmp_path):
    segment = LogSegment(tmp_path, 0, index_interval_bytes=300)
    _fill(segment, 10)
    removed = segment.truncate_to(7)  # batch 6-7 goes
    assert removed > 0
    assert segment.next_offset == 6
    assert segment.translate_offset(6) is None
    assert segment.index.last_entry()[0] < 6


def test_header_scan_handles_small_and_large_batches(tmp_path):
    segment = LogSegment(tmp_path, 0, index_interval_bytes=10**9)
    sizes = [10] * 30 + [40_000, 20] + [70_000] * 3 + [5] * 50 + [9_000] * 5
    offset = 0
    for size in sizes:
        data, info = _batch(offset, count=1, size=size)
        segment.append(data, info, offset)
        offset += 1
    assert [h.base_offset for _, h in segment.batch_headers()] == list(range(len(sizes)))
    for target in range(len(sizes)):
        position, header = segment.translate_offset(target)
        assert header.base_offset == target
    assert segment.next_offset == len(sizes)
