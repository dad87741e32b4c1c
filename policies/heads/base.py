"""The shared generative action head interface and the denoiser-network interface.

Diffusion, flow matching and the VLA action expert all implement
`GenerativeHead`, so RL fine-tuning (latent-noise steering) and real-time
inference treat them alike:

    loss(actions (B, Ta, Da) normalized, cond, mask (B, Ta) bool or None) -> (loss, metrics)
    sample(cond, noise (B, Ta, Da) or None, steps or None, init=None) -> (B, Ta, Da) normalized

`cond` is a global vector (B, Dc) or a token sequence (B, L, Dc), whichever the
network accepts. The network splits its work into `prepare(cond)`, run once
per chunk, and `step(x, t, ctx)`, run once per denoising step, so the
observation is encoded once per chunk, not once per step.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class SinusoidalTimeEmbedding(nn.Module):
    """t (N,) float (diffusion step index or 1000 * flow time) -> (N, dim) sin/cos features."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        half = dim // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / max(half - 1, 1))
        self.register_buffer("freqs", freqs, persistent=False)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        """(N,) -> (N, dim)."""
        arg = t.float()[:, None] * self.freqs[None, :]
        return torch.cat([arg.sin(), arg.cos()], dim=-1)


class DenoiserNet(nn.Module):
    """A network predicting noise, sample or velocity for an action chunk.

    Subclasses implement `prepare(cond) -> ctx` (everything that depends only on
    the observation) and `step(x (B, Ta, Da), t (B,), ctx) -> (B, Ta, Da)`.
    """

    accepts_tokens: bool = False

    def prepare(self, cond: torch.Tensor) -> Any:
        """Per-chunk context from the conditioning (B, Dc) or (B, L, Dc)."""
        raise NotImplementedError

    def step(self, x: torch.Tensor, t: torch.Tensor, ctx: Any) -> torch.Tensor:
        """One network evaluation: x (B, Ta, Da), t (B,) -> (B, Ta, Da)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Training path: `step(x, t, prepare(cond))`."""
        return self.step(x, t, self.prepare(cond))


class GenerativeHead(nn.Module):
    """Shared interface of the diffusion and flow heads over normalized action chunks."""

    def __init__(self, net: DenoiserNet, horizon: int, action_dim: int) -> None:
        super().__init__()
        self.net = net
        self.horizon = horizon
        self.action_dim = action_dim

    def loss(
        self, actions: torch.Tensor, cond: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Training loss on normalized actions (B, Ta, Da); mask (B, Ta) True where the action counts."""
        raise NotImplementedError

    def sample(
        self,
        cond: torch.Tensor,
        noise: torch.Tensor | None = None,
        steps: int | None = None,
        init: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Normalized chunk (B, Ta, Da) from `noise` (drawn when None) in `steps` steps.

        `init` (B, Ta, Da) warm-starts from a previous chunk: it is re-noised
        part way and only the rest of the path is integrated.
        """
        raise NotImplementedError

    def _noise_like(self, cond: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        b = cond.shape[0]
        shape = (b, self.horizon, self.action_dim)
        if noise is None:
            return torch.randn(shape, device=cond.device, dtype=cond.dtype)
        if tuple(noise.shape) != shape:
            raise ValueError(f"noise has shape {tuple(noise.shape)}, expected (B, Ta, Da) = {shape}")
        return noise.to(device=cond.device, dtype=cond.dtype)


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean squared error over (B, Ta, Da), counting only steps where mask (B, Ta) is True."""
    if mask is None:
        return F.mse_loss(pred, target)
    err = (pred - target).pow(2)
    w = mask.to(err.dtype)[..., None].expand_as(err)
    return (err * w).sum() / w.sum().clamp_min(1.0)
