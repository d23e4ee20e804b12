"""Two ways for Trio tasks to wait on each other, used everywhere the broker waits.

- `Signal`: an event that fires many times; a waiter waits for the next firing
  (a high-watermark advance, a metadata change, a fetcher's partition set).
- `Reply`: one task's answer to another, set once and awaited (a JoinGroup that
  another member's arrival completes).
"""

from __future__ import annotations

from typing import Generic, TypeVar

import trio

T = TypeVar("T")


class Signal:
    """A re-armable event: `fire()` wakes every task waiting now; later waiters wait for
    the next firing. The event behind it is made only when someone waits, so firing
    with no waiter (a high-watermark advance nobody awaits) costs next to nothing."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event: trio.Event | None = None

    def fire(self) -> None:
        event = self._event
        if event is not None:
            self._event = None
            event.set()

    async def wait(self) -> None:
        await self.waiter().wait()

    def waiter(self) -> trio.Event:
        """The event of the next firing, for a caller that must check state before it
        waits (take the event, check, then wait on it: no firing is missed)."""
        event = self._event
        if event is None:
            event = self._event = trio.Event()
        return event


class Reply(Generic[T]):
    """An answer set once by whoever completes a request, awaited by its handler; later
    answers are ignored (the first one wins, as a callback that fires once)."""

    __slots__ = ("_event", "_value")

    def __init__(self) -> None:
        self._event = trio.Event()
        self._value: T | None = None

    def __call__(self, value: T) -> None:
        if not self._event.is_set():
            self._value = value
            self._event.set()

    @property
    def done(self) -> bool:
        return self._event.is_set()

    async def wait(self) -> T:
        await self._event.wait()
        return self._value  # type: ignore[return-value]
