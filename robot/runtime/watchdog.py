"""The watchdog: unhealthy ticks make the loop hold position, then stop the body.

Each tick the loop hands the watchdog what it saw (`TickHealth`): observation
age, camera frame ages, whether the tick woke up late, the source's stalled
ticks, a body read/write exception, the body's fault list. Any problem makes
the verdict HOLD (the loop commands `body.hold()` instead of the source's
action); a problem that persists for `grace_s` seconds, or an immediate-stop
problem (a body fault, repeated body exceptions), makes it STOP (the loop calls
`body.safe_stop()` and ends the episode). Each verdict carries a reason a
person can act on. When every check passes again during the grace, the loop
resumes. Time comes from an injectable clock (tests drive it exactly).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


class Verdict(enum.Enum):
    """What the loop must do this tick."""

    OK = "ok"
    HOLD = "hold"  # command the measured position instead of the source's action
    STOP = "stop"  # safe-stop the body and end the episode


@dataclass(frozen=True)
class WatchdogConfig:
    """Thresholds of the watchdog (seconds unless noted).

    max_obs_age: oldest acceptable observation (capture time to tick start).
    max_frame_age: oldest acceptable camera frame: a camera that stopped.
    max_consecutive_misses: late ticks in a row before holding (deadlines slipping).
    max_stalled_ticks: ticks in a row with no fresh action from the source (its telemetry `stalled_ticks`).
    max_body_errors: body read/write exceptions in a row before stopping (1 = stop on the first).
    grace_s: how long a hold may last before the body is stopped.
    stop_on_fault: a non-empty `body.faults()` stops at once (else it holds like the rest).
    """

    max_obs_age: float = 0.1
    max_frame_age: float = 0.5
    max_consecutive_misses: int = 5
    max_stalled_ticks: int = 15
    max_body_errors: int = 3
    grace_s: float = 1.0
    stop_on_fault: bool = True

    def __post_init__(self) -> None:
        for name in ("max_obs_age", "max_frame_age", "grace_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"watchdog.{name} must be > 0 s, got {getattr(self, name)}")
        for name in ("max_consecutive_misses", "max_stalled_ticks", "max_body_errors"):
            if getattr(self, name) < 1:
                raise ValueError(f"watchdog.{name} must be >= 1, got {getattr(self, name)}")


@dataclass
class TickHealth:
    """What the loop observed this tick (times in seconds on the watchdog's clock).

    obs_time: capture time of the observation (None: unknown, not checked).
    frame_times: camera name -> capture time of its latest frame.
    miss: the tick woke up late.
    stalled_ticks: the source's consecutive ticks without a fresh action (None: no such telemetry).
    body_error: text of a body read/write exception this tick, or "".
    faults: the body's current fault list.
    """

    obs_time: float | None = None
    frame_times: Mapping[str, float] = field(default_factory=dict)
    miss: bool = False
    stalled_ticks: float | None = None
    body_error: str = ""
    faults: list[str] = field(default_factory=list)


class Watchdog:
    """Turns each tick's `TickHealth` into a `Verdict` and a reason; see the module doc."""

    def __init__(self, config: WatchdogConfig | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config or WatchdogConfig()
        self._clock = clock
        self.reset()

    def reset(self) -> None:
        """Clear the state of the previous episode."""
        self._misses = 0
        self._errors = 0
        self._hold_since: float | None = None
        self.reason = ""
        self.holds = 0  # ticks held over the episode
        self.events: list[str] = []  # every distinct problem, in order

    def problems(self, h: TickHealth, now: float) -> tuple[list[str], bool]:
        """(reasons found this tick, whether one of them stops at once)."""
        c = self.config
        found: list[str] = []
        immediate = False
        self._misses = self._misses + 1 if h.miss else 0
        self._errors = self._errors + 1 if h.body_error else 0
        if h.body_error:
            found.append(f"body read/write failed ({self._errors} in a row): {h.body_error}")
            immediate |= self._errors >= c.max_body_errors
        if h.faults:
            found.append("body fault: " + "; ".join(h.faults))
            immediate |= c.stop_on_fault
        if h.obs_time is not None and now - h.obs_time > c.max_obs_age:
            found.append(f"stale observation: {1e3 * (now - h.obs_time):.0f} ms old > "
                         f"{1e3 * c.max_obs_age:.0f} ms (body stopped answering?)")
        for cam, t in sorted(h.frame_times.items()):
            if now - t > c.max_frame_age:
                found.append(f"camera {cam!r} stopped: last frame {1e3 * (now - t):.0f} ms old > "
                             f"{1e3 * c.max_frame_age:.0f} ms")
        if self._misses >= c.max_consecutive_misses:
            found.append(f"deadlines slipping: {self._misses} late ticks in a row")
        if h.stalled_ticks is not None and h.stalled_ticks >= c.max_stalled_ticks:
            found.append(f"inference stalled: no fresh action for {int(h.stalled_ticks)} ticks "
                         f"(>= {c.max_stalled_ticks})")
        return found, immediate

    def check(self, h: TickHealth) -> Verdict:
        """The verdict for this tick; `reason` says why when it is not OK."""
        now = self._clock()
        found, immediate = self.problems(h, now)
        for f in found:
            kind = f.split(":")[0]
            if not self.events or not self.events[-1].startswith(kind):
                self.events.append(f)
        if not found:
            self._hold_since = None
            self.reason = ""
            return Verdict.OK
        self.reason = "; ".join(found)
        if immediate:
            return Verdict.STOP
        if self._hold_since is None:
            self._hold_since = now
        if now - self._hold_since >= self.config.grace_s:
            self.reason = f"held {now - self._hold_since:.2f} s without recovery: {self.reason}"
            return Verdict.STOP
        self.holds += 1
        return Verdict.HOLD
