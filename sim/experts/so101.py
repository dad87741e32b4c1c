"""Scripted experts of the SO-101 tasks: end-effector waypoints + damped least-squares IK.

Each expert has the Teleop interface (`connect`/`disconnect` no-ops, `reset(obs)`,
`get_action(obs) -> TeleopCommand(action (6,) rad)`) and reads privileged sim
state (object poses) through the env it is bound to.

Motion: a commanded gripper-site position moves towards the current waypoint at
`speed` m/s; every tick IK (seeded with the previous solution) turns it into joint
targets with the fingers pointing down and the jaws closing along the grasp yaw.

Multimodality, so demonstrations are not trivially unimodal:
- grasp yaw: any of the cube's four face normals whose IK solution exists is
  drawn at random (the wrist ends up in visibly different rolls);
- approach: the pre-grasp point is offset to a random side of the cube and the
  transport arc bulges left or right at random.
`noise` (rad) is the std of Gaussian noise added to the arm joint targets, and
scales a random waypoint jitter (`noise` * 5 cm).
"""

from __future__ import annotations

import math

import numpy as np

from robot.interfaces import TeleopCommand
from sim.ik import solve_ik
from sim.so101_scene import EE_SITE, GRIPPER_CLOSED, GRIPPER_OPEN, IK_JOINTS, down_quat, yaw_of_quat

WRIST_ROLL_LIMITS = (-2.6, 2.7)  # rad, a margin inside the MJCF range


class _Waypoint:
    """A target for the gripper site: position (3,) m, gripper command (rad), hold ticks, tolerance m."""

    def __init__(self, pos, gripper: float, hold: int = 0, tol: float = 0.01, speed: float | None = None,
                 must_hold: bool = False):
        self.must_hold = must_hold  # the object must stay grasped here, else the expert re-plans
        self.pos = np.asarray(pos, dtype=float)
        self.gripper = gripper
        self.hold = hold
        self.tol = tol
        self.speed = speed


class SO101PickExpert:
    """Shared machinery: waypoint following with IK; subclasses build the waypoint list."""

    speed = 0.25  # m/s of the commanded gripper site
    grasp_margin = 0.006  # m between the static finger and the object's face before closing
    max_replans = 3

    def __init__(self, env, seed: int = 0, noise: float = 0.0, speed: float | None = None):
        self.env = env
        self.rng = np.random.default_rng(seed)
        self.noise = float(noise)
        if speed is not None:
            self.speed = float(speed)
        self.waypoints: list[_Waypoint] = []
        self.yaw = 0.0
        self.offset = np.zeros(3)

    # Teleop interface -------------------------------------------------------
    def connect(self) -> None:
        """Nothing to connect: the expert reads the env directly."""

    def disconnect(self) -> None:
        """Nothing to disconnect."""

    def reset(self, obs: dict) -> None:
        """Plan the episode's waypoints from the env's privileged state."""
        env = self.env
        self.q_seed = env.joint_positions[:5]
        self.yaw = 0.0
        self.offset = np.zeros(3)
        self.cmd_pos = env.ee_pos
        self.gripper = float(env.joint_positions[5])  # open only once raised: the opening jaw sweeps forward
        self.index = 0
        self.held = 0
        self.lost = 0
        self.replans = 0
        self.waypoints = self.plan()

    def get_action(self, obs: dict) -> TeleopCommand:
        """(6,) joint targets for this tick (rad)."""
        env = self.env
        if self.index < len(self.waypoints):
            wp = self.waypoints[self.index]
            step = (wp.speed or self.speed) / env.config.fps
            delta = wp.pos - self.cmd_pos
            dist = np.linalg.norm(delta)
            self.cmd_pos = wp.pos.copy() if dist <= step else self.cmd_pos + delta * (step / dist)
            self.gripper = wp.gripper
            if dist <= step:  # the command has arrived: wait for the arm, at most 30 ticks past `hold`
                self.held += 1
                close = np.linalg.norm(env.ee_pos + self.offset - wp.pos) <= wp.tol
                if (close and self.held > wp.hold) or self.held > wp.hold + 30:
                    self.index += 1
                    self.held = 0
            self.check_grasp(wp.must_hold)
        return self.command(self._ik(self.cmd_pos), self.gripper)

    def check_grasp(self, must_hold: bool) -> None:
        """Re-plan from the current state when the object slipped out of the hand (closed-loop recovery)."""
        if not must_hold or self.env.grasping(self.object_geom):
            self.lost = 0
            return
        self.lost += 1
        if self.lost > 5 and self.replans < self.max_replans:
            self.replans += 1
            self.lost = 0
            self.index = 0
            self.held = 0
            self.waypoints = self.plan()

    def command(self, q: np.ndarray, gripper: float) -> TeleopCommand:
        """Joint targets (5,) + gripper -> TeleopCommand, with the configured joint noise."""
        action = np.concatenate([q, [gripper]])
        if self.noise > 0:
            action[:5] += self.rng.normal(0.0, self.noise, 5)
        return TeleopCommand(action=action.astype(np.float32))

    # helpers ---------------------------------------------------------------
    def _ik(self, pos: np.ndarray) -> np.ndarray:
        # waypoints are grasp centres; the site sits on the static finger's inner face
        env = self.env
        pos = pos - self.offset
        res = solve_ik(env.model, env.data, EE_SITE, pos, down_quat(self.yaw), joints=IK_JOINTS,
                       q_init=self.q_seed, max_iters=30)
        if not res.success:  # vertical fingers unreachable (high targets): keep the position exact
            res = solve_ik(env.model, env.data, EE_SITE, pos, None, joints=IK_JOINTS, q_init=res.qpos, max_iters=30)
        self.q_seed = res.qpos
        return res.qpos

    def choose_yaw(self, object_yaw: float, pos: np.ndarray, half: float, symmetry: int = 4) -> float:
        """A random grasp yaw among the object's `symmetry` equivalent ones that IK can reach."""
        env = self.env
        options = []
        for k in range(symmetry):
            yaw = object_yaw + k * 2 * math.pi / symmetry
            offset = (half + self.grasp_margin) * np.array([math.cos(yaw), math.sin(yaw), 0.0])
            res = solve_ik(env.model, env.data, EE_SITE, pos - offset, down_quat(yaw), joints=IK_JOINTS,
                           q_init=env.joint_positions[:5])
            if res.success and WRIST_ROLL_LIMITS[0] < res.qpos[4] < WRIST_ROLL_LIMITS[1]:
                options.append(yaw)
        if not options:
            return object_yaw
        return float(options[self.rng.integers(len(options))])

    def jitter(self) -> np.ndarray:
        """(3,) random waypoint offset, m (zero when noise is zero)."""
        if self.noise <= 0:
            return np.zeros(3)
        return np.append(self.rng.normal(0.0, 0.05 * self.noise, 2), 0.0)

    def pick_waypoints(self, obj_pos: np.ndarray, obj_yaw: float, grasp_z: float, lift_z: float,
                       half: float | None = None) -> list[_Waypoint]:
        """Approach from a random side, descend, close, lift (positions in m; `half`: object half width)."""
        half = self.env.config.cube_half_size if half is None else half
        self.yaw = self.choose_yaw(obj_yaw, np.array([obj_pos[0], obj_pos[1], grasp_z]), half)
        # the static finger's inner face (the site) goes just outside the object's face; the moving
        # jaw then pushes the object against it
        self.offset = (half + self.grasp_margin) * np.array([math.cos(self.yaw), math.sin(self.yaw), 0.0])
        side = self.rng.uniform(-1, 1, 2) * 0.03  # multimodal approach direction
        above = np.array([obj_pos[0], obj_pos[1], grasp_z + 0.07])
        # rise straight up first: the rest pose's fingertips are lower than a standing peg's top
        rise = self.cmd_pos.copy()
        rise[2] = max(rise[2], above[2])
        return [
            _Waypoint(rise, self.gripper, tol=0.03),
            _Waypoint(above + np.append(side, 0.02) + self.jitter(), GRIPPER_OPEN, tol=0.03),
            _Waypoint(above, GRIPPER_OPEN, tol=0.01),
            _Waypoint([obj_pos[0], obj_pos[1], grasp_z], GRIPPER_OPEN, hold=2, tol=0.006, speed=0.15),
            _Waypoint([obj_pos[0], obj_pos[1], grasp_z], GRIPPER_CLOSED, hold=8, tol=0.02),
            _Waypoint([obj_pos[0], obj_pos[1], lift_z], GRIPPER_CLOSED, tol=0.02, speed=0.15, must_hold=True),
        ]

    def plan(self) -> list[_Waypoint]:
        """The episode's waypoints from the env's current privileged state (also used to re-plan)."""
        raise NotImplementedError


class SO101LiftExpert(SO101PickExpert):
    """Picks the cube of so101_lift and holds it up."""

    def plan(self) -> list[_Waypoint]:
        """Pick the cube, lift it `lift_height` + 4 cm and hold it there."""
        env = self.env
        self.object_geom = "cube"
        cube = env.body_pos("cube")
        h = env.config.cube_half_size
        wps = self.pick_waypoints(cube, yaw_of_quat(env.body_quat("cube")), h, h + env.config.lift_height + 0.04)
        wps[-1].hold = 1000  # keep holding until the episode ends
        return wps


class SO101PlaceExpert(SO101PickExpert):
    """Picks the cube of so101_place and puts it down on the target."""

    def place_waypoints(self, target: np.ndarray, release_z: float) -> list[_Waypoint]:
        """Carry along an arc bulging to a random side, lower onto `target` (3,) m, open, retreat."""
        start = self.waypoints_end
        mid = (start + target) / 2
        direction = target[:2] - start[:2]
        normal = np.array([-direction[1], direction[0]]) / (np.linalg.norm(direction) + 1e-9)
        mid[:2] += normal * self.rng.choice([-1.0, 1.0]) * self.rng.uniform(0.01, 0.04)
        mid[2] = start[2]
        above = np.array([target[0], target[1], start[2]])
        down = np.array([target[0], target[1], release_z])
        return [
            _Waypoint(mid + self.jitter() * 0.5, GRIPPER_CLOSED, tol=0.03, must_hold=True),
            _Waypoint(above, GRIPPER_CLOSED, tol=0.01, must_hold=True),
            _Waypoint(down, GRIPPER_CLOSED, hold=2, tol=0.01, speed=0.12, must_hold=True),
            _Waypoint(down, GRIPPER_OPEN, hold=6, tol=0.03),
            _Waypoint(down + [0, 0, 0.06], GRIPPER_OPEN, hold=1000, tol=0.03),
        ]

    def plan(self) -> list[_Waypoint]:
        """Pick `env.pick_body`, carry it over `env.target_pos`, lower, release, retreat."""
        env = self.env
        self.object_geom = env.pick_body
        cube = env.body_pos(env.pick_body)
        h = env.config.cube_half_size
        wps = self.pick_waypoints(cube, yaw_of_quat(env.body_quat(env.pick_body)), h, h + 0.08)
        self.waypoints_end = wps[-1].pos
        target = env.target_pos
        return wps + self.place_waypoints(target, target[2] + h + 0.006)


class SO101MultiExpert(SO101PlaceExpert):
    """Follows so101_multi's instruction: picks the named cube, lifts it or places it on the named zone."""

    def plan(self) -> list[_Waypoint]:
        """Lift or place the instructed cube, per `env.goal_kind` and `env.pick_body`."""
        env = self.env
        if env.goal_kind == "lift":
            self.object_geom = env.pick_body
            cube = env.body_pos(env.pick_body)
            h = env.config.cube_half_size
            wps = self.pick_waypoints(cube, yaw_of_quat(env.body_quat(env.pick_body)), h, h + env.config.lift_height + 0.04)
            wps[-1].hold = 1000
            return wps
        return super().plan()
