"""LogSegments: one partition's segments in base-offset order (Kafka's LogSegments).

The only place the order is kept: the LogSegment objects and, inside the class, their
base offsets in a parallel list, changed together by `add`, `insert`, `remove` and
`clear`, so that the segment holding an offset is one bisect away (`floor`). Reads
look like a list's: `len`, iteration, `segments[i]`, `segments[a:b]` (a new list).
`active` (the newest segment, which every append writes to) is a plain attribute the
same methods keep up to date, so reading it costs no call.

Threading: used from the broker's event loop thread, like the LocalLog that owns it. A
worker thread (`LocalLog.flush_files`) takes a copy (`segments[:]`, one C-level list copy)
and never mutates it.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from typing import overload

from storage.segment import LogSegment


class LogSegments:
    """The segments of one log, ordered by base offset; lookups by offset bisect the
    base offsets. The caller keeps the order: a segment is added above the last one,
    inserted where its base offset belongs."""

    __slots__ = ("_segments", "_bases", "active")

    def __init__(self) -> None:
        self._segments: list[LogSegment] = []
        self._bases: list[int] = []  # parallel to _segments, for bisect
        self.active: LogSegment | None = None  # the last segment (None: there is none)

    # -- reading -------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._segments)

    def __iter__(self) -> Iterator[LogSegment]:
        return iter(self._segments)

    @overload
    def __getitem__(self, index: int) -> LogSegment: ...

    @overload
    def __getitem__(self, index: slice) -> list[LogSegment]: ...

    def __getitem__(self, index: int | slice) -> LogSegment | list[LogSegment]:
        return self._segments[index]

    @property
    def first(self) -> LogSegment:
        """The oldest segment (IndexError when there is none)."""
        return self._segments[0]

    @property
    def last(self) -> LogSegment:
        """The newest segment, `active` (IndexError when there is none)."""
        return self._segments[-1]

    def index_of(self, segment: LogSegment) -> int:
        """Position of `segment` (this very object) in the list, -1 if not there."""
        i = bisect_left(self._bases, segment.base_offset)
        if i < len(self._segments) and self._segments[i] is segment:
            return i
        return -1

    def floor_index(self, offset: int) -> int:
        """Position of the segment with the greatest base offset <= `offset` (the one that
        would hold it); -1 when `offset` is below the first base offset or there is none."""
        return bisect_right(self._bases, offset) - 1

    def floor(self, offset: int) -> LogSegment | None:
        """The segment with the greatest base offset <= `offset` (None: none)."""
        i = bisect_right(self._bases, offset) - 1
        return self._segments[i] if i >= 0 else None

    def ceiling_index(self, offset: int) -> int:
        """Position of the segment with the smallest base offset >= `offset`; the number
        of segments when there is none."""
        return bisect_left(self._bases, offset)

    def ceiling(self, offset: int) -> LogSegment | None:
        """The segment with the smallest base offset >= `offset` (None: none)."""
        i = bisect_left(self._bases, offset)
        return self._segments[i] if i < len(self._segments) else None

    # -- changing -------------------------------------------------------------------

    def add(self, segment: LogSegment) -> None:
        """Append `segment` as the newest (its base offset above every other)."""
        self._segments.append(segment)
        self._bases.append(segment.base_offset)
        self.active = segment

    def insert(self, index: int, segment: LogSegment) -> None:
        """Put `segment` at position `index` (where its base offset belongs)."""
        self._segments.insert(index, segment)
        self._bases.insert(index, segment.base_offset)
        self.active = self._segments[-1]

    def remove(self, start: int, stop: int | None = None) -> list[LogSegment]:
        """Take the segments at positions [start, stop) out of the list (from `start` to
        the end when `stop` is None) and return them. Their files are the caller's."""
        removed = self._segments[start:stop]
        del self._segments[start:stop]
        del self._bases[start:stop]
        self.active = self._segments[-1] if self._segments else None
        return removed

    def clear(self) -> None:
        """Forget every segment (their files are the caller's)."""
        self._segments.clear()
        self._bases.clear()
        self.active = None

    def __repr__(self) -> str:
        return f"LogSegments({self._bases})"
