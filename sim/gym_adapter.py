"""Wrap any installed gymnasium env into the project's Env contract.

`make_env("gym:gym_pusht/PushT-v0", obs_type="pixels_agent_pos")` builds a
`GymEnvAdapter`: observations use the project keys, `info["success"]` and
`info["reward_terms"]` are filled, and a `body_spec` describes it, so
evaluation and the vector env treat it like a MuJoCo task.

Observation mapping (units stay the wrapped env's own: gym-pusht is in pixels
of its 512 x 512 workspace, angle in rad):

| wrapped observation                         | project keys                                |
|---------------------------------------------|---------------------------------------------|
| Box (D,) (gym-pusht `state`)                | `state` (D,) float32                        |
| Box (H, W, 3) uint8 (gym-pusht `pixels`)    | `images.<camera>` (camera kwarg, "top")     |
| Dict: `agent_pos`, `environment_state`, `state`, `observation` | `state` = their concatenation in that order |
| Dict: `pixels` array or dict of cameras     | `images.<camera>` / `images.<name>`         |

so gym-pusht's `pixels_agent_pos` gives `state` (2,) + `images.top`, and
`environment_state_agent_pos` gives `state` (18,) = agent xy then 8 keypoints.
`info["success"]` is the wrapped `is_success` (or `success`); reward_terms is
`{"reward": r}`. Other Dict keys raise an error naming them.
"""

from __future__ import annotations

import importlib
from typing import Any

import gymnasium as gym
import numpy as np

from robot import keys
from robot.errors import UnknownNameError
from robot.specs import ArraySpec, BodySpec

STATE_KEYS = ("agent_pos", "environment_state", "state", "observation")
"""Dict observation entries concatenated, in this order, into `state`."""

IMAGE_KEY = "pixels"
"""Dict observation entry holding the camera frame(s)."""

GYM_PUSHT_IN_METRES: dict[str, Any] = {
    "state_scale": [1e-3, 1e-3, 1e-3, 1e-3, 1.0],
    "state_offset": [-0.256, -0.256, -0.256, -0.256, 0.0],
    "action_scale": 1e-3,
    "action_offset": -0.256,
}
"""Unit change for gym-pusht's `state` obs (px -> m, angle kept) and actions, matching `sim.pusht`:
`make_env("gym:gym_pusht/PushT-v0", **GYM_PUSHT_IN_METRES)`."""


def _affine(gym_id: str, what: str, scale: Any, offset: Any, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension (scale, offset) arrays of length `dim`, checked."""
    out = []
    for name, value in ((f"{what}_scale", scale), (f"{what}_offset", offset)):
        arr = np.asarray(value, dtype=np.float64).reshape(-1)
        if arr.size == 1:
            arr = np.full(dim, arr[0])
        if arr.size != dim or not np.all(np.isfinite(arr)):
            raise ValueError(f"{gym_id}: {name} must be one finite number or {dim} of them, got {value!r}")
        out.append(arr)
    if np.any(out[0] <= 0):
        raise ValueError(f"{gym_id}: {what}_scale must be > 0, got {scale!r}")
    return out[0], out[1]


def _register(gym_id: str) -> None:
    """Import the package that registers `namespace/Name-vN` ids (gym_pusht for gym_pusht/...)."""
    if gym_id in gym.registry:
        return
    namespace = gym_id.split("/", 1)[0] if "/" in gym_id else None
    if namespace:
        try:
            importlib.import_module(namespace)
        except ImportError as e:
            raise UnknownNameError(
                f"gymnasium env {gym_id!r}: importing {namespace!r} (which registers it) failed: {e}. "
                f"Install it (gym-pusht: pip install -e .[bench])"
            ) from None
    if gym_id not in gym.registry:
        raise UnknownNameError(f"gymnasium env {gym_id!r} is not registered; is the package that provides it installed?")


class GymEnvAdapter(gym.Env):
    """A gymnasium env seen through the project's keys: obs dict, `success`, `body_spec`.

    gym_id: a registered gymnasium id, e.g. "gym_pusht/PushT-v0".
    camera: name given to a single-image observation (`images.<camera>`).
    fps: control rate for `body_spec` (default: the env's metadata `render_fps`, else 10).
    state_scale, state_offset, action_scale, action_offset: optional unit change,
        project = native * scale + offset for `state` and for the action (a float,
        or one value per dimension; scales > 0). `GYM_PUSHT_IN_METRES` puts gym-pusht's
        `state` obs in the metres of our `pusht` task.
    kwargs: passed to `gym.make` (e.g. obs_type, max_episode_steps).
    """

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, gym_id: str, camera: str = "top", fps: float | None = None,
                 state_scale: Any = 1.0, state_offset: Any = 0.0, action_scale: Any = 1.0,
                 action_offset: Any = 0.0, **kwargs: Any) -> None:
        _register(gym_id)
        kwargs.setdefault("disable_env_checker", True)
        kwargs.setdefault("render_mode", "rgb_array")
        self.gym_id = gym_id
        self.camera = keys.camera_of(keys.image_key(camera))  # validates the name
        self.env = gym.make(gym_id, **kwargs)
        raw_space = self.env.observation_space
        obs_specs = self._specs(raw_space)
        act = self.env.action_space
        if not isinstance(act, gym.spaces.Box) or len(act.shape) != 1:
            raise TypeError(f"{gym_id}: only 1-D Box action spaces are supported, got {act}")
        dim = obs_specs[keys.STATE].shape[0] if keys.STATE in obs_specs else 0
        self._state_scale, self._state_offset = _affine(gym_id, "state", state_scale, state_offset, dim)
        self._action_scale, self._action_offset = _affine(gym_id, "action", action_scale, action_offset, act.shape[0])
        low = (act.low * self._action_scale + self._action_offset).astype(np.float32)
        high = (act.high * self._action_scale + self._action_offset).astype(np.float32)
        self.action_space = gym.spaces.Box(low, high, dtype=np.float32)
        scaled = any(np.any(v != d) for v, d in ((self._action_scale, 1), (self._action_offset, 0)))
        if keys.STATE in obs_specs and (np.any(self._state_scale != 1) or np.any(self._state_offset != 0)):
            obs_specs[keys.STATE] = ArraySpec((dim,), "float32", "scaled")
        self.body_spec = BodySpec(
            name=f"gym:{gym_id}",
            observations=obs_specs,
            action=ArraySpec(act.shape, "float32", "scaled" if scaled else "native"),
            fps=float(fps or self.env.metadata.get("render_fps") or 10.0),
            action_low=tuple(float(x) for x in low),
            action_high=tuple(float(x) for x in high),
        )
        self.observation_space = gym.spaces.Dict({
            k: gym.spaces.Box(0, 255, s.shape, np.uint8) if keys.is_image_key(k)
            else gym.spaces.Box(-np.inf, np.inf, s.shape, np.float32)
            for k, s in obs_specs.items()
        })

    # ------------------------------------------------------------ mapping
    def _specs(self, space: gym.Space) -> dict[str, ArraySpec]:
        """Project observation specs for the wrapped observation space."""
        if isinstance(space, gym.spaces.Box):
            if space.dtype == np.uint8 and len(space.shape) == 3:
                return {keys.image_key(self.camera): ArraySpec(space.shape, "uint8", "pixel")}
            return {keys.STATE: ArraySpec((int(np.prod(space.shape)),), "float32", "native")}
        if not isinstance(space, gym.spaces.Dict):
            raise TypeError(f"{self.gym_id}: unsupported observation space {space}")
        unknown = sorted(set(space.spaces) - set(STATE_KEYS) - {IMAGE_KEY})
        if unknown:
            raise ValueError(
                f"{self.gym_id}: observation entries {unknown} have no mapping; "
                f"supported: {list(STATE_KEYS)} -> state, {IMAGE_KEY!r} -> images.<camera>"
            )
        specs: dict[str, ArraySpec] = {}
        dims = sum(int(np.prod(space[k].shape)) for k in STATE_KEYS if k in space.spaces)
        if dims:
            specs[keys.STATE] = ArraySpec((dims,), "float32", "native")
        if IMAGE_KEY in space.spaces:
            pix = space[IMAGE_KEY]
            if isinstance(pix, gym.spaces.Dict):
                for name, sub in pix.spaces.items():
                    specs[keys.image_key(name)] = ArraySpec(sub.shape, "uint8", "pixel")
            else:
                specs[keys.image_key(self.camera)] = ArraySpec(pix.shape, "uint8", "pixel")
        return specs

    def _observation(self, raw: Any) -> dict[str, Any]:
        """The one place wrapped observations become project observations."""
        if not isinstance(raw, dict):
            if keys.STATE in self.body_spec.observations:
                state = np.asarray(raw, dtype=np.float64).reshape(-1)
                return {keys.STATE: (state * self._state_scale + self._state_offset).astype(np.float32)}
            return {keys.image_key(self.camera): np.asarray(raw, dtype=np.uint8)}
        obs: dict[str, Any] = {}
        parts = [np.asarray(raw[k], dtype=np.float64).reshape(-1) for k in STATE_KEYS if k in raw]
        if parts:
            obs[keys.STATE] = (np.concatenate(parts) * self._state_scale + self._state_offset).astype(np.float32)
        pix = raw.get(IMAGE_KEY)
        if isinstance(pix, dict):
            for name, frame in pix.items():
                obs[keys.image_key(name)] = np.asarray(frame, dtype=np.uint8)
        elif pix is not None:
            obs[keys.image_key(self.camera)] = np.asarray(pix, dtype=np.uint8)
        return obs

    @staticmethod
    def _info(info: dict[str, Any], reward: float) -> dict[str, Any]:
        out = dict(info)
        out["success"] = bool(info.get("is_success", info.get("success", False)))
        out["reward_terms"] = {"reward": float(reward)}
        return out

    # ------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        """Reset the wrapped env -> (obs, info)."""
        raw, info = self.env.reset(seed=seed, options=options)
        return self._observation(raw), self._info(info, 0.0)

    def step(self, action: np.ndarray) -> tuple[dict, float, bool, bool, dict]:
        """One wrapped step with a (Da,) action -> (obs, reward, terminated, truncated, info)."""
        a = np.asarray(action, dtype=np.float64).reshape(self.action_space.shape)
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{self.gym_id}: action contains NaN/inf: {a}")
        native = ((a - self._action_offset) / self._action_scale).astype(self.env.action_space.dtype)
        raw, reward, terminated, truncated, info = self.env.step(native)
        return self._observation(raw), float(reward), bool(terminated), bool(truncated), self._info(info, reward)

    def render(self, camera: str | None = None) -> np.ndarray:
        """(H, W, 3) uint8 frame of the wrapped env (it has one view; `camera` must be None or its name)."""
        if camera not in (None, self.camera):
            raise UnknownNameError(f"{self.gym_id}: unknown camera {camera!r}; available: [{self.camera!r}]")
        return np.asarray(self.env.render(), dtype=np.uint8)

    @property
    def unwrapped_env(self) -> Any:
        """The wrapped env without gymnasium wrappers (for privileged access)."""
        return self.env.unwrapped

    def close(self) -> None:
        """Close the wrapped env."""
        self.env.close()
