"""Shared pieces of RL collection on `sim.vector.VectorEnv` (the rollout path evaluation uses).

Collection runs lockstep waves, like evaluation: every env of the batch starts
an episode together, an env that finishes (terminated, truncated, or success
held `settle_ticks`) is frozen, and the wave ends when all are done or the
episode limit is reached. One wave = one episode per env, so the base
policy's chunk queue stays shared by the batch.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from policies.eval import stack_history


def privileged(vec: Any, enabled: bool) -> np.ndarray:
    """(B, P) true object state of every env for asymmetric critics; (B, 0) when off or unsupported."""
    envs = getattr(vec, "envs", None)
    if not enabled or not envs or not hasattr(envs[0], "privileged_features"):
        return np.zeros((vec.num_envs, 0), np.float32)
    return np.stack([env.privileged_features() for env in envs]).astype(np.float32)


def privileged_dim(vec: Any, enabled: bool) -> int:
    """P of `privileged` (valid after a reset)."""
    return int(privileged(vec, enabled).shape[1])


@dataclass
class Timing:
    """Seconds spent per part of the fine-tuning loop (the step-cost split)."""

    env: float = 0.0
    base: float = 0.0
    actor: float = 0.0
    update: float = 0.0
    eval: float = 0.0
    _t: dict[str, float] = field(default_factory=dict)

    def tic(self, name: str) -> None:
        self._t[name] = time.perf_counter()

    def toc(self, name: str) -> None:
        setattr(self, name, getattr(self, name) + time.perf_counter() - self._t.pop(name))

    def as_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in ("env", "base", "actor", "update", "eval")}


class Wave:
    """One lockstep episode of every env: reset with seeds, keep the To-step history, read stats.

    absorbing_gamma > 0: an episode that ends by holding success is an absorbing
    success state, not a dead end. The env freezes there (reward 0 afterwards), but
    the per-step rewards of a grasped, inserted peg are positive, so a plain
    terminal would make succeeding worth less than hovering just short of it until
    the time limit, and RL learns to avoid success. The learner's reward at that tick
    gets `gamma / (1 - gamma) * max(r, 0)`: the value of staying in the success
    state forever. `returns` (the figures) stay the env's own rewards.
    """

    def __init__(self, vec: Any, policy: Any, seeds: list[int], absorbing_gamma: float = 0.0) -> None:
        self.vec, self.policy, self.absorbing_gamma = vec, policy, absorbing_gamma
        obs, _ = vec.reset(seed=seeds)
        policy.reset()
        self.hist: deque = deque([obs] * policy.spec.n_obs_steps, maxlen=policy.spec.n_obs_steps)
        self.returns = np.zeros(vec.num_envs)
        self.lengths = np.zeros(vec.num_envs, dtype=np.int64)

    def obs(self) -> dict[str, Any]:
        """(B, To, ...) observation window of the policy's keys."""
        return stack_history(self.hist, self.policy)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Step live envs -> (live before, rewards, terminal: no bootstrap, ended this tick)."""
        live = ~self.vec.done
        obs, rew, term, trunc, _ = self.vec.step(actions)
        self.hist.append(obs)
        self.returns += np.where(live, rew, 0.0)
        self.lengths += live
        # success held (stop on success) ends the task: terminal like an env termination
        terminal = live & (term | self.vec.succeeded)
        ended = live & self.vec.done
        if self.absorbing_gamma > 0:
            g = self.absorbing_gamma
            rew = np.where(live & self.vec.succeeded, rew + g / (1.0 - g) * np.maximum(rew, 0.0), rew)
        return live, rew, terminal, ended


def tensor(x: Any) -> torch.Tensor:
    """float32 CPU tensor (not an inference tensor, so autograd may use it later)."""
    return torch.as_tensor(np.asarray(x), dtype=torch.float32).clone()
