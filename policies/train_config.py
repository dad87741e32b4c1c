"""The trainer's config section (`train:` of a pipeline preset).

Kept apart from `policies/train.py` because the pipeline config, and through it
`robot train --help`, must load without torch; the trainer imports it from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from robot.config import ConfigError


@dataclass(frozen=True)
class TrainConfig:
    """Optimizer, schedule, EMA, precision, logging and checkpoint cadence.

    steps: optimizer steps in total (a resumed run continues up to this).
    batch_size: samples per step per process (DDP multiplies by the world size).
    lr / weight_decay / betas: AdamW.
    warmup_steps: linear warm-up from 0; then cosine decay to `lr * min_lr_ratio`.
    grad_clip: max global gradient norm (0 disables clipping).
    ema_decay: max EMA decay; the decay ramps up as 1 - (1 + step)^-ema_power
        (Diffusion Policy's schedule) so early weights are not frozen in.
    amp: bf16 autocast on CUDA (ignored on CPU, where bf16 is slower).
    device: "auto" (cuda when available), "cpu" or "cuda[:i]".
    num_threads: torch CPU threads (0 leaves torch's default).
    log_every / checkpoint_every: in steps; checkpoints are also written at the end.
    keep_checkpoints: how many step checkpoints to keep on disk (the newest).
    tensorboard / wandb: also log there when the package is installed.
    """

    steps: int = 2000
    batch_size: int = 64
    lr: float = 1e-4
    weight_decay: float = 1e-6
    betas: tuple[float, float] = (0.95, 0.999)
    warmup_steps: int = 100
    min_lr_ratio: float = 0.0
    grad_clip: float = 1.0
    ema_decay: float = 0.9999
    ema_power: float = 0.75
    seed: int = 0
    amp: bool = True
    device: str = "auto"
    num_threads: int = 0
    log_every: int = 50
    checkpoint_every: int = 1000
    keep_checkpoints: int = 2
    tensorboard: bool = False
    wandb: bool = False
    find_unused_parameters: bool = False

    def __post_init__(self) -> None:
        for key in ("steps", "batch_size", "log_every", "checkpoint_every", "keep_checkpoints"):
            if getattr(self, key) < 1:
                raise ConfigError(f"train.{key}: {getattr(self, key)} must be >= 1")
        if self.lr <= 0:
            raise ConfigError(f"train.lr: {self.lr} must be > 0")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"train.ema_decay: {self.ema_decay} must be in [0, 1)")
