"""Configs of RL fine-tuning: the wrappers (what deploys) and the algorithms (what trains them).

    cfg = load_config(FinetuneConfig, "configs/finetune/residual.yaml", ["ppo.lr=1e-4"])

Sizes default to a 2-core CPU; the presets in configs/finetune/ say where they differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class ResidualConfig:
    """`a = a_base + scale * tanh(r)` in the base policy's normalized action units.

    scale: per-joint bound (one value for all, or one per action dim); ResiP uses 0.1.
    hidden: the residual actor's MLP widths; its last layer starts at zero, so
        fine-tuning starts exactly at the base policy.
    init_log_std: exploration of the pre-tanh Gaussian at the start.
    progressive_steps: > 0 switches the residual on per env step with probability
        growing linearly from 0 to 1 over that many env steps (Policy Decorator's
        progressive exploration); steps it is off for carry no policy gradient.
    """

    scale: tuple[float, ...] = (0.1,)
    hidden: tuple[int, ...] = (64, 64)
    init_log_std: float = -1.0
    progressive_steps: int = 0


@dataclass(frozen=True)
class NoiseConfig:
    """The noise actor of latent-noise steering (DSRL): `w = magnitude * tanh(.)`.

    shape: "chunk" = one (Ta, Da) noise per chunk (DSRL on Diffusion Policy);
        "repeat" = one Da vector repeated over the chunk (DSRL on pi0): fewer
        dimensions, faster to learn on a CPU budget.
    """

    magnitude: float = 1.5
    shape: Literal["chunk", "repeat"] = "repeat"
    hidden: tuple[int, ...] = (128, 128)


@dataclass(frozen=True)
class PPOConfig:
    """PPO on lockstep waves of B envs: one iteration = one episode of every env.

    gamma/lam: GAE. clip: ratio clip. target_kl: stop an iteration's epochs once
    the approximate KL passes it. normalize_reward: divide rewards by the running
    std of the discounted return; the value head predicts normalized returns.
    """

    lr: float = 3e-4
    value_lr: float = 1e-3
    gamma: float = 0.99
    lam: float = 0.95
    clip: float = 0.2
    epochs: int = 4
    minibatch: int = 512
    target_kl: float = 0.03
    entropy_coef: float = 0.0
    normalize_reward: bool = True
    max_grad_norm: float = 1.0
    value_hidden: tuple[int, ...] = (128, 128)


@dataclass(frozen=True)
class SACConfig:
    """DSRL-SAC over the noise space: one RL step = one executed chunk.

    utd: gradient updates per collected RL step (DSRL uses 20; less on a CPU).
    warmup_steps: RL steps collected with w ~ N(0, I) (the base policy as is)
        before the actor acts, filling the replay first.
    n_critics: ensemble of LayerNorm critics, bootstrapped with their min.
    variant: "sac" = DSRL-SAC (critics on the noise); "na" = DSRL-NA (noise-aliased):
        critics Q(s, a) on the real action chunks learn by TD, a noise critic
        Q(s, w) is distilled from them at random draws w ~ N(0, I) (one base
        sampling per draw), and the actor maximizes the noise critic.
    """

    lr: float = 3e-4
    gamma: float = 0.99
    tau: float = 0.005
    batch: int = 256
    utd: int = 2
    buffer: int = 100_000
    warmup_steps: int = 200
    n_critics: int = 2
    critic_hidden: tuple[int, ...] = (256, 256)
    init_alpha: float = 0.1
    target_entropy_scale: float = 1.0
    variant: Literal["sac", "na"] = "sac"


@dataclass(frozen=True)
class FinetuneConfig:
    """One fine-tuning run.

    method: "residual" (PPO on a residual) or "noise" (DSRL-SAC on the initial noise).
    env_steps: total env steps (executed actions) to train for.
    n_envs: envs per lockstep wave (sim.vector.VectorEnv).
    eval_every / eval_episodes: deterministic evaluation of the fine-tuned policy
        on held-out seeds for the learning curve (every that many env steps).
    checkpoint_every: env steps between resumable checkpoints.
    privileged_critic: critics also see the env's privileged object state
        (asymmetric actor-critic); actors only ever see the base policy's inputs.
    settle_ticks: success must hold that many ticks to count (as evaluation).
    absorbing_success: value a held success as staying there forever (rollout.Wave);
        off, succeeding ends the episode's positive shaped rewards and RL avoids it.
    """

    method: Literal["residual", "noise"] = "residual"
    env_steps: int = 50_000
    n_envs: int = 8
    seed: int = 0
    max_steps: int = 0
    eval_every: int = 10_000
    eval_episodes: int = 20
    eval_seed: int = 100_000
    checkpoint_every: int = 10_000
    settle_ticks: int = 5
    absorbing_success: bool = True
    privileged_critic: bool = True
    final_episodes: int = 50
    env: dict = field(default_factory=dict)
    residual: ResidualConfig = field(default_factory=ResidualConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    sac: SACConfig = field(default_factory=SACConfig)
