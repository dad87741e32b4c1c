"""VLA-style policy: language, camera and state tokens into a transformer trunk,
with a flow-matching action expert that cross-attends to the trunk's tokens.

Layout (pi0-like, small): one language token from a frozen MiniLM sentence
embedding, a grid of spatial tokens per camera per observation step from the
GroupNorm ResNet, one token per state key per step; learned slot embeddings
tell them apart. With `vla.language_film` (the presets' default) language also
modulates everything: the MiniLM embedding is standardized per dimension
(running batch statistics; sentences differing in one colour word have cosine
~0.9, so raw, the colour signal is a small part of a near-constant vector),
an MLP maps it to a language vector that is added to every token and gives
per-layer FiLM (scale, shift) of the trunk's tokens and of its output, so the
action expert's cross-attention memory carries the instruction in every token
and the state tokens cannot stand in for it. The trunk runs once per chunk; only the action expert runs
per Euler step (its cross-attention keys/values are cached, see
`heads/transformer.py`).

With `vla.grounding` (the so101_multi presets) the trunk is instead the
`GroundedTrunk` of `policies/vla_tokens.py`: one token per object (state grouped
by the spec's feature names) and per image patch, and language query tokens
that cross-attend over them as pointers for the colour and the goal.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from policies.encoders import ResNetBackbone, StateEncoder, crop_images, images_to_float
from policies.heads import GenerativeHead, make_head
from policies.language import SentenceEncoder
from policies.policy import GenerativePolicy, module_name
from policies.vla_tokens import GroundedTrunk
from robot.keys import camera_of


class VLATrunk(nn.Module):
    """Tokens of one observation window -> contextualized tokens (B, L, d_model).

    state (B, To, Ds) normalized, images (B, To, H, W, 3) uint8, language (B, 384).
    L = 1 + To * (n_state_keys + n_cameras * image_tokens_per_camera).
    """

    def __init__(self, policy: GenerativePolicy, lang_dim: int) -> None:
        super().__init__()
        cfg, vcfg, ecfg = policy.config, policy.config.vla, policy.config.encoder
        d = vcfg.d_model
        self.state_keys, self.image_keys = policy.state_keys, policy.image_keys
        self.crop_ratio = ecfg.crop_ratio
        self.grid = round(vcfg.image_tokens_per_camera**0.5)
        self.lang_proj = nn.Linear(lang_dim, d)
        self.film = vcfg.language_film
        if self.film:
            self.lang_norm = nn.BatchNorm1d(lang_dim, affine=False)
            self.lang_mlp = nn.Sequential(nn.Linear(lang_dim, d), nn.GELU(), nn.Linear(d, d), nn.LayerNorm(d))
            # One (scale, shift) per trunk layer input and one for the output; zero-init = identity at start.
            self.film_proj = nn.Linear(d, 2 * d * (vcfg.n_layers + 1))
            nn.init.zeros_(self.film_proj.weight)
            nn.init.zeros_(self.film_proj.bias)
        self.state_enc = nn.ModuleDict({
            module_name(k): StateEncoder(
                math.prod(policy.spec.observations[k].shape), ecfg.state_hidden, ecfg.state_out
            )
            for k in self.state_keys
        })
        self.state_proj = nn.ModuleDict({name: nn.Linear(enc.out_dim, d) for name, enc in self.state_enc.items()})
        self.shared = ecfg.shared_image_encoder
        cams = ["shared"] if (self.image_keys and self.shared) else [camera_of(k) for k in self.image_keys]
        self.backbones = nn.ModuleDict({c: ResNetBackbone(ecfg.image_channels, ecfg.image_groups) for c in cams})
        c_last = ecfg.image_channels[-1]
        self.image_proj = nn.ModuleDict({c: nn.Linear(c_last, d) for c in cams})
        to = cfg.n_obs_steps
        n_tokens = 1 + to * (len(self.state_keys) + len(self.image_keys) * self.grid**2)
        self.slots = nn.Parameter(torch.randn(1, n_tokens, d) * 0.02)
        layer = nn.TransformerEncoderLayer(
            d, vcfg.n_heads, 4 * d, vcfg.dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.trunk = nn.TransformerEncoder(layer, vcfg.n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.n_tokens = n_tokens

    def _image_tokens(self, key: str, frames: torch.Tensor) -> torch.Tensor:
        """uint8 (B, To, H, W, 3) -> (B, To * grid^2, d)."""
        b, t = frames.shape[:2]
        cam = "shared" if self.shared else camera_of(key)
        x = images_to_float(crop_images(frames.flatten(0, 1), self.crop_ratio, random=self.training))
        feat = F.adaptive_avg_pool2d(self.backbones[cam](x), self.grid)  # (B*To, C, g, g)
        tokens = self.image_proj[cam](feat.flatten(2).transpose(1, 2))  # (B*To, g*g, d)
        return tokens.reshape(b, t * self.grid**2, -1)

    def forward(self, obs: dict[str, torch.Tensor], lang: torch.Tensor) -> torch.Tensor:
        """Normalized obs window + language embedding (B, 384) -> tokens (B, L, d)."""
        if self.film:
            if self.training and lang.shape[0] > 1:
                lang = self.lang_norm(lang)
            else:  # eval, or a single row in training: running statistics, no update
                lang = F.batch_norm(lang, self.lang_norm.running_mean, self.lang_norm.running_var, training=False)
        parts = [self.lang_proj(lang)[:, None, :]]
        for k in self.state_keys:
            x = obs[k]
            b, t = x.shape[:2]
            name = module_name(k)
            parts.append(self.state_proj[name](self.state_enc[name](x.reshape(b * t, -1))).reshape(b, t, -1))
        for k in self.image_keys:
            parts.append(self._image_tokens(k, obs[k]))
        h = torch.cat(parts, dim=1) + self.slots
        if not self.film:
            return self.norm(self.trunk(h))
        z = self.lang_mlp(lang)  # (B, d)
        h = h + z[:, None, :]
        films = self.film_proj(z)[:, None, :].chunk(2 * (len(self.trunk.layers) + 1), dim=-1)
        for i, layer in enumerate(self.trunk.layers):
            h = layer(h * (1 + films[2 * i]) + films[2 * i + 1])
        return self.norm(h) * (1 + films[-2]) + films[-1] + z[:, None, :]


class VLAPolicy(GenerativePolicy):
    """Language-conditioned flow policy: obs + "instruction" (list of B str) -> (B, Ta, Da)."""

    def _build_encoder(self) -> int:
        vcfg = self.config.vla
        # Not a registered submodule: frozen, shipped by a package, never checkpointed.
        self.language = SentenceEncoder(vcfg.language_model, vcfg.language_device)
        trunk = GroundedTrunk if vcfg.grounding else VLATrunk
        self.encoder = trunk(self, self.language.dim)
        return vcfg.d_model

    def _build_head(self) -> GenerativeHead:
        cfg = self.config
        return make_head("flow", cfg.head, self.spec.action_dim, cfg.horizon, self.cond_dim, network="transformer")

    def encode(self, obs: dict[str, torch.Tensor], instructions: list[str] | None) -> torch.Tensor:
        """Normalized obs + instructions -> trunk tokens (B, L, d_model)."""
        lang = self.language.encode(instructions or [], device=self.device)
        return self.encoder(obs, lang)
