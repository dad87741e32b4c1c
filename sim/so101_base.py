"""Common base of the SO-101 tasks: joint-position action, state vector, object helpers.

Action (Da=6): joint position targets in radians in the real arm's order
(shoulder_pan, shoulder_lift, elbow_flex, wrist_flex, wrist_roll, gripper),
bounded by the MJCF's ctrlrange; the gripper is in its joint's radians too
(-0.17 closed .. 1.75 open). It is written to the position actuators once per
env step and held during the substeps.

State (Ds): the 6 measured joint positions (what the real arm reports), then,
only when `privileged_state=True`, the task's privileged object features (see
each task's `_privileged_spec`), e.g. the cube position. A real arm cannot
observe those; policies meant for the real arm use cameras + joints instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from robot.specs import ArraySpec
from sim.base import MujocoEnv, MujocoEnvConfig
from sim.so101_scene import ARM_JOINTS, EE_SITE, HOME_QPOS, build_arm_scene


@dataclass(frozen=True)
class SO101Config(MujocoEnvConfig):
    """Settings shared by the SO-101 tasks (adds to MujocoEnvConfig).

    privileged_state: append object features to `state` (sim-only policies, RL).
    home_noise: half-range (rad) of uniform noise on the initial joint positions.
    """

    fps: float = 30.0
    max_steps: int = 200
    cameras: tuple[str, ...] = ("front", "wrist")
    privileged_state: bool = False
    home_noise: float = 0.05


class SO101Env(MujocoEnv):
    """A MujocoEnv on the SO-101 scene; subclasses add objects, placement and success."""

    config_cls = SO101Config
    robot = "so101"  # store attribute: which arm recorded the data

    def _add_objects(self, spec: mujoco.MjSpec) -> None:
        raise NotImplementedError

    def _place_objects(self, rng: np.random.Generator) -> None:
        raise NotImplementedError

    def _privileged_spec(self) -> tuple[str, ...]:
        """Names of the privileged state features appended after the joints."""
        return ()

    def _privileged_state(self) -> np.ndarray:
        return np.zeros(0)

    def privileged_features(self) -> np.ndarray:
        """(P,) float32 true object state (`_privileged_spec` names), whatever `privileged_state` says.

        For RL critics only (asymmetric actor-critic): critics never leave training.
        """
        return np.asarray(self._privileged_state(), np.float32)

    # --------------------------------------------------------------- hooks
    def _build_model(self) -> mujoco.MjModel:
        model = build_arm_scene(self.config.fps, self._add_objects)
        self._qadr = np.array([model.joint(n).qposadr[0] for n in ARM_JOINTS])
        self._dadr = np.array([model.joint(n).dofadr[0] for n in ARM_JOINTS])
        self._act = np.array([model.actuator(n).id for n in ARM_JOINTS])
        self.ee_site = model.site(EE_SITE).id
        return model

    def _state_spec(self) -> ArraySpec:
        names = ARM_JOINTS + (self._privileged_spec() if self.config.privileged_state else ())
        return ArraySpec((len(names),), "float32", "rad, m", names)

    def _action_spec(self) -> tuple[ArraySpec, np.ndarray, np.ndarray]:
        rng = self.model.actuator_ctrlrange[self._act]
        return ArraySpec((6,), "float32", "rad", ARM_JOINTS), rng[:, 0], rng[:, 1]

    def _reset_task(self, rng: np.random.Generator) -> None:
        q = HOME_QPOS + rng.uniform(-self.config.home_noise, self.config.home_noise, 6)
        q[5] = HOME_QPOS[5]
        self.data.qpos[self._qadr] = q
        self.data.ctrl[self._act] = q
        self._place_objects(rng)

    def _apply_action(self, action: np.ndarray) -> None:
        self.data.ctrl[self._act] = action

    def _get_state(self) -> np.ndarray:
        joints = self.data.qpos[self._qadr]
        if not self.config.privileged_state:
            return joints.astype(np.float32)
        return np.concatenate([joints, self._privileged_state()]).astype(np.float32)

    # ------------------------------------------------------------- helpers
    @property
    def joint_positions(self) -> np.ndarray:
        """(6,) measured joint positions, rad."""
        return self.data.qpos[self._qadr].copy()

    @property
    def ee_pos(self) -> np.ndarray:
        """(3,) world position of the `gripperframe` site, m."""
        return self.data.site_xpos[self.ee_site].copy()

    def set_free_pose(self, body: str, pos: np.ndarray, yaw: float) -> None:
        """Place free body `body` at `pos` (3,) m with rotation `yaw` rad about z, at rest."""
        j = self.model.body(body).jntadr[0]
        qa, da = self.model.jnt_qposadr[j], self.model.jnt_dofadr[j]
        self.data.qpos[qa:qa + 3] = pos
        self.data.qpos[qa + 3:qa + 7] = [np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)]
        self.data.qvel[da:da + 6] = 0.0

    def body_pos(self, body: str) -> np.ndarray:
        """(3,) world position of a body, m."""
        return self.data.xpos[self.model.body(body).id].copy()

    def body_quat(self, body: str) -> np.ndarray:
        """(4,) world orientation of a body, wxyz."""
        return self.data.xquat[self.model.body(body).id].copy()

    def grasping(self, geom: str) -> bool:
        """Whether geom `geom` touches both jaws (finger box or fingertip pad on each side)."""
        g = self.model.geom(geom).id
        static = {self.model.geom("static_finger").id, self.model.geom("static_finger_pad").id}
        moving = {self.model.geom("moving_finger").id, self.model.geom("moving_finger_pad").id}
        n = self.data.ncon
        g1, g2 = self.data.contact.geom1[:n], self.data.contact.geom2[:n]
        touching = {int(b) for a, b in zip(g1, g2, strict=True) if a == g}
        touching |= {int(a) for a, b in zip(g1, g2, strict=True) if b == g}
        return bool(touching & static and touching & moving)

    def sample_xy(self, rng: np.random.Generator, x_range: tuple[float, float], y_range: tuple[float, float]) -> np.ndarray:
        """Uniform (2,) position in the given ranges (m) plus the DR object-pose noise."""
        dx, dy, _ = self.object_pose_noise(rng)
        return np.array([rng.uniform(*x_range) + dx, rng.uniform(*y_range) + dy])

    def sample_xy_apart(self, rng: np.random.Generator, x_range: tuple[float, float],
                        y_range: tuple[float, float], away_from: np.ndarray, min_separation: float,
                        what: str) -> np.ndarray:
        """Like `sample_xy`, at least `min_separation` (m) from `away_from` (2,); 100 tries, then a clear error.

        what: names the two objects and the config keys for the error, e.g. "peg and socket".
        """
        for _ in range(100):
            xy = self.sample_xy(rng, x_range, y_range)
            if np.linalg.norm(xy - away_from) >= min_separation:
                return xy
        raise RuntimeError(f"{self.name}: cannot separate {what} by min_separation={min_separation} m "
                           "within the configured ranges; widen the ranges or lower min_separation")
