"""so101_place: pick a cube and put it in a bowl (a low square tray) with the SO-101 twin.

Success: the cube rests inside the bowl (centre within the inner walls, bottom on
the floor) and the gripper has let go. Reward terms: `reach` (-distance
gripper-cube, m), `grasp` (1 while grasped), `place` (-horizontal distance
cube-bowl, m, x5), `success` (1 on success).
Privileged state (privileged_state=True): cube position (3), cube yaw (cos, sin),
bowl position (3) -> Ds = 6 + 8.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from sim.base import GoalMarker
from sim.so101_base import SO101Config, SO101Env
from sim.so101_scene import STATIC_CONAFFINITY, STATIC_CONTYPE, add_free_box, yaw_of_quat


@dataclass(frozen=True)
class SO101PlaceConfig(SO101Config):
    """so101_place settings. Ranges in metres (x forward from the base, y left), yaw in rad."""

    max_steps: int = 250
    cube_half_size: float = 0.015
    cube_x: tuple[float, float] = (0.17, 0.25)
    cube_y: tuple[float, float] = (-0.1, 0.1)
    cube_yaw: tuple[float, float] = (-0.785, 0.785)
    cube_rgba: tuple[float, float, float, float] = (0.85, 0.15, 0.15, 1.0)
    bowl_x: tuple[float, float] = (0.16, 0.26)
    bowl_y: tuple[float, float] = (-0.14, 0.14)
    bowl_inner_half: float = 0.035
    bowl_wall_height: float = 0.02
    bowl_rgba: tuple[float, float, float, float] = (0.2, 0.45, 0.8, 1.0)
    min_separation: float = 0.1


def add_bowl(spec: mujoco.MjSpec, name: str, inner_half: float, wall_height: float, rgba) -> None:
    """A square tray (mocap body `name`): 4 mm floor and 5 mm walls around a (2*inner_half)^2 opening."""
    body = spec.worldbody.add_body(name=name, pos=[0.3, 0.3, 0.0], mocap=True)
    t, f = 0.0025, 0.002
    common = dict(type=mujoco.mjtGeom.mjGEOM_BOX, rgba=list(rgba), contype=STATIC_CONTYPE,
                  conaffinity=STATIC_CONAFFINITY, condim=4)
    body.add_geom(name=f"{name}_floor", size=[inner_half + 2 * t, inner_half + 2 * t, f], pos=[0, 0, f], **common)
    for i, (dx, dy) in enumerate(((1, 0), (-1, 0), (0, 1), (0, -1))):
        size = [t, inner_half + 2 * t, wall_height / 2] if dx else [inner_half + 2 * t, t, wall_height / 2]
        pos = [dx * (inner_half + t), dy * (inner_half + t), wall_height / 2]
        body.add_geom(name=f"{name}_wall{i}", size=size, pos=pos, **common)


class SO101PlaceEnv(SO101Env):
    """Put the red cube in the blue bowl. Action (6,) joint targets (rad); state (6,) or (14,)."""

    config_cls = SO101PlaceConfig
    name = "so101_place"
    dr_geoms = ("cube", "table", "bowl_floor")
    dr_bodies = ("cube",)
    pick_body = "cube"

    def _add_objects(self, spec: mujoco.MjSpec) -> None:
        c = self.config
        add_free_box(spec, "cube", (c.cube_half_size,) * 3, c.cube_rgba)
        add_bowl(spec, "bowl", c.bowl_inner_half, c.bowl_wall_height, c.bowl_rgba)

    def _place_objects(self, rng: np.random.Generator) -> None:
        c = self.config
        cube_xy = self.sample_xy(rng, c.cube_x, c.cube_y)
        bowl_xy = self.sample_xy_apart(rng, c.bowl_x, c.bowl_y, cube_xy, c.min_separation,
                                       "cube and bowl (bowl_x/bowl_y)")
        yaw = rng.uniform(*c.cube_yaw) + self.object_pose_noise(rng)[2]
        self.set_free_pose("cube", np.array([cube_xy[0], cube_xy[1], c.cube_half_size]), yaw)
        self.data.mocap_pos[self.model.body("bowl").mocapid[0]] = [bowl_xy[0], bowl_xy[1], 0.0]

    @property
    def target_pos(self) -> np.ndarray:
        """(3,) top centre of the bowl's floor, m."""
        return self.data.mocap_pos[self.model.body("bowl").mocapid[0]] + [0.0, 0.0, 0.004]

    def goal_markers(self) -> list[GoalMarker]:
        """Where the cube should come to rest: on the bowl's floor."""
        t = self.target_pos
        return [GoalMarker((float(t[0]), float(t[1]), float(t[2]) + self.config.cube_half_size),
                           self.config.cube_half_size, label="place here")]

    def _privileged_spec(self) -> tuple[str, ...]:
        return ("cube_x", "cube_y", "cube_z", "cube_cos_yaw", "cube_sin_yaw", "bowl_x", "bowl_y", "bowl_z")

    def _privileged_state(self) -> np.ndarray:
        yaw = yaw_of_quat(self.body_quat(self.pick_body))
        return np.concatenate([self.body_pos(self.pick_body), [np.cos(yaw), np.sin(yaw)], self.target_pos])

    def in_bowl(self, body: str) -> bool:
        """Whether `body`'s centre is inside the bowl's walls and its bottom near the floor."""
        p, t = self.body_pos(body), self.target_pos
        c = self.config
        inside = np.all(np.abs(p[:2] - t[:2]) < c.bowl_inner_half)
        return bool(inside and p[2] < t[2] + c.cube_half_size + 0.01)

    def _evaluate(self) -> tuple[dict[str, float], bool]:
        cube = self.body_pos(self.pick_body)
        grasped = self.grasping(self.pick_body)
        success = self.in_bowl(self.pick_body) and not grasped
        terms = {
            "reach": -float(np.linalg.norm(self.ee_pos - cube)),
            "grasp": float(grasped),
            "place": -5.0 * float(np.linalg.norm(cube[:2] - self.target_pos[:2])),
            "success": float(success),
        }
        return terms, success
