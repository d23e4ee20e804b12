"""LogLoader: opening a partition's directory and recovering it (Kafka's LogLoader).

Opening a log first finishes an interrupted compaction swap (`*.swap` files replace
the segments they cover, as Kafka's LogLoader does) and removes leftovers
(`*.cleaned`, `*.deleted`, `*.tmp`). After a clean shutdown only the active
segment's tail (after its last index entry) is re-validated; after an unclean one
every segment from the recovery point on is (CRC checked, indexes rebuilt, the log
cut at the first torn or corrupt batch, later segments deleted), and what was cut is
logged and kept in the log's `load_report`. The producer snapshot files found are
handed to the Log, which loads its producer state from them (storage/log.py).

Leader epochs: the leader-epoch-checkpoint is trimmed to the log and, after an unclean
shutdown, the tail is re-learnt from the batch headers.

Threading contract: a LogLoader runs inside `Log.__init__`, in the thread that opens
the log, before anything else can use it: a worker thread when the LogManager loads
the log directory at startup (recovery can take long), the loop thread for a partition
created later (an empty directory). It fills the LogSegments it is given.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from storage.file_handles import FileHandleCache
from storage.leader_epoch import LEADER_EPOCH_CHECKPOINT, LeaderEpochFileCache
from storage.log_segments import LogSegments
from storage.producer_state import SNAPSHOT_SUFFIX
from storage.segment import (
    CLEANED_SUFFIX,
    DELETED_SUFFIX,
    INDEX_SUFFIX,
    LOG_SUFFIX,
    SWAP_SUFFIX,
    TIME_INDEX_SUFFIX,
    LogSegment,
    filename_prefix,
)
from storage.transaction_index import TXN_INDEX_SUFFIX

log = logging.getLogger(__name__)

# Leftovers of interrupted file operations, removed when a log is opened.
_STALE_SUFFIXES = (DELETED_SUFFIX, CLEANED_SUFFIX, ".tmp")
_SEGMENT_FILE_SUFFIXES = (LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX)


class LoadReport(NamedTuple):
    """What opening the log found and did (for logs and tests)."""

    clean_shutdown: bool
    recovered_segments: list[str]  # segment files re-validated
    indexes_rebuilt: list[str]  # segment files whose indexes were rebuilt
    truncations: list[tuple[str, int, int, str]]  # (file, position, bytes cut, reason)
    deleted_segments: list[str]  # after a corrupt one (unclean shutdown)
    swaps_completed: list[str]  # interrupted compaction swaps finished
    leftovers_removed: list[str]
    snapshot_offset: int | None  # producer snapshot the state was loaded from
    log_end_offset: int
    # Offset from which the leader epochs were re-learnt from batch headers (None: the
    # leader-epoch-checkpoint sufficed).
    leader_epochs_rebuilt_from: int | None = None


class LogLoader:
    """Loads one partition directory into `segments` (empty, the Log's), recovering as
    the shutdown requires. `new_segment(base_offset, create=False)` opens or creates a
    segment with the log's settings."""

    def __init__(
        self,
        dir: Path,
        segments: LogSegments,
        new_segment: Callable[..., LogSegment],
    ) -> None:
        self.dir = dir
        self.segments = segments
        self._new_segment = new_segment
        self.snapshot_offsets: list[int] = []  # sorted offsets of <offset>.snapshot files
        self._report = {
            "recovered": [],
            "rebuilt": [],
            "truncations": [],
            "deleted": [],
            "swaps": [],
            "leftovers": [],
        }

    # -- loading and recovery ---------------------------------------------------

    def load_segments(
        self, log_start_offset: int, recovery_point: int | None, had_clean_shutdown: bool
    ) -> None:
        report = self._report
        names = os.listdir(self.dir)
        if any(name.endswith(SWAP_SUFFIX) for name in names):
            self._complete_swaps()
            names = os.listdir(self.dir)
        bases = []
        index_files = []
        for name in names:
            if name.endswith(_STALE_SUFFIXES):
                report["leftovers"].append(name)
                (self.dir / name).unlink(missing_ok=True)
            elif name.endswith(LOG_SUFFIX) and name[: -len(LOG_SUFFIX)].isdigit():
                bases.append(int(name[: -len(LOG_SUFFIX)]))
            elif name.endswith((INDEX_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX)):
                index_files.append(name)
            elif name.endswith(SNAPSHOT_SUFFIX) and name[: -len(SNAPSHOT_SUFFIX)].isdigit():
                self.snapshot_offsets.append(int(name[: -len(SNAPSHOT_SUFFIX)]))
        bases.sort()
        self.snapshot_offsets.sort()
        known = {filename_prefix(base) for base in bases}
        for name in index_files:
            if name.split(".")[0] not in known:
                report["leftovers"].append(name)
                (self.dir / name).unlink(missing_ok=True)
        if report["leftovers"]:
            names = sorted(report["leftovers"])
            log.info(
                "%s: removed %d leftover file(s) of interrupted operations: %s%s",
                self.dir,
                len(names),
                ", ".join(names[:6]),
                ", ..." if len(names) > 6 else "",
            )
        segments = self.segments
        for base in bases:
            segments.add(self._new_segment(base))
        if not segments:
            segments.add(self._new_segment(log_start_offset, create=True))
            return

        if had_clean_shutdown:
            for segment in segments[:-1]:
                if segment.needs_index_rebuild:
                    log.warning("%s: missing index, rebuilding", segment.log_path)
                    self._recover_segment(segment)
            active = segments.active
            self._note_recovery(active, active.recover_tail(), tail_check=True)
            return

        # Unclean shutdown: every segment that may hold unflushed data is re-validated;
        # the log ends at the first torn or corrupt batch.
        point = recovery_point or 0
        for i, segment in enumerate(segments):
            later = segments[i + 1] if i + 1 < len(segments) else None
            if later is not None and later.base_offset <= point and not segment.needs_index_rebuild:
                continue
            truncated = self._recover_segment(segment)
            # Its .txnindex may lack entries written before the crash: rebuilt by the
            # Log's producer state replay when the segment holds markers (rare).
            segment.txn_index.reset()
            result = segment.last_recovery
            segment.txn_index_rebuild = result is not None and result.control_batches
            if truncated and later is not None:
                dropped = segments[i + 1 :]
                log.warning(
                    "%s: corruption in %s; deleting the %d segments after it (offsets %d..%d)",
                    self.dir,
                    segment.log_path.name,
                    len(dropped),
                    dropped[0].base_offset,
                    dropped[-1].next_offset - 1,
                )
                for gone in dropped:
                    report["deleted"].append(gone.log_path.name)
                    gone.delete()
                segments.remove(i + 1)
                break

    def _recover_segment(self, segment: LogSegment) -> int:
        truncated = segment.recover()
        self._note_recovery(segment, truncated)
        return truncated

    def _note_recovery(self, segment: LogSegment, truncated: int, tail_check: bool = False) -> None:
        result = segment.last_recovery
        if result is None:
            return
        report = self._report
        if tail_check and not (truncated or result.indexes_rebuilt):
            return  # the routine check of a clean open found nothing
        report["recovered"].append(segment.log_path.name)
        if result.indexes_rebuilt:
            report["rebuilt"].append(segment.log_path.name)
        if truncated:
            report["truncations"].append(
                (segment.log_path.name, result.valid_bytes, truncated, result.reason)
            )

    def _complete_swaps(self) -> None:
        """Finish a compaction swap a crash interrupted (Kafka's completeSwapOperations).

        A `<base>.log.swap` is a complete cleaned segment: the segments it replaces
        (base offsets in [base, its next offset)) are deleted, then its files take their
        final names. Index `.swap` files without their `.log.swap` are from a swap that
        had not reached the log file (indexes are renamed first): they are dropped.
        """
        names = os.listdir(self.dir)
        swap_logs = {
            name
            for name in names
            if name.endswith(LOG_SUFFIX + SWAP_SUFFIX) and name.split(".")[0].isdigit()
        }
        low, high = None, None
        for name in swap_logs:
            base = int(name.split(".")[0])
            segment = LogSegment(
                self.dir, base, file_suffix=SWAP_SUFFIX, file_cache=FileHandleCache()
            )
            try:
                end = segment.next_offset
            finally:
                segment.close()
            low = base if low is None else min(low, base)
            high = end if high is None else max(high, end)
        if low is not None:
            high = max(high, low + 1)
            for name in names:
                prefix = name.split(".")[0]
                if name.endswith(_SEGMENT_FILE_SUFFIXES) and prefix.isdigit():
                    if low <= int(prefix) < high:
                        log.info("%s: deleting %s, replaced by a compacted segment", self.dir, name)
                        (self.dir / name).unlink(missing_ok=True)
        for name in os.listdir(self.dir):
            if not name.endswith(SWAP_SUFFIX):
                continue
            path = self.dir / name
            if name.split(".")[0] + LOG_SUFFIX + SWAP_SUFFIX not in swap_logs:
                path.unlink(missing_ok=True)
                self._report["leftovers"].append(name)
                continue
            final = path.with_name(name[: -len(SWAP_SUFFIX)])
            os.replace(path, final)
            if final.name.endswith(LOG_SUFFIX):
                self._report["swaps"].append(final.name)
                log.warning(
                    "%s: completed an interrupted compaction swap of %s", self.dir, final.name
                )

    def report(
        self,
        clean_shutdown: bool,
        snapshot_offset: int | None,
        log_end_offset: int,
        leader_epochs_rebuilt_from: int | None,
    ) -> LoadReport:
        """The LoadReport of this load, logged (when there was anything to repair)."""
        report = self._report
        load_report = LoadReport(
            clean_shutdown,
            report["recovered"],
            report["rebuilt"],
            report["truncations"],
            report["deleted"],
            report["swaps"],
            report["leftovers"],
            snapshot_offset,
            log_end_offset,
            leader_epochs_rebuilt_from,
        )
        self._log_load_report(load_report)
        return load_report

    def _log_load_report(self, report: LoadReport) -> None:
        if report.clean_shutdown and not (
            report.truncations or report.indexes_rebuilt or report.swaps_completed
        ):
            return
        parts = []
        if not report.clean_shutdown:
            parts.append(f"re-validated {len(report.recovered_segments)} segment(s)")
        if report.indexes_rebuilt:
            parts.append("rebuilt the indexes of " + ", ".join(report.indexes_rebuilt))
        for name, position, cut, reason in report.truncations:
            parts.append(f"cut {cut} bytes from {name} at position {position} ({reason})")
        if report.deleted_segments:
            parts.append("deleted " + ", ".join(report.deleted_segments))
        if report.swaps_completed:
            parts.append("finished compaction swaps of " + ", ".join(report.swaps_completed))
        level = logging.WARNING if report.truncations or report.deleted_segments else logging.INFO
        log.log(
            level,
            "%s: recovered after %s shutdown: %s; log end offset %d",
            self.dir.name,
            "a clean" if report.clean_shutdown else "an unclean",
            "; ".join(parts) or "nothing to repair",
            report.log_end_offset,
        )

    # -- leader epochs ------------------------------------------------------------------

    def load_leader_epochs(
        self,
        had_clean_shutdown: bool,
        recovery_point: int,
        log_start_offset: int,
        log_end_offset: int,
    ) -> tuple[LeaderEpochFileCache, int | None]:
        """The leader epoch cache from leader-epoch-checkpoint, trimmed to the log.

        The file holds every entry starting below the recovery point (it is written
        before the recovery point moves). After an unclean shutdown the entries from
        the segment holding the recovery point on (the segments recovery re-read) are
        re-learnt from the batch headers; without a file, or with a malformed or empty
        one (Kafka creates it empty), all of them. Returns the cache and the offset the
        headers were read from (None: not read)."""
        cache, usable = LeaderEpochFileCache.load(self.dir / LEADER_EPOCH_CHECKPOINT)
        rebuild_from = None
        if not usable or not len(cache):
            if not usable and cache.path.exists():
                cache.clear()  # malformed: rewritten by the next flush
            rebuild_from = self.segments.first.base_offset
        elif not had_clean_shutdown:
            index = max(0, self.segments.floor_index(recovery_point))
            rebuild_from = self.segments[index].base_offset
            cache.truncate_from_end(rebuild_from)
        if rebuild_from is not None and rebuild_from < log_end_offset:
            self._learn_leader_epochs(cache, rebuild_from)
        else:
            rebuild_from = None
        cache.truncate_from_end(log_end_offset)
        cache.truncate_from_start(log_start_offset)
        return cache, rebuild_from

    def _learn_leader_epochs(self, cache: LeaderEpochFileCache, from_offset: int) -> None:
        """Assign the epochs of the batches from the segment holding `from_offset` on
        (batch headers only; epochs older than the latest are ignored, as Kafka's
        recovery does)."""
        latest = cache.latest_epoch
        index = max(0, self.segments.floor_index(from_offset))
        for segment in self.segments[index:]:
            for _, header in segment.batch_headers():
                epoch = header.partition_leader_epoch
                if epoch != latest and cache.assign(epoch, header.base_offset):
                    latest = epoch
