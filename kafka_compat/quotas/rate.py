"""Kafka's Rate over a SampledStat (org.apache.kafka.common.metrics.stats.Rate): the sum
of the recorded values in the retained samples, divided by the time they cover, which
is never taken as less than `samples - 1` whole windows (a client that just started is
not measured over a few milliseconds).

A sample is [start_ms, value, last_event_ms, events]; `samples + 1` are kept (Kafka's
extra "overlapping" one), and one whose last event is older than `samples` windows is
reset (to start now, empty). `avg` is Kafka's Avg over the same samples (the quota
metrics' throttle-time).
"""

from __future__ import annotations

__all__ = ["Rate"]


class Rate:
    __slots__ = ("num_samples", "window_ms", "samples", "current")

    def __init__(self, num_samples: int, window_ms: int) -> None:
        self.num_samples = num_samples
        self.window_ms = window_ms
        self.samples: list[list[float]] = []
        self.current = 0

    def record(self, value: float, now_ms: float) -> None:
        samples = self.samples
        if not samples:
            samples.append([now_ms, 0.0, now_ms, 0])
        sample = samples[self.current]
        if now_ms - sample[0] >= self.window_ms:
            self.current = (self.current + 1) % (self.num_samples + 1)
            if self.current >= len(samples):
                sample = [now_ms, 0.0, now_ms, 0]
                samples.append(sample)
            else:
                sample = samples[self.current]
                sample[0], sample[1], sample[2], sample[3] = now_ms, 0.0, now_ms, 0
        sample[1] += value
        sample[2] = now_ms
        sample[3] += 1

    def _purge(self, now_ms: float) -> None:
        expire = self.num_samples * self.window_ms
        for sample in self.samples:
            if now_ms - sample[2] >= expire:
                sample[0], sample[1], sample[2], sample[3] = now_ms, 0.0, now_ms, 0

    def window_size_ms(self, now_ms: float) -> float:
        """Kafka's Rate.windowSize: the time the retained samples cover (at least
        `samples - 1` windows, at least 1 ms)."""
        self._purge(now_ms)
        oldest = min((s[0] for s in self.samples), default=now_ms)
        elapsed = now_ms - oldest
        full = int(elapsed // self.window_ms)
        if full < self.num_samples - 1:
            elapsed += (self.num_samples - 1 - full) * self.window_ms
        return max(elapsed, 1.0)

    def measure(self, now_ms: float) -> float:
        """The rate per second."""
        window = self.window_size_ms(now_ms)
        return sum(s[1] for s in self.samples) / window * 1000.0

    def avg(self, now_ms: float) -> float:
        """Kafka's Avg: the mean recorded value in the retained samples (NaN: none)."""
        self._purge(now_ms)
        events = sum(s[3] for s in self.samples)
        return sum(s[1] for s in self.samples) / events if events else float("nan")

    @property
    def last_event_ms(self) -> float:
        return max((s[2] for s in self.samples), default=0.0)
