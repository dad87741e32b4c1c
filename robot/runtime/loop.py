"""The one fixed-rate control loop: an action source drives a body, every tick recorded.

Serves collection now (teleop device or scripted expert -> sim env -> store)
and, unchanged, evaluation on the twin and deployment (policy chunk executor
-> twin / arm). One tick:

    obs = body.observe()
    cmd = source.get_action(obs)          # Teleop protocol: action + events
    [operator events / intervention]      # a human can take over from the source
    action = filter_k(...filter_1(action, obs))   # extension point: safety, e-stop
    step = body.act(action)
    recorder.record(obs, step.action_sent, t)
    scheduler.end()                       # sleep to the deadline, telemetry
    observers.on_tick(...)                # live view, status line, rerun

A policy source is just another `source` with the Teleop interface; the
safety layer is an `action_filter` (a callable `(action, obs) -> action`,
raising `StopEpisode` to end the episode). Deployment passes a `guard`
(robot/runtime/guard.py: watchdog, e-stop, per-tick `TickRecord`): it can hold
position or stop the body at any tick, and any exception ends in the body's
safe state. Collection runs without one.
Live views are `observers` (robot.runtime.observers: episode start/end, every
tick, operator events as they happen).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from robot.interfaces import Observation, Teleop, TeleopEvent
from robot.runtime.body import Body, BodyStep, as_body
from robot.runtime.observers import end_reason, notify
from robot.runtime.recorder import EpisodeInfo, RecorderHook
from robot.runtime.scheduler import LoopTelemetry, RateScheduler, TickTiming

ActionFilter = Callable[[np.ndarray, Observation], np.ndarray]
"""`(action (Da,), obs) -> action (Da,)`: safety layer, limits, e-stop (raise StopEpisode)."""


IDLE_SLEEP_S = 0.001
"""How long a non-realtime loop sleeps on a tick where its source has no action yet (async inference)."""


class StopEpisode(Exception):
    """Raised by an action filter to end the episode now (e-stop, safety violation)."""


class Outcome(enum.Enum):
    """Why an episode ended."""

    SUCCESS = "success"  # the body reported success for settle_ticks ticks
    MAX_STEPS = "max_steps"
    TERMINATED = "terminated"  # the body ended the episode itself (terminated/truncated)
    STOPPED = "stopped"  # operator STOP: save what was recorded
    DISCARDED = "discarded"  # operator DISCARD: drop and re-record
    ABORTED = "aborted"  # an action filter raised StopEpisode, or the watchdog stopped the body
    ESTOP = "estop"  # the e-stop fired: nothing moved after it, the body is in its safe state
    QUIT = "quit"

    @property
    def keeps_data(self) -> bool:
        """Whether the recorded ticks are worth saving."""
        return self in (Outcome.SUCCESS, Outcome.MAX_STEPS, Outcome.TERMINATED, Outcome.STOPPED)


@dataclass(frozen=True)
class LoopConfig:
    """Loop settings.

    fps: control rate, Hz (None: the body's `body_spec.fps`).
    realtime: sleep to each deadline; False runs as fast as possible (sim
      collection) and stamps ticks with sim time `step / fps`.
    max_steps: recorded ticks before the episode ends.
    settle_ticks: ticks success must hold before the episode ends, so demos
      show the goal state and not just the instant it was reached.
    wait_for_start: poll the source for a START event before recording
      (interactive devices); a scripted source starts at once.
    keep_aborted: save episodes that ended ABORTED / ESTOP (deployment: the
      recording of a fault is the evidence); collection drops them.
    operator_judges_success: a body that cannot tell success (a physical arm):
      the operator's STOP ends the episode as a success (a demo worth keeping).
    tick_records: keep every tick's `TickRecord` in `EpisodeResult.telemetry.records`
      (needs a guard; the recorder stores them either way).
    """

    fps: float | None = None
    realtime: bool = True
    max_steps: int = 300
    settle_ticks: int = 5
    wait_for_start: bool = False
    keep_aborted: bool = False
    tick_records: bool = False
    operator_judges_success: bool = False

    def __post_init__(self) -> None:
        if self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {self.max_steps}")
        if self.settle_ticks < 0:
            raise ValueError(f"settle_ticks must be >= 0, got {self.settle_ticks}")


@dataclass
class EpisodeResult:
    """What one episode did: outcome, recorded ticks, success, whether it was saved."""

    outcome: Outcome
    seed: int | None
    steps: int
    success: bool
    saved: bool
    intervened: bool
    telemetry: LoopTelemetry
    wall_s: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Run:
    """Mutable state of one episode's ticks."""

    outcome: Outcome = Outcome.MAX_STEPS
    steps: int = 0
    success_streak: int = 0
    ever_succeeded: bool = False
    intervened: bool = False
    abort_reason: str = ""


class ControlLoop:
    """Runs episodes of `source` driving `body` at a fixed rate, recording every tick.

    body: a `Body`, `Env` or `Robot` (wrapped by `as_body`).
    source: anything with the Teleop interface (device, expert, policy executor).
    recorder: optional `RecorderHook` (e.g. `StoreRecorder`).
    operator: optional second Teleop whose events steer the episode and whose
      INTERVENE event hands control to it (and back) mid-episode.
    action_filters: run in order between the source and the body (the safety layer).
    on_tick: called with each tick's `TickTiming` (telemetry, watchdog).
    guard: optional `robot.runtime.guard.DeployGuard` (watchdog, e-stop, per-tick
      telemetry): deployment runs with one, collection without.
    observers: `LoopObserver`s (live view, status line, rerun), called after
      each recorded tick and on episode start / end / operator events.
    """

    def __init__(
        self,
        body: Any,
        source: Teleop,
        recorder: RecorderHook | None = None,
        config: LoopConfig | None = None,
        *,
        task: str = "",
        source_kind: str = "teleop",
        operator: Teleop | None = None,
        action_filters: Sequence[ActionFilter] = (),
        on_tick: Callable[[TickTiming], None] | None = None,
        guard: Any = None,
        observers: Sequence[Any] = (),
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.body: Body = as_body(body)
        self.source = source
        self.recorder = recorder
        self.config = config or LoopConfig()
        self.task = task or self.body.body_spec.name
        self.source_kind = source_kind
        self.operator = operator
        self.action_filters = list(action_filters)
        self.on_tick = on_tick
        self.guard = guard
        if guard is not None:
            guard.bind(self.body)
        self.observers = list(observers)
        self.fps = float(self.config.fps or self.body.body_spec.fps)
        self._clock = clock
        self._sleep = sleep

    def _poll(self, obs: Observation) -> tuple[Any, set[TeleopEvent], Any]:
        cmd = self.source.get_action(obs)
        events = set(cmd.events)
        op_cmd = None
        if self.operator is not None:
            op_cmd = self.operator.get_action(obs)
            events |= set(op_cmd.events)
        return cmd, events, op_cmd

    def _wait_for_start(self, obs: Observation) -> bool:
        """Poll at the loop rate until START (True) or QUIT (False)."""
        period = 1.0 / self.fps
        while True:
            _cmd, events, _op = self._poll(obs)
            if TeleopEvent.QUIT in events:
                return False
            if TeleopEvent.START in events:
                return True
            self._sleep(period)

    def run_episode(self, seed: int | None = None) -> EpisodeResult:
        """Reset the body and source, run one episode, finish the recorder; returns the result.

        An exception (Ctrl-C, a driver error) drops the open episode before it propagates.
        """
        cfg = self.config
        t_wall = self._clock()
        telemetry = LoopTelemetry(self.fps)
        obs = self.body.reset(seed=seed)
        for filt in self.action_filters:
            if hasattr(filt, "reset"):
                filt.reset()
        if self.guard is not None:
            self.guard.reset()
        self.source.reset(obs)
        if self.operator is not None:
            self.operator.reset(obs)
        if cfg.wait_for_start:
            notify(self.observers, "on_event", f"waiting for the operator to start (seed {seed})")
            if not self._wait_for_start(obs):
                return self._finish(EpisodeResult(Outcome.QUIT, seed, 0, False, False, False, telemetry))
        obs = self.body.observe()
        ep_info = EpisodeInfo(self.task, seed, self.source_kind)
        if self.recorder is not None:
            self.recorder.start(obs, ep_info)
        notify(self.observers, "on_episode_start", obs, ep_info)
        notify(self.observers, "on_event", f"episode started (seed {seed}): {'recording' if self.recorder else 'running'}")
        try:
            run = self._run_ticks(telemetry)
        except BaseException as e:
            if self.guard is not None:
                self.guard.safe_stop()  # whatever went wrong, the body ends safe
            if self.recorder is not None:  # deployment keeps the evidence, collection drops it
                self.recorder.finish(save=cfg.keep_aborted, success=False,
                                     note=f"stopped by {type(e).__name__}: {e}")
            raise
        success = True if run.outcome is Outcome.SUCCESS else run.success_streak > 0
        if cfg.operator_judges_success and run.outcome is Outcome.STOPPED:
            success = True  # the body cannot tell; the operator's stop-and-save says it is done
        info: dict[str, Any] = {"ever_succeeded": run.ever_succeeded}
        if run.abort_reason:
            info["abort_reason"] = run.abort_reason
        saved = False
        if self.recorder is not None:
            note = "intervened" if run.intervened else ""
            if run.abort_reason:
                note = (note + "; " if note else "") + run.abort_reason
            keep = run.outcome.keeps_data or (cfg.keep_aborted and run.outcome in (Outcome.ABORTED, Outcome.ESTOP))
            saved = self.recorder.finish(keep, success, note)
        return self._finish(EpisodeResult(
            run.outcome, seed, run.steps, success, saved, run.intervened, telemetry,
            self._clock() - t_wall, info,
        ))

    def _finish(self, result: EpisodeResult) -> EpisodeResult:
        """Tell the observers how the episode ended (and why it was not saved)."""
        if self.observers:
            why = getattr(self.recorder, "why_not_saved", "") if self.recorder is not None else ""
            notify(self.observers, "on_event", end_reason(result, why))
            notify(self.observers, "on_episode_end", result)
        return result

    def _run_ticks(self, telemetry: LoopTelemetry) -> _Run:
        """The recording ticks of one episode, until an end condition or an operator event."""
        cfg = self.config
        sched = RateScheduler(self.fps, cfg.realtime, self._clock, self._sleep)
        t0 = sched.start()
        run = _Run()
        guard = self.guard
        intervening = False
        last_action: np.ndarray | None = None
        last_obs: Observation | None = None
        while True:
            t = sched.begin()
            if guard is not None and guard.estopped():
                return guard.stop(run, Outcome.ESTOP)
            try:
                obs = self.body.observe()
                last_obs = obs
            except Exception as e:  # a body that stops answering: the watchdog decides
                if guard is None or last_obs is None:
                    raise
                guard.body_error(f"observe: {type(e).__name__}: {e}")
                obs = last_obs
            verdict = guard.check(obs, sched, self.source) if guard is not None else None
            if verdict is not None and verdict.stop:
                return guard.stop(run, Outcome.ABORTED)  # type: ignore[union-attr]
            cmd, events, op_cmd = self._poll(obs)
            if TeleopEvent.QUIT in events:
                run.outcome = Outcome.QUIT
                return run
            if TeleopEvent.DISCARD in events:
                run.outcome = Outcome.DISCARDED
                return run
            if TeleopEvent.STOP in events:
                run.outcome = Outcome.STOPPED
                return run
            if TeleopEvent.INTERVENE in events and self.operator is not None:
                intervening = not intervening
                run.intervened = True
                (self.operator if intervening else self.source).reset(obs)
                notify(self.observers, "on_event", "intervention: the operator has control" if intervening
                       else f"intervention over: {self.source_kind} has control again")
            action = op_cmd.action if intervening and op_cmd is not None else cmd.action
            if action is None:
                action = last_action  # operator idle: hold the last command
            if action is None:  # nothing commanded yet: keep time, record nothing
                if not cfg.realtime:
                    # An async source is still computing its first chunk: sleep a moment so its
                    # thread gets the GIL, instead of spinning and starving it.
                    self._sleep(IDLE_SLEEP_S)
                self._end_tick(sched, telemetry)
                continue
            requested = np.asarray(action, dtype=np.float32)
            action = requested
            try:
                for filt in self.action_filters:
                    action = filt(action, obs)
            except StopEpisode as e:
                if guard is not None:
                    return guard.stop(run, Outcome.ABORTED, str(e))
                run.outcome = Outcome.ABORTED
                run.abort_reason = str(e)
                return run
            if guard is not None:
                if guard.estopped():  # checked again right before anything moves
                    return guard.stop(run, Outcome.ESTOP)
                step = guard.act(self.body, action, obs, held=bool(verdict and verdict.hold))
                if step is None:  # the send failed: nothing known to be sent, nothing recorded
                    self._end_tick(sched, telemetry)
                    continue
            else:
                step = self.body.act(action)
            last_action = action
            stamp = (t - t0) if cfg.realtime else run.steps / self.fps
            extra: dict[str, Any] = {}
            if guard is not None:
                rec = guard.record(sched, obs, requested, step.action_sent, intervening, self.source)
                extra = rec.row()
                if cfg.tick_records:
                    telemetry.records.append(rec)
            if self.recorder is not None:
                if extra:
                    self.recorder.record(obs, step.action_sent, stamp, extra=extra)
                else:
                    self.recorder.record(obs, step.action_sent, stamp)
            run.steps += 1
            run.success_streak = run.success_streak + 1 if step.success else 0
            run.ever_succeeded |= step.success
            timing = self._end_tick(sched, telemetry)
            if self.observers:
                label = "intervention" if intervening else self.source_kind
                self._notify_tick(obs, step, timing, label)
            # settle_ticks counts ticks *after* the first successful one.
            if run.success_streak > cfg.settle_ticks:
                run.outcome = Outcome.SUCCESS
                return run
            if step.terminated or step.truncated:
                run.outcome = Outcome.TERMINATED
                return run
            if run.steps >= cfg.max_steps:
                run.outcome = Outcome.MAX_STEPS
                return run

    def _end_tick(self, sched: RateScheduler, telemetry: LoopTelemetry) -> TickTiming:
        timing = sched.end()
        telemetry.add(timing)
        if self.on_tick is not None:
            self.on_tick(timing)
        return timing

    def _notify_tick(self, obs: Observation, step: BodyStep, timing: TickTiming, label: str) -> None:
        notify(self.observers, "on_tick", obs, step.action_sent, step, timing, label)
