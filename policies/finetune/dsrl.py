"""DSRL-SAC: SAC over the initial noise of a frozen diffusion/flow policy (`NoiseSteeredPolicy`).

One RL step = one executed chunk: the actor picks a squashed noise u in [-1, 1]
(w = magnitude * u), the base samples its chunk from w deterministically, the
first Te actions run, rewards are summed with a discount per executed action
and the bootstrap discount is gamma^(actions executed). Critics: an ensemble of
LayerNorm MLPs (min backup, Polyak targets), optionally seeing privileged state.
The replay starts with `warmup_steps` RL steps at w ~ N(0, I): the base as it is.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn

from policies.finetune.config import SACConfig
from policies.finetune.rollout import Timing, Wave, privileged, tensor
from policies.finetune.wrappers import NoiseSteeredPolicy, mlp, zero_obs


class Replay:
    """Fixed-size ring buffer of numpy arrays (saved with the training state for resume)."""

    FIELDS = ("f", "cf", "u", "r", "disc", "done", "f2", "cf2")

    def __init__(self, size: int, dims: dict[str, int], extra: tuple[str, ...] = ()) -> None:
        self.size, self.n, self.i = size, 0, 0
        self.fields = self.FIELDS + extra
        self.data = {k: np.zeros((size, dims.get(k, 1)), np.float32) for k in self.fields}

    def add(self, **rows: np.ndarray) -> None:
        m = len(rows["u"])
        for j in range(m):
            for k in self.fields:
                self.data[k][self.i] = rows[k][j]
            self.i = (self.i + 1) % self.size
            self.n = min(self.n + 1, self.size)

    def sample(self, batch: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        idx = rng.integers(0, self.n, batch)
        return {k: torch.from_numpy(v[idx]) for k, v in self.data.items()}


def squash_logp(mean: torch.Tensor, log_std: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Reparameterized tanh-Gaussian sample u (B, D) and its log-prob (B,)."""
    std = log_std.exp()
    x = mean + std * torch.randn_like(mean)
    u = torch.tanh(x)
    logp = torch.distributions.Normal(mean, std).log_prob(x) - torch.log(1 - u.pow(2) + 1e-6)
    return u, logp.sum(1)


class DSRLSAC(nn.Module):
    """Critics, targets, temperature and optimizers; `collect` runs a wave, updating as it goes."""

    def __init__(self, policy: NoiseSteeredPolicy, cfg: SACConfig, critic_extra: int,
                 privileged_critic: bool = True, absorbing_success: bool = True) -> None:
        super().__init__()
        self.cfg, self.privileged_critic, self.absorbing_success = cfg, privileged_critic, absorbing_success
        self._policy = [policy]  # not a submodule: the policy is checkpointed on its own
        nd = policy.noise_dim
        cin = policy.features.dim + critic_extra
        self.critics = nn.ModuleList(mlp([cin + nd, *cfg.critic_hidden, 1], layer_norm=True, act=nn.ReLU)
                                     for _ in range(cfg.n_critics))
        self.targets = copy.deepcopy(self.critics).requires_grad_(False)
        self.log_alpha = nn.Parameter(torch.tensor(float(np.log(cfg.init_alpha))))
        self.target_entropy = -cfg.target_entropy_scale * nd
        self.actor_opt = torch.optim.Adam(policy.actor.parameters(), lr=cfg.lr)
        self.critic_opt = torch.optim.Adam(self.critics.parameters(), lr=cfg.lr)
        self.alpha_opt = torch.optim.Adam([self.log_alpha], lr=cfg.lr)
        self.optimizers = {"actor": self.actor_opt, "critic": self.critic_opt, "alpha": self.alpha_opt}
        self.na = cfg.variant == "na"
        dims = {"f": policy.features.dim, "f2": policy.features.dim, "cf": cin, "cf2": cin, "u": nd}
        if self.na:  # DSRL-NA: critics on real action chunks; the base's conditioning kept to re-sample
            s = policy.base.spec
            self.chunk_dim = s.horizon * s.action_dim
            self.action_critics = nn.ModuleList(
                mlp([cin + self.chunk_dim, *cfg.critic_hidden, 1], layer_norm=True, act=nn.ReLU)
                for _ in range(cfg.n_critics))
            self.action_targets = copy.deepcopy(self.action_critics).requires_grad_(False)
            self.action_opt = torch.optim.Adam(self.action_critics.parameters(), lr=cfg.lr)
            self.optimizers["action_critic"] = self.action_opt
            dims.update(cond=self._cond(zero_obs(s)).shape[1], a=self.chunk_dim)
            dims["cond2"] = dims["cond"]
        self.replay = Replay(cfg.buffer, dims, ("cond", "cond2", "a") if self.na else ())
        self.rl_steps = 0  # transitions collected so far (warm-up counts these)
        self.last: dict[str, float] = {}

    @property
    def policy(self) -> NoiseSteeredPolicy:
        return self._policy[0]

    @torch.no_grad()
    def _cond(self, obs: Any) -> torch.Tensor:
        """(B, Dc) conditioning of the frozen base (DSRL-NA re-samples chunks from it)."""
        base = self.policy.base
        prepared, instructions, _ = base._prepare_obs(obs)
        cond = base.encode(prepared, instructions)
        if cond.dim() != 2:
            raise ValueError("sac.variant=na needs a base with a flat conditioning vector (not token-conditioned "
                             "VLA); use sac.variant=sac")
        return cond.float()

    @torch.no_grad()
    def _chunks(self, cond: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Normalized (B, Ta*Da) chunks the base samples from squashed noise actions u."""
        return self.policy.base.head.sample(cond, self.policy.noise_of(u)).reshape(len(u), -1)

    def _q(self, nets: nn.ModuleList, cf: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        x = torch.cat([cf, u], 1)
        return torch.stack([q(x).squeeze(-1) for q in nets])  # (n_critics, B)

    @torch.no_grad()
    def collect(self, vec: Any, seeds: list[int], limit: int, rng: np.random.Generator,
                timing: Timing) -> dict[str, Any]:
        """One wave of chunk-level RL steps, with `utd` updates per new transition once warm."""
        pol, cfg = self.policy, self.cfg
        wave = Wave(vec, pol, seeds, cfg.gamma if self.absorbing_success else 0.0)
        te = pol.spec.n_action_steps
        ticks = 0
        timing.tic("base")
        obs = wave.obs()
        f = pol.features(obs)
        timing.toc("base")
        cf = torch.cat([f, tensor(privileged(vec, self.privileged_critic))], 1)
        cond = self._cond(obs) if self.na else None
        while ticks < limit and not vec.done.all():
            timing.tic("actor")
            if self.rl_steps < cfg.warmup_steps:  # the base as it is: w ~ N(0, I)
                u = (torch.randn(vec.num_envs, pol.noise_dim) / pol.cfg.magnitude).clamp(-0.999, 0.999)
            else:
                u, _ = squash_logp(*pol.head_out(f))
            timing.toc("actor")
            timing.tic("base")
            chunk = tensor(pol.chunk_for(obs, u)).numpy()
            timing.toc("base")
            start_live = ~vec.done
            ret = np.zeros(vec.num_envs)
            disc = np.ones(vec.num_envs)
            terminal = np.zeros(vec.num_envs, bool)
            timing.tic("env")
            for j in range(te):
                if ticks >= limit or vec.done.all():
                    break
                live, rew, term, _ = wave.step(chunk[:, j])
                ret += np.where(live, disc * rew, 0.0)
                disc = np.where(live, disc * cfg.gamma, disc)
                terminal |= term
                ticks += 1
            timing.toc("env")
            timing.tic("base")
            obs = wave.obs()
            f2 = pol.features(obs)
            timing.toc("base")
            cf2 = torch.cat([f2, tensor(privileged(vec, self.privileged_critic))], 1)
            m = start_live
            rows = dict(f=f.numpy()[m], cf=cf.numpy()[m], u=u.numpy()[m], r=ret[m, None], disc=disc[m, None],
                        done=terminal[m, None].astype(np.float32), f2=f2.numpy()[m], cf2=cf2.numpy()[m])
            if self.na:
                cond2 = self._cond(obs)
                a = pol.base.action_normalizer.normalize(torch.as_tensor(chunk)).reshape(len(chunk), -1)
                rows.update(cond=cond.numpy()[m], cond2=cond2.numpy()[m], a=a.numpy()[m])
                cond = cond2
            self.replay.add(**rows)
            self.rl_steps += int(m.sum())
            f, cf = f2, cf2
            if self.rl_steps >= cfg.warmup_steps and self.replay.n >= cfg.batch:
                timing.tic("update")
                with torch.enable_grad():
                    for _ in range(cfg.utd * int(m.sum())):
                        self.last = self.update(rng)
                timing.toc("update")
        return {"successes": int(vec.succeeded.sum()), "episodes": vec.num_envs,
                "mean_return": float(wave.returns.mean()), "env_steps": int(wave.lengths.sum())}

    def update(self, rng: np.random.Generator) -> dict[str, float]:
        """One SAC step: critics (min-of-ensemble backup), actor, temperature, Polyak targets."""
        cfg, pol = self.cfg, self.policy
        b = self.replay.sample(cfg.batch, rng)
        alpha = self.log_alpha.exp().detach()
        if self.na:
            return self._update_na(b, alpha)
        with torch.no_grad():
            u2, logp2 = squash_logp(*pol.head_out(b["f2"]))
            q2 = self._q(self.targets, b["cf2"], u2).min(0).values - alpha * logp2
            y = b["r"][:, 0] + b["disc"][:, 0] * (1 - b["done"][:, 0]) * q2
        q = self._q(self.critics, b["cf"], b["u"])
        critic_loss = ((q - y[None]) ** 2).mean(1).sum()
        self.critic_opt.zero_grad()
        critic_loss.backward()
        self.critic_opt.step()
        return self._actor_step(b, alpha, {"critic_loss": float(critic_loss.detach()), "q": float(q.detach().mean())})

    def _update_na(self, b: dict[str, torch.Tensor], alpha: torch.Tensor) -> dict[str, float]:
        """DSRL-NA: TD on Q(s, a) over real chunks, then distill Q(s, w) from it at w ~ N(0, I)."""
        cfg, pol = self.cfg, self.policy
        with torch.no_grad():
            u2, logp2 = squash_logp(*pol.head_out(b["f2"]))
            a2 = self._chunks(b["cond2"], u2)
            q2 = self._q(self.action_targets, b["cf2"], a2).min(0).values - alpha * logp2
            y = b["r"][:, 0] + b["disc"][:, 0] * (1 - b["done"][:, 0]) * q2
        qa = self._q(self.action_critics, b["cf"], b["a"])
        action_loss = ((qa - y[None]) ** 2).mean(1).sum()
        self.action_opt.zero_grad()
        action_loss.backward()
        self.action_opt.step()
        with torch.no_grad():  # random noise draws, aliased to the actions they produce
            u_rand = (torch.randn_like(b["u"]) / pol.cfg.magnitude).clamp(-0.999, 0.999)
            target = self._q(self.action_critics, b["cf"], self._chunks(b["cond"], u_rand)).min(0).values
        qw = self._q(self.critics, b["cf"], u_rand)
        distill = ((qw - target[None]) ** 2).mean(1).sum()
        self.critic_opt.zero_grad()
        distill.backward()
        self.critic_opt.step()
        with torch.no_grad():
            for t, c in zip(self.action_targets.parameters(), self.action_critics.parameters(), strict=True):
                t.lerp_(c, cfg.tau)
        return self._actor_step(b, alpha, {"critic_loss": float(action_loss.detach()),
                                           "distill_loss": float(distill.detach()), "q": float(qa.detach().mean())})

    def _actor_step(self, b: dict[str, torch.Tensor], alpha: torch.Tensor, out: dict[str, float]) -> dict[str, float]:
        """Actor against the (noise) critics, temperature, Polyak targets of the noise critics."""
        cfg, pol = self.cfg, self.policy
        u, logp = squash_logp(*pol.head_out(b["f"]))
        q_pi = self._q(self.critics, b["cf"], u).min(0).values
        actor_loss = (alpha * logp - q_pi).mean()
        self.actor_opt.zero_grad()
        actor_loss.backward()
        self.actor_opt.step()
        alpha_loss = -(self.log_alpha * (logp.detach() + self.target_entropy)).mean()
        self.alpha_opt.zero_grad()
        alpha_loss.backward()
        self.alpha_opt.step()
        with torch.no_grad():
            for t, c in zip(self.targets.parameters(), self.critics.parameters(), strict=True):
                t.lerp_(c, cfg.tau)
        return {**out, "actor_loss": float(actor_loss.detach()), "alpha": float(alpha)}
