"""Base class of the MuJoCo tasks: model, stepping, rendering, observations, spaces, DR.

A task subclasses `MujocoEnv`, declares a frozen config dataclass that inherits
`MujocoEnvConfig`, and implements five hooks:

    class MyConfig(MujocoEnvConfig):            # @dataclass(frozen=True)
        fps: float = 30.0
        cameras: tuple[str, ...] = ("front",)

    class MyEnv(MujocoEnv):
        config_cls = MyConfig
        name = "my_task"
        def _build_model(self) -> mujoco.MjModel: ...           # called once in __init__
        def _state_spec(self) -> ArraySpec: ...                  # (Ds,) spec of `state`
        def _action_spec(self) -> tuple[ArraySpec, low, high]:   # (Da,) spec and bounds
        def _reset_task(self, rng) -> None: ...                  # place objects, set qpos
        def _apply_action(self, action) -> None: ...             # write data.ctrl (once per env step)
        def _get_state(self) -> np.ndarray: ...                  # (Ds,) float32
        def _evaluate(self) -> tuple[dict[str, float], bool]:    # named reward terms, success
        instruction: str | None                                   # set in _reset_task if language-conditioned

What the base does, so every task behaves alike:
- `step(action)`: checks shape/finite, clips to the action bounds, `_apply_action`,
  then `substeps = round(1 / (fps * model.opt.timestep))` calls of `mj_step`;
  reward is the sum of `info["reward_terms"]`; `info["success"]`;
  `terminated` on success when `config.terminate_on_success`; `truncated` at
  `config.max_steps`.
- Observations are built in ONE place (`_observation`): `state` (Ds,) float32,
  `images.<camera>` (H, W, 3) uint8 for each camera in `config.cameras`
  (empty tuple = state only), and `instruction` (str) when the task sets one.
  `body_spec.observations` lists exactly those keys.
- `render(camera=None, width=None, height=None)` -> (H, W, 3) uint8 from a
  lazily created `mujoco.Renderer` per (width, height); shadows and
  reflections are off (they cost most of the software-GL frame time).
- Seeding: `reset(seed=s)` reseeds `self.np_random` (np.random.Generator);
  all task randomness must come from the `rng` passed to `_reset_task`.
- Domain randomization (`config.randomization`, a `RandomizationConfig`):
  on every reset the model's nominal colours, friction, masses, light
  intensities and camera poses are restored, then jittered. Tasks list the
  geoms/bodies concerned in `dr_geoms` / `dr_bodies` (names) and use
  `object_pose_noise(rng)` when placing objects.
- `from_config(cfg_or_dict_or_None, **overrides)` builds the env through
  `robot.config.from_dict` (strict keys; errors name the key).
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Any, ClassVar

import gymnasium as gym
import mujoco
import numpy as np

from robot import keys
from robot.config import ConfigError, from_dict, merge, to_dict
from robot.errors import UnknownNameError
from robot.specs import ArraySpec, BodySpec


@dataclass(frozen=True)
class RandomizationConfig:
    """Domain randomization, applied on every reset. All zeros/ones = off (the default).

    object_pos: half-range (m) of uniform xy noise added to each object's nominal placement.
    object_yaw: half-range (rad) of uniform yaw noise added to each object's placement.
    color: half-range of uniform noise added to each RGB channel of `dr_geoms` (0..1 units).
    light: half-range of the relative change of each light's diffuse intensity (0.2 = +-20 %).
    camera_pos: half-range (m) of uniform noise added to each camera's position.
    camera_rot: half-range (rad) of a random small rotation applied to each camera.
    friction: (low, high) scale range of the sliding friction of `dr_geoms`.
    mass: (low, high) scale range of the mass and inertia of `dr_bodies`.
    """

    object_pos: float = 0.0
    object_yaw: float = 0.0
    color: float = 0.0
    light: float = 0.0
    camera_pos: float = 0.0
    camera_rot: float = 0.0
    friction: tuple[float, float] = (1.0, 1.0)
    mass: tuple[float, float] = (1.0, 1.0)

    def __post_init__(self) -> None:
        for name in ("friction", "mass"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise ConfigError(f"randomization.{name}: need 0 < low <= high, got {(lo, hi)}")
        for name in ("object_pos", "object_yaw", "color", "light", "camera_pos", "camera_rot"):
            if getattr(self, name) < 0:
                raise ConfigError(f"randomization.{name} must be >= 0, got {getattr(self, name)}")


MILD_RANDOMIZATION = RandomizationConfig(
    object_pos=0.01, object_yaw=0.2, color=0.1, light=0.2, camera_pos=0.005, camera_rot=0.02,
    friction=(0.8, 1.2), mass=(0.8, 1.2),
)
"""A mild preset for sim-to-real style robustness runs (`randomization=to_dict(MILD_RANDOMIZATION)`)."""


@dataclass(frozen=True)
class GoalMarker:
    """A goal a live view draws: a translucent sphere at `pos` (3,) m (world), radius `size` m."""

    pos: tuple[float, float, float]
    size: float = 0.02
    rgba: tuple[float, float, float, float] = (0.1, 0.9, 0.2, 0.35)
    label: str = ""


@dataclass(frozen=True)
class MujocoEnvConfig:
    """Settings every MuJoCo task shares; task configs inherit and add their own fields.

    fps: control rate (env steps per simulated second); substeps derive from it.
    max_steps: episode length in env steps (truncation).
    cameras: cameras rendered into `images.<camera>`; () = state-only observations.
    image_size: (H, W) of observation images, pixels.
    terminate_on_success: end the episode (terminated=True) once `success` holds.
    randomization: domain randomization, off by default.
    """

    fps: float = 30.0
    max_steps: int = 300
    cameras: tuple[str, ...] = ()
    image_size: tuple[int, int] = (96, 96)
    terminate_on_success: bool = False
    randomization: RandomizationConfig = field(default_factory=RandomizationConfig)


class MujocoEnv(gym.Env):
    """A gymnasium env around one MjModel/MjData; see the module docstring for the hooks."""

    config_cls: ClassVar[type] = MujocoEnvConfig
    name: ClassVar[str] = "mujoco"
    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"]}
    dr_geoms: tuple[str, ...] = ()
    dr_bodies: tuple[str, ...] = ()

    def __init__(self, config: Any = None) -> None:
        self.config = config if config is not None else self.config_cls()
        if not isinstance(self.config, self.config_cls):
            raise TypeError(f"{type(self).__name__} needs a {self.config_cls.__name__}, got {type(self.config).__name__}")
        self.instruction: str | None = None
        self.model = self._build_model()
        self.data = mujoco.MjData(self.model)
        control_dt = 1.0 / float(self.config.fps)
        self.substeps = max(1, int(round(control_dt / self.model.opt.timestep)))
        self.camera_names = tuple(
            mujoco.mj_id2name(self.model, mujoco.mjtObj.mjOBJ_CAMERA, i) for i in range(self.model.ncam)
        )
        for cam in self.config.cameras:
            if cam not in self.camera_names:
                raise ConfigError(f"cameras: {cam!r} is not a camera of {self.name}; available: {list(self.camera_names)}")
        self._renderers: dict[tuple[int, int], mujoco.Renderer] = {}
        self._nominal = {
            "geom_rgba": self.model.geom_rgba.copy(), "geom_friction": self.model.geom_friction.copy(),
            "body_mass": self.model.body_mass.copy(), "body_inertia": self.model.body_inertia.copy(),
            "light_diffuse": self.model.light_diffuse.copy(), "cam_pos": self.model.cam_pos.copy(),
            "cam_quat": self.model.cam_quat.copy(),
        }
        self._dr_geom_ids = np.array([self._id(mujoco.mjtObj.mjOBJ_GEOM, n) for n in self.dr_geoms], dtype=int)
        self._dr_body_ids = np.array([self._id(mujoco.mjtObj.mjOBJ_BODY, n) for n in self.dr_bodies], dtype=int)
        state_spec = self._state_spec()
        act_spec, low, high = self._action_spec()
        self.action_low = np.asarray(low, dtype=np.float32)
        self.action_high = np.asarray(high, dtype=np.float32)
        self.body_spec = self._make_body_spec(state_spec, act_spec)
        self.action_space = gym.spaces.Box(self.action_low, self.action_high, dtype=np.float32)
        self.observation_space = self._make_observation_space()
        self.steps = 0
        self._last_success = False

    # ----------------------------------------------------------- construction
    @classmethod
    def from_config(cls, config: Any = None, **overrides: Any) -> MujocoEnv:
        """Build from a config object, a (nested) dict of fields, or None (defaults), plus overrides."""
        if config is None:
            data: dict[str, Any] = {}
        elif isinstance(config, cls.config_cls):
            data = to_dict(config)
        elif isinstance(config, dict):
            data = dict(config)
        else:
            raise ConfigError(f"{cls.__name__}: config must be a {cls.config_cls.__name__}, a dict or None, got {type(config).__name__}")
        data = merge(data, overrides)
        return cls(from_dict(cls.config_cls, data, where=cls.name))

    def _make_body_spec(self, state_spec: ArraySpec, act_spec: ArraySpec) -> BodySpec:
        h, w = self.config.image_size
        obs = {keys.STATE: state_spec}
        for cam in self.config.cameras:
            obs[keys.image_key(cam)] = ArraySpec((h, w, 3), "uint8", "pixel")
        return BodySpec(
            name=self.name, observations=obs, action=act_spec, fps=float(self.config.fps),
            action_low=tuple(float(x) for x in self.action_low),
            action_high=tuple(float(x) for x in self.action_high),
            instructions=tuple(self.instructions()),
        )

    def _make_observation_space(self) -> gym.spaces.Dict:
        spaces: dict[str, gym.Space] = {}
        for key, spec in self.body_spec.observations.items():
            if keys.is_image_key(key):
                spaces[key] = gym.spaces.Box(0, 255, spec.shape, dtype=np.uint8)
            else:
                spaces[key] = gym.spaces.Box(-np.inf, np.inf, spec.shape, dtype=np.dtype(spec.dtype))
        if self.instructions():
            spaces[keys.INSTRUCTION] = gym.spaces.Text(max_length=256, min_length=0, charset=string.printable)
        return gym.spaces.Dict(spaces)

    def _id(self, kind: mujoco.mjtObj, name: str) -> int:
        i = mujoco.mj_name2id(self.model, kind, name)
        if i < 0:
            raise KeyError(f"{self.name}: no {kind.name[6:].lower()} named {name!r} in the model")
        return i

    # ------------------------------------------------------------ task hooks
    def _build_model(self) -> mujoco.MjModel:
        raise NotImplementedError

    def _state_spec(self) -> ArraySpec:
        raise NotImplementedError

    def _action_spec(self) -> tuple[ArraySpec, np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _reset_task(self, rng: np.random.Generator) -> None:
        raise NotImplementedError

    def _apply_action(self, action: np.ndarray) -> None:
        raise NotImplementedError

    def _get_state(self) -> np.ndarray:
        raise NotImplementedError

    def _evaluate(self) -> tuple[dict[str, float], bool]:
        raise NotImplementedError

    def instructions(self) -> tuple[str, ...]:
        """All instructions the task can give (empty for tasks without language)."""
        return ()

    def goal_markers(self) -> list[GoalMarker]:
        """Where the task wants things, for the live view (empty when the scene shows it, e.g. PushT's T)."""
        return []

    # -------------------------------------------------------------- gym API
    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        """Start an episode -> (obs, info). `seed` reseeds `self.np_random`."""
        super().reset(seed=seed)
        mujoco.mj_resetData(self.model, self.data)
        self._apply_randomization(self.np_random)
        self._reset_task(self.np_random)
        mujoco.mj_forward(self.model, self.data)
        self.steps = 0
        terms, success = self._evaluate()
        self._last_success = success
        return self._observation(), self._info(terms, success)

    def step(self, action: np.ndarray) -> tuple[dict, float, bool, bool, dict]:
        """Apply one (Da,) action for 1/fps seconds -> (obs, reward, terminated, truncated, info)."""
        a = np.asarray(action, dtype=np.float32).reshape(-1)
        if a.shape != self.action_low.shape:
            raise ValueError(f"{self.name}: action has shape {a.shape}, expected {self.action_low.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{self.name}: action contains NaN/inf: {a}")
        a = np.clip(a, self.action_low, self.action_high)
        self._apply_action(a)
        mujoco.mj_step(self.model, self.data, nstep=self.substeps)
        self.steps += 1
        terms, success = self._evaluate()
        self._last_success = success
        reward = float(sum(float(v) for v in terms.values()))
        terminated = bool(success and self.config.terminate_on_success)
        truncated = self.steps >= self.config.max_steps
        return self._observation(), reward, terminated, truncated, self._info(terms, success)

    def _observation(self) -> dict[str, Any]:
        """The one place observations are assembled (keys from robot.keys)."""
        obs: dict[str, Any] = {keys.STATE: np.asarray(self._get_state(), dtype=np.float32)}
        h, w = self.config.image_size
        for cam in self.config.cameras:
            obs[keys.image_key(cam)] = self.render(cam, width=w, height=h)
        if self.instruction is not None:
            obs[keys.INSTRUCTION] = self.instruction
        return obs

    def _info(self, terms: dict[str, float], success: bool) -> dict[str, Any]:
        info: dict[str, Any] = {
            "success": bool(success), "reward_terms": {k: float(v) for k, v in terms.items()}, "steps": self.steps,
        }
        if self.instruction is not None:
            info[keys.INSTRUCTION] = self.instruction
        return info

    @property
    def success(self) -> bool:
        """Whether the last reset/step ended in the success condition."""
        return self._last_success

    # ------------------------------------------------------------ rendering
    def render(self, camera: str | None = None, width: int | None = None, height: int | None = None) -> np.ndarray:
        """(H, W, 3) uint8 frame from named `camera` (default: first configured, else first in model)."""
        if camera is None:
            camera = (self.config.cameras or self.camera_names or (None,))[0]
        if camera is not None and camera not in self.camera_names:
            raise UnknownNameError(f"{self.name}: unknown camera {camera!r}; available: {list(self.camera_names)}")
        h0, w0 = self.config.image_size
        w, h = int(width or w0), int(height or h0)
        renderer = self._renderers.get((w, h))
        if renderer is None:
            if w > self.model.vis.global_.offwidth or h > self.model.vis.global_.offheight:
                self.model.vis.global_.offwidth = max(w, self.model.vis.global_.offwidth)
                self.model.vis.global_.offheight = max(h, self.model.vis.global_.offheight)
            renderer = mujoco.Renderer(self.model, height=h, width=w)
            renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = False
            renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = False
            renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SKYBOX] = False
            self._renderers[(w, h)] = renderer
        renderer.update_scene(self.data, camera=camera if camera is not None else -1)
        return renderer.render()

    def close(self) -> None:
        """Free the renderers (GL contexts)."""
        for r in self._renderers.values():
            r.close()
        self._renderers.clear()

    # -------------------------------------------------- domain randomization
    def object_pose_noise(self, rng: np.random.Generator) -> tuple[float, float, float]:
        """(dx m, dy m, dyaw rad) to add to an object's nominal pose, per `randomization`."""
        r = self.config.randomization
        dx, dy = rng.uniform(-r.object_pos, r.object_pos, 2) if r.object_pos > 0 else (0.0, 0.0)
        dyaw = rng.uniform(-r.object_yaw, r.object_yaw) if r.object_yaw > 0 else 0.0
        return float(dx), float(dy), float(dyaw)

    def _apply_randomization(self, rng: np.random.Generator) -> None:
        m, nom, r = self.model, self._nominal, self.config.randomization
        m.geom_rgba[:] = nom["geom_rgba"]
        m.geom_friction[:] = nom["geom_friction"]
        m.body_mass[:] = nom["body_mass"]
        m.body_inertia[:] = nom["body_inertia"]
        m.light_diffuse[:] = nom["light_diffuse"]
        m.cam_pos[:] = nom["cam_pos"]
        m.cam_quat[:] = nom["cam_quat"]
        if r == RandomizationConfig():
            return
        g, b = self._dr_geom_ids, self._dr_body_ids
        if r.color > 0 and len(g):
            m.geom_rgba[g, :3] = np.clip(nom["geom_rgba"][g, :3] + rng.uniform(-r.color, r.color, (len(g), 3)), 0, 1)
        if r.friction != (1.0, 1.0) and len(g):
            m.geom_friction[g, 0] = nom["geom_friction"][g, 0] * rng.uniform(*r.friction, len(g))
        if r.mass != (1.0, 1.0) and len(b):
            scale = rng.uniform(*r.mass, len(b))
            m.body_mass[b] = nom["body_mass"][b] * scale
            m.body_inertia[b] = nom["body_inertia"][b] * scale[:, None]
            # derived quantities (body_subtreemass, dof_M0) follow the new masses
            mujoco.mj_setConst(m, self.data)
        if r.light > 0 and m.nlight:
            m.light_diffuse[:] = nom["light_diffuse"] * (1 + rng.uniform(-r.light, r.light, (m.nlight, 1)))
        if m.ncam and (r.camera_pos > 0 or r.camera_rot > 0):
            m.cam_pos[:] = nom["cam_pos"] + rng.uniform(-r.camera_pos, r.camera_pos, (m.ncam, 3))
            for i in range(m.ncam):
                axis_angle = rng.uniform(-r.camera_rot, r.camera_rot, 3)
                dq = np.zeros(4)
                mujoco.mju_axisAngle2Quat(dq, axis_angle / (np.linalg.norm(axis_angle) + 1e-12), np.linalg.norm(axis_angle))
                q = np.zeros(4)
                mujoco.mju_mulQuat(q, nom["cam_quat"][i], dq)
                m.cam_quat[i] = q

