"""peg_insert: grasp a square peg and insert it into a tight socket with the SO-101 twin.

The peg (default 2 cm square, 5 cm tall) stands on the table; the socket is a
square hole `clearance` (m, per side; default 1.5 mm) wider than the peg, with
walls `socket_depth` high and no chamfer, at a random position and yaw. The
millimetre tolerance is below the arm's position-servo error and the in-hand
pose varies from grasp to grasp, so open-loop imitation struggles and a
closed-loop correction (the scripted expert's privileged alignment, or a residual
RL policy) is what makes it work.

Success: the peg's bottom is `insert_depth` below the socket's rim with its axis
inside the hole. Reward terms: `reach` (-distance gripper-peg, m), `grasp`,
`align` (-horizontal distance peg bottom-hole axis, m, x10), `insert` (depth
below the rim, m, x20, capped), `success`.
State: joints (6), then with privileged_state=True (the default here, for RL)
peg position (3) and orientation (wxyz, 4), socket position (3) and yaw (cos, sin)
-> Ds = 6 + 12.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from sim.base import GoalMarker
from sim.so101_base import SO101Config, SO101Env
from sim.so101_scene import STATIC_CONAFFINITY, STATIC_CONTYPE, add_free_box, yaw_of_quat


@dataclass(frozen=True)
class PegInsertConfig(SO101Config):
    """peg_insert settings; lengths in metres, angles in radians."""

    max_steps: int = 300
    privileged_state: bool = True
    peg_half_width: float = 0.01
    peg_half_length: float = 0.025
    peg_x: tuple[float, float] = (0.17, 0.24)
    peg_y: tuple[float, float] = (-0.1, 0.1)
    peg_yaw: tuple[float, float] = (-0.785, 0.785)
    socket_x: tuple[float, float] = (0.17, 0.25)
    socket_y: tuple[float, float] = (-0.13, 0.13)
    socket_yaw: tuple[float, float] = (-0.3, 0.3)
    clearance: float = 0.0015
    socket_depth: float = 0.03
    insert_depth: float = 0.015
    min_separation: float = 0.1


class PegInsertEnv(SO101Env):
    """Insert the peg into the socket. Action (6,) joint targets (rad); state (18,) privileged."""

    config_cls = PegInsertConfig
    name = "peg_insert"
    dr_geoms = ("peg", "table", "socket_wall0", "socket_wall1", "socket_wall2", "socket_wall3")
    dr_bodies = ("peg",)
    pick_body = "peg"

    def _add_objects(self, spec: mujoco.MjSpec) -> None:
        c = self.config
        w, hl = c.peg_half_width, c.peg_half_length
        add_free_box(spec, "peg", (w, w, hl), (0.9, 0.55, 0.1, 1.0), mass=0.02)
        body = spec.worldbody.add_body(name="socket", pos=[0.3, 0.3, 0.0], mocap=True)
        hole = w + c.clearance  # half width of the opening
        t = 0.01  # wall thickness
        common = dict(type=mujoco.mjtGeom.mjGEOM_BOX, rgba=[0.3, 0.3, 0.35, 1.0], contype=STATIC_CONTYPE,
                      conaffinity=STATIC_CONAFFINITY, condim=4, friction=[0.5, 0.02, 0.001])
        h = c.socket_depth / 2
        body.add_geom(name="socket_wall0", size=[t / 2, hole + t, h], pos=[hole + t / 2, 0, h], **common)
        body.add_geom(name="socket_wall1", size=[t / 2, hole + t, h], pos=[-hole - t / 2, 0, h], **common)
        body.add_geom(name="socket_wall2", size=[hole, t / 2, h], pos=[0, hole + t / 2, h], **common)
        body.add_geom(name="socket_wall3", size=[hole, t / 2, h], pos=[0, -hole - t / 2, h], **common)

    def _place_objects(self, rng: np.random.Generator) -> None:
        c = self.config
        peg_xy = self.sample_xy(rng, c.peg_x, c.peg_y)
        socket_xy = self.sample_xy_apart(rng, c.socket_x, c.socket_y, peg_xy, c.min_separation,
                                         "peg and socket (socket_x/socket_y)")
        yaw = rng.uniform(*c.peg_yaw) + self.object_pose_noise(rng)[2]
        self.set_free_pose("peg", np.array([peg_xy[0], peg_xy[1], c.peg_half_length]), yaw)
        sid = self.model.body("socket").mocapid[0]
        self.data.mocap_pos[sid] = [socket_xy[0], socket_xy[1], 0.0]
        s_yaw = rng.uniform(*c.socket_yaw)
        self.data.mocap_quat[sid] = [np.cos(s_yaw / 2), 0.0, 0.0, np.sin(s_yaw / 2)]

    @property
    def socket_pos(self) -> np.ndarray:
        """(3,) centre of the socket's opening at table height, m."""
        return self.data.mocap_pos[self.model.body("socket").mocapid[0]].copy()

    @property
    def socket_yaw(self) -> float:
        """Yaw of the socket, rad."""
        return yaw_of_quat(self.data.mocap_quat[self.model.body("socket").mocapid[0]])

    def peg_bottom(self) -> np.ndarray:
        """(3,) centre of the peg's bottom face, m (follows the peg's tilt)."""
        mat = self.data.xmat[self.model.body("peg").id].reshape(3, 3)
        return self.body_pos("peg") - mat[:, 2] * self.config.peg_half_length

    def goal_markers(self) -> list[GoalMarker]:
        """The socket's opening, where the peg's bottom goes."""
        s = self.socket_pos
        return [GoalMarker((float(s[0]), float(s[1]), float(s[2])), 0.012, label="insert here")]

    def _privileged_spec(self) -> tuple[str, ...]:
        return ("peg_x", "peg_y", "peg_z", "peg_qw", "peg_qx", "peg_qy", "peg_qz",
                "socket_x", "socket_y", "socket_z", "socket_cos_yaw", "socket_sin_yaw")

    def _privileged_state(self) -> np.ndarray:
        yaw = self.socket_yaw
        return np.concatenate([self.body_pos("peg"), self.body_quat("peg"), self.socket_pos, [np.cos(yaw), np.sin(yaw)]])

    def _evaluate(self) -> tuple[dict[str, float], bool]:
        c = self.config
        bottom = self.peg_bottom()
        lateral = float(np.linalg.norm(bottom[:2] - self.socket_pos[:2]))
        depth = c.socket_depth - bottom[2]  # how far the peg's bottom is below the rim
        inside = lateral < c.clearance + 0.002
        success = bool(inside and depth >= c.insert_depth)
        terms = {
            "reach": -float(np.linalg.norm(self.ee_pos - self.body_pos("peg"))),
            "grasp": float(self.grasping("peg")),
            "align": -10.0 * lateral,
            "insert": 20.0 * float(np.clip(depth, 0.0, c.insert_depth)) if inside else 0.0,
            "success": float(success),
        }
        return terms, success
