"""OffsetIndex and TimeIndex: Kafka's sparse segment indexes, same file formats.

    <base>.index      entries (relativeOffset int32, position int32), 8 bytes, big-endian
    <base>.timeindex  entries (timestamp int64, relativeOffset int32), 12 bytes, big-endian

Entries are kept in memory in two `array`s (binary search with `bisect`); files
hold exactly the entries, never preallocated space, so Kafka's tools read them as
they are. An index is loaded lazily on first use: a broker with many old segments
does not read their indexes at startup, and loaded entries cost 8 (12) bytes each.

New entries reach the file in `write_pending()` (the segment calls it when it rolls,
is truncated or closes), with a descriptor opened for that write only: an index
never holds a file descriptor. An index file may therefore lag its segment; that is
safe because a sparse index with fewer entries still finds every batch, and after an
unclean shutdown the active segment (the only one whose entries can be pending) is
always recovered and its indexes rebuilt.

An OffsetIndex entry (O, P) means "the batches starting at file position P end at
offset O or later" (Kafka writes the last offset of what it appended at P); a lookup
gives a position to scan batch headers forward from.
"""

from __future__ import annotations

import os
import struct
import sys
from array import array
from bisect import bisect_left, bisect_right
from pathlib import Path

from storage.checkpoint import sync_file
from storage.errors import StorageError

_SWAP = sys.byteorder == "little"


class CorruptIndex(StorageError):
    """An index file that fails the sanity check; the segment rebuilds it from the log."""


class _Index:
    ENTRY_SIZE = 0
    _ENTRY: struct.Struct
    _KEY_TYPE = "i"
    _VALUE_TYPE = "i"

    def __init__(self, path: Path, base_offset: int, max_index_size: int) -> None:
        self.path = path
        self.base_offset = base_offset
        self.max_entries = max(1, max_index_size // self.ENTRY_SIZE)
        self._keys = array(self._KEY_TYPE)
        self._values = array(self._VALUE_TYPE)
        self._loaded = False
        self._written = 0  # the first entries, in memory, that the file holds as they are
        self._file_entries = 0  # entries the file holds (maybe stale ones past _written)
        self._unsynced = False  # written since the last flush
        # Entry count known without loading: Log.roll and is_full need only this.
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            size = 0
            self._loaded = True
        if size % self.ENTRY_SIZE:
            raise CorruptIndex(
                f"index file {path} has size {size}, not a multiple of {self.ENTRY_SIZE}"
            )
        self._entries = size // self.ENTRY_SIZE
        self._written = self._file_entries = self._entries

    # -- loading ------------------------------------------------------------

    def _load(self) -> None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            data = b""
        if len(data) % self.ENTRY_SIZE:
            raise CorruptIndex(f"index file {self.path} has a partial entry")
        self._parse(data)
        self._entries = self._written = self._file_entries = len(self._keys)
        self._loaded = True
        self._sanity_check()

    def _parse(self, data: bytes) -> None:
        raise NotImplementedError

    def _sanity_check(self) -> None:
        raise NotImplementedError

    def _ensure_loaded(self) -> None:
        if not self._loaded:
            self._load()

    def _read_last(self) -> tuple[int, int]:
        """The last entry, read from the file alone when the index is not loaded."""
        if self._loaded:
            return self._keys[-1], self._values[-1]
        with open(self.path, "rb") as file:
            file.seek((self._entries - 1) * self.ENTRY_SIZE)
            key, value = self._ENTRY.unpack(file.read(self.ENTRY_SIZE))
        return key, value

    # -- writing ------------------------------------------------------------

    def _write_entry(self, key: int, value: int) -> None:
        self._keys.append(key)
        self._values.append(value)
        self._entries += 1

    def write_pending(self) -> None:
        """Bring the file in line with the entries: write those not in it yet, cut any
        beyond them (one open, pwrite and/or ftruncate, close; nothing when in line)."""
        stale = self._file_entries > self._entries
        if self._written >= self._entries and not stale:
            return
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            if self._written < self._entries:
                pack = self._ENTRY.pack
                keys, values = self._keys, self._values
                data = b"".join(
                    pack(keys[i], values[i]) for i in range(self._written, self._entries)
                )
                os.pwrite(fd, data, self._written * self.ENTRY_SIZE)
            if stale:
                os.ftruncate(fd, self._entries * self.ENTRY_SIZE)
        finally:
            os.close(fd)
        self._written = self._file_entries = self._entries
        self._unsynced = True

    def _truncate_entries(self, count: int) -> None:
        if count >= self._entries:
            return
        del self._keys[count:]
        del self._values[count:]
        self._entries = count
        self._written = min(self._written, count)
        self.write_pending()

    def create(self) -> None:
        """Create the (empty) file, so that a missing file later means a lost index."""
        os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644))

    def reset(self) -> None:
        """Drop every entry (the segment is about to rebuild the index). The file is
        rewritten by the next write_pending (recovery calls it when done)."""
        self._keys = array(self._KEY_TYPE)
        self._values = array(self._VALUE_TYPE)
        self._entries = 0
        self._written = 0
        self._loaded = True
        if not self.path.exists():
            self.create()

    # -- state --------------------------------------------------------------

    @property
    def entries(self) -> int:
        return self._entries

    @property
    def is_full(self) -> bool:
        return self._entries >= self.max_entries

    @property
    def size_in_bytes(self) -> int:
        return self._entries * self.ENTRY_SIZE

    def flush(self) -> None:
        """fsync the file if it changed since the last flush (a descriptor of its own:
        safe from a worker thread; the flag is cleared first, so a write racing with
        the fsync is caught by the next flush)."""
        if not self._unsynced:
            return
        self._unsynced = False
        sync_file(self.path)

    def close(self) -> None:
        """Write pending entries; entries stay readable (an index holds no descriptor)."""
        self.write_pending()

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)

    def rename_to(self, path: Path) -> None:
        self.write_pending()
        if self.path.exists():
            os.replace(self.path, path)
        self.path = path


class OffsetIndex(_Index):
    """offset -> file position of the batch to start scanning from."""

    ENTRY_SIZE = 8
    _ENTRY = struct.Struct(">ii")

    def __init__(self, path: Path, base_offset: int, max_index_size: int = 10485760) -> None:
        super().__init__(path, base_offset, max_index_size)

    def _parse(self, data: bytes) -> None:
        words = array("i")
        words.frombytes(data)
        if _SWAP:
            words.byteswap()
        self._keys = words[0::2]
        self._values = words[1::2]

    def _sanity_check(self) -> None:
        # Kafka's check (last offset not below the base) plus one on positions.
        if self._keys and (self._keys[-1] < 0 or self._values[0] < 0):
            raise CorruptIndex(f"index file {self.path} has entries below its base offset")

    def append(self, offset: int, position: int) -> None:
        """Add (offset, position); offsets must grow, a repeat is ignored."""
        self._ensure_loaded()
        relative = offset - self.base_offset
        if self._keys and relative <= self._keys[-1]:
            return
        self._write_entry(relative, position)

    def lookup(self, target_offset: int) -> tuple[int, int]:
        """(offset, position) of the last entry with offset <= target, else (base, 0)."""
        self._ensure_loaded()
        slot = bisect_right(self._keys, target_offset - self.base_offset) - 1
        if slot < 0:
            return self.base_offset, 0
        return self.base_offset + self._keys[slot], self._values[slot]

    def last_entry(self) -> tuple[int, int]:
        if not self._entries:
            return self.base_offset, 0
        relative, position = self._read_last()
        return self.base_offset + relative, position

    def truncate_to(self, offset: int) -> None:
        """Remove the entries for offsets >= `offset`."""
        self._ensure_loaded()
        self._truncate_entries(bisect_left(self._keys, offset - self.base_offset))

    def truncate_to_position(self, position: int) -> None:
        """Remove the entries that point at or past `position` (the log was cut there)."""
        self._ensure_loaded()
        self._truncate_entries(bisect_left(self._values, position))


class TimeIndex(_Index):
    """timestamp -> offset to start the search for the first record at or after it.

    Entries are (max timestamp so far, offset of the batch that reached it); only a
    timestamp above the last entry's is appended.
    """

    ENTRY_SIZE = 12
    _ENTRY = struct.Struct(">qi")
    _KEY_TYPE = "q"

    def __init__(self, path: Path, base_offset: int, max_index_size: int = 10485760) -> None:
        super().__init__(path, base_offset, max_index_size)

    def _parse(self, data: bytes) -> None:
        # One C-level unpack of the whole file, then split the interleaved fields.
        flat = struct.unpack(">" + "qi" * (len(data) // self.ENTRY_SIZE), data)
        self._keys = array("q", flat[0::2])
        self._values = array("i", flat[1::2])

    def _sanity_check(self) -> None:
        if self._values and self._values[-1] < 0:
            raise CorruptIndex(f"time index {self.path} has entries below its base offset")

    def maybe_append(self, timestamp: int, offset: int, skip_full_check: bool = False) -> None:
        """Append if `timestamp` is above the last entry's (Kafka's TimeIndex.maybeAppend)."""
        self._ensure_loaded()
        if not skip_full_check and self.is_full:
            return
        if self._keys and (
            timestamp <= self._keys[-1] or offset - self.base_offset < self._values[-1]
        ):
            return
        if timestamp < 0:
            return
        self._write_entry(timestamp, offset - self.base_offset)

    def lookup(self, target_timestamp: int) -> tuple[int, int]:
        """(timestamp, offset) of the last entry with timestamp <= target, else (-1, base)."""
        self._ensure_loaded()
        slot = bisect_right(self._keys, target_timestamp) - 1
        if slot < 0:
            return -1, self.base_offset
        return self._keys[slot], self.base_offset + self._values[slot]

    def last_entry(self) -> tuple[int, int]:
        """(max timestamp, its offset) recorded, (-1, base) when empty."""
        if not self._entries:
            return -1, self.base_offset
        timestamp, relative = self._read_last()
        return timestamp, self.base_offset + relative

    def truncate_to(self, offset: int) -> None:
        """Remove the entries for offsets >= `offset`."""
        self._ensure_loaded()
        self._truncate_entries(bisect_left(self._values, offset - self.base_offset))
