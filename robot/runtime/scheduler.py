"""Deadline-based fixed-rate scheduler and per-tick telemetry.

Why deadlines and not `sleep(period)`: sleeping a fixed period after the work
adds the work's duration to every tick and drifts. The scheduler keeps an
absolute deadline `t0 + k * period` and sleeps until it, so compute time is
absorbed as long as it fits in the period. A tick whose work overruns its
deadline is counted late; when the loop falls more than one whole period
behind, the missed deadlines are skipped (counted in `missed`) instead of
firing a burst of back-to-back ticks, which on a real arm would replay stale
commands at high rate.

A tick is a *miss* when it started more than `wake_tolerance` after its
scheduled start (`wake_late`), whatever the cause: the previous tick's work
overran, or the machine overslept (a loaded machine delays the command just
as surely as slow work does). Jitter = actual wake-up minus scheduled start.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from robot.specs import ArraySpec


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
    deadline: float = 0.0
    wake_late: bool = False

    @property
    def jitter(self) -> float:
        """Actual wake-up (`start`) minus the scheduled tick start (`deadline`), seconds."""
        return self.start - self.deadline

    @property
    def miss(self) -> bool:
        """The tick started late (`wake_late`); overruns show up as the next tick's miss."""
        return self.wake_late


TELEMETRY_PREFIX = "telemetry."
"""Store keys of the per-tick telemetry: `telemetry.<field>` (see `TickRecord`)."""


@dataclass
class TickRecord:
    """Telemetry of one tick of a deployment, recorded next to the observation and command.

    Times are seconds on the loop clock (time.monotonic); `nan` marks a value
    the body or source cannot tell (e.g. inference latency of a teleop source).
    deadline: scheduled tick start; wakeup: actual start; obs_age_ms: wake-up
    minus the observation's capture time; inference_ms / queue_depth /
    stalled_ticks: from the source's `telemetry()`; requested (Da,): the
    source's action before safety; command (Da,): what the body was sent;
    clamp: bitmask of the safety clamps applied (robot.runtime.safety.CLAMPS);
    miss: the tick woke up late; intervention: a human drove this tick;
    held: the watchdog held position instead of the source's command.
    """

    deadline: float
    wakeup: float
    obs_age_ms: float
    inference_ms: float
    queue_depth: float
    stalled_ticks: float
    requested: np.ndarray
    command: np.ndarray
    clamp: int
    miss: bool
    intervention: bool
    held: bool

    SCALARS: ClassVar[tuple[str, ...]] = ("deadline", "wakeup", "obs_age_ms", "inference_ms", "queue_depth",
                                          "stalled_ticks")
    FLAGS: ClassVar[tuple[str, ...]] = ("clamp", "miss", "intervention", "held")

    @property
    def jitter_ms(self) -> float:
        """Wake-up minus deadline, ms."""
        return (self.wakeup - self.deadline) * 1e3

    def row(self) -> dict[str, np.ndarray]:
        """Store row: `telemetry.<field>` -> value (float64 scalars, uint8 flags, float32 requested).

        The store holds finite numbers only: an unknown scalar is stored as -1, a
        non-finite requested value as 0 (the `clamp` bit `nonfinite` says it was).
        """
        out = {TELEMETRY_PREFIX + k: np.float64(_finite_or(getattr(self, k), -1.0)) for k in self.SCALARS}
        out.update({TELEMETRY_PREFIX + k: np.uint8(getattr(self, k)) for k in self.FLAGS})
        req = np.asarray(self.requested, dtype=np.float32)
        out[TELEMETRY_PREFIX + "requested"] = np.where(np.isfinite(req), req, np.float32(0.0))
        return out


def _finite_or(x: float, default: float) -> float:
    return float(x) if np.isfinite(x) else default


def telemetry_specs(action_dim: int) -> dict[str, ArraySpec]:
    """Store key -> per-tick spec of every `TickRecord.row()` entry."""
    specs = {TELEMETRY_PREFIX + k: ArraySpec((), "float64", "s" if k in ("deadline", "wakeup") else "")
             for k in TickRecord.SCALARS}
    specs.update({TELEMETRY_PREFIX + k: ArraySpec((), "uint8") for k in TickRecord.FLAGS})
    specs[TELEMETRY_PREFIX + "requested"] = ArraySpec((action_dim,), "float32")
    return specs


@dataclass
class LoopTelemetry:
    """Per-tick timings of a run, with a summary for logs and benchmarks.

    `records` holds one `TickRecord` per recorded tick when the loop was asked
    to keep them (`LoopConfig.tick_records`).
    """

    fps: float
    periods: list[float] = field(default_factory=list)
    computes: list[float] = field(default_factory=list)
    jitters: list[float] = field(default_factory=list)
    late_ticks: int = 0
    missed_deadlines: int = 0
    misses: int = 0
    records: list[TickRecord] = field(default_factory=list)

    def add(self, t: TickTiming) -> None:
        """Record one tick."""
        if t.period > 0:
            self.periods.append(t.period)
        self.computes.append(t.compute)
        self.jitters.append(t.jitter)
        self.late_ticks += int(t.late)
        self.missed_deadlines += t.missed
        self.misses += int(t.miss)

    @property
    def ticks(self) -> int:
        """Number of ticks recorded."""
        return len(self.computes)

    def summary(self) -> dict[str, float]:
        """Means, spreads and maxima in milliseconds, counts of late ticks and missed deadlines."""
        per = np.asarray(self.periods, dtype=np.float64) * 1e3
        comp = np.asarray(self.computes, dtype=np.float64) * 1e3
        jit = np.asarray(self.jitters, dtype=np.float64) * 1e3

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
            "jitter_ms_p50": stat(jit, lambda a: np.percentile(a, 50)),
            "jitter_ms_p99": stat(jit, lambda a: np.percentile(a, 99)),
            "jitter_ms_max": stat(jit, np.max),
            "late_ticks": self.late_ticks,
            "missed_deadlines": self.missed_deadlines,
            "misses": self.misses,
        }


class RateScheduler:
    """Ticks at `fps` against absolute deadlines; `realtime=False` never sleeps.

    Usage: `start()` once, then per tick `begin()` ... work ... `end()`, which
    sleeps until the next deadline and returns the tick's `TickTiming`.
    `clock` and `sleep` are injectable so tests can drive time exactly.
    wake_tolerance: seconds a tick may start after its scheduled start before
      it counts as a late wake-up (a miss); default 10% of the period.
    """

    def __init__(
        self,
        fps: float,
        realtime: bool = True,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wake_tolerance: float | None = None,
    ) -> None:
        if not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self.fps = float(fps)
        self.period = 1.0 / self.fps
        self.realtime = realtime
        self.wake_tolerance = 0.1 * self.period if wake_tolerance is None else float(wake_tolerance)
        self._clock = clock
        self._sleep = sleep
        self._deadline = 0.0
        self._scheduled = 0.0  # when the current tick should have started
        self._tick_start = 0.0
        self._prev_start: float | None = None

    def now(self) -> float:
        """The scheduler's clock, seconds."""
        return self._clock()

    def start(self) -> float:
        """Arm the first deadline one period from now; returns the start time."""
        t0 = self._clock()
        self._deadline = t0 + self.period
        self._scheduled = t0
        self._prev_start = None
        return t0

    def begin(self) -> float:
        """Mark the start of a tick's work (its actual wake-up); returns its time."""
        self._tick_start = self._clock()
        return self._tick_start

    @property
    def begin_time(self) -> float:
        """When the current tick actually started (its wake-up), seconds."""
        return self._tick_start

    @property
    def scheduled(self) -> float:
        """When the current tick should have started (its deadline to wake up), seconds."""
        return self._scheduled if self.realtime else self._tick_start

    @property
    def wake_late(self) -> bool:
        """Whether the current tick (after `begin`) woke up past `scheduled + wake_tolerance`."""
        return self.realtime and self._tick_start - self._scheduled > self.wake_tolerance

    def end(self) -> TickTiming:
        """Finish the tick: wait for its deadline (realtime) and return its timing."""
        now = self._clock()
        compute = now - self._tick_start
        period = 0.0 if self._prev_start is None else self._tick_start - self._prev_start
        self._prev_start = self._tick_start
        late = False
        missed = 0
        scheduled, wake_late = self.scheduled, self.wake_late
        if self.realtime:
            late = now > self._deadline
            if late:
                behind = now - self._deadline
                missed = int(behind // self.period)
                # Re-anchor after the skipped deadlines so the next tick is on the grid;
                # the next tick starts at once, late against the last grid point passed.
                self._deadline += (missed + 1) * self.period
                self._scheduled = self._deadline - self.period
            else:
                self._sleep_until(self._deadline)
                self._scheduled = self._deadline
                self._deadline += self.period
        return TickTiming(self._tick_start, period, compute, late, missed, scheduled, wake_late)

    def _sleep_until(self, deadline: float) -> None:
        # time.sleep may wake early on some kernels; loop until the deadline passes.
        while True:
            remaining = deadline - self._clock()
            if remaining <= 0:
                return
            self._sleep(remaining)
