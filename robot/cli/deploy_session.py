"""The pieces of one `robot deploy` run, wired together: source, safety, watchdog, e-stop, recorder, loop.

Kept apart from the argument parsing so tests and benchmarks can build the
same session (`DeploySession(args, robot, policy, replay, ...)`).
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


@dataclass
class Replay:
    """One recorded episode to replay: its task, scene seed, commands (T, Da) and states (T, Ds)."""

    task: str
    seed: int | None
    actions: np.ndarray
    states: np.ndarray


def load_replay(path: str, episode: int) -> Replay:
    """Episode `episode` of the store at `path` (FileNotFoundError / IndexError with the store named)."""
    from pathlib import Path

    from data import EpisodeStore
    from robot import keys as K

    if not Path(path).is_dir():
        raise FileNotFoundError(f"--replay {path}: no such store")
    store = EpisodeStore.open(path, readonly=True)
    if not 0 <= episode < store.num_episodes:
        raise IndexError(f"--episode {episode}: {path} holds episodes 0..{store.num_episodes - 1}")
    meta = store.episode_meta(episode)
    ep = store.episode(episode, [K.ACTION, K.STATE])
    seed = meta.get("seed")
    return Replay(str(meta.get("task", "")), int(seed) if isinstance(seed, int) else None, ep[K.ACTION], ep[K.STATE])


class DeploySession:
    """Builds and runs the deployment of `policy` (or the replay of `replay`) on a constructed `robot`."""

    def __init__(self, args: argparse.Namespace, robot: Any, policy: Any, replay: Replay | None,
                 safety_opts: dict[str, Any], watchdog_opts: dict[str, Any], source: Any = None) -> None:
        from robot.config import from_dict, merge, to_dict
        from robot.runtime.safety import SafetyConfig
        from robot.runtime.watchdog import WatchdogConfig

        self.args, self.robot, self.policy, self.replay = args, robot, policy, replay
        self.source = source  # a ready-made action source (tests, benchmarks); else built from policy/replay
        get_cfg = getattr(robot, "safety_config", None)
        base = get_cfg() if callable(get_cfg) else SafetyConfig()
        self.safety_config = from_dict(SafetyConfig, merge(to_dict(base), safety_opts), "safety")
        self.watchdog_config = from_dict(WatchdogConfig, watchdog_opts, "watchdog")
        self.task = str(getattr(getattr(robot, "config", None), "task", "") or robot.body_spec.name)

    def problems(self) -> list[str]:
        """Why the policy (or the replayed commands) cannot drive the robot; [] when it fits."""
        from robot.runtime.fit import fit_problems

        spec = self.robot.body_spec
        if self.replay is not None:
            da = int(spec.action.shape[0])
            if self.replay.actions.shape[1] != da:
                return [f"the recorded commands have {self.replay.actions.shape[1]} values, robot takes {da}"]
            return []
        hint = "on the twin, --robot-opt privileged_state=true runs it in simulation only"
        return fit_problems(self.policy.spec, spec, hint if self.args.robot == "twin" else "")

    def _store(self) -> Any:
        from data import EpisodeStore
        from robot.cli.collect_cmd import store_keys
        from robot.runtime.scheduler import telemetry_specs

        obs_keys, specs = store_keys(self.robot.body_spec)
        tele = telemetry_specs(int(self.robot.body_spec.action.shape[0]))
        store = EpisodeStore.open_or_create(self.args.record, fps=self.fps, keys={**specs, **tele},
                                            robot=str(getattr(self.robot.env, "robot", "")) if hasattr(
                                                self.robot, "env") else self.args.robot)
        return store, obs_keys, list(tele)

    @property
    def fps(self) -> float:
        """Control rate: the policy's (it was trained at that rate), else the body's."""
        fps = getattr(self.args, "fps", 0) or 0
        if fps:
            return float(fps)
        return float(self.policy.spec.fps if self.policy is not None else self.robot.body_spec.fps)

    def _source(self) -> Any:
        if self.source is not None:
            return self.source
        if self.replay is not None:
            from robot.runtime.replay import ReplaySource

            return ReplaySource(self.replay.actions)
        mode = getattr(self.args, "source", "auto")
        if mode == "auto" and self.policy.spec.horizon == 1:
            # a per-tick policy (e.g. a residual RL policy) has no chunk to hide latency behind:
            # every action must come from this tick's observation, so infer, then execute
            mode = "sync"
        if mode in ("auto", "async"):  # async inference: the default
            from robot.runtime.policy_source import PolicySource, PolicySourceConfig

            return PolicySource(self.policy, PolicySourceConfig(inference_steps=self.args.inference_steps))
        from robot.runtime.sync_source import SyncPolicySource

        return SyncPolicySource(self.policy, inference_steps=self.args.inference_steps)

    def _operator(self) -> Any:
        if not self.args.intervene:
            return None
        from hardware.teleop import make_teleop
        from robot.config import parse_overrides

        env = getattr(self.robot, "env", None)
        return make_teleop(self.args.intervene, env if env is not None else self.robot,
                           options=parse_overrides(self.args.teleop_opt))

    def run(self) -> dict[str, Any]:
        """Connect, run the episodes, leave the robot holding; returns the JSON summary."""
        from robot.runtime.estop import EStop, EStopConfig
        from robot.runtime.guard import DeployGuard
        from robot.runtime.safety import SafetyLayer
        from robot.runtime.watchdog import Watchdog

        args, robot = self.args, self.robot
        fk = getattr(robot, "forward_kinematics", None)
        safety = SafetyLayer(robot.body_spec, self.safety_config, fps=self.fps, fk=fk if callable(fk) else None)
        estop = EStop(EStopConfig(signals=True, trigger_file=args.estop_file, key_tty=args.estop_tty,
                                  key=args.estop_key))
        guard = DeployGuard(Watchdog(self.watchdog_config), estop, safety)
        estop.start()  # from here SIGINT/SIGTERM stop the run instead of killing it mid-command
        try:
            return self._run(estop, guard, safety)
        finally:
            estop.close()

    def _run(self, estop: Any, guard: Any, safety: Any) -> dict[str, Any]:
        from robot.runtime import ControlLoop, LoopConfig, Outcome, StoreRecorder

        args, robot = self.args, self.robot
        recorder = None
        if args.record:
            store, obs_keys, extra = self._store()
            recorder = StoreRecorder(store, obs_keys, keep_failed=True, extra_keys=extra)
        max_steps = args.max_steps or int(getattr(getattr(getattr(robot, "env", None), "config", None),
                                                  "max_steps", 300))
        if self.replay is not None and not args.max_steps:
            max_steps = len(self.replay.actions)
        cfg = LoopConfig(fps=self.fps, realtime=True, max_steps=max_steps, settle_ticks=0,
                         keep_aborted=True, tick_records=True)
        source, operator = self._source(), self._operator()
        from robot.cli.liveview import make_observers
        from robot.runtime.observers import close_all

        observers = make_observers(args, robot, total=args.episodes, interactive=bool(args.intervene),
                                   count_all=True) \
            if hasattr(args, "view") else []
        loop = ControlLoop(robot, source, recorder, cfg, task=self.task,
                           source_kind="scripted" if self.replay is not None else "policy",
                           operator=operator, action_filters=[safety], guard=guard, observers=observers)
        results = []
        self.estop, self.loop = estop, loop  # reachable by tests and benchmarks
        try:
            robot.connect()
            if operator is not None:
                operator.connect()
            for k in range(args.episodes):
                seed = self.replay.seed if self.replay is not None else args.seed + k
                results.append(loop.run_episode(seed=seed))
                if results[-1].outcome in (Outcome.ABORTED, Outcome.ESTOP):
                    break  # the body is in its safe state: a person looks before anything moves again
            if results and results[-1].outcome not in (Outcome.ABORTED, Outcome.ESTOP):
                robot.hold()  # the arm keeps its pose after the run
        finally:
            if operator is not None:
                operator.disconnect()
            if recorder is not None:
                recorder.finish(save=False, success=False)
            close = getattr(source, "close", None)
            if callable(close):
                close()
            close_all(observers)
        summary = summarize(results, safety, guard, self.task, args.robot)
        summary["clean"] = all(r.outcome not in (Outcome.ABORTED, Outcome.ESTOP) for r in results)
        summary["source"] = "replay" if self.replay is not None else type(source).__name__
        summary["fps"] = self.fps
        if self.replay is not None:
            summary["replay"] = replay_deviation(self.replay, results[0] if results else None)
        if args.record:
            summary["record"] = str(args.record)
        return summary


def summarize(results: list[Any], safety: Any, guard: Any, task: str, robot: str) -> dict[str, Any]:
    """JSON-ready summary: success with Wilson 95% interval, jitter percentiles, misses, clamps, reasons."""
    from robot.metrics import wilson_interval

    n = len(results)
    wins = sum(bool(r.success) for r in results)
    lo, hi = wilson_interval(wins, n) if n else (0.0, 0.0)
    jit = np.concatenate([np.asarray(r.telemetry.jitters, np.float64) for r in results]) * 1e3 if n else np.zeros(0)
    ages = np.asarray([rec.obs_age_ms for r in results for rec in r.telemetry.records], np.float64)
    ages = ages[np.isfinite(ages)]
    infer = np.asarray([rec.inference_ms for r in results for rec in r.telemetry.records], np.float64)
    infer = infer[np.isfinite(infer)]

    def pct(a: np.ndarray, q: float) -> float:
        return float(np.percentile(a, q)) if a.size else 0.0

    return {
        "task": task, "robot": robot, "episodes": n, "successes": wins,
        "success_rate": wins / n if n else 0.0, "ci95_low": lo, "ci95_high": hi,
        "ticks": int(sum(r.telemetry.ticks for r in results)),
        "jitter_ms_p50": pct(jit, 50), "jitter_ms_p99": pct(jit, 99), "jitter_ms_max": float(jit.max()) if jit.size else 0.0,
        "misses": int(sum(r.telemetry.misses for r in results)),
        "late_ticks": int(sum(r.telemetry.late_ticks for r in results)),
        "missed_deadlines": int(sum(r.telemetry.missed_deadlines for r in results)),
        "obs_age_ms_p99": pct(ages, 99), "inference_ms_p50": pct(infer, 50), "inference_ms_max": pct(infer, 100),
        "clamps": safety.summary(),
        "watchdog_holds": int(sum(sum(rec.held for rec in r.telemetry.records) for r in results)),
        "safe_stops": guard.safe_stops,
        "per_episode": [{"seed": r.seed, "outcome": r.outcome.value, "steps": r.steps, "success": bool(r.success),
                         "saved": r.saved, "intervened": r.intervened, "reason": r.info.get("abort_reason", "")}
                        for r in results],
    }


def replay_deviation(replay: Replay, result: Any) -> dict[str, Any]:
    """How far the replayed run's sent commands lie from the recorded ones (rad), tick by tick."""
    if result is None or not result.telemetry.records:
        return {"ticks": 0}
    sent = np.stack([rec.command for rec in result.telemetry.records])
    n = min(len(sent), len(replay.actions))
    diff = np.abs(sent[:n] - replay.actions[:n])
    return {"ticks": int(n), "command_max_abs_diff_rad": float(diff.max()) if n else 0.0}
