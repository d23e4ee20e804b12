"""LeaderEpochFileCache: which leader epoch wrote which offsets (leader-epoch-checkpoint).

One entry per leader epoch that wrote to the log: (epoch, start offset), the start
offset being the base offset of the first batch the epoch wrote (or the log end offset
when a broker became leader, Kafka's maybeAssignEpochStartOffset). Epochs and start
offsets both increase along the list. OffsetForLeaderEpoch answers from it
(`end_offset_for`), and a follower truncates its divergent tail with the answer.

File format (Kafka's LeaderEpochCheckpointFile), text:

    0          version
    2          number of entries
    0 0        epoch, start offset
    1 10

written with `storage.checkpoint.write_atomically` (tmp file, fsync, rename, directory
fsync): a crash leaves the old or the new file, never half of one.

When the file is written (Kafka writes on every new epoch, inline; we keep fsyncs off
the event loop):
- `flush()` writes the entries if they changed since the last write. The log calls it
  from `Log.flush_files` (worker thread) before the recovery point may move, from
  `LogManager.checkpoint` (worker thread) and from `Log.close`. So the file holds every
  entry whose start offset is below the recovery point; entries above it are re-learnt
  from the batch headers when the log is opened after an unclean shutdown (the
  segments there are re-read by recovery anyway), see `Log._load_leader_epochs`.
- A truncation from the end that removed entries is written at once by the log (loop
  thread; only a divergent tail or an epoch without data causes one): a stale entry
  above the truncation point could otherwise survive a crash below the re-read range.

Threading: every method except `flush` runs on the loop thread. `flush` may run in any
thread: the entries are an immutable tuple replaced whole by each change, so a writer
always sees one consistent state, and writes are serialised so that an older state
never overwrites a newer one.
"""

from __future__ import annotations

import logging
import threading
from bisect import bisect_left, bisect_right
from pathlib import Path
from typing import NamedTuple

from storage.checkpoint import CorruptCheckpoint, write_atomically
from storage.errors import StorageError

log = logging.getLogger(__name__)

LEADER_EPOCH_CHECKPOINT = "leader-epoch-checkpoint"
LEADER_EPOCH_CHECKPOINT_VERSION = 0
UNDEFINED_EPOCH = -1  # OffsetsForLeaderEpochResponse.UNDEFINED_EPOCH
UNDEFINED_EPOCH_OFFSET = -1  # OffsetsForLeaderEpochResponse.UNDEFINED_EPOCH_OFFSET


class EpochEntry(NamedTuple):
    epoch: int
    start_offset: int


def _epoch_of(entry: EpochEntry) -> int:
    return entry.epoch


def _start_of(entry: EpochEntry) -> int:
    return entry.start_offset


def encode_epoch_checkpoint(entries: list[EpochEntry] | tuple[EpochEntry, ...]) -> bytes:
    lines = [str(LEADER_EPOCH_CHECKPOINT_VERSION), str(len(entries))]
    lines.extend(f"{epoch} {start}" for epoch, start in entries)
    return ("\n".join(lines) + "\n").encode("ascii")


def decode_epoch_checkpoint(text: str, name: str = LEADER_EPOCH_CHECKPOINT) -> list[EpochEntry]:
    """Parse the file's text; CorruptCheckpoint when it does not parse or the entries do
    not increase (Kafka would refuse them too). An empty file (Kafka creates the file
    empty with a new log) holds no entries."""
    if not text.strip():
        return []
    lines = text.splitlines()
    try:
        version = int(lines[0])
        if version != LEADER_EPOCH_CHECKPOINT_VERSION:
            raise ValueError(f"unknown version {version}")
        count = int(lines[1])
        body = [line for line in lines[2:] if line.strip()]
        if len(body) != count:
            raise ValueError(f"expected {count} entries, found {len(body)}")
        entries = []
        for line in body:
            epoch, start = line.split()
            entry = EpochEntry(int(epoch), int(start))
            if entry.epoch < 0 or entry.start_offset < 0:
                raise ValueError(f"negative entry {line!r}")
            if entries and (
                entry.epoch <= entries[-1].epoch or entry.start_offset < entries[-1].start_offset
            ):
                raise ValueError(f"entry {line!r} does not follow {entries[-1]}")
            entries.append(entry)
    except (IndexError, ValueError) as exc:
        raise CorruptCheckpoint(f"malformed leader epoch checkpoint {name}: {exc}") from exc
    return entries


class LeaderEpochFileCache:
    """(epoch, start offset) entries of one partition, backed by its checkpoint file."""

    def __init__(self, path: Path, entries: list[EpochEntry] | None = None) -> None:
        """A cache over `path` holding `entries` (none: empty). Nothing is read; see
        `read_checkpoint`. The file is (re)written by `flush` once the entries change."""
        self.path = Path(path)
        self._entries: tuple[EpochEntry, ...] = tuple(entries or ())
        self._version = 0  # bumped by every change
        self._written_version = 0  # the version the file holds
        self._write_lock = threading.Lock()
        self._warned_stale_epoch: int | None = None

    @classmethod
    def load(cls, path: Path) -> tuple[LeaderEpochFileCache, bool]:
        """The cache with the file's entries, and whether the file was usable (False when
        it is missing or malformed: the log then rebuilds the entries from its batches)."""
        path = Path(path)
        try:
            entries = read_checkpoint(path)
        except CorruptCheckpoint as exc:
            log.warning("%s; rebuilding the leader epochs from the log", exc)
            return cls(path), False
        if entries is None:
            return cls(path), False
        cache = cls(path)
        for entry in entries:  # as Kafka reads it: an epoch that never wrote is dropped
            cache.assign(entry.epoch, entry.start_offset)
        if cache.entries() == entries:
            cache._written_version = cache._version
        return cache, True

    # -- reading ---------------------------------------------------------------------

    def entries(self) -> list[EpochEntry]:
        return list(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"LeaderEpochFileCache({self.path}, {list(self._entries)})"

    @property
    def latest_entry(self) -> EpochEntry | None:
        entries = self._entries
        return entries[-1] if entries else None

    @property
    def latest_epoch(self) -> int | None:
        """The newest epoch that wrote (or was assigned a start offset), None if none."""
        entries = self._entries
        return entries[-1].epoch if entries else None

    @property
    def earliest_entry(self) -> EpochEntry | None:
        entries = self._entries
        return entries[0] if entries else None

    def epoch_for_offset(self, offset: int) -> int | None:
        """The epoch that wrote `offset` (the entry with the largest start <= offset)."""
        entries = self._entries
        i = bisect_right(entries, offset, key=_start_of)
        return entries[i - 1].epoch if i else None

    def end_offset_for(self, requested_epoch: int, log_end_offset: int) -> tuple[int, int]:
        """(epoch, end offset) for OffsetForLeaderEpoch, Kafka's LeaderEpochFileCache.endOffsetFor:

        - UNDEFINED_EPOCH (-1) requested, or no entry: (-1, -1);
        - the latest epoch requested: (it, log_end_offset);
        - otherwise the largest epoch <= the requested one, ended by the start offset of
          the first epoch above the requested one; when no epoch is <= the requested
          one (data of older epochs deleted): (requested, first entry's start offset);
        - an epoch above every known one: (-1, -1) (a leader assigns its own epoch when
          it becomes leader, so a follower cannot be ahead of it).
        """
        entries = self._entries
        if requested_epoch == UNDEFINED_EPOCH or not entries:
            return UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
        if entries[-1].epoch == requested_epoch:
            return requested_epoch, log_end_offset
        higher = bisect_right(entries, requested_epoch, key=_epoch_of)
        if higher == len(entries):
            return UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
        end_offset = entries[higher].start_offset
        if higher == 0:
            return requested_epoch, end_offset
        return entries[higher - 1].epoch, end_offset

    # -- changes ---------------------------------------------------------------------

    def _set(self, entries: tuple[EpochEntry, ...]) -> None:
        # The tuple first, then the version: a writer that sees the new version also
        # sees the new entries (see `flush`).
        self._entries = entries
        self._version += 1

    def assign(self, epoch: int, start_offset: int) -> bool:
        """Record that `epoch` starts at `start_offset`. Returns whether anything changed.

        Kafka's rules: an epoch already latest keeps its start offset (unless the new
        one is lower, which means the log was cut without telling the cache); a newer
        epoch is appended after dropping the entries starting at or above its start
        offset (an epoch that never wrote, e.g. a leadership that ended at once).
        An epoch below the latest is ignored with a warning (Kafka's log recovery
        does the same; Kafka's `assign` would instead drop the later entries), and
        so are negative epochs (batches written without a leader epoch).
        """
        if epoch < 0 or start_offset < 0:
            return False
        entries = self._entries
        if entries:
            latest = entries[-1]
            if epoch == latest.epoch and start_offset >= latest.start_offset:
                return False
            if epoch < latest.epoch:
                if self._warned_stale_epoch != epoch:
                    self._warned_stale_epoch = epoch
                    log.warning(
                        "%s: ignoring leader epoch %d at offset %d, older than the latest %s",
                        self.path.parent.name,
                        epoch,
                        start_offset,
                        latest,
                    )
                return False
            # Dropped: the latest entry if this is its epoch again (lower start), and every
            # entry starting at or above the new start offset.
            keep = min(
                bisect_left(entries, start_offset, key=_start_of),
                len(entries) - 1 if epoch == latest.epoch else len(entries),
            )
            removed = entries[keep:]
            if len(removed) > 1 or (removed and removed[-1].start_offset != start_offset):
                # An entry at the same start offset is an epoch that never wrote: expected.
                log.warning(
                    "%s: leader epoch %d at offset %d replaces the entries %s",
                    self.path.parent.name,
                    epoch,
                    start_offset,
                    list(removed),
                )
            entries = entries[:keep]
        self._set((*entries, EpochEntry(epoch, start_offset)))
        log.debug("%s: leader epoch %d starts at %d", self.path.parent.name, epoch, start_offset)
        return True

    def truncate_from_end(self, end_offset: int) -> list[EpochEntry]:
        """Drop the entries starting at or above `end_offset` (the log was cut there);
        returns them."""
        entries = self._entries
        if end_offset < 0 or not entries or entries[-1].start_offset < end_offset:
            return []
        keep = bisect_left(entries, end_offset, key=_start_of)
        removed = list(entries[keep:])
        self._set(entries[:keep])
        log.debug(
            "%s: dropped leader epochs %s (log end offset %d)",
            self.path.parent.name,
            removed,
            end_offset,
        )
        return removed

    def truncate_from_start(self, start_offset: int) -> list[EpochEntry]:
        """The log start moved to `start_offset`: drop the entries wholly below it and
        move the start of the one covering it up to it (Kafka's truncateFromStart; an
        entry starting exactly at `start_offset` stays as it is). Returns the entries
        removed or changed."""
        entries = self._entries
        if not entries or entries[0].start_offset >= start_offset:
            return []
        covering = bisect_right(entries, start_offset, key=_start_of) - 1
        removed = list(entries[: covering + 1])
        first = EpochEntry(entries[covering].epoch, start_offset)
        self._set((first, *entries[covering + 1 :]))
        return removed

    def clear(self) -> None:
        """Forget every entry (the log was emptied). The file is rewritten by the next
        flush even if the cache was already empty (it may hold stale entries)."""
        self._set(())

    # -- the file ----------------------------------------------------------------------

    @property
    def dirty(self) -> bool:
        """Whether the entries changed since the file was last written."""
        return self._version != self._written_version

    def flush(self) -> bool:
        """Write the checkpoint if the entries changed (any thread; it fsyncs). Returns
        whether it wrote. Does nothing if the partition directory is gone (deleted).
        Raises StorageError when the write fails."""
        with self._write_lock:
            version = self._version
            entries = self._entries
            if version == self._written_version:
                return False
            try:
                write_atomically(self.path, encode_epoch_checkpoint(entries))
            except FileNotFoundError:
                if not self.path.parent.exists():
                    return False  # Kafka's writeIfDirExists: the log was deleted
                raise StorageError(f"cannot write {self.path}: directory vanished") from None
            except OSError as exc:
                raise StorageError(f"cannot write {self.path}: {exc}") from exc
            self._written_version = version
            return True


def read_checkpoint(path: Path) -> list[EpochEntry] | None:
    """The entries of a leader-epoch-checkpoint file; None when it does not exist."""
    path = Path(path)
    try:
        text = path.read_text("ascii")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as exc:
        raise CorruptCheckpoint(f"malformed leader epoch checkpoint {path}: {exc}") from exc
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc}") from exc
    return decode_epoch_checkpoint(text, str(path))
