"""A movable one-shot deadline, for session, join and sync timeouts.

A timer is a task in its owner's nursery, asleep inside a cancel scope whose
deadline is the timer's: nothing polls. `reset` moves the deadline (a heartbeat
pushes a member's session expiry out), `stop` cancels it, and when the deadline
passes the callback runs once, in the timer's task. A timer that fired or was
stopped starts a fresh task on the next `reset`. Cancelling the owner's nursery
(shutdown) ends every timer without calling anything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

log = logging.getLogger(__name__)


class Timer:
    __slots__ = ("_nursery", "_callback", "_scope")

    def __init__(self, nursery: trio.Nursery, callback: Callable[[], None]):
        self._nursery = nursery
        self._callback = callback
        self._scope: trio.CancelScope | None = None

    @property
    def pending(self) -> bool:
        """Armed, and neither fired nor stopped."""
        return self._scope is not None

    @property
    def deadline(self) -> float | None:
        return None if self._scope is None else self._scope.deadline

    def reset(self, delay_ms: float) -> None:
        """Fire `delay_ms` from now (moving the deadline if armed)."""
        deadline = trio.current_time() + max(delay_ms, 0) / 1000
        if self._scope is None:
            self._scope = trio.CancelScope(deadline=deadline)
            self._nursery.start_soon(self._run, self._scope)
        else:
            self._scope.deadline = deadline

    def stop(self) -> None:
        scope, self._scope = self._scope, None
        if scope is not None:
            scope.cancel()

    async def _run(self, scope: trio.CancelScope) -> None:
        with scope:
            await trio.sleep_forever()
        # Stopped or replaced: `stop` (or a later timer) took the scope away first.
        if self._scope is not scope:
            return
        self._scope = None
        try:
            self._callback()
        except Exception:
            # A bug in one group's bookkeeping must not take the broker down.
            log.exception("Unexpected error in group coordinator timer %r", self._callback)
