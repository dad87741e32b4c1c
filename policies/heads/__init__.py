"""Generative action heads and their denoiser networks, behind one factory.

HEADS maps a policy kind to its head class; NETWORKS maps `head.network` to
the denoiser. `make_head` builds both from the config.
"""

from __future__ import annotations

from policies.config import HeadConfig
from policies.heads.base import DenoiserNet, GenerativeHead
from policies.heads.diffusion import DiffusionHead
from policies.heads.flow import FlowHead
from policies.heads.mlp import MLPDenoiser
from policies.heads.transformer import TransformerDenoiser
from policies.heads.unet import ConditionalUnet1D

HEADS: dict[str, type[GenerativeHead]] = {"diffusion": DiffusionHead, "flow": FlowHead}
NETWORKS: dict[str, type[DenoiserNet]] = {
    "unet": ConditionalUnet1D, "transformer": TransformerDenoiser, "mlp": MLPDenoiser
}


def make_network(cfg: HeadConfig, network: str, action_dim: int, horizon: int, cond_dim: int) -> DenoiserNet:
    """The denoiser `network` ("unet", "transformer" or "mlp") for (horizon, action_dim) chunks."""
    if network == "unet":
        return ConditionalUnet1D(
            action_dim, cond_dim, cfg.unet_down_dims, cfg.kernel_size, cfg.n_groups, cfg.time_embed_dim
        )
    if network == "transformer":
        return TransformerDenoiser(
            action_dim, horizon, cond_dim, cfg.d_model, cfg.n_layers, cfg.n_heads, cfg.dropout, cfg.time_embed_dim
        )
    if network == "mlp":
        return MLPDenoiser(action_dim, horizon, cond_dim, cfg.mlp_hidden, cfg.mlp_layers, cfg.time_embed_dim)
    raise KeyError(f"unknown head.network {network!r}; registered: {', '.join(sorted(NETWORKS))}")


def make_head(
    kind: str, cfg: HeadConfig, action_dim: int, horizon: int, cond_dim: int, network: str | None = None
) -> GenerativeHead:
    """Head of `kind` ("diffusion" or "flow") with its denoiser; `network` overrides `cfg.network`."""
    if kind not in HEADS:
        raise KeyError(f"unknown head kind {kind!r}; registered: {', '.join(sorted(HEADS))}")
    net = make_network(cfg, network or cfg.network, action_dim, horizon, cond_dim)
    return HEADS[kind](net, cfg, horizon, action_dim)


__all__ = ["HEADS", "NETWORKS", "DenoiserNet", "GenerativeHead", "make_head", "make_network"]
