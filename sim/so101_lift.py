"""so101_lift: pick a cube from the table with the SO-101 twin and hold it up.

Success: the cube's centre is `lift_height` (m) above its resting height while both
fingers touch it. Reward terms (summed into the reward): `reach` (-distance
gripper-cube, m), `grasp` (1 while grasped), `lift` (height gained, m, x10, capped).
Privileged state (privileged_state=True): cube position (3, m) and yaw as
(cos, sin) -> Ds = 6 + 5.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from sim.base import GoalMarker
from sim.so101_base import SO101Config, SO101Env
from sim.so101_scene import add_free_box, yaw_of_quat


@dataclass(frozen=True)
class SO101LiftConfig(SO101Config):
    """so101_lift settings. Ranges in metres (x forward from the base, y left), yaw in rad."""

    cube_half_size: float = 0.015
    cube_x: tuple[float, float] = (0.17, 0.25)
    cube_y: tuple[float, float] = (-0.08, 0.08)
    cube_yaw: tuple[float, float] = (-0.785, 0.785)
    cube_rgba: tuple[float, float, float, float] = (0.85, 0.15, 0.15, 1.0)
    lift_height: float = 0.05


class SO101LiftEnv(SO101Env):
    """Pick up a red cube. Action (6,) joint targets (rad); state (6,) or (11,) privileged."""

    config_cls = SO101LiftConfig
    name = "so101_lift"
    dr_geoms = ("cube", "table")
    dr_bodies = ("cube",)
    pick_body = "cube"

    def _add_objects(self, spec: mujoco.MjSpec) -> None:
        h = self.config.cube_half_size
        add_free_box(spec, "cube", (h, h, h), self.config.cube_rgba)

    def _place_objects(self, rng: np.random.Generator) -> None:
        c = self.config
        xy = self.sample_xy(rng, c.cube_x, c.cube_y)
        yaw = rng.uniform(*c.cube_yaw) + self.object_pose_noise(rng)[2]
        self.set_free_pose("cube", np.array([xy[0], xy[1], c.cube_half_size]), yaw)

    def _privileged_spec(self) -> tuple[str, ...]:
        return ("cube_x", "cube_y", "cube_z", "cube_cos_yaw", "cube_sin_yaw")

    def _privileged_state(self) -> np.ndarray:
        yaw = yaw_of_quat(self.body_quat("cube"))
        return np.concatenate([self.body_pos("cube"), [np.cos(yaw), np.sin(yaw)]])

    def goal_markers(self) -> list[GoalMarker]:
        """The height the cube's centre must reach, above where the cube is now."""
        cube = self.body_pos("cube")
        z = self.config.cube_half_size + self.config.lift_height
        return [GoalMarker((float(cube[0]), float(cube[1]), z), self.config.cube_half_size, label="lift here")]

    def _evaluate(self) -> tuple[dict[str, float], bool]:
        cube = self.body_pos("cube")
        height = cube[2] - self.config.cube_half_size
        grasped = self.grasping("cube")
        terms = {
            "reach": -float(np.linalg.norm(self.ee_pos - cube)),
            "grasp": float(grasped),
            "lift": 10.0 * float(np.clip(height, 0.0, self.config.lift_height)),
        }
        return terms, bool(grasped and height >= self.config.lift_height)
