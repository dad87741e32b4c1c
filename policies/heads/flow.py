"""Flow-matching head: rectified flow from Gaussian noise (t=0) to the action chunk (t=1).

x_t = (1 - t) * noise + t * actions, the network predicts the velocity
actions - noise, and sampling integrates it with Euler steps. Few-step
inference (1-4 steps) is a first-class mode: `steps` is a per-call argument.
"""

from __future__ import annotations

import torch

from policies.config import HeadConfig
from policies.heads.base import DenoiserNet, GenerativeHead, masked_mse
from policies.rtc import PrefixGuide

TIME_SCALE = 1000.0
"""Flow time in [0, 1] is scaled to the diffusion step range before the sinusoidal embedding."""


class FlowHead(GenerativeHead):
    """Rectified-flow head over normalized chunks (B, Ta, Da).

    Training times follow `head.time_sampling`: "beta" (pi0: Beta(a, b) on the
    noise level, weighting noisy times where the velocity is hardest),
    "logit_normal" (SD3) or "uniform".
    """

    def __init__(self, net: DenoiserNet, cfg: HeadConfig, horizon: int, action_dim: int) -> None:
        super().__init__(net, horizon, action_dim)
        self.cfg = cfg

    def sample_time(self, b: int, device: torch.device) -> torch.Tensor:
        """Training times t (B,) in [0, 1); t=0 is pure noise."""
        cfg = self.cfg
        if cfg.time_sampling == "beta":
            a = torch.tensor(cfg.beta_a, device=device)
            bb = torch.tensor(cfg.beta_b, device=device)
            noise_level = torch.distributions.Beta(a, bb).sample((b,)) * 0.999 + 0.001
            return 1.0 - noise_level
        if cfg.time_sampling == "logit_normal":
            return torch.sigmoid(torch.randn(b, device=device) * cfg.logit_normal_std + cfg.logit_normal_mean)
        return torch.rand(b, device=device)

    def loss(self, actions, cond, mask=None):
        """Velocity regression; actions (B, Ta, Da) normalized, cond (B, Dc) or (B, L, Dc)."""
        b = actions.shape[0]
        noise = torch.randn_like(actions)
        t = self.sample_time(b, actions.device).to(actions.dtype)
        tt = t[:, None, None]
        x_t = (1.0 - tt) * noise + tt * actions
        pred = self.net(x_t, t * TIME_SCALE, cond)
        loss = masked_mse(pred, actions - noise, mask)
        return loss, {"loss": float(loss.detach())}

    def sample(self, cond, noise=None, steps=None, init=None, guide: PrefixGuide | None = None):
        """Euler-integrate from noise (B, Ta, Da) to a normalized chunk in `steps` steps.

        With `init`, start at t0 = 1 - warm_start_strength from the partially
        noised `init` and take proportionally fewer steps. With `guide`
        (real-time chunking, policies/rtc.py), each velocity is corrected
        towards the committed prefix; that needs one vector-Jacobian product
        per step, so call it outside `torch.inference_mode`; with
        `guide.method == "inpaint"` the prefix is blended in after each step instead.
        """
        steps = int(steps or self.cfg.inference_steps)
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        with torch.no_grad():
            x = self._noise_like(cond, noise)
            t0 = 0.0
            if init is not None:
                t0 = 1.0 - self.cfg.warm_start_strength
                x = (1.0 - t0) * x + t0 * init.to(x.dtype)
                steps = max(1, round(steps * self.cfg.warm_start_strength))
            ctx = self.net.prepare(cond)
        dt = (1.0 - t0) / steps
        tb = torch.empty(x.shape[0], device=x.device, dtype=x.dtype)
        noise0 = x.clone()
        for k in range(steps):
            t = t0 + k * dt
            if guide is None or guide.method == "inpaint":
                with torch.no_grad():
                    v = self.net.step(x, tb.fill_(t * TIME_SCALE), ctx)
            else:
                with torch.enable_grad():
                    xg = x.detach().requires_grad_(True)
                    v = self.net.step(xg, tb.fill_(t * TIME_SCALE), ctx)
                    v = v.detach() + guide.correction(xg, v, xg + (1.0 - t) * v, t)
            x = x + dt * v
            if guide is not None and guide.method == "inpaint":
                x = guide.inpaint_flow(x, t + dt, noise0)
        return x.detach()
