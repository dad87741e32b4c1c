"""Batched evaluation on real MuJoCo envs with a tiny untrained policy: JSON, videos, plots, semantics."""

from __future__ import annotations

import json

import imageio.v2 as imageio
import numpy as np
import pytest

from policies.config import EncoderConfig, HeadConfig, PolicyConfig
from policies.eval import EvalConfig, evaluate
from policies.plots import plot_run
from policies.registry import build_spec, make_policy
from policies.train_log import MetricsLog
from robot.metrics import wilson_interval
from robot.specs import ArraySpec, PolicySpec
from sim.registry import make_env, make_expert


def tiny_policy(env, kind="flow", obs_keys=("state",)):
    """An untrained tiny policy whose normalization spans the env's action bounds."""
    bs = env.body_spec
    cfg = PolicyConfig(kind=kind, horizon=8, n_action_steps=4, obs_keys=obs_keys,
                       encoder=EncoderConfig(state_hidden=(16,), state_out=16),
                       head=HeadConfig(unet_down_dims=(16, 32), time_embed_dim=16, inference_steps=2))
    spec = build_spec(cfg, bs.observations, bs.action.shape[0], bs.fps)
    lo, hi = np.asarray(bs.action_low, np.float64), np.asarray(bs.action_high, np.float64)
    ds = bs.observations["state"].shape[0]
    stats = {"state": {"min": -np.ones(ds), "max": np.ones(ds), "mean": np.zeros(ds), "std": np.ones(ds)},
             "action": {"min": lo, "max": hi, "mean": (lo + hi) / 2, "std": (hi - lo) / 4}}
    return make_policy(cfg, spec, stats)


class RecordingPolicy:
    """Wraps a real policy and records every observation batch it is asked about."""

    def __init__(self, policy):
        self.policy, self.spec, self.calls = policy, policy.spec, []

    def predict_chunk(self, obs, noise=None, steps=None):
        self.calls.append({k: np.array(v, copy=True) for k, v in obs.items()})
        return self.policy.predict_chunk(obs, noise=noise, steps=steps)

    def reset(self):
        self.policy.reset()


class ExpertPolicy:
    """The task's scripted expert behind the Policy interface: one expert per env, chunks of one action.

    The expert reads each env's privileged sim state directly, so it is bound to the
    envs the evaluator steps (pass the same list as `evaluate(envs=...)`).
    `hold_still=True` instead commands the joints' reset pose every tick: a policy
    that cannot succeed.
    """

    def __init__(self, task, envs, hold_still=False):
        bs = envs[0].body_spec
        self.envs, self.hold_still = envs, hold_still
        self.experts = [make_expert(task, env, seed=i) for i, env in enumerate(envs)]
        self.spec = PolicySpec(observations={"state": bs.observations["state"]}, action_dim=bs.action.shape[0],
                               n_obs_steps=1, horizon=1, n_action_steps=1, fps=bs.fps)
        self.fresh, self.home = True, None

    def reset(self):
        self.fresh = True  # the evaluator resets the envs first, then the policy: plan on the next call

    def predict_chunk(self, obs, noise=None, steps=None):
        n = obs["state"].shape[0]
        if self.fresh:
            for expert in self.experts[:n]:
                expert.reset(None)
            self.home = [env.joint_positions.astype(np.float32) for env in self.envs[:n]]
            self.fresh = False
        if self.hold_still:
            return np.stack(self.home)[:, None]
        return np.stack([e.get_action(None).action for e in self.experts[:n]]).astype(np.float32)[:, None]


@pytest.mark.parametrize("hold_still", [False, True])
def test_eval_counts_an_expert_as_successes_and_a_still_arm_as_failures(hold_still):
    """A policy that succeeds scores every episode; one that cannot scores none (real so101_lift)."""
    envs = [make_env("so101_lift", cameras=()) for _ in range(2)]
    policy = ExpertPolicy("so101_lift", envs, hold_still=hold_still)
    cfg = EvalConfig(episodes=4, n_envs=2, max_steps=150)
    result = evaluate(policy, "so101_lift", cfg, envs=envs, progress=False)
    wins = 0 if hold_still else 4
    assert result["successes"] == result["reached_success"] == wins
    assert result["success_rate"] == wins / 4
    assert (result["ci95_low"], result["ci95_high"]) == pytest.approx(wilson_interval(wins, 4))
    for e in result["per_episode"]:
        if hold_still:
            assert e["length"] == 150 and not e["success"]
        else:  # the episode ends once success has held settle_ticks ticks after its first one
            assert e["success"] and e["length"] < 150


class FlickerEnv:
    """Test double: reports success on the ticks in `success_ticks` (1-based), reward 0, never terminates."""

    def __init__(self, success_ticks, terminate_on_success=False, max_steps=40):
        self.success_ticks, self.terminate, self.t = set(success_ticks), terminate_on_success, 0
        self.config = type("Cfg", (), {"max_steps": max_steps})()

    def reset(self, seed=None):
        self.t = 0
        return {"state": np.zeros(2, np.float32)}, {}

    def step(self, action):
        self.t += 1
        ok = self.t in self.success_ticks
        return {"state": np.zeros(2, np.float32)}, 0.0, ok and self.terminate, self.t >= 40, {"success": ok}


class ZeroPolicy:
    """Test double: zero actions in chunks of 4 for a (2,) state."""

    spec = PolicySpec(observations={"state": ArraySpec((2,), "float32")},
                      action_dim=1, n_obs_steps=1, horizon=4, n_action_steps=4, fps=10.0)

    def reset(self):
        pass

    def predict_chunk(self, obs, noise=None, steps=None):
        return np.zeros((obs["state"].shape[0], 4, 1), np.float32)


def test_success_must_hold_for_settle_ticks_as_in_collection():
    envs = [FlickerEnv(range(3, 7)),            # 4 ticks of success, then lost: touched, not held
            FlickerEnv(range(10, 41)),          # holds from tick 10: counted at tick 10 + 5
            FlickerEnv([12], terminate_on_success=True),  # the env ends the episode on success
            FlickerEnv(range(36, 41))]          # still settling when the episode is cut at 40
    result = evaluate(ZeroPolicy(), "flicker", EvalConfig(episodes=4, n_envs=4, settle_ticks=5),
                      envs=envs, progress=False)
    eps = result["per_episode"]
    assert [e["success"] for e in eps] == [False, True, True, False]
    assert [e["reached_success"] for e in eps] == [True, True, True, True]
    assert [e["length"] for e in eps] == [40, 15, 12, 40]
    assert result["successes"] == 2 and result["reached_success"] == 4
    # settle_ticks=0 is the old first-tick rule: the flicker counts too
    first_tick = evaluate(ZeroPolicy(), "flicker", EvalConfig(episodes=4, n_envs=4, settle_ticks=0),
                          envs=envs, progress=False)
    assert [e["success"] for e in first_tick["per_episode"]] == [True, True, True, True]


def test_eval_writes_json_and_video_on_real_env(tmp_path):
    env = make_env("pusht")
    policy = tiny_policy(env)
    cfg = EvalConfig(episodes=3, n_envs=2, max_steps=10, videos=1, seed=7)
    result = evaluate(policy, "pusht", cfg, out_dir=tmp_path, progress=False)
    saved = json.loads((tmp_path / "eval.json").read_text())
    assert saved["episodes"] == 3 and len(saved["per_episode"]) == 3
    assert [e["seed"] for e in saved["per_episode"]] == [7, 8, 9]
    assert saved["successes"] == 0  # an untrained policy cannot cover the T in 10 steps
    assert (saved["ci95_low"], saved["ci95_high"]) == pytest.approx(wilson_interval(0, 3))
    assert all(e["length"] == 10 for e in saved["per_episode"])  # untrained: runs to the cap
    assert 0.0 <= saved["mean_max_reward"] <= 1.0  # PushT reward is coverage
    assert len(result["videos"]) == 1
    frames = imageio.mimread(result["videos"][0])
    assert len(frames) == 11 and frames[0].ndim == 3  # reset frame + one per step


def test_eval_is_reproducible_and_leaves_global_rng_alone():
    import torch

    env = make_env("pusht")
    policy = tiny_policy(env)
    cfg = EvalConfig(episodes=2, n_envs=2, max_steps=6)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = evaluate(policy, "pusht", cfg, progress=False)
    assert torch.equal(torch.get_rng_state(), before)
    b = evaluate(policy, "pusht", cfg, progress=False)
    assert [e["return"] for e in a["per_episode"]] == [e["return"] for e in b["per_episode"]]


def test_runtime_semantics_history_and_chunking():
    env = make_env("pusht")
    rec = RecordingPolicy(tiny_policy(env))
    evaluate(rec, "pusht", EvalConfig(episodes=2, n_envs=2, max_steps=12), progress=False)
    assert len(rec.calls) == 3  # a chunk every Te=4 steps over 12 steps, batched over both envs
    first = rec.calls[0]["state"]
    assert first.shape == (2, 2, 5)  # (B, To, Ds)
    np.testing.assert_array_equal(first[:, 0], first[:, 1])  # first observation repeated
    second = rec.calls[1]["state"]
    assert not np.array_equal(second[:, 0], second[:, 1])  # then the last To real observations


def test_policy_needing_a_missing_key_gets_a_clear_error():
    env = make_env("pusht")
    policy = tiny_policy(env)
    policy.spec.observations["images.top"] = policy.spec.observations["state"]
    try:
        with pytest.raises(ValueError, match="images.top"):
            evaluate(policy, "pusht", EvalConfig(episodes=1, n_envs=1, max_steps=2), progress=False)
    finally:
        del policy.spec.observations["images.top"]


def test_plot_of_a_training_run(tmp_path):
    evals, metrics = MetricsLog(tmp_path / "eval.csv", None), MetricsLog(tmp_path / "metrics.csv", None)
    for step, rate in ((100, 0.2), (200, 0.6), (300, 0.9)):
        lo, hi = wilson_interval(int(rate * 10), 10)
        evals.append({"step": step, "success_rate": rate, "ci95_low": lo, "ci95_high": hi})
        metrics.append({"step": step, "loss": 1.0 / step})
    png = plot_run(tmp_path, tmp_path / "success.png")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    with pytest.raises(FileNotFoundError, match="eval.csv"):
        plot_run(tmp_path / "nothing", tmp_path / "x.png")


def test_eval_on_a_gymnasium_env_by_id(tmp_path):
    """gym-pusht (pymunk) through sim/gym_adapter.py: same evaluator, same outputs."""
    task = "gym:gym_pusht/PushT-v0"
    env = make_env(task)
    policy = tiny_policy(env)
    result = evaluate(policy, task, EvalConfig(episodes=2, n_envs=2, max_steps=5, videos=1), out_dir=tmp_path,
                      envs=[env, make_env(task)], progress=False)
    assert result["episodes"] == 2 and all(e["length"] == 5 for e in result["per_episode"])
    assert json.loads((tmp_path / "eval.json").read_text())["task"] == task
    assert len(imageio.mimread(result["videos"][0])) == 6
