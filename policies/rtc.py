"""Real-time chunking (RTC): inpaint the next flow chunk from the actions already committed.

Method (Black, Galliker, Levine, "Real-Time Execution of Action Chunking Flow
Policies", Physical Intelligence 2025), written here from the paper's equations:
while chunk k+1 is being computed, the robot keeps executing chunk k. The
first d actions of the new chunk (d = inference delay in ticks) will be
executed from the old chunk anyway, and the next ones should agree with it so
the switch does not jump. At every Euler step of the flow (t from 0 = noise
to 1 = data) the velocity v(x_t) is corrected by a guidance term pulling the
predicted final chunk x1_hat = x_t + (1 - t) v towards the previous chunk's
remaining actions Y under a soft mask W:

    g   = [W * (Y - x1_hat)]^T  d x1_hat / d x_t        (one vector-Jacobian product)
    v'  = v + min(beta, (1 - t) / (t r_t^2)) * g,   r_t^2 = (1 - t)^2 / (t^2 + (1 - t)^2)

W is 1 over the first d actions (they are committed), decays to 0 by the end
of the prefix (the previous chunk's remaining actions; exponential as in the
paper, or linear), and is 0 beyond it. beta caps the guidance weight (5 in
the paper's code; the raw weight is infinite at t = 0).

Diffusion heads (the paper treats flow policies) use replacement inpainting
instead of gradient guidance: after each denoising step the sample is
blended, under the same soft mask, with the prefix noised to the next step's
level, x <- W q(Y, a_next) + (1 - W) x, with q(Y, a) = sqrt(a) Y +
sqrt(1 - a) noise (RePaint-style; no guidance weight, exact on the first d
actions at the end). A gradient-guided variant through the clean-sample
estimate was tried and did not pull an untrained DDIM sampler towards the
prefix (the correction scales as (1 - a) / a), so it is not offered.

Method "inpaint" applies that replacement to flow heads too (on the flow
path, x_t <- W ((1 - t) noise + t Y) + (1 - W) x_t after each Euler step).
Measured on a trained so101_lift flow policy (benchmarks/bench_rtc.py), the
guidance barely moves the chunk: a confident network's x1_hat hardly depends
on x_t, so the vector-Jacobian product is small; inpainting matches the
committed actions exactly and costs no backward pass.

Everything here is in the head's normalized action space.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

SCHEDULES = ("exp", "linear", "ones", "zeros")
METHODS = ("guidance", "inpaint")


def soft_mask(horizon: int, prefix_len: int, delay: int, schedule: str = "exp") -> torch.Tensor:
    """Prefix weights (Ta,): 1 for i < delay, decaying to 0 at i = prefix_len, 0 beyond.

    schedule: "exp" c (e^c - 1) / (e - 1) with c = (P - i) / (P - d + 1) (the paper's),
    "linear" c, "ones" 1 over the whole prefix, "zeros" 1 over the delay only.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown RTC schedule {schedule!r}; one of {SCHEDULES}")
    p = max(0, min(int(prefix_len), horizon))
    d = max(0, min(int(delay), p))
    w = torch.zeros(horizon)
    w[:d] = 1.0
    idx = torch.arange(d, p, dtype=torch.float32)
    if len(idx):
        c = (p - idx) / (p - d + 1)
        if schedule == "exp":
            w[d:p] = c * (torch.exp(c) - 1.0) / (math.e - 1.0)
        elif schedule == "linear":
            w[d:p] = c
        elif schedule == "ones":
            w[d:p] = 1.0
    return w


def guidance_weight(t: float, max_weight: float) -> float:
    """min(beta, (1 - t) / (t r_t^2)) with r_t^2 = (1 - t)^2 / (t^2 + (1 - t)^2); t in [0, 1]."""
    if t <= 0.0:
        return float(max_weight)
    if t >= 1.0:
        return 0.0
    r2 = (1.0 - t) ** 2 / (t**2 + (1.0 - t) ** 2)
    return float(min(max_weight, (1.0 - t) / (t * r2)))


@dataclass
class PrefixGuide:
    """What guided sampling needs: target Y (B, Ta, Da) normalized, mask W (Ta,), cap beta.

    `weights` records the guidance weight used at each step (inspection, tests).
    """

    target: torch.Tensor
    mask: torch.Tensor
    max_weight: float = 5.0
    method: str = "guidance"

    def __post_init__(self) -> None:
        if self.max_weight <= 0:
            raise ValueError(f"max_guidance_weight must be > 0, got {self.max_weight}")
        if self.method not in METHODS:
            raise ValueError(f"unknown RTC method {self.method!r}; one of {METHODS}")
        self.weights: list[float] = []

    @classmethod
    def from_prefix(
        cls, prefix: torch.Tensor, horizon: int, delay: int, schedule: str, max_weight: float,
        method: str = "guidance",
    ) -> PrefixGuide:
        """Guide from a normalized prefix (B, K, Da): padded to (B, Ta, Da), mask over its K steps."""
        if prefix.dim() != 3:
            raise ValueError(f"prefix must be (B, K, Da), got shape {tuple(prefix.shape)}")
        k = min(prefix.shape[1], horizon)
        target = torch.zeros(prefix.shape[0], horizon, prefix.shape[2], dtype=prefix.dtype, device=prefix.device)
        target[:, :k] = prefix[:, :k]
        mask = soft_mask(horizon, k, delay, schedule).to(device=prefix.device, dtype=prefix.dtype)
        return cls(target, mask, max_weight, method)

    def gradient(self, x: torch.Tensor, x1_hat: torch.Tensor) -> torch.Tensor:
        """[W * (Y - x1_hat)]^T d x1_hat / d x (B, Ta, Da); x requires grad, x1_hat was built from it."""
        err = (self.target - x1_hat) * self.mask[None, :, None]
        (grad,) = torch.autograd.grad(x1_hat, x, grad_outputs=err.detach())
        return grad

    def inpaint(self, x: torch.Tensor, a_next: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Diffusion: blend x (B, Ta, Da) with the prefix noised to level a_next (alpha_cumprod)."""
        noised = a_next.sqrt() * self.target + (1.0 - a_next).sqrt() * noise
        w = self.mask[None, :, None]
        return w * noised + (1.0 - w) * x

    def inpaint_flow(self, x: torch.Tensor, t: float, noise: torch.Tensor) -> torch.Tensor:
        """Flow: blend x_t (B, Ta, Da) with the prefix on the same path, (1 - t) noise + t Y."""
        w = self.mask[None, :, None]
        return w * ((1.0 - t) * noise + t * self.target) + (1.0 - w) * x

    def weight(self, t: float) -> float:
        """The capped guidance weight at flow time t, recorded in `weights`."""
        w = guidance_weight(t, self.max_weight)
        self.weights.append(w)
        return w

    def correction(self, x: torch.Tensor, v: torch.Tensor, x1_hat: torch.Tensor, t: float) -> torch.Tensor:
        """Guidance term (B, Ta, Da) added to the flow velocity at time t."""
        return self.weight(t) * self.gradient(x, x1_hat)
