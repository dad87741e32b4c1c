"""The interfaces every layer codes against: Env, Robot, Camera, Teleop, Policy.

These are `typing.Protocol`s: implementations need not inherit, only match.
Observation dicts use the key names of `robot.keys`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol, runtime_checkable

import numpy as np

from robot.specs import BodySpec, PolicySpec

Observation = dict[str, Any]
"""One tick: `state` (Ds,) float32, `images.<cam>` (H, W, C) uint8, `instruction` str."""


@runtime_checkable
class Env(Protocol):
    """A MuJoCo task or twin, gymnasium-compatible.

    `step` returns `(obs, reward, terminated, truncated, info)` with
    `info["success"]: bool`; `render(camera)` returns (H, W, 3) uint8.
    """

    body_spec: BodySpec

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Observation, dict]: ...

    def step(self, action: np.ndarray) -> tuple[Observation, float, bool, bool, dict]: ...

    def render(self, camera: str | None = None) -> np.ndarray: ...

    def close(self) -> None: ...


@runtime_checkable
class Robot(Protocol):
    """A body driven in real time: the MuJoCo twin or a physical arm.

    Specs are readable while disconnected. `send_action` returns the command
    actually sent (after clipping by the driver), in robot units.

    Safety methods the runtime's watchdog and e-stop call:
    `hold()` commands the current measured position (stop moving, torque on);
    `safe_stop()` puts the body in its configured safe state (hold or torque
    off), is idempotent and never raises for a body already stopped;
    `faults()` lists current hardware faults, each naming the joint or device
    (empty = healthy), cheap enough to call every tick (cached by a low-rate
    monitor).
    """

    body_spec: BodySpec

    @property
    def is_connected(self) -> bool: ...

    def connect(self) -> None: ...

    def disconnect(self) -> None: ...

    def get_observation(self) -> tuple[Observation, float]:
        """The latest observation and its capture time (time.monotonic seconds)."""
        ...

    def send_action(self, action: np.ndarray) -> np.ndarray: ...

    def hold(self) -> None:
        """Command the current measured position: stop moving, torque on."""
        ...

    def safe_stop(self) -> None:
        """Go to the configured safe state (hold or torque off); idempotent."""
        ...

    def faults(self) -> list[str]:
        """Current hardware faults, e.g. "servo 'elbow_flex' (id 3): over-temperature 71 C > 65 C"."""
        ...


@runtime_checkable
class Camera(Protocol):
    """A camera with a capture thread behind it; reads never block on the sensor."""

    name: str

    def connect(self) -> None: ...

    def disconnect(self) -> None: ...

    def read_latest(self) -> tuple[np.ndarray, float]:
        """Newest frame (H, W, C) uint8 and its capture time (time.monotonic seconds)."""
        ...


class TeleopEvent(Enum):
    """Operator events a teleop device can raise besides its action."""

    START = "start"
    STOP = "stop"  # stop and save the episode
    DISCARD = "discard"  # drop the episode being recorded and re-record it
    INTERVENE = "intervene"  # take over from a policy (human-in-the-loop)
    QUIT = "quit"


@dataclass
class TeleopCommand:
    """One teleop reading: an action (or None when the operator is idle) and events."""

    action: np.ndarray | None
    events: set[TeleopEvent] = field(default_factory=set)


@runtime_checkable
class Teleop(Protocol):
    """A teleop device or scripted expert producing actions for a body."""

    def connect(self) -> None: ...

    def disconnect(self) -> None: ...

    def reset(self, obs: Observation) -> None: ...

    def get_action(self, obs: Observation) -> TeleopCommand: ...


@runtime_checkable
class Policy(Protocol):
    """A trained policy: observations in, action chunks out, in robot units.

    `predict_chunk(obs, noise=None) -> (B, Ta, Da)`, where `obs` maps keys to
    (B, To, *shape) arrays/tensors (images uint8) and `instruction` to a list of
    B strings. `noise` (B, Ta, Da) is the initial latent of generative policies:
    passing it makes sampling deterministic. Normalization lives inside.
    """

    spec: PolicySpec

    def reset(self) -> None: ...

    def predict_chunk(self, obs: Mapping[str, Any], noise: Any | None = None) -> Any: ...
