"""The safety layer: an action filter between every action source and every body.

On by default in `robot deploy`. Per tick, in this order (priority: the joint
limits always hold, then the velocity limit, then the step limit):

1. NaN/inf guard: a non-finite command is replaced by the last safe command
   (held position); `nonfinite_stop_after` consecutive ones end the episode
   (`StopEpisode`).
2. Joint limits: `BodySpec.action_low` / `action_high` (rad).
3. Velocity limit: at most `max_velocity` (rad/s) x tick period away from the
   previous command (the measured position on the first tick).
4. Per-tick step limit: at most `max_step` (rad) away from the measured joint
   position (LeRobot's `max_relative_target`, but on by default); when the
   velocity window and the step window do not overlap (the arm lags far
   behind), the velocity window wins and the command walks toward the arm.
5. End-effector workspace box: when the body injects forward kinematics
   (`fk(q (Da,)) -> (3,) m`), a command whose end effector leaves the box is
   pulled back along the segment from the previous command to the largest
   fraction that stays inside; bodies without FK skip this (logged once).

`SafetyLayer.last_clamp` is the bitmask (`CLAMPS`) of what applied to the last
command; `counts` totals each clamp over the run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from robot import keys as K
from robot.interfaces import Observation
from robot.runtime.loop import StopEpisode
from robot.specs import BodySpec

log = logging.getLogger(__name__)

CLAMPS: dict[str, int] = {"nonfinite": 1, "joint_limit": 2, "velocity": 4, "step": 8, "workspace": 16}
"""Clamp name -> bit in `TickRecord.clamp`."""

ForwardKinematics = Callable[[np.ndarray], np.ndarray]
"""`fk(q (Da,) rad) -> (3,)` end-effector position, m, in the body's base frame."""

_EPS = 1e-9


def clamp_names(mask: int) -> list[str]:
    """The clamp names set in bitmask `mask`."""
    return [name for name, bit in CLAMPS.items() if mask & bit]


@dataclass(frozen=True)
class SafetyConfig:
    """Limits of the safety layer; bodies provide their own defaults (`robot.safety_config()`).

    enabled: False passes commands through untouched (only for sims; deploy keeps it on).
    max_step: per-joint rad a command may lie from the measured position (one value = all joints).
    max_velocity: per-joint rad/s between consecutive commands (one value = all joints).
    workspace_low / workspace_high: end-effector box corners (3,) m; () = no box.
    nonfinite_stop_after: consecutive NaN/inf commands before the episode is stopped.
    """

    enabled: bool = True
    max_step: tuple[float, ...] = (0.5,)
    max_velocity: tuple[float, ...] = (6.0,)
    workspace_low: tuple[float, ...] = ()
    workspace_high: tuple[float, ...] = ()
    nonfinite_stop_after: int = 3

    def __post_init__(self) -> None:
        for name in ("max_step", "max_velocity"):
            v = tuple(float(x) for x in getattr(self, name))
            if not v or any(not x > 0 for x in v):
                raise ValueError(f"safety.{name} must be one or more values > 0, got {v}")
            object.__setattr__(self, name, v)
        if len(self.workspace_low) != len(self.workspace_high) or len(self.workspace_low) not in (0, 3):
            raise ValueError("safety.workspace_low/high must both be (x, y, z) in metres, or both empty")
        if any(lo > hi for lo, hi in zip(self.workspace_low, self.workspace_high, strict=True)):
            raise ValueError(f"safety.workspace_low {self.workspace_low} exceeds workspace_high {self.workspace_high}")
        if self.nonfinite_stop_after < 1:
            raise ValueError(f"safety.nonfinite_stop_after must be >= 1, got {self.nonfinite_stop_after}")


def _per_joint(values: tuple[float, ...], n: int, name: str) -> np.ndarray:
    if len(values) == 1:
        return np.full(n, values[0])
    if len(values) != n:
        raise ValueError(f"safety.{name} has {len(values)} values for {n} joints; give 1 or {n}")
    return np.asarray(values, dtype=np.float64)


class SafetyLayer:
    """Action filter `(action (Da,), obs) -> action (Da,)` enforcing `SafetyConfig` (see module doc).

    body_spec: joint limits and action names; the measured joint positions are
      the first Da entries of `obs["state"]` when the state names start with
      the action names (else the step limit is measured against the previous command).
    fps: control rate, Hz (velocity limit per tick = max_velocity / fps).
    fk: forward kinematics for the workspace box, or None.
    """

    def __init__(self, body_spec: BodySpec, config: SafetyConfig | None = None, fps: float | None = None,
                 fk: ForwardKinematics | None = None) -> None:
        self.config = config or SafetyConfig()
        self.spec = body_spec
        da = int(body_spec.action.shape[0])
        self.da = da
        if len(body_spec.action_low) != da or len(body_spec.action_high) != da:
            raise ValueError(f"body {body_spec.name!r} declares no joint limits (action_low/high) for its "
                             f"{da} joints; the safety layer needs them")
        self.low = np.asarray(body_spec.action_low, dtype=np.float64)
        self.high = np.asarray(body_spec.action_high, dtype=np.float64)
        self.dt = 1.0 / float(fps or body_spec.fps)
        self.max_step = _per_joint(self.config.max_step, da, "max_step")
        self.max_delta = _per_joint(self.config.max_velocity, da, "max_velocity") * self.dt
        state = body_spec.observations.get(K.STATE)
        names = tuple(state.names) if state is not None else ()
        self._measured_from_state = bool(body_spec.action.names) and names[:da] == tuple(body_spec.action.names)
        self.fk = fk
        self.box = (np.asarray(self.config.workspace_low, dtype=np.float64),
                    np.asarray(self.config.workspace_high, dtype=np.float64)) if self.config.workspace_low else None
        if self.box is not None and fk is None:
            log.warning("safety: body %r provides no forward kinematics; the workspace box is skipped",
                        body_spec.name)
        self.last_command: np.ndarray | None = None
        self.last_clamp = 0
        self.nonfinite_streak = 0
        self.counts: dict[str, int] = dict.fromkeys(CLAMPS, 0)

    def reset(self) -> None:
        """Forget the previous command (new episode): the next tick starts from the measured position."""
        self.last_command = None
        self.last_clamp = 0
        self.nonfinite_streak = 0

    def measured(self, obs: Observation) -> np.ndarray | None:
        """(Da,) measured joint positions from `obs`, or None when the state does not hold them."""
        if not self._measured_from_state or K.STATE not in obs:
            return None
        q = np.asarray(obs[K.STATE], dtype=np.float64).reshape(-1)[: self.da]
        return q if q.shape == (self.da,) and np.all(np.isfinite(q)) else None

    def inside(self, q: np.ndarray) -> bool:
        """Whether the end effector at joint positions `q` lies in the workspace box (True without one)."""
        if self.box is None or self.fk is None:
            return True
        p = np.asarray(self.fk(q), dtype=np.float64)
        return bool(np.all(p >= self.box[0] - _EPS) and np.all(p <= self.box[1] + _EPS))

    def _box_excess(self, q: np.ndarray) -> float:
        assert self.box is not None and self.fk is not None
        p = np.asarray(self.fk(q), dtype=np.float64)
        return float(np.sum(np.maximum(self.box[0] - p, 0) + np.maximum(p - self.box[1], 0)))

    def __call__(self, action: np.ndarray, obs: Observation) -> np.ndarray:
        """The safe (Da,) float32 command for `action`; raises StopEpisode after repeated NaN/inf."""
        mask = 0
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        if a.shape != (self.da,):
            raise StopEpisode(f"safety: the source gave an action of shape {a.shape}, body "
                              f"{self.spec.name!r} takes ({self.da},)")
        if not self.config.enabled:
            self.last_clamp = 0
            return a.astype(np.float32)
        q = self.measured(obs)
        prev = self.last_command if self.last_command is not None else q
        if not np.all(np.isfinite(a)):
            self.nonfinite_streak += 1
            self.counts["nonfinite"] += 1
            if self.nonfinite_streak >= self.config.nonfinite_stop_after:
                raise StopEpisode(f"safety: {self.nonfinite_streak} consecutive non-finite (NaN/inf) actions "
                                  "from the source; stopped")
            if prev is None:
                raise StopEpisode("safety: non-finite (NaN/inf) action and no safe command to hold yet")
            a = prev.copy()
            mask |= CLAMPS["nonfinite"]
        else:
            self.nonfinite_streak = 0
        out = self._limit(a, q, prev)
        mask |= self._diff_mask(a, out)
        if self.box is not None and self.fk is not None and not self.inside(out):
            out = self._into_box(out, prev)
            mask |= CLAMPS["workspace"]
        out = np.clip(out, self.low, self.high)  # exact, after float round-off in the box search
        self.last_clamp = mask
        for name, bit in CLAMPS.items():
            if mask & bit and name != "nonfinite":
                self.counts[name] += 1
        self.last_command = out
        return out.astype(np.float32)

    def _limit(self, a: np.ndarray, q: np.ndarray | None, prev: np.ndarray | None) -> np.ndarray:
        """Joint limits, then the velocity window around `prev`, then the step window around `q`."""
        lo, hi = self.low.copy(), self.high.copy()
        self._stage = {"joint_limit": np.clip(a, lo, hi)}
        if prev is not None:
            lo, hi = np.maximum(lo, prev - self.max_delta), np.minimum(hi, prev + self.max_delta)
            # keep the window non-empty when prev sits outside the limits (never after a first clamp)
            lo, hi = np.minimum(lo, self.high), np.maximum(hi, self.low)
            lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
        self._stage["velocity"] = np.clip(a, lo, hi)
        if q is not None:
            slo, shi = np.maximum(lo, q - self.max_step), np.minimum(hi, q + self.max_step)
            ok = slo <= shi  # per joint: the step window overlaps the velocity window
            lo, hi = np.where(ok, slo, lo), np.where(ok, shi, hi)
            # no overlap: walk toward the arm at the velocity limit
            toward = np.clip(q, lo, hi)
            lo, hi = np.where(ok, lo, toward), np.where(ok, hi, toward)
        return np.clip(a, lo, hi)

    def _diff_mask(self, a: np.ndarray, out: np.ndarray) -> int:
        mask = 0
        if not np.array_equal(self._stage["joint_limit"], a):
            mask |= CLAMPS["joint_limit"]
        if not np.array_equal(self._stage["velocity"], self._stage["joint_limit"]):
            mask |= CLAMPS["velocity"]
        if not np.array_equal(out, self._stage["velocity"]):
            mask |= CLAMPS["step"]
        return mask

    def _into_box(self, target: np.ndarray, prev: np.ndarray | None) -> np.ndarray:
        """Largest fraction of the move prev -> target that keeps the end effector in the box."""
        if prev is None:
            raise StopEpisode("safety: the first command leaves the workspace box and there is no safe "
                              "command to fall back to")
        if not self.inside(prev):
            # Started outside (e.g. homed outside the box): allow only moves that get no further out.
            return target if self._box_excess(target) <= self._box_excess(prev) else prev.copy()
        lo_t, hi_t = 0.0, 1.0
        for _ in range(30):  # 1e-9 of the move: the box edge, not a visible gap before it
            mid = 0.5 * (lo_t + hi_t)
            if self.inside(prev + mid * (target - prev)):
                lo_t = mid
            else:
                hi_t = mid
        return prev + lo_t * (target - prev)

    def summary(self) -> dict[str, int]:
        """Ticks each clamp applied over the run (JSON-ready)."""
        return dict(self.counts)


def safety_for(body_spec: BodySpec, robot: object, fps: float | None = None,
               overrides: Sequence[tuple[str, object]] = ()) -> SafetyLayer:
    """A SafetyLayer with `robot`'s defaults (`safety_config()`) and FK (`forward_kinematics`), if it has them."""
    from dataclasses import replace

    get_cfg = getattr(robot, "safety_config", None)
    cfg = get_cfg() if callable(get_cfg) else SafetyConfig()
    if overrides:
        cfg = replace(cfg, **dict(overrides))
    fk = getattr(robot, "forward_kinematics", None)
    if fk is None and cfg.workspace_low:
        log.info("safety: %s has no forward kinematics; workspace box skipped", body_spec.name)
    return SafetyLayer(body_spec, cfg, fps=fps, fk=fk if callable(fk) else None)
