"""Action mappers: from device readings to a body's actions.

- `PlanarMapper`: the action is an (x, y) target (PushT's pusher); readings
  move the target, clipped to the action bounds.
- `IKMapper`: the action is arm joint targets plus a gripper command (SO-101);
  readings move an end-effector position target, and inverse kinematics turns
  it into joint targets, seeded with the previous solution so consecutive
  targets stay on the same IK branch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hardware.teleop.base import DeviceReading
from robot import keys as K
from robot.interfaces import Observation
from robot.specs import BodySpec


def _state(obs: Observation) -> np.ndarray:
    if K.STATE not in obs:
        raise KeyError(f"teleop mapper needs obs[{K.STATE!r}]; observation has {sorted(obs)}")
    return np.asarray(obs[K.STATE], dtype=np.float64)


def _bounds(spec: BodySpec) -> tuple[np.ndarray, np.ndarray]:
    da = spec.action.shape[0]
    low = np.asarray(spec.action_low or [-np.inf] * da, dtype=np.float64)
    high = np.asarray(spec.action_high or [np.inf] * da, dtype=np.float64)
    return low, high


@dataclass(frozen=True)
class PlanarMapperConfig:
    """step_m: metres moved per unit of reading per tick; state_indices: where (x, y) sit in `state`."""

    step_m: float = 0.01
    state_indices: tuple[int, int] = (0, 1)


class PlanarMapper:
    """(x, y) target actions, e.g. PushT. Device x/y move the target; z/rotation are ignored."""

    def __init__(self, body_spec: BodySpec, config: PlanarMapperConfig | None = None) -> None:
        if body_spec.action.shape != (2,):
            raise ValueError(f"PlanarMapper needs a (2,) action, task {body_spec.name!r} has {body_spec.action.shape}")
        self.config = config or PlanarMapperConfig()
        self.low, self.high = _bounds(body_spec)
        self.target = np.zeros(2)

    def reset(self, obs: Observation) -> None:
        """Target = the current (x, y) from the state."""
        self.target = _state(obs)[list(self.config.state_indices)].copy()

    def map(self, reading: DeviceReading, obs: Observation) -> np.ndarray:
        """Move the target by translation[:2] * step_m; returns (2,) float32 metres."""
        self.target = np.clip(self.target + reading.translation[:2] * self.config.step_m, self.low, self.high)
        return self.target.astype(np.float32)


@dataclass(frozen=True)
class IKMapperConfig:
    """End-effector position teleop of an arm through IK.

    step_m: metres per unit of reading per tick.
    arm_indices: indices of the arm joints in `state` (rad), in action order.
    gripper_index: index of the gripper in `state`; the gripper action is the last one.
    workspace_low / workspace_high: box (m, robot base frame) the EE target is clipped to.
    gripper_open_is_high: the gripper's upper action bound is "open".
    """

    step_m: float = 0.005
    arm_indices: tuple[int, ...] = (0, 1, 2, 3, 4)
    gripper_index: int = 5
    workspace_low: tuple[float, float, float] = (-0.45, -0.45, 0.0)
    workspace_high: tuple[float, float, float] = (0.45, 0.45, 0.45)
    gripper_open_is_high: bool = True


class IKMapper:
    """Joint-target actions (arm joints + gripper) from end-effector position deltas.

    fk: q (n_arm,) rad -> EE position (3,) m.
    ik: (target (3,) m, q_seed (n_arm,) rad) -> q (n_arm,) rad.
    """

    def __init__(
        self,
        body_spec: BodySpec,
        fk: Callable[[np.ndarray], np.ndarray],
        ik: Callable[[np.ndarray, np.ndarray], np.ndarray],
        config: IKMapperConfig | None = None,
    ) -> None:
        self.config = config or IKMapperConfig()
        n_arm = len(self.config.arm_indices)
        if body_spec.action.shape != (n_arm + 1,):
            raise ValueError(
                f"IKMapper expects {n_arm} arm joints + gripper = ({n_arm + 1},) actions; "
                f"task {body_spec.name!r} has {body_spec.action.shape}"
            )
        self.fk, self.ik = fk, ik
        self.low, self.high = _bounds(body_spec)
        self.ws_low = np.asarray(self.config.workspace_low)
        self.ws_high = np.asarray(self.config.workspace_high)
        self.target = np.zeros(3)
        self.q_target = np.zeros(n_arm)
        self.gripper = 0.0

    def reset(self, obs: Observation) -> None:
        """Anchor the EE target at the FK of the current joints; keep the gripper where it is."""
        s = _state(obs)
        self.q_target = s[list(self.config.arm_indices)].copy()
        self.target = np.clip(np.asarray(self.fk(self.q_target), dtype=np.float64), self.ws_low, self.ws_high)
        self.gripper = float(s[self.config.gripper_index])

    def gripper_opening(self) -> float:
        """Current gripper command as an opening in [0, 1] (0 closed, 1 open)."""
        lo, hi = self.low[-1], self.high[-1]
        frac = (self.gripper - lo) / (hi - lo) if np.isfinite(hi - lo) and hi > lo else 1.0
        return float(np.clip(frac if self.config.gripper_open_is_high else 1.0 - frac, 0.0, 1.0))

    def _gripper_action(self, opening: float) -> float:
        lo, hi = self.low[-1], self.high[-1]
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise ValueError("IKMapper needs finite gripper action bounds in body_spec.action_low/high")
        opening = float(np.clip(opening, 0.0, 1.0))
        frac = opening if self.config.gripper_open_is_high else 1.0 - opening
        return float(lo + frac * (hi - lo))

    def map(self, reading: DeviceReading, obs: Observation) -> np.ndarray:
        """Move the EE target by translation * step_m, solve IK; returns (n_arm + 1,) float32 rad."""
        if np.any(reading.translation):
            self.target = np.clip(self.target + reading.translation * self.config.step_m, self.ws_low, self.ws_high)
            q = np.asarray(self.ik(self.target, self.q_target), dtype=np.float64)
            self.q_target = np.clip(q, self.low[:-1], self.high[:-1])
        if reading.gripper is not None:
            self.gripper = self._gripper_action(reading.gripper)
        return np.append(self.q_target, self.gripper).astype(np.float32)


def mapper_for(body_spec: BodySpec, env: object | None = None, step_m: float | None = None) -> PlanarMapper | IKMapper:
    """The mapper of a body: planar for (2,) actions, IK for arms whose env exposes `ik_solver()`."""
    if body_spec.action.shape == (2,):
        cfg = PlanarMapperConfig() if step_m is None else PlanarMapperConfig(step_m=step_m)
        return PlanarMapper(body_spec, cfg)
    from hardware.teleop.arm_ik import arm_ik_for

    fk, ik = arm_ik_for(env)
    cfg = IKMapperConfig() if step_m is None else IKMapperConfig(step_m=step_m)
    return IKMapper(body_spec, fk, ik, cfg)
