"""FileHandleCache: a cap on the segment files a log directory keeps open.

Kafka keeps every segment's files open (mmap'ed indexes, one FileChannel per
.log); 10,000 partitions then need 30,000+ descriptors. Here a segment opens its
`.log` file on first use and registers it with the LogManager's cache, which
closes the least recently used ones beyond `max_open` (the active segment's too:
it is reopened, O_RDWR, on its next append). Index files hold no descriptor at all
(see storage/index.py). `close_idle(idle_ms)` also closes what nobody used for a
while, for a periodic broker task.

Threading: loop thread only (or whoever owns the LogManager exclusively, e.g. load
and close). Worker threads (flush, cleaner) never use cached descriptors; they open
their own by path.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Protocol


class _Owner(Protocol):
    def release_files(self) -> None: ...


class FileHandleCache:
    def __init__(self, max_open: int | None = None, clock=time.monotonic) -> None:
        """`max_open`: descriptors kept open at most (None: no cap). At least 2."""
        self.max_open = None if max_open is None else max(2, max_open)
        self._clock = clock
        self._open: OrderedDict[int, tuple[_Owner, float]] = OrderedDict()
        self.opened_total = 0
        self.evicted_total = 0

    def __len__(self) -> int:
        return len(self._open)

    def opened(self, owner: _Owner) -> None:
        """`owner` just opened its file: count it, evict the coldest beyond the cap."""
        self._open[id(owner)] = (owner, self._clock())
        self.opened_total += 1
        if self.max_open is not None:
            while len(self._open) > self.max_open:
                _, (victim, _) = self._open.popitem(last=False)
                self.evicted_total += 1
                victim.release_files()

    def touch(self, owner: _Owner) -> None:
        key = id(owner)
        if key in self._open:
            self._open[key] = (owner, self._clock())
            self._open.move_to_end(key)

    def closed(self, owner: _Owner) -> None:
        """`owner` closed its file itself."""
        self._open.pop(id(owner), None)

    def close_idle(self, idle_ms: int) -> int:
        """Close the files unused for `idle_ms` or longer; returns how many."""
        horizon = self._clock() - idle_ms / 1000
        closed = 0
        while self._open:
            key, (owner, used) = next(iter(self._open.items()))
            if used > horizon:
                break
            del self._open[key]
            owner.release_files()
            closed += 1
        return closed

    def close_all(self) -> None:
        while self._open:
            _, (owner, _) = self._open.popitem(last=False)
            owner.release_files()


# Logs opened on their own (tests, tools) share this one: no cap.
UNBOUNDED = FileHandleCache()
