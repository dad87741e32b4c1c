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

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from robot.interfaces import Observation

if TYPE_CHECKING:
    from robot.runtime.body import BodyStep
    from robot.runtime.loop import EpisodeResult
    from robot.runtime.recorder import EpisodeInfo
    from robot.runtime.scheduler import TickTiming


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
