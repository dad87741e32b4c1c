"""What the control loop drives: a `Body`, with adapters over `Env` and `Robot`.

The loop never calls gymnasium or a robot driver directly: it sees one small
interface (`reset`, `observe`, `act`) so the same loop drives a sim task, the
MuJoCo twin and a physical arm. `EnvBody` adapts any `robot.interfaces.Env`,
`RobotBody` any `robot.interfaces.Robot`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from robot.interfaces import Env, Observation
from robot.interfaces import Robot as RobotInterface
from robot.specs import BodySpec


@dataclass
class BodyStep:
    """Outcome of one `act`: the command actually sent and the body's verdict.

    `action_sent` (Da,) float32 robot units; `success` task solved at this tick
    (False when the body cannot tell, e.g. a physical arm); `terminated` the
    body ended the episode by itself; `truncated` it hit its own time limit.
    """

    action_sent: np.ndarray
    success: bool = False
    terminated: bool = False
    truncated: bool = False
    info: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Body(Protocol):
    """A body the loop can drive: reset, read the latest observation, send an action."""

    body_spec: BodySpec

    def reset(self, seed: int | None = None) -> Observation:
        """Start an episode; returns the first observation."""
        ...

    def observe(self) -> Observation:
        """The latest observation (keys from robot.keys)."""
        ...

    def act(self, action: np.ndarray) -> BodyStep:
        """Send one (Da,) action."""
        ...


class EnvBody:
    """Drives a gymnasium-style `Env`: `act` steps it and caches the next observation."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.body_spec: BodySpec = env.body_spec
        self._obs: Observation | None = None
        self.last_info: dict[str, Any] = {}

    def reset(self, seed: int | None = None) -> Observation:
        """Reset the env with `seed`; the reset info is kept in `last_info`."""
        self._obs, self.last_info = self.env.reset(seed=seed)
        return self._obs

    def observe(self) -> Observation:
        """The observation returned by the last reset or step."""
        if self._obs is None:
            raise RuntimeError("EnvBody.observe() before reset(): call reset(seed) first")
        return self._obs

    def act(self, action: np.ndarray) -> BodyStep:
        """Step the env once with `action` (Da,)."""
        self._obs, _reward, terminated, truncated, info = self.env.step(action)
        self.last_info = info
        return BodyStep(
            action_sent=np.asarray(action, dtype=np.float32),
            success=bool(info.get("success", False)),
            terminated=bool(terminated),
            truncated=bool(truncated),
            info=info,
        )


class RobotBody:
    """Drives a real-time `Robot` (twin or physical arm); it must already be connected.

    A physical robot cannot tell success, so episodes on it end on operator
    stop or max steps; the twin reports sim-only success through its
    `success()` method. `reset` does not move a physical arm (homing is the
    operator's job); a robot with `reset_episode(seed)` (the twin) resets its
    scene. `hold`, `safe_stop`, `faults` and `frame_times` forward to the robot.
    """

    def __init__(self, robot: RobotInterface) -> None:
        self.robot = robot
        self.body_spec: BodySpec = robot.body_spec
        self.last_obs_time = 0.0

    def reset(self, seed: int | None = None) -> Observation:
        """Reset the scene if the robot can (twin), then read the current observation."""
        reset = getattr(self.robot, "reset_episode", None)
        if callable(reset):
            reset(seed)
        return self.observe()

    def observe(self) -> Observation:
        """Latest observation; its capture time goes to `last_obs_time`."""
        if not self.robot.is_connected:
            raise RuntimeError(f"robot {self.body_spec.name!r} is not connected: call connect() first")
        obs, self.last_obs_time = self.robot.get_observation()
        return obs

    def act(self, action: np.ndarray) -> BodyStep:
        """Send `action`; `action_sent` is what the driver sent after clipping."""
        sent = self.robot.send_action(np.asarray(action, dtype=np.float32))
        success = getattr(self.robot, "success", None)
        return BodyStep(action_sent=np.asarray(sent, dtype=np.float32),
                        success=bool(success()) if callable(success) else False)

    def hold(self) -> None:
        """Command the measured position (the robot's `hold`)."""
        self.robot.hold()

    def safe_stop(self) -> None:
        """The robot's configured safe state."""
        self.robot.safe_stop()

    def faults(self) -> list[str]:
        """The robot's current faults ([] when it reports none)."""
        fn = getattr(self.robot, "faults", None)
        return list(fn()) if callable(fn) else []

    def frame_times(self) -> dict[str, float]:
        """Camera name -> capture time of the latest frame ({} for a robot without cameras)."""
        fn = getattr(self.robot, "frame_times", None)
        return dict(fn()) if callable(fn) else {}


def as_body(target: Any) -> Body:
    """Wrap an Env or Robot as a Body; a Body is returned unchanged."""
    if isinstance(target, (EnvBody, RobotBody)):
        return target
    if hasattr(target, "send_action") and hasattr(target, "get_observation"):
        return RobotBody(target)
    if hasattr(target, "step") and hasattr(target, "reset"):
        return EnvBody(target)
    if isinstance(target, Body):
        return target
    raise TypeError(f"{type(target).__name__} is neither an Env (reset/step) nor a Robot (get_observation/send_action)")
