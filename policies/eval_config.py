"""The evaluator's config section (`eval:` of a pipeline preset).

Kept apart from `policies/eval.py` for the same reason as `train_config.py`:
the pipeline config, and through it `robot --help`, loads without numpy, torch
or the simulator; `policies.eval` re-exports it, so either import works.
"""

from __future__ import annotations

from dataclasses import dataclass

from robot.config import ConfigError


@dataclass(frozen=True)
class EvalConfig:
    """Batched rollouts in sim: how many, how long, what to record.

    episodes / n_envs: rollouts in total, run `n_envs` at a time in lockstep.
    seed: seed of the first episode (episode i uses seed + i); keep it away from
        the collection seeds so evaluation scenes are unseen.
    max_steps: cap on env steps per episode (0: the task's own time limit).
    stop_on_success: end an episode once its success has held (the score is reached).
    settle_ticks: ticks success must keep holding after its first tick to count,
        as `robot collect` requires before it ends a demo (`LoopConfig.settle_ticks`);
        a success the env ends the episode on (terminated) counts at once.
    videos: mp4s of the first `videos` episodes; `camera` ("" = first camera).
    every: evaluate during training every this many steps (0: only at the end);
        `train_episodes` rollouts each time (a quick estimate, `episodes` at the end).
    inference_steps: denoising / Euler steps (0: the policy's default).
    n_action_steps: actions executed per chunk, Te (0: the policy's own; at most its horizon).
    """

    episodes: int = 50
    n_envs: int = 10
    seed: int = 100_000
    max_steps: int = 0
    stop_on_success: bool = True
    settle_ticks: int = 5
    videos: int = 0
    camera: str = ""
    every: int = 0
    train_episodes: int = 10
    inference_steps: int = 0
    n_action_steps: int = 0

    def __post_init__(self) -> None:
        if self.episodes < 1 or self.n_envs < 1:
            raise ConfigError(f"eval.episodes ({self.episodes}) and eval.n_envs ({self.n_envs}) must be >= 1")
        if self.settle_ticks < 0:
            raise ConfigError(f"eval.settle_ticks must be >= 0, got {self.settle_ticks}")
