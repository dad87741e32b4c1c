"""Diffusion head: DDPM training, DDIM or DPM-Solver++ sampling with diffusers' schedulers.

The schedulers are built once per head; `set_timesteps` runs only when the
step count changes, since it costs as much as a small network call.
"""

from __future__ import annotations

import torch
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

from policies.config import HeadConfig
from policies.heads.base import DenoiserNet, GenerativeHead, masked_mse
from policies.rtc import PrefixGuide


class DiffusionHead(GenerativeHead):
    """Denoising diffusion over normalized chunks (B, Ta, Da) in [-1, 1].

    prediction_type "epsilon" regresses the noise, "sample" the clean chunk.
    """

    def __init__(self, net: DenoiserNet, cfg: HeadConfig, horizon: int, action_dim: int) -> None:
        super().__init__(net, horizon, action_dim)
        self.cfg = cfg
        common = dict(
            num_train_timesteps=cfg.num_train_timesteps,
            beta_schedule=cfg.beta_schedule,
            prediction_type=cfg.prediction_type,
        )
        self.train_scheduler = DDPMScheduler(clip_sample=cfg.clip_sample, **common)
        if cfg.scheduler == "ddim":
            self.sampler = DDIMScheduler(clip_sample=cfg.clip_sample, set_alpha_to_one=True, steps_offset=0, **common)
        else:
            # dpmsolver++ (2nd order) keeps few-step samples in range via thresholding-free clipping below.
            self.sampler = DPMSolverMultistepScheduler(algorithm_type="dpmsolver++", solver_order=2, **common)
        self._steps_set: int | None = None
        # The sampler's alphas live on the CPU; keep a device copy for add_noise on GPU batches.
        self.register_buffer(
            "alphas_cumprod", self.train_scheduler.alphas_cumprod.clone().float(), persistent=False
        )

    def _add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = self.alphas_cumprod[t].to(x0.dtype)[:, None, None]
        return a.sqrt() * x0 + (1 - a).sqrt() * noise

    def loss(self, actions, cond, mask=None):
        """DDPM loss; actions (B, Ta, Da) normalized, cond (B, Dc) or (B, L, Dc)."""
        b = actions.shape[0]
        noise = torch.randn_like(actions)
        t = torch.randint(0, self.cfg.num_train_timesteps, (b,), device=actions.device)
        noisy = self._add_noise(actions, noise, t)
        pred = self.net(noisy, t, cond)
        target = noise if self.cfg.prediction_type == "epsilon" else actions
        loss = masked_mse(pred, target, mask)
        return loss, {"loss": float(loss.detach())}

    def _timesteps(self, steps: int) -> torch.Tensor:
        if steps > self.cfg.num_train_timesteps:
            raise ValueError(
                f"{steps} inference steps exceed head.num_train_timesteps={self.cfg.num_train_timesteps}"
            )
        if self._steps_set != steps:
            self.sampler.set_timesteps(steps)
            self._steps_set = steps
        return self.sampler.timesteps

    def sample(self, cond, noise=None, steps=None, init=None, guide: PrefixGuide | None = None):
        """Chunk (B, Ta, Da) normalized from noise by DDIM / DPM-Solver in `steps` steps.

        With `guide` (real-time chunking, policies/rtc.py) the committed prefix is
        inpainted after every step: the sample is blended, under the guide's
        soft mask, with the prefix noised to the next step's level.
        """
        steps = int(steps or self.cfg.inference_steps)
        with torch.no_grad():
            x = self._noise_like(cond, noise)
            timesteps = self._timesteps(steps)
            start = 0
            if init is not None:
                # Warm start: re-noise the previous chunk's tail to an intermediate step (SDEdit-style).
                start = min(steps - 1, steps - max(1, round(steps * self.cfg.warm_start_strength)))
                t0 = torch.full((x.shape[0],), int(timesteps[start]), device=x.device, dtype=torch.long)
                x = self._add_noise(init.to(x.dtype), x, t0)
            ctx = self.net.prepare(cond)
        sampler = self.sampler
        # Restart the solver state (multistep history, step index) for this chunk.
        sampler._step_index = None
        if hasattr(sampler, "model_outputs"):
            sampler.model_outputs = [None] * sampler.config.solver_order
            sampler.lower_order_nums = 0
        if hasattr(sampler, "set_begin_index"):
            sampler.set_begin_index(start)
        tb = torch.empty(x.shape[0], device=x.device, dtype=torch.long)
        noise0 = x.clone() if guide is not None else None
        todo = list(timesteps[start:])
        with torch.no_grad():
            for i, t in enumerate(todo):
                out = self.net.step(x, tb.fill_(int(t)), ctx)
                x = sampler.step(out, t, x).prev_sample
                if guide is not None:
                    a_next = self.alphas_cumprod[int(todo[i + 1])] if i + 1 < len(todo) else x.new_tensor(1.0)
                    x = guide.inpaint(x, a_next.to(x.dtype), noise0)
        return x.clamp(-1.0, 1.0) if self.cfg.clip_sample else x
