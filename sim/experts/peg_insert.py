"""Scripted expert of peg_insert: pick the peg, align it over the socket, insert with feedback.

Open-loop waypoints cannot meet the 1.5 mm clearance (the position servos sag by
a few mm and the peg sits differently in the hand each time), so after the pick
the expert closes the loop on privileged state: every tick it shifts the
commanded gripper position by a gain times the horizontal error between the
peg's bottom and the socket axis (integral action), and turns the wrist so the
peg's faces line up with the socket's (modulo 90 degrees). It descends only
while that error is under `align_tol`.
Multimodality and noise as in `sim.experts.so101` (random grasp yaw among the
peg's four faces, random approach side; `noise` rad on the joint targets).
"""

from __future__ import annotations

import math

import numpy as np

from robot.interfaces import TeleopCommand
from sim.experts.so101 import SO101PickExpert, _Waypoint
from sim.so101_scene import GRIPPER_CLOSED, yaw_of_quat


def _wrap_quarter(angle: float) -> float:
    """`angle` (rad) wrapped to [-pi/4, pi/4): square objects repeat every 90 degrees."""
    return (angle + math.pi / 4) % (math.pi / 2) - math.pi / 4


class PegInsertExpert(SO101PickExpert):
    """Teleop-interface expert for peg_insert (reads privileged state through `env`)."""

    gain = 0.5  # fraction of the measured misalignment corrected per tick
    align_tol = 0.0015  # m; descend only when the peg bottom is this close to the socket axis
    descend_speed = 0.04  # m/s
    max_shift = 0.002  # m per tick of feedback correction
    max_turn = 0.05  # rad per tick of wrist alignment

    def __init__(self, env, seed: int = 0, noise: float = 0.0, speed: float | None = None, feedback: bool = True):
        """`feedback=False` inserts open-loop at the socket's nominal position (for ablations: ~0 % success)."""
        super().__init__(env, seed=seed, noise=noise, speed=speed)
        if not feedback:
            self.gain, self.align_tol = 0.0, float("inf")

    def plan(self):
        """Pick waypoints for the peg, then carry it above the socket; insertion follows in get_action."""
        env = self.env
        c = env.config
        self.object_geom = "peg"
        self.cmd_xy = None  # (re)start the insertion controller after this pick
        peg = env.body_pos("peg")
        grasp_z = 2 * c.peg_half_length - 0.012  # grasp centre 12 mm below the peg's top, m above the table
        self.hand_depth = grasp_z  # grasp point height above the peg's bottom
        self.carry_z = grasp_z + c.socket_depth + 0.03
        wps = self.pick_waypoints(peg, yaw_of_quat(env.body_quat("peg")), grasp_z, self.carry_z, half=c.peg_half_width)
        socket = env.socket_pos
        wps.append(_Waypoint([socket[0], socket[1], self.carry_z], GRIPPER_CLOSED, tol=0.01, must_hold=True))
        return wps

    def get_action(self, obs: dict) -> TeleopCommand:
        """(6,) joint targets for this tick (rad)."""
        if self.index < len(self.waypoints):
            return super().get_action(obs)
        env = self.env
        c = env.config
        if self.cmd_xy is None:  # first insertion tick: start from the carry waypoint
            self.cmd_xy = self.cmd_pos[:2].copy()
            self.cmd_z = self.carry_z
        # turn the wrist (rate-limited) until the peg's faces line up with the socket's
        yaw_err = _wrap_quarter(env.socket_yaw - yaw_of_quat(env.body_quat("peg")))
        if env.grasping("peg"):  # a dropped peg's yaw says nothing about the wrist
            self.yaw += float(np.clip(yaw_err, -self.max_turn, self.max_turn))
        err = env.socket_pos[:2] - env.peg_bottom()[:2]
        step = np.clip(self.gain * err, -self.max_shift, self.max_shift)
        # clamp: a dropped peg must not wind the integrator up and drive the arm away
        self.cmd_xy = np.clip(self.cmd_xy + step, env.socket_pos[:2] - 0.03, env.socket_pos[:2] + 0.03)
        final_z = self.hand_depth + c.socket_depth - c.insert_depth - 0.006
        if np.linalg.norm(err) < self.align_tol and abs(yaw_err) < 0.05:
            self.cmd_z = max(final_z, self.cmd_z - self.descend_speed / c.fps)
        target = np.array([self.cmd_xy[0], self.cmd_xy[1], self.cmd_z])
        # self.offset is where the site sits relative to the grasp centre; keep it for the new yaw
        self.offset = np.linalg.norm(self.offset) * np.array([math.cos(self.yaw), math.sin(self.yaw), 0.0])
        q = self._ik(target)
        self.cmd_pos = target
        self.check_grasp(must_hold=env.peg_bottom()[2] > c.socket_depth - c.insert_depth / 2)
        return self.command(q, GRIPPER_CLOSED)
