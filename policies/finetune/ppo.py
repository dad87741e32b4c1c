"""PPO on the residual of a `ResidualPolicy`: GAE, clipping, reward and value normalization, KL stop.

One iteration = one lockstep wave (an episode per env, `rollout.Wave`); the
residual is sampled from its pre-tanh Gaussian, the value net may see the
env's privileged state (asymmetric actor-critic). The actor's log-probs are
those of the pre-tanh sample; the squashing lives in `ResidualPolicy.compose`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from policies.finetune.config import PPOConfig
from policies.finetune.rollout import Timing, Wave, privileged, tensor
from policies.finetune.wrappers import ResidualPolicy, mlp


class RunningStat(nn.Module):
    """Running mean and variance (parallel Welford), kept as buffers so checkpoints carry it."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(()))
        self.register_buffer("var", torch.ones(()))
        self.register_buffer("count", torch.tensor(1e-4))

    def update(self, x: torch.Tensor) -> None:
        x = x.reshape(-1).double()
        if x.numel() == 0:
            return
        b_mean, b_var, n = x.mean(), x.var(unbiased=False), x.numel()
        delta, tot = b_mean - self.mean, self.count + n
        self.mean.copy_((self.mean + delta * n / tot).float())
        m2 = self.var * self.count + b_var * n + delta**2 * self.count * n / tot
        self.var.copy_((m2 / tot).float())
        self.count.copy_(tot.float())

    @property
    def std(self) -> torch.Tensor:
        return self.var.clamp_min(1e-8).sqrt()


class ResidualPPO(nn.Module):
    """The PPO learner: value net, optimizers, normalizers; `collect` then `update` per iteration."""

    def __init__(self, policy: ResidualPolicy, cfg: PPOConfig, critic_extra: int, progressive_steps: int = 0,
                 privileged_critic: bool = True, absorbing_success: bool = True) -> None:
        super().__init__()
        self.policy, self.cfg, self.absorbing_success = policy, cfg, absorbing_success
        self.progressive_steps, self.privileged_critic = progressive_steps, privileged_critic
        da = policy.spec.action_dim
        self.value = mlp([policy.features.dim + da + critic_extra, *cfg.value_hidden, 1])
        self.ret_stat, self.value_stat = RunningStat(), RunningStat()
        self.actor_opt = torch.optim.Adam([*policy.actor.parameters(), policy.log_std], lr=cfg.lr)
        self.value_opt = torch.optim.Adam(self.value.parameters(), lr=cfg.value_lr)
        self.optimizers = {"actor": self.actor_opt, "value": self.value_opt}

    def _v(self, cf: torch.Tensor) -> torch.Tensor:
        """Denormalized value of critic inputs (B, C)."""
        return self.value(cf).squeeze(-1) * self.value_stat.std + self.value_stat.mean

    @torch.no_grad()
    def collect(self, vec: Any, seeds: list[int], limit: int, env_steps: int, rng: np.random.Generator,
                timing: Timing) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """One wave -> (flat transitions of live steps, stats: successes, returns, lengths, env_steps)."""
        pol, cfg = self.policy, self.cfg
        wave = Wave(vec, pol, seeds, cfg.gamma if self.absorbing_success else 0.0)
        p_on = 1.0 if self.progressive_steps <= 0 else min(1.0, env_steps / self.progressive_steps)
        keys = ("feats", "abase", "cf", "u", "logp", "on", "v", "rew", "live", "terminal", "ended")
        buf: dict[str, list] = {k: [] for k in keys}
        disc_ret = np.zeros(vec.num_envs)
        for _ in range(limit):
            if vec.done.all():
                break
            timing.tic("base")
            obs = wave.obs()
            feats = pol.features(obs)
            a_robot, a_base = (tensor(x) for x in pol.base_action(obs))
            timing.toc("base")
            timing.tic("actor")
            cf = torch.cat([feats, a_base, tensor(privileged(vec, self.privileged_critic))], 1)
            d = pol.dist(feats, a_base)
            u = d.sample()
            on = torch.as_tensor(rng.random(vec.num_envs) < p_on)
            action = pol.compose(a_robot, torch.where(on[:, None], u, torch.zeros_like(u))).numpy()
            v = self._v(cf)
            timing.toc("actor")
            timing.tic("env")
            live, rew, terminal, ended = wave.step(action)
            timing.toc("env")
            disc_ret = disc_ret * cfg.gamma + rew
            if cfg.normalize_reward:
                self.ret_stat.update(torch.as_tensor(disc_ret[live]))
            disc_ret[ended] = 0.0
            for k, x in zip(keys, (feats, a_base, cf, u, d.log_prob(u).sum(1), on, v, tensor(rew),
                                   torch.as_tensor(live), torch.as_tensor(terminal), torch.as_tensor(ended)),
                            strict=True):
                buf[k].append(x)
        obs = wave.obs()
        feats = pol.features(obs)
        a_base = tensor(pol.base_action(obs)[1])
        last_v = self._v(torch.cat([feats, a_base, tensor(privileged(vec, self.privileged_critic))], 1))
        data = {k: torch.stack(x) for k, x in buf.items()}  # (T, B, ...)
        data["adv"], data["ret"] = self._gae(data, last_v)
        live = data["live"].bool()
        flat = {k: v[live] for k, v in data.items() if k not in ("live", "terminal", "ended", "rew")}
        stats = {"successes": int(vec.succeeded.sum()), "episodes": vec.num_envs,
                 "mean_return": float(wave.returns.mean()), "env_steps": int(wave.lengths.sum())}
        return flat, stats

    def _gae(self, d: dict[str, torch.Tensor], last_v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Advantages and value targets (T, B); rewards divided by the running return std if enabled."""
        cfg = self.cfg
        scale = self.ret_stat.std if cfg.normalize_reward else torch.tensor(1.0)
        rew = d["rew"] / scale
        values = d["v"] / scale
        nxt = torch.cat([values[1:], (last_v / scale)[None]])
        t_len = rew.shape[0]
        adv = torch.zeros_like(rew)
        gae = torch.zeros_like(rew[0])
        for t in reversed(range(t_len)):
            live, term, end = d["live"][t].float(), d["terminal"][t].float(), d["ended"][t].float()
            delta = rew[t] + cfg.gamma * nxt[t] * (1 - term) - values[t]
            gae = (delta + cfg.gamma * cfg.lam * (1 - end) * gae) * live
            adv[t] = gae
        return adv, (adv + values) * scale

    def update(self, flat: dict[str, torch.Tensor], timing: Timing) -> dict[str, float]:
        """PPO epochs over the wave's transitions; stops early past target_kl."""
        cfg, pol = self.cfg, self.policy
        timing.tic("update")
        n = flat["u"].shape[0]
        self.value_stat.update(flat["ret"])
        ret_n = (flat["ret"] - self.value_stat.mean) / self.value_stat.std
        adv = flat["adv"]
        adv = (adv - adv.mean()) / (adv.std() + 1e-8) if n > 1 else adv
        on = flat["on"].bool()
        kl, clipfrac, epochs = 0.0, 0.0, 0
        for _ in range(cfg.epochs):
            epochs += 1
            perm = torch.randperm(n)
            for start in range(0, n, cfg.minibatch):
                idx = perm[start : start + cfg.minibatch]
                d = pol.dist(flat["feats"][idx], flat["abase"][idx])
                logp = d.log_prob(flat["u"][idx]).sum(1)
                log_ratio = logp - flat["logp"][idx]
                ratio = log_ratio.exp()
                a, m = adv[idx], on[idx].float()
                pg = -torch.min(ratio * a, ratio.clamp(1 - cfg.clip, 1 + cfg.clip) * a)
                pg = (pg * m).sum() / m.sum().clamp_min(1.0)
                loss = pg - cfg.entropy_coef * d.entropy().sum(1).mean()
                self.actor_opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_([*pol.actor.parameters(), pol.log_std], cfg.max_grad_norm)
                self.actor_opt.step()
                v_loss = ((self.value(flat["cf"][idx]).squeeze(-1) - ret_n[idx]) ** 2).mean()
                self.value_opt.zero_grad()
                v_loss.backward()
                nn.utils.clip_grad_norm_(self.value.parameters(), cfg.max_grad_norm)
                self.value_opt.step()
                with torch.no_grad():
                    kl = float((((ratio - 1) - log_ratio) * m).sum() / m.sum().clamp_min(1.0))
                    clipfrac = float(((ratio - 1).abs() > cfg.clip).float().mean())
            if kl > cfg.target_kl:
                break
        timing.toc("update")
        return {"approx_kl": kl, "clipfrac": clipfrac, "epochs": epochs, "value_loss": float(v_loss.detach()),
                "log_std": float(pol.log_std.detach().mean())}
