"""GenerativePolicy: input transforms + observation encoder + generative head + output transforms.

One class serves diffusion and flow policies (the VLA subclass in
`policies/vla.py` swaps the encoder for a language/image/state trunk). It
implements `robot.interfaces.Policy` and the training contract:

    loss, metrics = policy.compute_loss(batch)        # sampler batch, raw units
    chunk = policy.predict_chunk(obs, noise=None, steps=None)   # (B, Ta, Da) robot units
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from policies.config import PolicyConfig
from policies.encoders import ObsEncoder
from policies.heads import GenerativeHead, make_head
from policies.heads.diffusion import DiffusionHead
from policies.heads.flow import FlowHead
from policies.normalize import Normalizer
from policies.rtc import PrefixGuide
from robot.keys import ACTION, INSTRUCTION, is_image_key
from robot.specs import PolicySpec


def module_name(key: str) -> str:
    """ModuleDict name of an observation key: `images.front` -> `images__front` ('.' is not allowed)."""
    return key.replace(".", "__")


class GenerativePolicy(nn.Module):
    """A diffusion or flow-matching policy over action chunks.

    Inputs: obs keys of `config.obs_keys`, each (B, To, *shape) in raw units
    (images uint8 (B, To, H, W, C)). Output: (B, Ta, Da) actions in robot units.
    Normalization stats (from the store) are buffers, saved with the weights.
    """

    def __init__(self, config: PolicyConfig, spec: PolicySpec, stats: Mapping[str, Mapping[str, np.ndarray]]) -> None:
        super().__init__()
        _check_spec(config, spec)
        self.config = config
        self.spec = spec
        self.state_keys = tuple(k for k in config.obs_keys if not is_image_key(k))
        # Only the stats the policy uses travel in its checkpoint (a store may hold image stats too).
        self.stats = {
            k: {n: np.asarray(v) for n, v in d.items()}
            for k, d in stats.items()
            if k == ACTION or k in self.state_keys
        }
        self.image_keys = tuple(k for k in config.obs_keys if is_image_key(k))
        if ACTION not in stats:
            raise KeyError(f"stats lack {ACTION!r}; pass EpisodeStore.stats() of the training store")
        self.action_normalizer = Normalizer(ACTION, stats[ACTION], config.normalization)
        if self.action_normalizer.dim != spec.action_dim:
            raise ValueError(
                f"stats['action'] has {self.action_normalizer.dim} dims but spec.action_dim={spec.action_dim}"
            )
        norms = {}
        for k in self.state_keys:
            if k not in stats:
                raise KeyError(f"stats lack observation key {k!r}; stats have {sorted(stats)}")
            norms[module_name(k)] = Normalizer(k, stats[k], config.normalization)
        self.obs_normalizers = nn.ModuleDict(norms)
        self.cond_dim = self._build_encoder()
        self.head: GenerativeHead = self._build_head()
        self._prev_chunk: torch.Tensor | None = None
        self.last_guide: PrefixGuide | None = None  # the RTC guide of the latest chunk (inspection)

    # -- construction hooks (the VLA subclass overrides these) ---------------------------------
    def _build_encoder(self) -> int:
        """Create `self.encoder`; return the conditioning width Dc."""
        shapes = {k: self.spec.observations[k].shape for k in self.config.obs_keys}
        self.encoder = ObsEncoder(self.config.encoder, self.config.obs_keys, shapes, self.config.n_obs_steps)
        return self.encoder.out_dim

    def _build_head(self) -> GenerativeHead:
        cfg = self.config
        return make_head(cfg.kind, cfg.head, self.spec.action_dim, cfg.horizon, self.cond_dim)

    def encode(self, obs: dict[str, torch.Tensor], instructions: list[str] | None) -> torch.Tensor:
        """Normalized obs window -> conditioning (B, Dc) (or tokens (B, L, Dc) for the VLA)."""
        return self.encoder(obs)

    # -- input checks and transforms ---------------------------------------------------------
    @property
    def device(self) -> torch.device:
        """Device of the policy's buffers and weights."""
        return self.action_normalizer.scale.device

    def _prepare_obs(self, obs: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], list[str] | None, int]:
        """Check keys and shapes, move to the device, normalize state; never writes into `obs`."""
        missing = [k for k in self.config.obs_keys if k not in obs]
        if missing:
            raise KeyError(
                f"observation lacks {missing}; the policy reads {list(self.config.obs_keys)}, "
                f"got {sorted(k for k in obs if k != INSTRUCTION)}"
            )
        to = self.config.n_obs_steps
        out: dict[str, torch.Tensor] = {}
        batch = None
        for k in self.config.obs_keys:
            x = torch.as_tensor(obs[k], device=self.device)
            want = tuple(self.spec.observations[k].shape)
            if x.dim() != 2 + len(want) or x.shape[1] != to or tuple(x.shape[2:]) != want:
                raise ValueError(
                    f"observation {k!r} has shape {tuple(x.shape)}, expected (B, To={to}, *{want}); "
                    "stack the last To observations along axis 1"
                )
            if batch is None:
                batch = x.shape[0]
            elif x.shape[0] != batch:
                raise ValueError(f"observation {k!r} has batch {x.shape[0]}, other keys have {batch}")
            if is_image_key(k):
                if x.dtype != torch.uint8:
                    raise TypeError(f"observation {k!r} must be uint8 images (B, To, H, W, C), got {x.dtype}")
                out[k] = x
            else:
                out[k] = self.obs_normalizers[module_name(k)].normalize(x.float())
        instructions = None
        if self.config.kind == "vla":
            instructions = obs.get(INSTRUCTION)
            if isinstance(instructions, str):
                instructions = [instructions] * batch
            if instructions is None or len(instructions) != batch:
                raise ValueError(
                    f"observation needs {INSTRUCTION!r}: a list of {batch} strings (one per batch row)"
                )
            instructions = list(instructions)
        return out, instructions, batch

    # -- training -------------------------------------------------------------------------------
    def compute_loss(self, batch: Mapping[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        """Loss on one sampler batch (raw units, on the policy's device) -> (scalar, metrics).

        batch: obs keys (B, To, ...), "action" (B, Ta, Da), "action_is_pad" (B, Ta) bool,
        "instruction" list[str] for language-conditioned policies. Random crops
        apply in train mode.
        """
        obs, instructions, b = self._prepare_obs(batch)
        if ACTION not in batch:
            raise KeyError(f"batch lacks {ACTION!r}; it must be the sequence sampler's collated batch")
        actions = torch.as_tensor(batch[ACTION], device=self.device).float()
        want = (b, self.config.horizon, self.spec.action_dim)
        if tuple(actions.shape) != want:
            raise ValueError(f"batch['action'] has shape {tuple(actions.shape)}, expected (B, Ta, Da) = {want}")
        mask = None
        if self.config.mask_padded_actions and "action_is_pad" in batch:
            mask = ~torch.as_tensor(batch["action_is_pad"], device=self.device).bool()
        cond = self.encode(obs, instructions)
        return self.head.loss(self.action_normalizer.normalize(actions), cond, mask)

    # -- inference ------------------------------------------------------------------------------
    def predict_chunk(
        self,
        obs: Mapping[str, Any],
        noise: Any | None = None,
        steps: int | None = None,
        *,
        prefix: Any | None = None,
        prefix_delay: int = 0,
        prefix_schedule: str = "exp",
        max_guidance_weight: float = 5.0,
        prefix_method: str = "guidance",
    ) -> torch.Tensor:
        """Action chunk (B, Ta, Da) in robot units; deterministic when `noise` (B, Ta, Da) is given.

        The observation is encoded once; `steps` overrides head.inference_steps.
        With head.warm_start and no `noise`, sampling starts from the previous
        chunk shifted by Te (call `reset()` at episode start).
        Real-time chunking: `prefix` (B, K, Da) or (K, Da), robot units, holds the
        actions already committed for the first K ticks this chunk covers;
        `prefix_delay` d of them will execute before the chunk arrives. Sampling
        is guided towards them (policies/rtc.py: soft mask `prefix_schedule`,
        guidance weight capped at `max_guidance_weight`; `prefix_method="inpaint"`
        blends the prefix in instead, which diffusion heads always do).
        Raises FloatingPointError rather than return non-finite actions.
        """
        guided = prefix is not None
        if guided and not self.supports_rtc:
            raise NotImplementedError(
                f"real-time chunking (prefix=...) needs a flow or diffusion head; this policy is {self.config.kind!r}: "
                "disable rtc or deploy a flow / vla policy"
            )
        was_training = self.training
        self.eval()
        try:
            # Guided sampling differentiates through the denoiser: no inference_mode tensors then.
            with torch.inference_mode(not guided):
                prepared, instructions, b = self._prepare_obs(obs)
                cond = self.encode(prepared, instructions)
                noise_t = None if noise is None else torch.as_tensor(noise, device=self.device).float()
                init = self._warm_start(b) if noise is None and not guided else None
                guide = self._prefix_guide(prefix, b, prefix_delay, prefix_schedule, max_guidance_weight,
                                           prefix_method)
                chunk = self.head.sample(cond, noise_t, steps, init=init, **({"guide": guide} if guided else {}))
        finally:
            self.train(was_training)
        self.last_guide = guide
        if not torch.isfinite(chunk).all():
            raise FloatingPointError(
                "policy produced non-finite actions (NaN/inf); check the checkpoint's weights and "
                "stats and the observation values; the runtime must not send these"
            )
        if self.config.head.warm_start:
            self._prev_chunk = chunk.clone()
        with torch.no_grad():
            return self.action_normalizer.unnormalize(chunk)

    @property
    def supports_rtc(self) -> bool:
        """Whether `predict_chunk` accepts a real-time-chunking prefix (flow and diffusion heads)."""
        return isinstance(self.head, (FlowHead, DiffusionHead))

    def _prefix_guide(
        self, prefix: Any | None, b: int, delay: int, schedule: str, max_weight: float, method: str = "guidance"
    ) -> PrefixGuide | None:
        """Normalized RTC guide from a robot-unit prefix (B, K, Da) or (K, Da); None without a prefix."""
        if prefix is None:
            return None
        p = torch.as_tensor(prefix, device=self.device).float()
        if p.dim() == 2:
            p = p[None].expand(b, -1, -1)
        if p.dim() != 3 or p.shape[0] != b or p.shape[2] != self.spec.action_dim:
            raise ValueError(
                f"prefix has shape {tuple(p.shape)}, expected (B={b}, K, Da={self.spec.action_dim}) in robot units"
            )
        norm = self.action_normalizer.normalize(p)
        return PrefixGuide.from_prefix(norm, self.config.horizon, delay, schedule, max_weight, method)

    def _warm_start(self, b: int) -> torch.Tensor | None:
        """Previous normalized chunk shifted left by Te, tail padded with its last action."""
        prev = self._prev_chunk
        if not self.config.head.warm_start or prev is None or prev.shape[0] != b:
            return None
        te = self.config.n_action_steps
        tail = prev[:, te:]
        pad = tail[:, -1:].expand(-1, te, -1) if tail.shape[1] else prev[:, -1:].expand(-1, te, -1)
        return torch.cat([tail, pad], dim=1)

    def reset(self) -> None:
        """Forget the previous chunk (episode start)."""
        self._prev_chunk = None

    def compile_for_inference(self) -> None:
        """torch.compile the per-step denoiser for deployment (opt-in).

        Measured on one CPU thread: the small U-Net step runs ~1.5x faster, but
        compiling takes ~1-2 minutes per batch size, so tests and training
        never do it (see benchmarks/bench_inference.py --compile).
        """
        net = self.head.net
        net.step = torch.compile(net.step, dynamic=False)


def _check_spec(cfg: PolicyConfig, spec: PolicySpec) -> None:
    """The spec (from the store/body) and the config must agree; name the mismatch."""
    for name in ("n_obs_steps", "horizon", "n_action_steps"):
        if getattr(spec, name) != getattr(cfg, name):
            raise ValueError(
                f"spec.{name}={getattr(spec, name)} but policy config {name}={getattr(cfg, name)}; "
                "build the spec with policies.registry.build_spec(cfg, ...)"
            )
    unknown = [k for k in cfg.obs_keys if k not in spec.observations]
    if unknown:
        raise KeyError(
            f"policy obs_keys {unknown} are not in the spec's observations {sorted(spec.observations)}; "
            "fix policy.obs_keys"
        )
    if cfg.kind == "vla" and not spec.uses_instruction:
        raise ValueError("a 'vla' policy needs spec.uses_instruction=True (a language-conditioned store)")
