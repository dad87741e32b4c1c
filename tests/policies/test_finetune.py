"""RL fine-tuning wrappers and runs on real MuJoCo tasks with tiny real policies."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_eval import tiny_policy  # sibling test module

from policies.checkpoint import load_policy, save_policy
from policies.eval import evaluate
from policies.finetune.config import (
    FinetuneConfig,
    NoiseConfig,
    PPOConfig,
    ResidualConfig,
    SACConfig,
)
from policies.finetune.trainer import Finetuner, plot_curves
from policies.finetune.wrappers import NoiseSteeredPolicy, ResidualPolicy, zero_obs
from policies.pipeline import EvalConfig
from sim.registry import make_env


@pytest.fixture(scope="module")
def lift_base():
    torch.manual_seed(0)
    return tiny_policy(make_env("so101_lift", cameras=()))


def _obs(policy, b=3, seed=0):
    obs = zero_obs(policy.spec, b)
    obs["state"] = np.random.default_rng(seed).uniform(-1, 1, obs["state"].shape).astype(np.float32)
    return obs


def _randomize(module, std=3.0):
    torch.manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0.0, std)


def test_zero_residual_is_the_base_exactly(lift_base):
    res = ResidualPolicy(lift_base, ResidualConfig(scale=(0.1,)))
    obs = _obs(lift_base)
    torch.manual_seed(5)
    base_chunk = lift_base.predict_chunk(obs)[:, : lift_base.spec.n_action_steps]
    torch.manual_seed(5)
    res.reset()
    ticks = torch.cat([res.predict_chunk(obs) for _ in range(lift_base.spec.n_action_steps)], 1)
    assert res.spec.horizon == res.spec.n_action_steps == 1
    assert torch.equal(ticks, base_chunk)  # bit for bit: the last layer starts at zero


def test_residual_bound_is_respected(lift_base):
    scale = (0.05, 0.1, 0.1, 0.2, 0.1, 0.3)
    res = ResidualPolicy(lift_base, ResidualConfig(scale=scale))
    _randomize(res.actor)
    obs = _obs(lift_base, b=16)
    torch.manual_seed(2)
    a_robot, a_norm = res.base_action(obs)
    out = res.compose(a_robot, res.dist(res.features(obs), a_norm).sample() * 100)
    delta = (lift_base.action_normalizer.normalize(out) - a_norm).abs()
    assert (delta <= torch.tensor(scale) + 1e-5).all()
    assert (delta.max(0).values > 0.9 * torch.tensor(scale)).all()  # saturated: the bound binds


def test_noise_steering_is_deterministic_and_bounded(lift_base):
    pol = NoiseSteeredPolicy(lift_base, NoiseConfig(magnitude=1.5, shape="chunk"))
    _randomize(pol.actor)
    obs = _obs(lift_base)
    seen = []
    sample = lift_base.head.sample

    def spy(cond, noise=None, *a, **k):
        seen.append(noise.clone())
        return sample(cond, noise, *a, **k)

    lift_base.head.sample = spy
    try:
        a, b = pol.predict_chunk(obs), pol.predict_chunk(obs)
    finally:
        lift_base.head.sample = sample
    assert torch.equal(a, b)  # deterministic given the noise the actor picks
    s = lift_base.spec
    assert seen[0].shape == (3, s.horizon, s.action_dim)
    assert seen[0].abs().max() <= 1.5 and seen[0].abs().max() > 1.4  # bounded, and saturated by big weights
    assert torch.equal(lift_base.predict_chunk(obs, noise=seen[0]), a)
    with pytest.raises(ValueError, match="own noise"):
        pol.predict_chunk(obs, noise=seen[0])
    rep = NoiseSteeredPolicy(lift_base, NoiseConfig(shape="repeat"))
    assert rep.noise_dim == s.action_dim
    w = rep.noise_of(torch.ones(2, s.action_dim))
    assert w.shape == (2, s.horizon, s.action_dim) and torch.all(w == 1.5)


@pytest.mark.parametrize("method", ["residual", "noise"])
def test_save_load_round_trip_through_the_normal_loader(lift_base, tmp_path, method):
    pol = ResidualPolicy(lift_base) if method == "residual" else NoiseSteeredPolicy(lift_base)
    _randomize(pol.actor, 0.3)
    save_policy(pol, tmp_path / "ckpt")
    loaded = load_policy(tmp_path / "ckpt")
    assert type(loaded) is type(pol) and set(loaded.spec.observations) == {"state"}
    obs = _obs(lift_base)
    torch.manual_seed(3)
    pol.reset()
    want = pol.predict_chunk(obs)
    torch.manual_seed(3)
    loaded.reset()
    assert torch.equal(loaded.predict_chunk(obs), want)
    # what `robot eval` does with it: the batched evaluator on the real task
    res = evaluate(loaded, "so101_lift", EvalConfig(episodes=2, n_envs=2, max_steps=8),
                   env_overrides={"cameras": ()}, progress=False)
    assert res["episodes"] == 2 and all(e["length"] == 8 for e in res["per_episode"])


def _cfg(method, steps, variant="sac", **kw):
    return FinetuneConfig(method=method, env_steps=steps, n_envs=4, max_steps=50, eval_every=10**9, eval_episodes=4,
                          checkpoint_every=10**9, final_episodes=8,
                          sac=SACConfig(warmup_steps=16, batch=64, utd=1, critic_hidden=(64, 64), variant=variant),
                          ppo=PPOConfig(minibatch=64, epochs=2), residual=ResidualConfig(init_log_std=-0.5), **kw)


@pytest.mark.parametrize("variant, margin", [("sac", 3.0), ("na", 2.0)])
def test_noise_steering_improves_a_tiny_policy_on_so101_lift(lift_base, tmp_path, variant, margin):
    """1,000 env steps of DSRL-SAC (or DSRL-NA) on the reach-shaped lift reward: the held-out return improves.

    (The tiny untrained base never lifts the cube, so success stays 0 for both; the
    improvement is measured on the task's return, on the same held-out seeds.)
    """
    save_policy(lift_base, tmp_path / "base")
    torch.manual_seed(0)
    tuner = Finetuner(_cfg("noise", 1000, variant), tmp_path / "base", "so101_lift", tmp_path / "run", progress=False)
    try:
        tuner.train()
        table = tuner.final_table()
    finally:
        tuner.close()
    base, tuned = table["base"]["mean_return"], table["finetuned"]["mean_return"]
    assert tuned > base + margin, (base, tuned)  # when written: sac -13.4 -> -4.4, na -13.4 -> -9.6
    png = plot_curves(tmp_path / "run")
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert isinstance(load_policy(tmp_path / "run" / (tmp_path / "run" / "latest").read_text().strip()),
                      NoiseSteeredPolicy)


@pytest.mark.parametrize("method, variant", [("residual", "sac"), ("noise", "sac"), ("noise", "na")])
def test_resume_continues_exactly(lift_base, tmp_path, method, variant):
    save_policy(lift_base, tmp_path / "base")

    def run(out, stop=None, resume=False):
        tuner = Finetuner(_cfg(method, 400, variant), tmp_path / "base", "so101_lift", out, resume=resume, progress=False)
        try:
            tuner.train(stop_after_steps=stop)
            return tuner.env_steps, {k: v.clone() for k, v in tuner.policy.actor.state_dict().items()}
        finally:
            tuner.close()

    steps, straight = run(tmp_path / "a")
    half, _ = run(tmp_path / "b", stop=200)
    assert 0 < half < steps
    again, resumed = run(tmp_path / "b", resume=True)
    assert again == steps
    for k, v in straight.items():
        torch.testing.assert_close(resumed[k], v, rtol=0, atol=0)
    rows_a = (tmp_path / "a" / "curves.csv").read_text().splitlines()
    rows_b = (tmp_path / "b" / "curves.csv").read_text().splitlines()
    assert len(rows_a) == len(rows_b)



def test_progressive_exploration_starts_with_the_residual_off(lift_base):
    """Policy Decorator's schedule: at 0 env steps of progressive_steps the residual is never applied,
    so the wave runs the base, and those steps carry no policy gradient."""
    import numpy as np

    from policies.finetune.ppo import ResidualPPO
    from policies.finetune.rollout import Timing
    from sim.vector import make_vector_env

    res = ResidualPolicy(lift_base, ResidualConfig(init_log_std=0.0))
    ppo = ResidualPPO(res, PPOConfig(minibatch=32, epochs=1), critic_extra=0, progressive_steps=10**9,
                      privileged_critic=False)
    vec = make_vector_env("so101_lift", 2, settle_ticks=5, stop_on_success=True, cameras=())
    try:
        flat, stats = ppo.collect(vec, [0, 1], 10, 0, np.random.default_rng(0), Timing())
        before = [p.clone() for p in res.actor.parameters()]
        ppo.update(flat, Timing())
    finally:
        vec.close()
    assert stats["env_steps"] == 20 and not flat["on"].any()
    assert all(torch.equal(a, b) for a, b in zip(before, res.actor.parameters(), strict=True))


class _SucceedAtTick:
    """Two envs paying +2 a tick; env 0 holds success (and freezes) at tick 3, env 1 never does."""

    num_envs = 2

    def reset(self, seed=None):
        self.t, self.done, self.succeeded = 0, np.zeros(2, bool), np.zeros(2, bool)
        return {"state": np.zeros((2, 1), np.float32)}, {}

    def step(self, actions):
        self.t += 1
        rew = np.where(self.done, 0.0, 2.0).astype(np.float32)
        if self.t == 3:
            self.succeeded[0] = self.done[0] = True
        return {"state": np.zeros((2, 1), np.float32)}, rew, np.zeros(2, bool), np.zeros(2, bool), {}


def test_held_success_is_absorbing_not_a_dead_end():
    """With positive shaped rewards, a plain terminal at success is worth less than not succeeding;
    the learner's reward at the success tick carries the success state's value forever,
    while the reported returns stay the env's own."""
    from types import SimpleNamespace

    from policies.finetune.rollout import Wave

    pol = SimpleNamespace(spec=SimpleNamespace(n_obs_steps=1), reset=lambda: None)
    wave = Wave(_SucceedAtTick(), pol, [0, 1], absorbing_gamma=0.9)
    rews = [wave.step(np.zeros((2, 1)))[1] for _ in range(3)]
    live, rew, terminal, ended = wave.step(np.zeros((2, 1)))
    assert rews[1].tolist() == [2.0, 2.0] and rews[2][0] == pytest.approx(2.0 + 0.9 / 0.1 * 2.0)
    assert rews[2][1] == 2.0 and wave.returns.tolist() == [6.0, 8.0]
    assert live.tolist() == [False, True] and rew[1] == 2.0
    plain = Wave(_SucceedAtTick(), pol, [0, 1])
    assert [plain.step(np.zeros((2, 1)))[1][0] for _ in range(3)] == [2.0, 2.0, 2.0]
