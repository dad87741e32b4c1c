"""The deployment guard: watchdog, e-stop and per-tick telemetry wired into the one control loop.

`ControlLoop(..., guard=DeployGuard(watchdog, estop, safety))` makes every tick:

    e-stop?  -> body.safe_stop(), episode ends ESTOP, nothing sent after it
    observe (a raising body is a watchdog problem, not a crash)
    watchdog verdict: OK | HOLD (body.hold() instead of the command) | STOP (safe_stop, ABORTED)
    source -> safety layer (action filter) -> e-stop checked again -> body
    TickRecord: deadline, wake-up, observation age, inference latency, queue depth,
                requested and sent command, clamp bits, miss, intervention, held

Any exception escaping the loop also ends in `safe_stop()`. Bodies without
`hold` / `safe_stop` / `faults` (sim envs) are driven as they are.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from robot.interfaces import Observation
from robot.runtime.body import BodyStep
from robot.runtime.estop import EStop
from robot.runtime.scheduler import RateScheduler, TickRecord
from robot.runtime.watchdog import TickHealth, Verdict, Watchdog

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GuardVerdict:
    """This tick: hold position instead of the source's command, or stop the episode."""

    hold: bool = False
    stop: bool = False


class DeployGuard:
    """Holds the watchdog, e-stop and safety layer of one deployment; the loop binds its body."""

    def __init__(self, watchdog: Watchdog | None = None, estop: EStop | None = None, safety: Any = None) -> None:
        self.watchdog = watchdog
        self.estop = estop
        self.safety = safety
        self.body: Any = None
        self.reset()

    def bind(self, body: Any) -> None:
        """The loop's body (a `Body`; a `RobotBody` exposes `robot` for frame times and faults)."""
        self.body = body

    def reset(self) -> None:
        """New episode: clear watchdog state and pending errors."""
        if self.watchdog is not None:
            self.watchdog.reset()
        self._pending_error = ""
        self._obs_age_ms = math.nan
        self._held = False
        self.stop_reason = ""
        self.safe_stops = 0

    # ------------------------------------------------------------ per tick
    def estopped(self) -> bool:
        """Whether the e-stop fired (polls its trigger file)."""
        return self.estop is not None and self.estop.poll()

    def body_error(self, text: str) -> None:
        """A body read/write failed this tick; the next verdict sees it."""
        self._pending_error = text

    def _robot_call(self, name: str, default: Any) -> Any:
        robot = getattr(self.body, "robot", self.body)
        fn = getattr(robot, name, None)
        return fn() if callable(fn) else default

    def check(self, obs: Observation, sched: RateScheduler, source: Any) -> GuardVerdict:
        """The watchdog's verdict for this tick (OK when there is no watchdog)."""
        now = sched.now()
        obs_time = getattr(self.body, "last_obs_time", None)
        self._obs_age_ms = (now - obs_time) * 1e3 if obs_time else math.nan
        if self.watchdog is None:
            self._pending_error = ""
            return GuardVerdict()
        error, self._pending_error = self._pending_error, ""
        try:
            faults = list(self._robot_call("faults", []))
        except Exception as e:  # noqa: BLE001 - a failing fault read is itself a body failure
            faults, error = [], error or f"faults(): {type(e).__name__}: {e}"
        tele = _source_telemetry(source)
        health = TickHealth(
            obs_time=obs_time or None,
            frame_times=self._robot_call("frame_times", {}) or {},
            miss=sched.wake_late,
            stalled_ticks=tele.get("stalled_ticks"),
            body_error=error,
            faults=faults,
        )
        verdict = self.watchdog.check(health)
        if verdict is Verdict.STOP:
            self.stop_reason = f"watchdog: {self.watchdog.reason}"
            return GuardVerdict(stop=True)
        if verdict is Verdict.HOLD:
            log.warning("watchdog: holding position: %s", self.watchdog.reason)
            return GuardVerdict(hold=True)
        return GuardVerdict()

    def act(self, body: Any, action: np.ndarray, obs: Observation, held: bool) -> BodyStep | None:
        """Send `action` (or hold position when `held`); None when the body raised (recorded as an error)."""
        if self.estopped():
            return None
        self._held = held
        try:
            if held:
                hold = getattr(body, "hold", None)
                if callable(hold):
                    hold()
                    sent = self._held_command(obs, action)
                    return BodyStep(action_sent=sent, info={"held": True})
                step = body.act(action)
                step.info["held"] = True
                return step
            return body.act(action)
        except Exception as e:  # noqa: BLE001 - a body that stops answering is the watchdog's call
            self.body_error(f"send: {type(e).__name__}: {e}")
            return None

    def _held_command(self, obs: Observation, fallback: np.ndarray) -> np.ndarray:
        measured = self.safety.measured(obs) if self.safety is not None else None
        return np.asarray(fallback if measured is None else measured, dtype=np.float32)

    def record(self, sched: RateScheduler, obs: Observation, requested: np.ndarray, sent: np.ndarray,
               intervening: bool, source: Any) -> TickRecord:
        """The telemetry of the tick just sent."""
        tele = _source_telemetry(source) if not intervening else {}
        return TickRecord(
            deadline=sched.scheduled, wakeup=sched.begin_time, obs_age_ms=self._obs_age_ms,
            inference_ms=tele.get("inference_ms", math.nan), queue_depth=tele.get("queue_depth", math.nan),
            stalled_ticks=tele.get("stalled_ticks", math.nan), requested=np.asarray(requested, np.float32),
            command=np.asarray(sent, np.float32),
            clamp=int(getattr(self.safety, "last_clamp", 0)) if self.safety is not None else 0,
            miss=sched.wake_late, intervention=intervening,
            held=self._held,
        )

    # ------------------------------------------------------------ stopping
    def safe_stop(self) -> None:
        """Put the body in its safe state; never raises (logs a failure)."""
        fn = getattr(self.body, "safe_stop", None)
        if not callable(fn):
            return
        try:
            fn()
            self.safe_stops += 1
        except Exception as e:  # noqa: BLE001 - stopping must not mask the original problem
            log.error("safe_stop failed: %s: %s", type(e).__name__, e)

    def stop(self, run: Any, outcome: Any, reason: str | None = None) -> Any:
        """Safe-stop the body and end the episode with `outcome` and a reason."""
        if reason is None:
            reason = f"e-stop: {self.estop.reason}" if self.estop is not None and self.estop.triggered \
                else self.stop_reason or "stopped"
        self.stop_reason = reason
        self.safe_stop()
        run.outcome = outcome
        run.abort_reason = reason
        return run


def _source_telemetry(source: Any) -> dict[str, float]:
    fn = getattr(source, "telemetry", None)
    if not callable(fn):
        return {}
    try:
        return {k: float(v) for k, v in dict(fn()).items()}
    except Exception:  # noqa: BLE001 - telemetry must never break a tick
        return {}

