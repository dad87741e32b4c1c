"""Joint units of lerobot arms <-> the MuJoCo twin's radians, and the twin's body spec.

lerobot reports and accepts the five body joints in degrees from the middle
of each joint's calibrated range (`use_degrees=True`) or in [-100, 100] of
that range (`use_degrees=False`), and the gripper in [0, 100] of its range
(0 closed). The twin (sim/so101_scene.py, "new calibration" MJCF) has joint
zero at mid-range too, so in degrees mode a body joint maps as

    rad = sign * radians(deg) + offset          (sign 1, offset 0 by default)

and in range mode linearly onto the twin's joint limits. The gripper maps
linearly from [0, 100] onto the twin's gripper range (-0.17 closed .. 1.75 open).
Commands are clipped to the twin's limits before conversion, so a policy
trained on the twin sees the same numbers on the real arm.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import numpy as np

from robot import keys as K
from robot.specs import ArraySpec, BodySpec

JOINTS = ("shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper")
"""lerobot motor names of SO-100/SO-101/Koch followers, in the twin's action order."""


@functools.lru_cache(maxsize=1)
def twin_joint_limits() -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(low, high) of the twin's six position actuators, rad, read from the SO-101 MJCF."""
    from sim.so101_scene import ARM_JOINTS, so101_spec

    model = so101_spec().compile()
    rng = np.array([model.actuator(n).ctrlrange for n in ARM_JOINTS], dtype=np.float64)
    return tuple(float(v) for v in rng[:, 0]), tuple(float(v) for v in rng[:, 1])


def twin_body_spec(name: str, fps: float, cameras: Mapping[str, tuple[int, int, int]] | None = None) -> BodySpec:
    """The BodySpec of an arm matching the SO-101 twin: state (6,) and action (6,) in rad, plus cameras (H, W, C)."""
    low, high = twin_joint_limits()
    obs = {K.STATE: ArraySpec((6,), "float32", "rad, m", JOINTS)}
    for cam, shape in (cameras or {}).items():
        obs[K.image_key(cam)] = ArraySpec(tuple(shape), "uint8")
    return BodySpec(name, obs, ArraySpec((6,), "float32", "rad", JOINTS), float(fps), low, high)


class JointMap:
    """Converts between lerobot readings (`{motor}.pos`) and (6,) twin joint vectors, rad.

    low/high: the twin's joint limits (6,), rad. use_degrees: lerobot's body-joint units.
    signs / offsets_rad: per body joint (5,), twin = sign * lerobot + offset (degrees mode).
    """

    def __init__(self, low: Sequence[float], high: Sequence[float], use_degrees: bool = True,
                 signs: Sequence[float] = (1.0,) * 5, offsets_rad: Sequence[float] = (0.0,) * 5) -> None:
        self.low = np.asarray(low, dtype=np.float64)
        self.high = np.asarray(high, dtype=np.float64)
        if self.low.shape != (6,) or self.high.shape != (6,):
            raise ValueError(f"JointMap needs 6 joint limits, got {self.low.shape} / {self.high.shape}")
        if len(signs) != 5 or len(offsets_rad) != 5:
            raise ValueError(f"signs and offsets_rad need 5 values each (body joints), got {len(signs)} / {len(offsets_rad)}")
        if any(s not in (1.0, -1.0) for s in signs):
            raise ValueError(f"signs must be +1 or -1, got {tuple(signs)}")
        self.use_degrees = use_degrees
        self.signs = np.asarray(signs, dtype=np.float64)
        self.offsets = np.asarray(offsets_rad, dtype=np.float64)

    def to_twin(self, reading: Mapping[str, float]) -> np.ndarray:
        """(6,) float32 rad from a lerobot reading `{motor}.pos` (degrees or %, gripper 0..100)."""
        missing = [m for m in JOINTS if f"{m}.pos" not in reading]
        if missing:
            raise KeyError(f"arm reading lacks {[m + '.pos' for m in missing]}; got {sorted(reading)}")
        vals = np.array([reading[f"{m}.pos"] for m in JOINTS], dtype=np.float64)
        out = np.empty(6)
        if self.use_degrees:
            out[:5] = self.signs * np.radians(vals[:5]) + self.offsets
        else:
            out[:5] = self.low[:5] + (vals[:5] + 100.0) / 200.0 * (self.high[:5] - self.low[:5])
        out[5] = self.low[5] + vals[5] / 100.0 * (self.high[5] - self.low[5])
        return out.astype(np.float32)

    def to_lerobot(self, q: np.ndarray) -> dict[str, float]:
        """`{motor}.pos` command in lerobot units from (6,) twin rad (clipped to the twin's limits first)."""
        q = np.clip(np.asarray(q, dtype=np.float64).reshape(6), self.low, self.high)
        vals = np.empty(6)
        if self.use_degrees:
            vals[:5] = np.degrees(self.signs * (q[:5] - self.offsets))
        else:
            vals[:5] = (q[:5] - self.low[:5]) / (self.high[:5] - self.low[:5]) * 200.0 - 100.0
        vals[5] = (q[5] - self.low[5]) / (self.high[5] - self.low[5]) * 100.0
        return {f"{m}.pos": float(v) for m, v in zip(JOINTS, vals, strict=True)}
