"""Grounded VLA trunk: object and patch tokens that language queries point at.

Why: with all cubes in one state vector behind an MLP, the model must learn a
multiplicative match between a colour word and a slice of that vector, and it
does not (so101_multi stayed at 2-4% while the expert succeeds every time).
Here every object gets its own token and language gets query tokens that
cross-attend over the object / patch tokens, so "which cube" and "where to"
become attention (a pointer) instead of arithmetic on a flat vector.

Tokens of one observation window (B = batch, To = observation steps):
- object tokens: the `state` dims grouped by the spec's feature names
  (`red_x, red_y, red_z, red_cos_yaw, red_sin_yaw` -> one `red` token; names
  without a pose suffix, the arm joints, form one `proprio` token). Groups with
  the same fields share one projection (red, green and blue are encoded alike;
  the learned slot of each token is its identity, what a colour word matches);
- image tokens per camera per step from the small GroupNorm ResNet: a grid of
  average-pooled patches, or (`image_tokens: keypoints`) one token per learned
  spatial-softmax keypoint, its expected (x, y) and the features it attends to
  (what is there and exactly where, e.g. the red cube's centre);
- language: the frozen MiniLM sentence embedding, standardized per dimension,
  gives one language token, `language_queries` query tokens and a vector z.
  The queries cross-attend over the object / patch tokens (the pointer) and join
  the sequence as grounded tokens; z is added to every token and FiLM-modulates
  every trunk layer and the output, so the flow action expert, which
  cross-attends to all output tokens, sees the goal word in each of them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from policies.encoders import ResNetBackbone, crop_images, images_to_float
from robot.keys import camera_of

POSE_FIELDS = ("cos_yaw", "sin_yaw", "x", "y", "z", "qw", "qx", "qy", "qz", "yaw")
"""Per-object feature suffixes: `<object>_<field>` names are grouped into one token per object."""


def state_groups(names: tuple[str, ...], dim: int) -> list[tuple[str, tuple[int, ...], str]]:
    """Group state dims by feature name -> [(group, dim indices, field signature)].

    Names `<obj>_<field>` with a field of POSE_FIELDS form one group per object,
    in order of first appearance; every other dim goes to the `proprio` group
    (first). Without names (or a count that does not match `dim`) the whole
    vector is one `state` group. The signature (the fields, in order) says which
    groups can share a projection.
    """
    if len(names) != dim:
        return [("state", tuple(range(dim)), f"state{dim}")]
    groups: dict[str, list[tuple[int, str]]] = {}
    proprio: list[int] = []
    for i, name in enumerate(names):
        field = next((f for f in POSE_FIELDS if name.endswith("_" + f) and len(name) > len(f) + 1), None)
        if field is None:
            proprio.append(i)
        else:
            groups.setdefault(name[: -len(field) - 1], []).append((i, field))
    out = [("proprio", tuple(proprio), f"proprio{len(proprio)}")] if proprio else []
    for obj, dims in groups.items():
        out.append((obj, tuple(i for i, _ in dims), "_".join(f for _, f in dims)))
    return out


def _mlp(d_in: int, d: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, d), nn.GELU(), nn.Linear(d, d))


class GroundedTrunk(nn.Module):
    """Observation window + language embedding -> tokens (B, L, d_model).

    state (B, To, Ds) normalized, images (B, To, H, W, 3) uint8, language (B, 384).
    L = 1 + Q + To * (n_object_tokens + n_cameras * image_tokens_per_camera).
    """

    def __init__(self, policy, lang_dim: int) -> None:
        super().__init__()
        cfg, vcfg, ecfg = policy.config, policy.config.vla, policy.config.encoder
        d = self.d = vcfg.d_model
        self.state_keys, self.image_keys = policy.state_keys, policy.image_keys
        self.crop_ratio, self.to = ecfg.crop_ratio, cfg.n_obs_steps
        self.grid = round(vcfg.image_tokens_per_camera**0.5)
        # (key, group name, dims, projection name) per object token
        self.groups: list[tuple[str, str, tuple[int, ...], str]] = []
        for k in self.state_keys:
            spec = policy.spec.observations[k]
            for name, dims, sig in state_groups(tuple(spec.names), math.prod(spec.shape)):
                self.groups.append((k, name, dims, f"{k.replace('.', '_')}__{sig}"))
        self.object_proj = nn.ModuleDict({p: _mlp(len(dims), d) for _, _, dims, p in self.groups})
        self.shared = ecfg.shared_image_encoder
        cams = ["shared"] if (self.image_keys and self.shared) else [camera_of(k) for k in self.image_keys]
        self.backbones = nn.ModuleDict({c: ResNetBackbone(ecfg.image_channels, ecfg.image_groups) for c in cams})
        self.keypoints = vcfg.image_tokens == "keypoints"
        c_out = ecfg.image_channels[-1]
        if self.keypoints:
            self.n_image_tokens = vcfg.image_tokens_per_camera
            self.keypoint_logits = nn.ModuleDict({c: nn.Conv2d(c_out, self.n_image_tokens, 1) for c in cams})
            self.image_proj = nn.ModuleDict({c: _mlp(c_out + 2, d) for c in cams})
        else:
            self.n_image_tokens = self.grid**2
            self.image_proj = nn.ModuleDict({c: nn.Linear(c_out, d) for c in cams})
        n_ctx = self.to * (len(self.groups) + len(self.image_keys) * self.n_image_tokens)
        self.n_queries = vcfg.language_queries
        self.ctx_slots = nn.Parameter(torch.randn(1, n_ctx, d) * vcfg.slot_init)  # each token's identity
        self.lead_slots = nn.Parameter(torch.randn(1, 1 + self.n_queries, d) * 0.02)
        # language: standardized embedding -> token, query tokens, and z for FiLM
        self.lang_norm = nn.BatchNorm1d(lang_dim, affine=False)
        self.lang_proj = nn.Linear(lang_dim, d)
        self.lang_mlp = nn.Sequential(nn.Linear(lang_dim, d), nn.GELU(), nn.Linear(d, d), nn.LayerNorm(d))
        self.query_proj = nn.Linear(lang_dim, self.n_queries * d)
        self.ctx_norm = nn.LayerNorm(d)
        self.query_norm = nn.LayerNorm(d)
        self.pointer = nn.MultiheadAttention(d, vcfg.n_heads, batch_first=True)
        self.pointer_mlp = nn.Sequential(nn.LayerNorm(d), _mlp(d, d))
        self.film_proj = nn.Linear(d, 2 * d * (vcfg.n_layers + 1))  # zero-init: identity at start
        nn.init.zeros_(self.film_proj.weight)
        nn.init.zeros_(self.film_proj.bias)
        layer = nn.TransformerEncoderLayer(
            d, vcfg.n_heads, 4 * d, vcfg.dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.trunk = nn.TransformerEncoder(layer, vcfg.n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.n_tokens = 1 + self.n_queries + n_ctx
        self.last_pointer: torch.Tensor | None = None  # (B, Q, n_ctx) attention of the latest call (probes)

    def _image_tokens(self, key: str, frames: torch.Tensor) -> torch.Tensor:
        """uint8 (B, To, H, W, 3) -> (B, To * n_image_tokens, d)."""
        b, t = frames.shape[:2]
        cam = "shared" if self.shared else camera_of(key)
        x = images_to_float(crop_images(frames.flatten(0, 1), self.crop_ratio, random=self.training))
        feat = self.backbones[cam](x)  # (B*To, C, h, w)
        if self.keypoints:
            n, _, h, w = feat.shape
            attn = torch.softmax(self.keypoint_logits[cam](feat).flatten(2), dim=-1)  # (N, K, h*w)
            ys = torch.linspace(-1.0, 1.0, h, device=feat.device, dtype=attn.dtype)
            xs = torch.linspace(-1.0, 1.0, w, device=feat.device, dtype=attn.dtype)
            gy, gx = torch.meshgrid(ys, xs, indexing="ij")
            xy = attn @ torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=-1)  # (N, K, 2) expected position
            what = attn @ feat.flatten(2).transpose(1, 2)  # (N, K, C) the features each keypoint attends to
            tokens = self.image_proj[cam](torch.cat([what, xy], dim=-1))
        else:
            pooled = F.adaptive_avg_pool2d(feat, self.grid)  # (B*To, C, g, g)
            tokens = self.image_proj[cam](pooled.flatten(2).transpose(1, 2))
        return tokens.reshape(b, t * self.n_image_tokens, -1)

    def context_tokens(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Object and patch tokens with their slots: (B, n_ctx, d), step-major per source."""
        parts = []
        for key, _, dims, proj in self.groups:
            x = obs[key]
            x = x.reshape(*x.shape[:2], -1)[..., list(dims)]  # (B, To, n_fields)
            parts.append(self.object_proj[proj](x))
        if parts:  # (B, To, G, d) -> (B, To * G, d)
            parts = [torch.stack(parts, dim=2).flatten(1, 2)]
        parts += [self._image_tokens(k, obs[k]) for k in self.image_keys]
        return torch.cat(parts, dim=1) + self.ctx_slots

    def standardize(self, lang: torch.Tensor) -> torch.Tensor:
        """Per-dimension standardized sentence embedding (batch statistics while training)."""
        if self.training and lang.shape[0] > 1:
            return self.lang_norm(lang)
        return F.batch_norm(lang, self.lang_norm.running_mean, self.lang_norm.running_var, training=False)

    def forward(self, obs: dict[str, torch.Tensor], lang: torch.Tensor) -> torch.Tensor:
        """Normalized obs window + language embedding (B, 384) -> tokens (B, L, d)."""
        lang = self.standardize(lang)
        b, d = lang.shape[0], self.d
        ctx = self.context_tokens(obs)
        queries = self.query_norm(self.query_proj(lang).view(b, self.n_queries, d))
        kv = self.ctx_norm(ctx)
        pointed, weights = self.pointer(queries, kv, kv, need_weights=True)
        self.last_pointer = weights.detach()
        grounded = queries + pointed
        grounded = grounded + self.pointer_mlp(grounded)
        h = torch.cat([self.lang_proj(lang)[:, None, :], grounded], dim=1) + self.lead_slots
        z = self.lang_mlp(lang)  # (B, d)
        h = torch.cat([h, ctx], dim=1) + z[:, None, :]
        films = self.film_proj(z)[:, None, :].chunk(2 * (len(self.trunk.layers) + 1), dim=-1)
        for i, layer in enumerate(self.trunk.layers):
            h = layer(h * (1 + films[2 * i]) + films[2 * i + 1])
        return self.norm(h) * (1 + films[-2]) + films[-1] + z[:, None, :]
