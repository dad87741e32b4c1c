"""Loop observers: things that watch the control loop without steering it.

A live view (MuJoCo viewer, rerun stream, terminal status line), telemetry
sinks and recorders of a deployment all see the same four calls, each one
optional (an observer defines only the methods it needs):

    on_episode_start(obs, info: EpisodeInfo)   recording begins (after START)
    on_tick(obs, action_sent, step, timing, source_label)
                                               after every recorded tick
    on_episode_end(result: EpisodeResult)      after the recorder finished
    on_event(text)                             operator-visible events, as they
                                               happen (waiting, started, saved,
                                               discarded and why, intervention)

`on_tick` runs after the tick's deadline sleep, so its time is taken from the
next tick's budget: an observer must return in well under one period (rate-
limit expensive work, as `sim.viewer.MujocoViewer` does). An exception in an
observer propagates: a broken view is a bug to see, not to hide.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from robot.interfaces import Observation
from robot.runtime.body import BodyStep
from robot.runtime.recorder import EpisodeInfo
from robot.runtime.scheduler import LoopTelemetry, RateScheduler, TickTiming

if TYPE_CHECKING:
    from robot.runtime.loop import EpisodeResult


class LoopObserver(Protocol):
    """Watches a `ControlLoop`; every method is optional (see the module docstring)."""

    def on_episode_start(self, obs: Observation, info: EpisodeInfo) -> None: ...

    def on_tick(self, obs: Observation, action_sent: np.ndarray, step: BodyStep, timing: TickTiming,
                source_label: str) -> None: ...

    def on_episode_end(self, result: EpisodeResult) -> None: ...

    def on_event(self, text: str) -> None: ...


def notify(observers: Sequence[Any], method: str, *args: Any) -> None:
    """Call `method(*args)` on every observer that defines it, in order."""
    for obs in observers:
        fn = getattr(obs, method, None)
        if fn is not None:
            fn(*args)


def close_all(observers: Sequence[Any]) -> None:
    """Call `close()` on every observer that has one (viewer windows, rerun sinks)."""
    for obs in observers:
        fn = getattr(obs, "close", None)
        if fn is not None:
            fn()


def end_reason(result: EpisodeResult, why_not_saved: str = "") -> str:
    """One operator-facing line saying how an episode ended and whether it was saved.

    why_not_saved: the recorder's reason for dropping a finished episode
      (e.g. "not a success: pass --keep-failed to keep it").
    """
    from robot.runtime.loop import Outcome

    o, ticks = result.outcome, f"{result.steps} ticks"
    head = {
        Outcome.SUCCESS: f"success after {ticks}",
        Outcome.MAX_STEPS: f"time limit reached ({ticks})",
        Outcome.TERMINATED: f"episode ended by the task after {ticks}",
        Outcome.STOPPED: f"stopped by the operator after {ticks}",
        Outcome.DISCARDED: f"discarded by the operator after {ticks}: re-recording the same scene",
        Outcome.ABORTED: f"aborted after {ticks}: {result.info.get('abort_reason', '')}",
        Outcome.QUIT: f"quit by the operator after {ticks}",
    }[o]
    if o in (Outcome.DISCARDED, Outcome.QUIT, Outcome.ABORTED) and not result.saved:
        return f"{head}; nothing saved"
    if result.saved:
        return f"{head}: saved ({'success' if result.success else 'failed, kept'})"
    if why_not_saved:
        return f"{head}: not saved ({why_not_saved})"
    return f"{head} ({'success' if result.success else 'not a success'})"


class EpisodeFeed:
    """Feeds observers from code that steps an env itself (batched evaluation), paced at `fps`.

    Usage: `start(obs, task, seed)` once per episode, `tick(obs, action, success,
    terminated, truncated)` after each step (sleeps to the tick's deadline when
    `realtime`, so a person can watch), `end(success, terminated)` at the end.
    """

    def __init__(self, observers: Sequence[Any], fps: float, *, realtime: bool = True, source: str = "policy",
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.observers = list(observers)
        self.fps = fps
        self.source = source
        self._sched = RateScheduler(fps, realtime, clock, sleep)
        self.telemetry = LoopTelemetry(fps)
        self.seed: int | None = None
        self.steps = 0

    def start(self, obs: Observation, task: str, seed: int | None) -> None:
        """A new episode begins (the observation after reset)."""
        self.seed, self.steps = seed, 0
        self.telemetry = LoopTelemetry(self.fps)
        notify(self.observers, "on_episode_start", obs, EpisodeInfo(task, seed, self.source))
        notify(self.observers, "on_event", f"episode started (seed {seed}): {self.source}")
        self._sched.start()
        self._sched.begin()

    def tick(self, obs: Observation, action: np.ndarray, success: bool, terminated: bool = False,
             truncated: bool = False) -> None:
        """One step done: wait for its deadline, then show it."""
        timing = self._sched.end()
        self.telemetry.add(timing)
        self.steps += 1
        step = BodyStep(np.asarray(action, dtype=np.float32), bool(success), bool(terminated), bool(truncated))
        notify(self.observers, "on_tick", obs, step.action_sent, step, timing, self.source)
        self._sched.begin()

    def end(self, success: bool, terminated: bool = False) -> None:
        """The episode is over: tell the observers how it ended."""
        from robot.runtime.loop import EpisodeResult, Outcome

        outcome = Outcome.SUCCESS if success else (Outcome.TERMINATED if terminated else Outcome.MAX_STEPS)
        result = EpisodeResult(outcome, self.seed, self.steps, bool(success), False, False, self.telemetry)
        notify(self.observers, "on_event", end_reason(result))
        notify(self.observers, "on_episode_end", result)
