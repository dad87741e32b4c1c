"""Normalization of actions and state inside the policy, from the store's stats.

The stats live in module buffers, so they travel in the checkpoint's
safetensors next to the weights and move with `.to(device)`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

_EPS_RANGE = 1e-4
"""Below this range (robot units) a dimension is treated as constant: it maps to 0."""


class Normalizer(nn.Module):
    """Maps one key's raw values to a normalized range and back.

    mode "min_max": [min, max] -> [-1, 1]; "mean_std": (x - mean) / std.
    A dimension whose range (or std) is below 1e-4 is constant in the data: it
    normalizes to 0 and unnormalizes to its recorded value (min or mean) instead
    of dividing by ~0. Shapes: stats are (D,), inputs (..., D).
    """

    def __init__(self, key: str, stats: Mapping[str, np.ndarray], mode: str = "min_max") -> None:
        super().__init__()
        if mode not in ("min_max", "mean_std"):
            raise ValueError(f"normalization mode {mode!r} must be 'min_max' or 'mean_std'")
        needed = ("min", "max") if mode == "min_max" else ("mean", "std")
        missing = [n for n in needed if n not in stats]
        if missing:
            raise KeyError(
                f"stats for {key!r} lack {missing}; pass the store's EpisodeStore.stats() "
                f"which gives min/max/mean/std per key"
            )
        arrays = [np.asarray(stats[n], dtype=np.float64).reshape(-1) for n in needed]
        if not all(np.isfinite(a).all() for a in arrays):
            raise ValueError(f"stats for {key!r} contain NaN or inf; recompute the store's stats")
        if mode == "min_max":
            lo, hi = arrays
            span = hi - lo
            constant = span < _EPS_RANGE
            scale = np.where(constant, 1.0, 2.0 / np.maximum(span, _EPS_RANGE))
            offset = np.where(constant, lo, (hi + lo) / 2.0)
        else:
            mean, std = arrays
            constant = std < _EPS_RANGE
            scale = np.where(constant, 1.0, 1.0 / np.maximum(std, _EPS_RANGE))
            offset = mean
        self.key = key
        self.mode = mode
        # normalized = (x - offset) * scale; constant dims get scale 1 and offset = value -> 0
        self.register_buffer("offset", torch.as_tensor(offset, dtype=torch.float32))
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))

    @property
    def dim(self) -> int:
        """D, the size of the last axis this normalizer expects."""
        return int(self.offset.shape[0])

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Raw (..., D) -> normalized (..., D)."""
        return (x - self.offset) * self.scale

    def unnormalize(self, x: torch.Tensor) -> torch.Tensor:
        """Normalized (..., D) -> raw (..., D)."""
        return x / self.scale + self.offset


def stats_to_json(stats: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, dict[str, list]]:
    """Store stats {key: {stat: array}} -> JSON-ready lists."""
    return {k: {n: np.asarray(v).tolist() for n, v in d.items()} for k, d in stats.items()}


def stats_from_json(data: Mapping[str, Mapping[str, list]]) -> dict[str, dict[str, np.ndarray]]:
    """Inverse of `stats_to_json` (float32 arrays)."""
    return {k: {n: np.asarray(v, dtype=np.float32) for n, v in d.items()} for k, d in data.items()}
