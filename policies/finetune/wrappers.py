"""Fine-tuned policies: a frozen base policy plus a small learned part, each itself a Policy.

- `ResidualPolicy`: every executed action is `a_base + scale * tanh(r)` in the base's
  normalized action units, `r` from a small Gaussian actor that sees the base's
  observation features and the base action. Its spec executes one action per
  call (Ta = Te = 1): the residual corrects each tick from the latest
  observation, while the base still plans chunks (kept in an internal queue).
- `NoiseSteeredPolicy`: an actor picks the initial noise `w = magnitude * tanh(.)`
  of the frozen diffusion/flow sampler, which is deterministic given the noise
  (DSRL); spec and chunking are the base's own.

Actors see only what the base policy sees (its observation keys: normalized
state, plus the frozen encoder's features when there are images or language),
so a fine-tuned policy deploys wherever the base does. Checkpoints: the
actor's model.safetensors + policy.json (with a "finetune" section) beside a
copy of the base checkpoint in `base/`; `policies.checkpoint.load_policy` loads
both kinds.
"""

from __future__ import annotations

import json
import shutil
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from policies.finetune.config import NoiseConfig, ResidualConfig
from robot.config import from_dict, to_dict
from robot.keys import INSTRUCTION, is_image_key
from robot.specs import PolicySpec

BASE_DIR = "base"


def mlp(sizes: list[int], layer_norm: bool = False, act: type[nn.Module] = nn.Tanh) -> nn.Sequential:
    """Linear layers of `sizes` with `act` (and LayerNorm before it) between them, none after the last."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            if layer_norm:
                layers.append(nn.LayerNorm(sizes[i + 1]))
            layers.append(act())
    return nn.Sequential(*layers)


def zero_obs(spec: PolicySpec, b: int = 1) -> dict[str, Any]:
    """A (B, To, ...) observation of zeros for `spec` (feature-width probes)."""
    obs: dict[str, Any] = {k: np.zeros((b, spec.n_obs_steps, *s.shape), np.uint8 if is_image_key(k) else np.float32)
                           for k, s in spec.observations.items()}
    if spec.uses_instruction:
        obs[INSTRUCTION] = [""] * b
    return obs


class BaseFeatures(nn.Module):
    """What the actors see: the base's normalized state window, plus its frozen encoder's output
    when the base reads images or language (never anything the base does not read)."""

    def __init__(self, base: nn.Module) -> None:
        super().__init__()
        self.base = [base]  # a list: not a submodule, so its weights stay out of the actor's state
        self.use_encoder = bool(base.image_keys) or base.spec.uses_instruction
        with torch.no_grad():
            self.dim = int(self(zero_obs(base.spec)).shape[1])

    @torch.no_grad()
    def forward(self, obs: Mapping[str, Any]) -> torch.Tensor:
        """(B, To, ...) raw observation -> (B, F) features."""
        base = self.base[0]
        prepared, instructions, b = base._prepare_obs(obs)
        parts = [prepared[k].reshape(b, -1) for k in base.state_keys]
        if self.use_encoder:
            enc = base.encode(prepared, instructions)
            parts.append(enc.mean(1) if enc.dim() == 3 else enc)
        return torch.cat(parts, 1).float()


def _frozen(base: nn.Module) -> nn.Module:
    base.eval()
    for p in base.parameters():
        p.requires_grad_(False)
    return base


class ResidualPolicy(nn.Module):
    """Frozen base + bounded Gaussian residual per executed action (see module doc)."""

    method = "residual"

    def __init__(self, base: nn.Module, cfg: ResidualConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or ResidualConfig()
        self.base = _frozen(base)
        self.cfg = cfg
        da = base.spec.action_dim
        scale = np.broadcast_to(np.asarray(cfg.scale, np.float32), (da,)) if len(cfg.scale) in (1, da) else None
        if scale is None:
            raise ValueError(f"residual.scale has {len(cfg.scale)} values; give 1 or Da={da}")
        self.features = BaseFeatures(base)
        self.actor = mlp([self.features.dim + da, *cfg.hidden, da])
        last = self.actor[-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)  # starts exactly at the base policy
        self.log_std = nn.Parameter(torch.full((da,), float(cfg.init_log_std)))
        self.register_buffer("scale", torch.as_tensor(np.array(scale)))
        s = base.spec
        self.spec = PolicySpec(observations=dict(s.observations), action_dim=da, n_obs_steps=s.n_obs_steps,
                               horizon=1, n_action_steps=1, fps=s.fps, uses_instruction=s.uses_instruction,
                               extra={**s.extra, "finetune": self.method})
        self._queue: deque = deque()
        self._batch = -1

    @property
    def device(self) -> torch.device:
        return self.scale.device

    def reset(self) -> None:
        """Episode start: forget the base's queued chunk."""
        self._queue.clear()
        self.base.reset()

    def base_action(self, obs: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """This tick's base action (B, Da): (robot units, normalized); the base plans a chunk every Te ticks."""
        b = len(next(iter(v for k, v in obs.items() if k != INSTRUCTION)))
        if b != self._batch:
            self._queue.clear()
            self._batch = b
        if not self._queue:
            chunk = self.base.predict_chunk(obs)[:, : self.base.spec.n_action_steps].clone()
            norm = self.base.action_normalizer.normalize(chunk)
            self._queue.extend(zip(chunk.unbind(1), norm.unbind(1), strict=True))
        return self._queue.popleft()

    def dist(self, feats: torch.Tensor, a_base: torch.Tensor) -> torch.distributions.Normal:
        """Pre-tanh Gaussian of the residual given features (B, F) and normalized base actions (B, Da)."""
        mean = self.actor(torch.cat([feats, a_base], 1))
        return torch.distributions.Normal(mean, self.log_std.exp().expand_as(mean))

    def compose(self, a_base: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        """Robot-unit action (B, Da): the base's robot-unit action plus `scale * tanh(r)` normalized units.

        The normalizer is affine, so the correction maps to robot units alone and a zero
        residual returns the base action bit for bit.
        """
        return a_base + self.scale * torch.tanh(r) / self.base.action_normalizer.scale

    @torch.no_grad()
    def predict_chunk(self, obs: Mapping[str, Any], noise: Any | None = None, steps: int | None = None,
                      **_: Any) -> torch.Tensor:
        """(B, 1, Da) robot units: this tick's base action plus the mean residual."""
        feats = self.features(obs)
        a_robot, a_norm = self.base_action(obs)
        return self.compose(a_robot, self.dist(feats, a_norm).mean)[:, None]

    def save_checkpoint(self, directory: str | Path) -> Path:
        return _save(self, directory, to_dict(self.cfg))


class NoiseSteeredPolicy(nn.Module):
    """Frozen generative base whose initial noise an actor chooses (DSRL; see module doc)."""

    method = "noise"

    def __init__(self, base: nn.Module, cfg: NoiseConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or NoiseConfig()
        if not hasattr(base, "head") or not hasattr(base.head, "sample"):
            raise TypeError("noise steering needs a generative (diffusion / flow / vla) base policy")
        self.base = _frozen(base)
        self.cfg = cfg
        s = base.spec
        self.noise_dim = s.action_dim if cfg.shape == "repeat" else s.horizon * s.action_dim
        self.features = BaseFeatures(base)
        self.actor = mlp([self.features.dim, *cfg.hidden, 2 * self.noise_dim], act=nn.ReLU)
        self.spec = PolicySpec(observations=dict(s.observations), action_dim=s.action_dim,
                               n_obs_steps=s.n_obs_steps, horizon=s.horizon, n_action_steps=s.n_action_steps,
                               fps=s.fps, uses_instruction=s.uses_instruction,
                               extra={**s.extra, "finetune": self.method})
        self.register_buffer("_dev", torch.zeros(0))

    @property
    def device(self) -> torch.device:
        return self._dev.device

    def reset(self) -> None:
        self.base.reset()

    def head_out(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, log_std) of the pre-tanh Gaussian over the noise action (B, noise_dim)."""
        mean, log_std = self.actor(feats).chunk(2, dim=1)
        return mean, log_std.clamp(-5.0, 2.0)

    def noise_of(self, u: torch.Tensor) -> torch.Tensor:
        """Squashed RL action u in [-1, 1] (B, noise_dim) -> the sampler's initial noise (B, Ta, Da)."""
        s = self.base.spec
        w = self.cfg.magnitude * u
        if self.cfg.shape == "repeat":
            return w[:, None, :].expand(-1, s.horizon, -1)
        return w.reshape(-1, s.horizon, s.action_dim)

    def chunk_for(self, obs: Mapping[str, Any], u: torch.Tensor) -> torch.Tensor:
        """(B, Ta, Da) robot units for squashed noise actions u: deterministic given u."""
        return self.base.predict_chunk(obs, noise=self.noise_of(u))

    @torch.no_grad()
    def predict_chunk(self, obs: Mapping[str, Any], noise: Any | None = None, steps: int | None = None,
                      **_: Any) -> torch.Tensor:
        """(B, Ta, Da) robot units from the actor's mean noise; `noise` is the actor's to choose."""
        if noise is not None:
            raise ValueError("a noise-steered policy chooses its own noise; call predict_chunk(obs) without noise")
        mean, _ = self.head_out(self.features(obs))
        return self.chunk_for(obs, torch.tanh(mean))

    def save_checkpoint(self, directory: str | Path) -> Path:
        return _save(self, directory, to_dict(self.cfg))


WRAPPERS: dict[str, tuple[type[nn.Module], type]] = {
    "residual": (ResidualPolicy, ResidualConfig),
    "noise": (NoiseSteeredPolicy, NoiseConfig),
}


def _save(policy: nn.Module, directory: str | Path, cfg: dict[str, Any]) -> Path:
    """Actor weights + policy.json with a "finetune" section, and the base checkpoint in base/."""
    from safetensors.torch import save_file

    from policies.checkpoint import FORMAT_VERSION, META, WEIGHTS, save_policy, spec_to_dict

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    tmp_base = out / (BASE_DIR + ".tmp")
    if tmp_base.exists():
        shutil.rmtree(tmp_base)
    save_policy(policy.base, tmp_base)
    if (out / BASE_DIR).exists():
        shutil.rmtree(out / BASE_DIR)
    tmp_base.replace(out / BASE_DIR)
    tensors = {k: v.detach().cpu().contiguous() for k, v in policy.state_dict().items()
               if not k.startswith("base.")}
    meta = {"format": FORMAT_VERSION, "finetune": {"method": policy.method, "config": cfg, "base": BASE_DIR},
            "spec": spec_to_dict(policy.spec)}
    tmp_w, tmp_m = out / (WEIGHTS + ".tmp"), out / (META + ".tmp")
    save_file(tensors, str(tmp_w), metadata={"format": str(FORMAT_VERSION)})
    tmp_m.write_text(json.dumps(meta, indent=2))
    tmp_w.replace(out / WEIGHTS)
    tmp_m.replace(out / META)
    return out


def load_finetuned(directory: str | Path, meta: dict[str, Any], device: str = "cpu") -> nn.Module:
    """Rebuild a fine-tuned policy from its folder (called by `load_policy` for a "finetune" policy.json)."""
    from safetensors.torch import load_file

    from policies.checkpoint import WEIGHTS, load_policy

    src = Path(directory)
    ft = meta["finetune"]
    if ft.get("method") not in WRAPPERS:
        raise ValueError(f"{src}: unknown fine-tuning method {ft.get('method')!r}; known: {', '.join(WRAPPERS)}")
    cls, cfg_cls = WRAPPERS[ft["method"]]
    base = load_policy(src / ft.get("base", BASE_DIR))
    policy = cls(base, from_dict(cfg_cls, ft["config"], "finetune.config"))
    state = load_file(str(src / WEIGHTS), device="cpu")
    result = policy.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith("base.")]
    if missing or result.unexpected_keys:
        raise ValueError(f"{src / WEIGHTS} does not match its policy.json: missing {missing[:5]}, "
                         f"unexpected {result.unexpected_keys[:5]}")
    return policy.to(device).eval()
