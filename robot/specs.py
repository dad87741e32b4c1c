"""Specs of arrays, bodies and policies: shapes, dtypes, units and joint names.

Shape symbols used across the project: B batch, To observation steps, Ta action
chunk length, Te actions executed per chunk, Da action dim, Ds state dim,
H W C image, L language tokens.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ArraySpec:
    """Shape, dtype, units and per-dimension names of one per-tick array.

    `shape` excludes the time axis: a state of 6 joints is `(6,)`, a camera
    frame `(96, 96, 3)`.
    """

    shape: tuple[int, ...]
    dtype: str = "float32"
    units: str = ""
    names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        object.__setattr__(self, "names", tuple(self.names))
        np.dtype(self.dtype)  # raises TypeError on a bad dtype name
        if self.names and len(self.shape) == 1 and len(self.names) != self.shape[0]:
            raise ValueError(f"{len(self.names)} names for shape {self.shape}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (lists instead of tuples)."""
        d = asdict(self)
        d["shape"] = list(self.shape)
        d["names"] = list(self.names)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ArraySpec:
        """Inverse of `to_dict`."""
        return cls(
            shape=tuple(d["shape"]),
            dtype=d.get("dtype", "float32"),
            units=d.get("units", ""),
            names=tuple(d.get("names", ())),
        )


@dataclass(frozen=True)
class BodySpec:
    """What a body (sim task, twin, physical arm) observes and accepts.

    `observations` maps keys from `robot.keys` (`state`, `images.<camera>`) to
    their specs; `action` is the (Da,) command spec; `fps` the control rate.
    """

    name: str
    observations: dict[str, ArraySpec]
    action: ArraySpec
    fps: float
    action_low: tuple[float, ...] = ()
    action_high: tuple[float, ...] = ()
    instructions: tuple[str, ...] = ()

    @property
    def cameras(self) -> tuple[str, ...]:
        """Camera names, in the order of `observations`."""
        from robot.keys import camera_of, is_image_key

        return tuple(camera_of(k) for k in self.observations if is_image_key(k))


@dataclass(frozen=True)
class PolicySpec:
    """What a policy consumes and produces.

    observations: key -> per-step spec; the policy reads (B, To, *shape).
    Output chunks are (B, Ta, Da); a runtime executes the first Te of them.
    """

    observations: dict[str, ArraySpec]
    action_dim: int
    n_obs_steps: int
    horizon: int
    n_action_steps: int
    fps: float
    uses_instruction: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
