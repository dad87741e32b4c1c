"""Observation encoders in plain torch: state MLP, small GroupNorm ResNet, crops.

No torchvision (it cannot be installed beside this torch): the ResNet, the
spatial softmax and the crops are written out here.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from policies.config import EncoderConfig
from robot.keys import camera_of, is_image_key


def crop_images(images: torch.Tensor, ratio: float, random: bool) -> torch.Tensor:
    """Crop (N, H, W, C) frames to round(ratio*H) x round(ratio*W).

    random=True picks an offset per frame (training augmentation); otherwise the
    center crop, so eval sees the same field of view as the average train crop.
    """
    n, h, w, _ = images.shape
    ch, cw = max(1, round(ratio * h)), max(1, round(ratio * w))
    if ch == h and cw == w:
        return images
    if not random:
        top, left = (h - ch) // 2, (w - cw) // 2
        return images[:, top : top + ch, left : left + cw]
    dev = images.device
    top = torch.randint(0, h - ch + 1, (n,), device=dev)
    left = torch.randint(0, w - cw + 1, (n,), device=dev)
    rows = (top[:, None] + torch.arange(ch, device=dev))[:, :, None]  # (N, ch, 1)
    cols = (left[:, None] + torch.arange(cw, device=dev))[:, None, :]  # (N, 1, cw)
    return images[torch.arange(n, device=dev)[:, None, None], rows, cols]


class StateEncoder(nn.Module):
    """MLP over the normalized state: (N, Ds) -> (N, out_dim); identity when no hidden layers."""

    def __init__(self, state_dim: int, hidden: tuple[int, ...], out_dim: int) -> None:
        super().__init__()
        if not hidden:
            self.net: nn.Module = nn.Identity()
            self.out_dim = state_dim
            return
        layers: list[nn.Module] = []
        d = state_dim
        for h in hidden:
            layers += [nn.Linear(d, h), nn.Mish()]
            d = h
        layers.append(nn.Linear(d, out_dim))
        self.net = nn.Sequential(*layers)
        self.out_dim = out_dim

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        """(N, Ds) -> (N, out_dim)."""
        return self.net(state)


class _BasicBlock(nn.Module):
    """ResNet basic block with GroupNorm (BatchNorm misbehaves with EMA and small batches)."""

    def __init__(self, cin: int, cout: int, stride: int, groups: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.norm1 = nn.GroupNorm(groups, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.skip = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.GroupNorm(groups, cout))
            if stride != 1 or cin != cout
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.norm1(self.conv1(x)))
        y = self.norm2(self.conv2(y))
        return F.relu(y + self.skip(x))


class ResNetBackbone(nn.Module):
    """Small ResNet: (N, 3, H, W) float in [-1, 1] -> feature map (N, C_last, H/2^k, W/2^k).

    A stride-2 stem, then one basic block per stage; stages after the first halve
    the resolution. A 96x96 frame cropped to 86x86 ends at 6x6 with 4 stages.
    """

    def __init__(self, channels: tuple[int, ...], groups: int) -> None:
        super().__init__()
        c0 = channels[0]
        self.stem = nn.Sequential(nn.Conv2d(3, c0, 3, 2, 1, bias=False), nn.GroupNorm(groups, c0), nn.ReLU())
        blocks = []
        cin = c0
        for i, c in enumerate(channels):
            blocks.append(_BasicBlock(cin, c, 1 if i == 0 else 2, groups))
            cin = c
        self.blocks = nn.Sequential(*blocks)
        self.out_channels = cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, C, h, w)."""
        return self.blocks(self.stem(x))


class ResNet18Backbone(nn.Module):
    """The Diffusion Policy reference's vision backbone in plain torch: ResNet-18 with GroupNorm.

    7x7 stride-2 stem, 3x3 stride-2 max-pool, four stages of two basic blocks
    (64, 128, 256, 512; stages after the first halve H and W), GroupNorm with
    C/16 groups where the reference swaps out BatchNorm. (N, 3, H, W) -> (N, 512, H/32, W/32).
    """

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.GroupNorm(4, 64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)
        )
        blocks: list[nn.Module] = []
        cin = 64
        for i, c in enumerate((64, 128, 256, 512)):
            blocks += [_BasicBlock(cin, c, 1 if i == 0 else 2, c // 16), _BasicBlock(c, c, 1, c // 16)]
            cin = c
        self.blocks = nn.Sequential(*blocks)
        self.out_channels = cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, 512, h, w)."""
        return self.blocks(self.stem(x))


class SpatialSoftmax(nn.Module):
    """Keypoints of a feature map: (N, C, h, w) -> (N, 2K) expected (x, y) in [-1, 1]."""

    def __init__(self, channels: int, num_keypoints: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(channels, num_keypoints, 1)
        self.num_keypoints = num_keypoints

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) -> (N, 2K)."""
        logits = self.proj(feat)
        n, k, h, w = logits.shape
        attn = torch.softmax(logits.flatten(2), dim=-1)  # (N, K, h*w)
        ys = torch.linspace(-1.0, 1.0, h, device=feat.device, dtype=attn.dtype)
        xs = torch.linspace(-1.0, 1.0, w, device=feat.device, dtype=attn.dtype)
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        coords = torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], dim=-1)  # (h*w, 2)
        return (attn @ coords).reshape(n, 2 * k)


def images_to_float(frames: torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W, C) -> float (N, C, H, W) in [-1, 1]."""
    if frames.dtype != torch.uint8:
        raise TypeError(f"image frames must be uint8 (H, W, C), got {frames.dtype}")
    return frames.permute(0, 3, 1, 2).float().mul_(2.0 / 255.0).sub_(1.0)


class ImageEncoder(nn.Module):
    """One camera: uint8 (N, H, W, 3) -> (N, out_dim) via crop, resize, ResNet, pooling, linear."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.backbone: ResNetBackbone | ResNet18Backbone = (
            ResNet18Backbone() if cfg.image_backbone == "resnet18" else ResNetBackbone(cfg.image_channels, cfg.image_groups)
        )
        c = self.backbone.out_channels
        if cfg.image_pool == "spatial_softmax":
            self.pool: nn.Module = SpatialSoftmax(c, cfg.num_keypoints)
            pooled = 2 * cfg.num_keypoints
        else:
            self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
            pooled = c
        self.proj = nn.Sequential(nn.Linear(pooled, cfg.image_out), nn.Mish())
        self.out_dim = cfg.image_out

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 (N, H, W, 3) -> (N, out_dim); random crop in train mode, center crop in eval."""
        x = images_to_float(crop_images(frames, self.cfg.crop_ratio, random=self.training))
        size = self.cfg.image_size
        if size and tuple(x.shape[-2:]) != (size, size):
            x = F.interpolate(x, size=(size, size), mode="area")
        return self.proj(self.pool(self.backbone(x)))


class ObsEncoder(nn.Module):
    """All observation keys of one window -> one global conditioning vector.

    Input: dict of normalized state (B, To, Ds) float and images (B, To, H, W, 3)
    uint8. Output: (B, To * state widths + Ti * image widths), Ti =
    encoder.image_obs_steps or To — the Diffusion Policy layout when Ti = To.
    Each camera's last Ti frames go through its encoder in one batched call.
    """

    def __init__(self, cfg: EncoderConfig, obs_keys: tuple[str, ...], obs_shapes: dict[str, tuple[int, ...]], n_obs_steps: int) -> None:
        super().__init__()
        self.obs_keys = obs_keys
        self.n_obs_steps = n_obs_steps
        self.state_keys = tuple(k for k in obs_keys if not is_image_key(k))
        self.image_keys = tuple(k for k in obs_keys if is_image_key(k))
        self.state_encoders = nn.ModuleDict(
            {k: StateEncoder(math.prod(obs_shapes[k]), cfg.state_hidden, cfg.state_out) for k in self.state_keys}
        )
        self.shared = cfg.shared_image_encoder
        if self.image_keys and self.shared:
            self.image_encoders = nn.ModuleDict({"shared": ImageEncoder(cfg)})
        else:
            self.image_encoders = nn.ModuleDict({camera_of(k): ImageEncoder(cfg) for k in self.image_keys})
        self.image_obs_steps = cfg.image_obs_steps or n_obs_steps
        state_width = sum(e.out_dim for e in self.state_encoders.values())
        image_width = cfg.image_out * len(self.image_keys)
        self.step_dim = state_width + image_width
        self.out_dim = state_width * n_obs_steps + image_width * self.image_obs_steps

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Normalized obs window -> (B, out_dim)."""
        feats = []  # (B, T_k, width) per key
        for k in self.state_keys:
            x = obs[k]
            b, t = x.shape[:2]
            feats.append(self.state_encoders[k](x.reshape(b * t, -1)).reshape(b, t, -1))
        ti = self.image_obs_steps
        if self.image_keys:
            if self.shared:
                frames = torch.cat([obs[k][:, -ti:].flatten(0, 1) for k in self.image_keys], dim=0)
                out = self.image_encoders["shared"](frames)
                b = obs[self.image_keys[0]].shape[0]
                feats.extend(o.reshape(b, ti, -1) for o in out.chunk(len(self.image_keys), dim=0))
            else:
                for k in self.image_keys:
                    x = obs[k][:, -ti:]
                    feats.append(self.image_encoders[camera_of(k)](x.flatten(0, 1)).reshape(x.shape[0], ti, -1))
        if ti == self.n_obs_steps:  # time-major, as checkpoints written before image_obs_steps expect
            return torch.cat(feats, dim=-1).flatten(1)
        return torch.cat([f.flatten(1) for f in feats], dim=-1)
