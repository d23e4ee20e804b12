"""LogSegments: the ordered segments of a log, looked up by offset."""

import pytest

from storage.log_segments import LogSegments
from storage.segment import LogSegment


@pytest.fixture
def segments(tmp_path):
    """Segments based at 0, 100 and 250."""
    result = LogSegments()
    for base in (0, 100, 250):
        result.add(LogSegment(tmp_path, base))
    yield result
    for segment in result:
        segment.close()


def _bases(segments):
    return [segment.base_offset for segment in segments]


def test_an_empty_list_finds_nothing():
    segments = LogSegments()
    assert len(segments) == 0 and not segments
    assert list(segments) == []
    assert segments.floor(0) is None and segments.floor_index(0) == -1
    assert segments.ceiling(0) is None and segments.ceiling_index(0) == 0
    assert segments.active is None
    with pytest.raises(IndexError):
        _ = segments.first
    with pytest.raises(IndexError):
        _ = segments.last


def test_segments_read_like_a_list_in_base_offset_order(segments):
    assert len(segments) == 3
    assert _bases(segments) == [0, 100, 250]
    assert segments[1].base_offset == 100
    assert _bases(segments[1:]) == [100, 250]
    assert isinstance(segments[:], list)
    assert segments.first is segments[0]
    assert segments.last is segments.active is segments[-1]


@pytest.mark.parametrize(
    ("offset", "base"),
    [(0, 0), (99, 0), (100, 100), (101, 100), (249, 100), (250, 250), (10**9, 250)],
)
def test_floor_is_the_segment_that_would_hold_the_offset(segments, offset, base):
    assert segments.floor(offset).base_offset == base
    assert segments[segments.floor_index(offset)].base_offset == base


def test_floor_below_the_first_base_offset_is_none(tmp_path):
    segments = LogSegments()
    segments.add(LogSegment(tmp_path, 50))
    assert segments.floor(49) is None and segments.floor_index(49) == -1
    assert segments.floor(50) is segments.first
    segments.first.close()


@pytest.mark.parametrize(
    ("offset", "base"),
    [(0, 0), (1, 100), (100, 100), (101, 250), (250, 250)],
)
def test_ceiling_is_the_first_segment_starting_at_or_after_the_offset(segments, offset, base):
    assert segments.ceiling(offset).base_offset == base
    assert segments[segments.ceiling_index(offset)].base_offset == base


def test_ceiling_above_the_last_base_offset_is_none(segments):
    assert segments.ceiling(251) is None
    assert segments.ceiling_index(251) == len(segments)


def test_index_of_finds_that_very_segment(segments, tmp_path):
    assert [segments.index_of(s) for s in segments] == [0, 1, 2]
    (tmp_path / "other").mkdir()
    other = LogSegment(tmp_path / "other", 100)
    assert segments.index_of(other) == -1  # same base offset, another object
    other.close()


def test_remove_takes_segments_out_and_lookups_follow(segments):
    first, middle, last = segments[:]
    assert segments.remove(0, 1) == [first]
    assert _bases(segments) == [100, 250]
    assert segments.floor(50) is None
    assert segments.floor(120) is middle
    assert segments.remove(1) == [last]  # from position 1 to the end
    assert _bases(segments) == [100]
    assert segments.floor(10**9) is middle
    assert segments.active is middle
    for segment in (first, last):
        segment.close()


def test_insert_puts_a_segment_back_where_it_belongs(segments):
    middle = segments[1]
    segments.remove(1, 2)
    assert segments.floor(150).base_offset == 0
    segments.insert(1, middle)
    assert _bases(segments) == [0, 100, 250]
    assert segments.floor(150) is middle
    assert segments.index_of(middle) == 1


def test_add_makes_the_new_segment_active(segments, tmp_path):
    newest = LogSegment(tmp_path, 400)
    segments.add(newest)
    assert segments.active is newest
    assert segments.floor(400) is newest and segments.floor(399).base_offset == 250


def test_clear_empties_the_list(segments):
    removed = segments[:]
    segments.clear()
    assert len(segments) == 0 and segments.active is None
    assert segments.floor(100) is None
    for segment in removed:
        segment.close()
