"""Every policy preset builds, leaves its inputs untouched, and its actions step a real env (LeRobot style)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from policies.config import PolicyConfig
from policies.registry import build_spec, make_policy
from robot.config import from_dict, merge, read_yaml
from sim.registry import make_env

# Presets shrunk for test speed: the structure (family, network, windows) is the preset's own.
SHRINK = {
    "diffusion": {"head": {"unet_down_dims": [16, 32, 64], "time_embed_dim": 16, "inference_steps": 2}},
    "flow": {"head": {"unet_down_dims": [16, 32, 64], "time_embed_dim": 16, "inference_steps": 2}},
    "vla": {"head": {"d_model": 32, "n_layers": 1, "n_heads": 2, "inference_steps": 2},
            "vla": {"d_model": 32, "n_layers": 1, "n_heads": 2}},
}
TASKS = {"diffusion": "so101_lift", "flow": "pusht", "vla": "so101_multi"}


def stats_for(env) -> dict:
    """Normalization stats spanning the env's action bounds and a unit state box."""
    bs = env.body_spec
    lo, hi = np.asarray(bs.action_low, np.float64), np.asarray(bs.action_high, np.float64)
    ds = bs.observations["state"].shape[0]
    return {"state": {"min": -np.ones(ds), "max": np.ones(ds), "mean": np.zeros(ds), "std": np.ones(ds)},
            "action": {"min": lo, "max": hi, "mean": (lo + hi) / 2, "std": (hi - lo) / 4}}


@pytest.mark.parametrize("name", ["diffusion", "flow", "vla"])
def test_preset_policy_steps_a_real_env(name):
    from policies.pipeline import CONFIG_DIR

    preset = read_yaml(CONFIG_DIR / "policies" / f"{name}.yaml")
    cfg = from_dict(PolicyConfig, merge(preset, SHRINK[name]))
    assert cfg.kind == name
    task = TASKS[name]
    env = make_env(task, cameras=(), **({"privileged_state": True} if task.startswith("so101") else {}))
    bs = env.body_spec
    policy = make_policy(cfg, build_spec(cfg, bs.observations, bs.action.shape[0], bs.fps), stats_for(env))
    obs, _ = env.reset(seed=0)
    to, b = cfg.n_obs_steps, 2
    batch = {"state": np.stack([np.stack([obs["state"]] * to)] * b)}
    if policy.spec.uses_instruction:
        batch["instruction"] = [obs["instruction"], "lift the red cube"]
    before = copy.deepcopy(batch)
    torch.manual_seed(0)
    chunk = policy.predict_chunk(batch)
    for k in before:  # inputs untouched
        if isinstance(before[k], np.ndarray):
            np.testing.assert_array_equal(batch[k], before[k])
        else:
            assert batch[k] == before[k]
    assert tuple(chunk.shape) == (b, cfg.horizon, bs.action.shape[0])
    noise = torch.randn(b, cfg.horizon, bs.action.shape[0])
    torch.testing.assert_close(policy.predict_chunk(batch, noise=noise), policy.predict_chunk(batch, noise=noise))
    for action in chunk[0, : cfg.n_action_steps].numpy():
        obs, reward, term, trunc, info = env.step(action)
        assert np.isfinite(obs["state"]).all() and np.isfinite(reward) and "success" in info
    # the sampler-shaped batch trains: loss is finite and gradients reach the head
    train_batch = {k: torch.as_tensor(v) if isinstance(v, np.ndarray) else v for k, v in batch.items()}
    train_batch["action"] = chunk.clone()
    train_batch["action_is_pad"] = torch.zeros(b, cfg.horizon, dtype=torch.bool)
    loss, _ = policy.compute_loss(train_batch)
    loss.backward()
    assert torch.isfinite(loss)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in policy.head.parameters())
