"""Scripted PushT expert: quasi-static pushing planner on the privileged block pose.

Each tick (10 Hz) it
1. computes the pose error of the T (centroid xy in m, angle in rad) to the goal;
2. scores candidate contacts on the T's outline (points every 6 mm on the eight
   reachable edges, pushing along the inward normal) by how well the twist they
   would cause matches the twist that removes the error. The twist of a normal
   push at contact offset r from the centroid is (d, (r x d) / c^2) under the
   ellipsoidal limit-surface model of quasi-static pushing (c = LIMIT_C);
3. keeps the current contact while it stays nearly as good (hysteresis, so it
   does not dither), otherwise picks among the near-best contacts at random
   (seeded), which gives genuinely different strategies across episodes: push
   the bar from either end, or the stem from either side;
4. routes the pusher to a stand-off point beside the contact around the block
   (straight when clear, else through waypoints on a circle around the T), then
   pushes through the contact by a distance that shrinks with the error.

`noise` adds Gaussian jitter (std in m) to every commanded target, like a hand.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from robot.interfaces import TeleopCommand
from sim.pusht import PUSHER_RADIUS, T_CENTROID, T_RECTS, WORKSPACE, point_in_t

LIMIT_C = 0.04
"""Limit-surface length (m): torque/force ratio of the T sliding on its floor (~ its gyration radius)."""

ANGLE_WEIGHT = (0.04, 0.09)
"""Range of metres per radian when comparing angle with position errors, drawn per
episode: low values translate first and rotate late, high values the reverse."""

CONTACT_SPACING = 0.006
"""Spacing (m) of candidate contacts along the T's edges."""

STANDOFF = 0.008
"""Gap (m) between pusher and block when lining up a push."""



def _outline_contacts() -> tuple[np.ndarray, np.ndarray]:
    """Candidate contacts in the block frame: points (K, 2) m and outward unit normals (K, 2)."""
    (bx0, by0, bx1, by1), (sx0, sy0, sx1, sy1) = T_RECTS
    # edges: (start, end, outward normal); the bar's underside is split around the stem
    edges = [
        ((bx0, by0), (bx1, by0), (0.0, -1.0)),
        ((bx1, by0), (bx1, by1), (1.0, 0.0)),
        ((bx0, by0), (bx0, by1), (-1.0, 0.0)),
        ((bx0, by1), (sx0, by1), (0.0, 1.0)),
        ((sx1, by1), (bx1, by1), (0.0, 1.0)),
        ((sx1, sy0), (sx1, sy1), (1.0, 0.0)),
        ((sx0, sy0), (sx0, sy1), (-1.0, 0.0)),
        ((sx0, sy1), (sx1, sy1), (0.0, 1.0)),
    ]
    points, normals = [], []
    for (x0, y0), (x1, y1), n in edges:
        length = math.hypot(x1 - x0, y1 - y0)
        k = max(1, int(length / CONTACT_SPACING))
        for i in range(k + 1):
            t = 0.1 + 0.8 * i / k  # keep off the corners, where the normal is ill-defined
            p = (x0 + t * (x1 - x0), y0 + t * (y1 - y0))
            standoff = (p[0] + n[0] * (PUSHER_RADIUS + STANDOFF), p[1] + n[1] * (PUSHER_RADIUS + STANDOFF))
            if point_in_t(standoff, (0.0, 0.0, 0.0), margin=PUSHER_RADIUS + 0.003):
                continue  # the pusher cannot reach it (inner corners of the T)
            points.append(p)
            normals.append(n)
    return np.array(points), np.array(normals)


_CONTACTS, _NORMALS = _outline_contacts()


def _wrap(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi


def _inflated_boxes(margin: float) -> list[tuple[float, float, float, float]]:
    """The T's rectangles (block frame) grown by `margin` (m) on every side."""
    return [(x0 - margin, y0 - margin, x1 + margin, y1 + margin) for x0, y0, x1, y1 in T_RECTS]


def _corner_nodes(margin: float) -> list[np.ndarray]:
    """Corners of the rectangles grown by `margin`: the visibility-graph nodes."""
    return [np.array(p) for x0, y0, x1, y1 in _inflated_boxes(margin) for p in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))]


def _in_box(p: np.ndarray, box: tuple[float, float, float, float]) -> bool:
    return box[0] < p[0] < box[2] and box[1] < p[1] < box[3]


def _segment_hits_box(a: np.ndarray, b: np.ndarray, box: tuple[float, float, float, float]) -> bool:
    """True when segment a-b passes through the open box (Liang-Barsky clipping)."""
    t0, t1 = 0.0, 1.0
    d = b - a
    for p, q in ((-d[0], a[0] - box[0]), (d[0], box[2] - a[0]), (-d[1], a[1] - box[1]), (d[1], box[3] - a[1])):
        if abs(p) < 1e-12:
            if q <= 0:
                return False
            continue
        t = q / p
        if p < 0:
            t0 = max(t0, t)
        else:
            t1 = min(t1, t)
        if t0 >= t1 - 1e-9:
            return False
    return True


def _shortest_path(nodes: list[np.ndarray], boxes: list) -> list[int] | None:
    """Dijkstra from node 0 to node 1 over the segments that miss every box; node indices or None."""
    n = len(nodes)
    dist = [math.inf] * n
    prev = [-1] * n
    dist[0] = 0.0
    done = [False] * n
    for _ in range(n):
        u = min((i for i in range(n) if not done[i]), key=lambda i: dist[i], default=None)
        if u is None or dist[u] == math.inf:
            return None
        if u == 1:
            break
        done[u] = True
        for v in range(n):
            if done[v] or v == u:
                continue
            w = dist[u] + float(np.linalg.norm(nodes[v] - nodes[u]))
            if w < dist[v] and not any(_segment_hits_box(nodes[u], nodes[v], b) for b in boxes):
                dist[v], prev[v] = w, u
    if dist[1] == math.inf:
        return None
    path = [1]
    while path[-1] != 0:
        path.append(prev[path[-1]])
    return path[::-1]


class PushTExpert:
    """Scripted expert with the Teleop interface for `sim.pusht.PushTEnv`.

    get_action(obs) -> TeleopCommand(action=(2,) pusher target in m). Reads
    the privileged block pose through `env.block_pose()`.
    """

    def __init__(self, env: Any, seed: int = 0, noise: float = 0.0) -> None:
        inner = getattr(env, "unwrapped", env)
        if not hasattr(inner, "block_pose"):
            raise TypeError(f"PushTExpert needs a sim.pusht.PushTEnv, got {type(env).__name__}")
        if noise < 0:
            raise ValueError(f"PushTExpert: noise must be >= 0 (std in m), got {noise}")
        self.env = inner
        self.noise = float(noise)
        self.rng = np.random.default_rng(seed)
        self._contact: int | None = None
        self._pushing = False
        self._speed = 0.05
        self._angle_weight = 0.06

    # ---------------------------------------------------------- teleop API
    def connect(self) -> None:
        """Nothing to connect: the expert lives in-process."""

    def disconnect(self) -> None:
        """Nothing to release."""

    def reset(self, obs: Any = None) -> None:
        """Forget the current contact; draw this episode's style (approach speed, rotate-vs-translate)."""
        self._contact = None
        self._pushing = False
        self._speed = float(self.rng.uniform(0.04, 0.07))
        self._angle_weight = float(self.rng.uniform(*ANGLE_WEIGHT))

    def get_action(self, obs: Any = None) -> TeleopCommand:
        """(2,) float32 pusher target (m) for the current sim state."""
        target = self._plan()
        if self.noise > 0:
            target = target + self.rng.normal(0.0, self.noise, 2)
        target = np.clip(target, -WORKSPACE, WORKSPACE)
        return TeleopCommand(action=target.astype(np.float32))

    # ------------------------------------------------------------ planning
    def _plan(self) -> np.ndarray:
        pose = self.env.block_pose()
        goal = self.env.goal_pose
        pusher = np.array(self.env.pusher_xy())
        c, s = math.cos(pose[2]), math.sin(pose[2])
        rot = np.array([[c, -s], [s, c]])
        centroid = np.array(pose[:2]) + rot @ T_CENTROID
        gc, gs = math.cos(goal[2]), math.sin(goal[2])
        goal_centroid = np.array(goal[:2]) + np.array([[gc, -gs], [gs, gc]]) @ T_CENTROID
        e_pos = goal_centroid - centroid
        e_ang = _wrap(goal[2] - pose[2])
        w = self._angle_weight
        err = math.hypot(*e_pos) + w * abs(e_ang)

        points = np.array(pose[:2]) + _CONTACTS @ rot.T  # (K, 2) world
        normals = _NORMALS @ rot.T
        push = -normals
        r = points - centroid
        omega = (r[:, 0] * push[:, 1] - r[:, 1] * push[:, 0]) / LIMIT_C**2
        twist = np.concatenate([push, w * omega[:, None]], axis=1)
        want = np.array([e_pos[0], e_pos[1], w * e_ang])
        score = twist @ want / (np.linalg.norm(twist, axis=1) * (np.linalg.norm(want) + 1e-9))
        standoffs = points + normals * (PUSHER_RADIUS + STANDOFF)
        reachable = np.all(np.abs(standoffs) < WORKSPACE - 0.005, axis=1)
        score = np.where(reachable, score, -2.0)

        k = self._contact
        if k is None or score[k] < max(0.3, score.max() - 0.25):
            k = int(self.rng.choice(np.flatnonzero(score >= score.max() - 0.08)))
        # fall back to lower-scored contacts when walls hide the chosen one
        fallbacks = [int(i) for i in np.argsort(-score)[:16] if i != k and score[i] > -2.0]
        for cand in [k, *fallbacks]:
            target = self._towards_contact(cand, pusher, points, normals, standoffs, pose, err)
            if target is not None:
                return target
        self._contact, self._pushing = None, False
        return pusher  # boxed in everywhere (never seen): hold still and replan next tick

    def _towards_contact(self, k: int, pusher: np.ndarray, points: np.ndarray, normals: np.ndarray,
                         standoffs: np.ndarray, pose: tuple[float, float, float], err: float) -> np.ndarray | None:
        """Target that lines up on (or pushes through) contact `k`; None when it cannot be reached."""
        if k != self._contact:
            self._contact, self._pushing = k, False
        push = -normals[k]
        contact_pusher = points[k] + normals[k] * PUSHER_RADIUS  # pusher centre touching the contact
        lateral = abs(float(np.dot(pusher - contact_pusher, (push[1], -push[0]))))
        depth = float(np.dot(pusher - contact_pusher, normals[k]))
        if self._pushing and (lateral > 0.01 or depth > STANDOFF + 0.01):
            self._pushing = False  # slid off the contact: line up again
        if not self._pushing and lateral < 0.004 and -0.003 < depth < STANDOFF + 0.004:
            self._pushing = True
        if self._pushing:
            # push through the contact; the lead sets the speed (the PD lags ~ 0.5 lead per tick)
            lead = float(np.clip(1.2 * err, 0.004, 0.03))
            return contact_pusher + push * lead
        return self._route(pusher, standoffs[k], pose)

    def _route(self, pusher: np.ndarray, standoff: np.ndarray,
               pose: tuple[float, float, float]) -> np.ndarray | None:
        """Next target on the shortest collision-free path from the pusher to `standoff`.

        The obstacle is the T's two rectangles grown by the pusher radius plus a
        margin; the path is the shortest in the visibility graph of their corners
        (exact segment-box tests) through nodes inside the workspace, and the
        target is a carrot `lead` metres along it. None when no path exists.
        """
        c, s = math.cos(pose[2]), math.sin(pose[2])
        rot = np.array([[c, -s], [s, c]])
        origin = np.array(pose[:2])
        to_local = lambda p: (np.asarray(p) - origin) @ rot  # noqa: E731  (world -> block frame)
        start, goal = to_local(pusher), to_local(standoff)
        boxes = _inflated_boxes(PUSHER_RADIUS + 0.002)
        inside = [b for b in boxes if _in_box(start, b)]
        if inside:
            # touching the block (after a push): back off along the outward normal first
            x0, y0, x1, y1 = inside[0]
            gaps = [start[0] - x0, x1 - start[0], start[1] - y0, y1 - start[1]]
            out = [(-1, 0), (1, 0), (0, -1), (0, 1)][int(np.argmin(gaps))]
            return pusher + rot @ np.array(out, dtype=float) * 0.02
        corners = [v for v in _corner_nodes(PUSHER_RADIUS + 0.008) if not any(_in_box(v, b) for b in boxes)]
        corners = [v for v in corners if np.all(np.abs(origin + rot @ v) < WORKSPACE - 0.003)]
        nodes = [start, goal, *corners]
        path = _shortest_path(nodes, boxes)
        if path is None:
            return None
        world = [origin + rot @ nodes[i] for i in path]
        return self._carrot(pusher, world, pose)

    def _carrot(self, pusher: np.ndarray, path: list[np.ndarray], pose: tuple[float, float, float]) -> np.ndarray:
        """Point `lead` along `path`, pulled back until the straight move to it is clear."""
        lead = self._speed
        boxes = _inflated_boxes(PUSHER_RADIUS + 0.001)
        c, s = math.cos(pose[2]), math.sin(pose[2])
        rot = np.array([[c, -s], [s, c]])
        origin = np.array(pose[:2])
        local_pusher = (pusher - origin) @ rot
        while True:
            target, left = path[-1], lead
            for a, b in zip(path[:-1], path[1:], strict=False):
                seg = float(np.linalg.norm(b - a))
                if seg >= left:
                    target = a + (b - a) * (left / max(seg, 1e-9))
                    break
                left -= seg
            local_target = (target - origin) @ rot
            if lead <= 0.005 or not any(_segment_hits_box(local_pusher, local_target, b) for b in boxes):
                return target
            lead *= 0.5
