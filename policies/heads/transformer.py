"""Transformer denoiser: action tokens self-attend and cross-attend to condition tokens.

Used for the transformer variant of diffusion / flow and as the VLA action
expert. The cross-attention keys and values of the condition tokens depend
only on the observation, so `prepare` computes them once per chunk and every
denoising step reuses them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from policies.heads.base import DenoiserNet, SinusoidalTimeEmbedding


class _Attention(nn.Module):
    """Multi-head attention with separate query and key/value projections (cacheable K/V)."""

    def __init__(self, d_model: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.q = nn.Linear(d_model, d_model)
        self.kv = nn.Linear(d_model, 2 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = dropout

    def kv_of(self, mem: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L, d) -> keys and values (B, heads, L, d/heads)."""
        b, n, d = mem.shape
        k, v = self.kv(mem).view(b, n, 2, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        return k, v

    def forward(self, x: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Queries from x (B, T, d) over cached k, v -> (B, T, d)."""
        b, n, d = x.shape
        q = self.q(x).view(b, n, self.n_heads, d // self.n_heads).transpose(1, 2)
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=p)
        return self.out(y.transpose(1, 2).reshape(b, n, d))


class _DecoderLayer(nn.Module):
    """Pre-norm layer: self-attention, cross-attention to condition tokens, MLP."""

    def __init__(self, d_model: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.self_attn = _Attention(d_model, n_heads, dropout)
        self.norm2 = nn.LayerNorm(d_model)
        self.cross_attn = _Attention(d_model, n_heads, dropout)
        self.norm3 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))
        self.drop = nn.Dropout(dropout)

    def forward(self, h: torch.Tensor, mem_k: torch.Tensor, mem_v: torch.Tensor) -> torch.Tensor:
        x = self.norm1(h)
        k, v = self.self_attn.kv_of(x)
        h = h + self.drop(self.self_attn(x, k, v))
        h = h + self.drop(self.cross_attn(self.norm2(h), mem_k, mem_v))
        return h + self.drop(self.mlp(self.norm3(h)))


class TransformerDenoiser(DenoiserNet):
    """Denoiser over (B, Ta, Da) chunks conditioned on (B, Dc) or tokens (B, L, Dc).

    The flow/diffusion time enters as an embedding added to every action token,
    so the cached condition keys/values stay valid across steps.
    """

    accepts_tokens = True

    def __init__(
        self,
        action_dim: int,
        horizon: int,
        cond_dim: int,
        d_model: int = 256,
        n_layers: int = 4,
        n_heads: int = 4,
        dropout: float = 0.0,
        time_embed_dim: int = 128,
    ) -> None:
        super().__init__()
        self.in_proj = nn.Linear(action_dim, d_model)
        self.pos = nn.Parameter(torch.randn(1, horizon, d_model) * 0.02)
        self.time_mlp = nn.Sequential(
            SinusoidalTimeEmbedding(time_embed_dim), nn.Linear(time_embed_dim, d_model), nn.Mish(), nn.Linear(d_model, d_model)
        )
        self.cond_proj = nn.Linear(cond_dim, d_model)
        self.mem_norm = nn.LayerNorm(d_model)
        self.layers = nn.ModuleList(_DecoderLayer(d_model, n_heads, dropout) for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)
        self.out = nn.Linear(d_model, action_dim)
        self.horizon = horizon

    def prepare(self, cond: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Condition tokens -> per-layer cross-attention (keys, values)."""
        if cond.dim() == 2:
            cond = cond[:, None, :]
        if cond.dim() != 3:
            raise ValueError(f"condition must be (B, Dc) or (B, L, Dc), got shape {tuple(cond.shape)}")
        mem = self.mem_norm(self.cond_proj(cond))
        return [layer.cross_attn.kv_of(mem) for layer in self.layers]

    def step(self, x: torch.Tensor, t: torch.Tensor, ctx: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """x (B, Ta, Da), t (B,) -> (B, Ta, Da)."""
        temb = self.time_mlp(t)[:, None, :]
        h = self.in_proj(x) + self.pos + temb
        for layer, (k, v) in zip(self.layers, ctx, strict=True):
            h = layer(h, k, v)
        return self.out(self.norm(h))
