"""so101_multi: language-conditioned picking and placing among coloured cubes (SO-101 twin).

Each episode draws a goal (`lift` or `place`) and a target cube colour, and an
instruction phrasing from the configured template split: `train` phrasings for
data collection and training, `heldout` ones kept back to test generalization to
new wording, or `all`. The instruction is in `obs["instruction"]` and
`info["instruction"]`.
Success: lift - the named cube is grasped and `lift_height` up while the others
stay on the table; place - the named cube rests in the bowl, released, and no
other cube is in it. Reward terms: `reach`, `grasp`, `goal` (lift height x10 or
-distance to the bowl x5), `wrong_object` (-1 while another cube is moved/lifted
or put in the bowl), `success`.
Privileged state: per cube (red, green, blue) position (3) + yaw (cos, sin), then
the bowl position (3) -> Ds = 6 + 18. The goal itself is only in the instruction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import mujoco
import numpy as np

from sim.base import GoalMarker
from sim.so101_place import SO101PlaceConfig, SO101PlaceEnv, add_bowl
from sim.so101_scene import add_free_box, yaw_of_quat

COLORS: dict[str, tuple[float, float, float, float]] = {
    "red": (0.85, 0.15, 0.15, 1.0),
    "green": (0.15, 0.7, 0.2, 1.0),
    "blue": (0.15, 0.3, 0.9, 1.0),
}

TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "lift": {
        "train": ("pick up the {color} cube", "lift the {color} block", "grab the {color} cube and raise it"),
        "heldout": ("raise the {color} block off the table", "hold the {color} cube up in the air"),
    },
    "place": {
        "train": ("put the {color} cube in the bowl", "place the {color} block into the bowl",
                  "move the {color} cube to the bowl"),
        "heldout": ("drop the {color} block in the bowl", "the {color} cube goes into the bowl"),
    },
}


@dataclass(frozen=True)
class SO101MultiConfig(SO101PlaceConfig):
    """so101_multi settings (adds to so101_place's).

    goals: which goal kinds episodes draw from ("lift", "place").
    colors: which cubes are in the scene (keys of COLORS); each can be the target.
    instruction_split: "train", "heldout" or "all" phrasings.
    """

    max_steps: int = 250
    goals: tuple[str, ...] = ("lift", "place")
    colors: tuple[str, ...] = ("red", "green", "blue")
    instruction_split: Literal["train", "heldout", "all"] = "train"
    lift_height: float = 0.05
    cube_x: tuple[float, float] = (0.16, 0.26)
    cube_y: tuple[float, float] = (-0.12, 0.12)
    cube_separation: float = 0.065
    bowl_rgba: tuple[float, float, float, float] = (0.75, 0.75, 0.75, 1.0)


class SO101MultiEnv(SO101PlaceEnv):
    """Several coloured cubes and a bowl; the instruction names the cube and the goal."""

    config_cls = SO101MultiConfig
    name = "so101_multi"

    def __init__(self, config=None) -> None:
        cfg = config if config is not None else SO101MultiConfig()
        bad = [c for c in cfg.colors if c not in COLORS] + [g for g in cfg.goals if g not in TEMPLATES]
        if bad or not cfg.colors or not cfg.goals:
            raise ValueError(f"so101_multi: colors must be non-empty from {list(COLORS)} and goals from "
                             f"{list(TEMPLATES)}; got colors={cfg.colors}, goals={cfg.goals}")
        self.goal_kind, self.target_color = cfg.goals[0], cfg.colors[0]
        self.pick_body = f"cube_{self.target_color}"
        # the base resolves these names while compiling, so they must match the configured cubes
        self.dr_geoms = tuple(f"cube_{c}" for c in cfg.colors) + ("table", "bowl_floor")
        self.dr_bodies = tuple(f"cube_{c}" for c in cfg.colors)
        super().__init__(cfg)

    def _templates(self, goal: str) -> tuple[str, ...]:
        split = self.config.instruction_split
        t = TEMPLATES[goal]
        return t["train"] + t["heldout"] if split == "all" else t[split]

    def instructions(self) -> tuple[str, ...]:
        """Every instruction of the configured split, goals and colours."""
        return tuple(tpl.format(color=c) for g in self.config.goals for tpl in self._templates(g) for c in self.config.colors)

    def _add_objects(self, spec: mujoco.MjSpec) -> None:
        c = self.config
        for color in c.colors:
            add_free_box(spec, f"cube_{color}", (c.cube_half_size,) * 3, COLORS[color])
        add_bowl(spec, "bowl", c.bowl_inner_half, c.bowl_wall_height, c.bowl_rgba)

    def _place_objects(self, rng: np.random.Generator) -> None:
        c = self.config
        self.goal_kind = str(rng.choice(c.goals))
        self.target_color = str(rng.choice(c.colors))
        self.pick_body = f"cube_{self.target_color}"
        templates = self._templates(self.goal_kind)
        self.instruction = templates[rng.integers(len(templates))].format(color=self.target_color)
        for _ in range(1000):
            cubes = [self.sample_xy(rng, c.cube_x, c.cube_y) for _ in c.colors]
            bowl = self.sample_xy(rng, c.bowl_x, c.bowl_y)
            apart = all(np.linalg.norm(a - b) >= c.cube_separation for i, a in enumerate(cubes) for b in cubes[:i])
            if apart and all(np.linalg.norm(bowl - a) >= c.min_separation for a in cubes):
                break
        else:
            raise RuntimeError(f"{self.name}: cannot lay out {len(c.colors)} cubes and the bowl with the configured "
                               "separations; widen cube_x/cube_y/bowl_x/bowl_y or lower the separations")
        for color, xy in zip(c.colors, cubes, strict=True):
            yaw = rng.uniform(*c.cube_yaw) + self.object_pose_noise(rng)[2]
            self.set_free_pose(f"cube_{color}", np.array([xy[0], xy[1], c.cube_half_size]), yaw)
        self.data.mocap_pos[self.model.body("bowl").mocapid[0]] = [bowl[0], bowl[1], 0.0]

    def goal_markers(self) -> list[GoalMarker]:
        """Lift goal: the height above the instructed cube; place goal: the bowl's floor."""
        if self.goal_kind != "lift":
            return super().goal_markers()
        cube, c = self.body_pos(self.pick_body), self.config
        return [GoalMarker((float(cube[0]), float(cube[1]), c.cube_half_size + c.lift_height), c.cube_half_size,
                           label=f"lift the {self.target_color} cube here")]

    def _privileged_spec(self) -> tuple[str, ...]:
        names = []
        for color in self.config.colors:
            names += [f"{color}_x", f"{color}_y", f"{color}_z", f"{color}_cos_yaw", f"{color}_sin_yaw"]
        return tuple(names) + ("bowl_x", "bowl_y", "bowl_z")

    def _privileged_state(self) -> np.ndarray:
        parts = []
        for color in self.config.colors:
            yaw = yaw_of_quat(self.body_quat(f"cube_{color}"))
            parts += [self.body_pos(f"cube_{color}"), [np.cos(yaw), np.sin(yaw)]]
        return np.concatenate(parts + [self.target_pos])

    def _evaluate(self) -> tuple[dict[str, float], bool]:
        c = self.config
        cube = self.body_pos(self.pick_body)
        grasped = self.grasping(self.pick_body)
        others = [f"cube_{col}" for col in c.colors if col != self.target_color]
        if self.goal_kind == "lift":
            height = cube[2] - c.cube_half_size
            wrong = any(self.body_pos(o)[2] > c.cube_half_size + 0.01 for o in others)
            goal = 10.0 * float(np.clip(height, 0.0, c.lift_height))
            success = grasped and height >= c.lift_height and not wrong
        else:
            wrong = any(self.in_bowl(o) or self.body_pos(o)[2] > c.cube_half_size + 0.01 for o in others)
            goal = -5.0 * float(np.linalg.norm(cube[:2] - self.target_pos[:2]))
            success = self.in_bowl(self.pick_body) and not grasped and not wrong
        terms = {
            "reach": -float(np.linalg.norm(self.ee_pos - cube)),
            "grasp": float(grasped),
            "goal": goal,
            "wrong_object": -float(wrong),
            "success": float(success),
        }
        return terms, bool(success)
