"""The broker's one clock: wall-clock milliseconds, as Kafka stamps and compares them.

Components take a `Clock` (a zero-argument callable) with `wall_clock_ms` as the
default, so a test can drive time by passing its own. Trio's `current_time()` stays
the clock for deadlines and sleeps; this one is for what is written down or compared
with written-down times (timestamps, lag, expiry).
"""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], int]


def wall_clock_ms() -> int:
    """Milliseconds since the epoch (Kafka's `Time.milliseconds()`)."""
    return int(time.time() * 1000)
