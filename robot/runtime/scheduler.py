"""Deadline-based fixed-rate scheduler and per-tick telemetry.

Why deadlines and not `sleep(period)`: sleeping a fixed period after the work
adds the work's duration to every tick and drifts. The scheduler keeps an
absolute deadline `t0 + k * period` and sleeps until it, so compute time is
absorbed as long as it fits in the period. A tick whose work overruns its
deadline is counted late; when the loop falls more than one whole period
behind, the missed deadlines are skipped (counted in `missed`) instead of
firing a burst of back-to-back ticks, which on a real arm would replay stale
commands at high rate.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class TickTiming:
    """Timing of one tick, seconds (time.monotonic clock).

    `start` tick start; `period` time since the previous tick start (0 on the
    first tick); `compute` work time before waiting; `late` the work ended past
    this tick's deadline; `missed` whole deadlines skipped after this tick.
    """

    start: float
    period: float
    compute: float
    late: bool
    missed: int


@dataclass
class LoopTelemetry:
    """Per-tick timings of a run, with a summary for logs and benchmarks."""

    fps: float
    periods: list[float] = field(default_factory=list)
    computes: list[float] = field(default_factory=list)
    late_ticks: int = 0
    missed_deadlines: int = 0

    def add(self, t: TickTiming) -> None:
        """Record one tick."""
        if t.period > 0:
            self.periods.append(t.period)
        self.computes.append(t.compute)
        self.late_ticks += int(t.late)
        self.missed_deadlines += t.missed

    @property
    def ticks(self) -> int:
        """Number of ticks recorded."""
        return len(self.computes)

    def summary(self) -> dict[str, float]:
        """Means, spreads and maxima in milliseconds, counts of late ticks and missed deadlines."""
        per = np.asarray(self.periods, dtype=np.float64) * 1e3
        comp = np.asarray(self.computes, dtype=np.float64) * 1e3

        def stat(a: np.ndarray, fn: Callable[[np.ndarray], float]) -> float:
            return float(fn(a)) if a.size else 0.0

        return {
            "fps_target": float(self.fps),
            "ticks": self.ticks,
            "period_ms_mean": stat(per, np.mean),
            "period_ms_std": stat(per, np.std),
            "period_ms_max": stat(per, np.max),
            "compute_ms_mean": stat(comp, np.mean),
            "compute_ms_p99": stat(comp, lambda a: np.percentile(a, 99)),
            "compute_ms_max": stat(comp, np.max),
            "late_ticks": self.late_ticks,
            "missed_deadlines": self.missed_deadlines,
        }


class RateScheduler:
    """Ticks at `fps` against absolute deadlines; `realtime=False` never sleeps.

    Usage: `start()` once, then per tick `begin()` ... work ... `end()`, which
    sleeps until the next deadline and returns the tick's `TickTiming`.
    `clock` and `sleep` are injectable so tests can drive time exactly.
    """

    def __init__(
        self,
        fps: float,
        realtime: bool = True,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self.fps = float(fps)
        self.period = 1.0 / self.fps
        self.realtime = realtime
        self._clock = clock
        self._sleep = sleep
        self._deadline = 0.0
        self._tick_start = 0.0
        self._prev_start: float | None = None

    def now(self) -> float:
        """The scheduler's clock, seconds."""
        return self._clock()

    def start(self) -> float:
        """Arm the first deadline one period from now; returns the start time."""
        t0 = self._clock()
        self._deadline = t0 + self.period
        self._prev_start = None
        return t0

    def begin(self) -> float:
        """Mark the start of a tick's work; returns its time."""
        self._tick_start = self._clock()
        return self._tick_start

    def end(self) -> TickTiming:
        """Finish the tick: wait for its deadline (realtime) and return its timing."""
        now = self._clock()
        compute = now - self._tick_start
        period = 0.0 if self._prev_start is None else self._tick_start - self._prev_start
        self._prev_start = self._tick_start
        late = False
        missed = 0
        if self.realtime:
            late = now > self._deadline
            if late:
                behind = now - self._deadline
                missed = int(behind // self.period)
                # Re-anchor after the skipped deadlines so the next tick is on the grid.
                self._deadline += (missed + 1) * self.period
            else:
                self._sleep_until(self._deadline)
                self._deadline += self.period
        return TickTiming(self._tick_start, period, compute, late, missed)

    def _sleep_until(self, deadline: float) -> None:
        # time.sleep may wake early on some kernels; loop until the deadline passes.
        while True:
            remaining = deadline - self._clock()
            if remaining <= 0:
                return
            self._sleep(remaining)
