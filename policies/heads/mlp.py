"""MLP denoiser: the whole (Ta, Da) chunk as one flat vector through a residual MLP.

DPPO and DSRL fine-tune MLP diffusion policies on low-dimensional state: with
no convolutions or attention, a denoising step is a few small GEMMs, so it
is the cheapest network per step on a CPU (benchmarks/bench_inference.py).
The input is concat(chunk, time embedding, condition) through a linear layer;
that linear splits exactly into a condition part, computed once per chunk in
`prepare`, and chunk and time parts, computed every step.
"""

from __future__ import annotations

import torch
from torch import nn

from policies.heads.base import DenoiserNet, SinusoidalTimeEmbedding


class _ResidualBlock(nn.Module):
    """Pre-norm residual MLP block: h + W2 Mish(W1 LayerNorm(h))."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width), nn.Mish(), nn.Linear(width, width))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.net(h)


class MLPDenoiser(DenoiserNet):
    """Denoiser over (B, Ta, Da) chunks conditioned on a global vector (B, Dc).

    hidden: residual width; n_layers: residual blocks; time_embed_dim: width of
    the sinusoidal flow/diffusion-time features.
    """

    def __init__(
        self, action_dim: int, horizon: int, cond_dim: int, hidden: int = 512, n_layers: int = 3, time_embed_dim: int = 64
    ) -> None:
        super().__init__()
        self.horizon, self.action_dim = horizon, action_dim
        flat = horizon * action_dim
        self.time_embed = SinusoidalTimeEmbedding(time_embed_dim)
        self.x_in = nn.Linear(flat, hidden)
        self.t_in = nn.Linear(time_embed_dim, hidden, bias=False)
        self.cond_in = nn.Linear(cond_dim, hidden, bias=False)
        self.blocks = nn.Sequential(*(_ResidualBlock(hidden) for _ in range(n_layers)))
        self.out = nn.Sequential(nn.LayerNorm(hidden), nn.Mish(), nn.Linear(hidden, flat))

    def prepare(self, cond: torch.Tensor) -> torch.Tensor:
        """(B, Dc) -> the condition's share of the input layer (B, hidden)."""
        if cond.dim() != 2:
            raise ValueError(f"the MLP denoiser takes a global condition (B, Dc), got shape {tuple(cond.shape)}")
        return self.cond_in(cond)

    def step(self, x: torch.Tensor, t: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        """x (B, Ta, Da), t (B,) -> (B, Ta, Da)."""
        b = x.shape[0]
        h = self.x_in(x.reshape(b, -1)) + self.t_in(self.time_embed(t)) + ctx
        return self.out(self.blocks(h)).view(b, self.horizon, self.action_dim)
