"""Real-time chunking: soft mask, capped guidance weight, and the inpainted prefix on a real flow policy."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from policies.config import PolicyConfig
from policies.heads.diffusion import DiffusionHead
from policies.registry import build_spec, make_policy
from policies.rtc import guidance_weight, soft_mask
from robot.specs import ArraySpec

DA, TA = 4, 16


def tiny_policy(kind: str = "flow", steps: int = 10):
    cfg = PolicyConfig.from_config(
        None, kind=kind, n_obs_steps=2, horizon=TA, n_action_steps=8, obs_keys=("state",),
        encoder={"state_hidden": [32], "state_out": 16},
        head={"unet_down_dims": [16, 32], "time_embed_dim": 16, "inference_steps": steps},
    )
    spec = build_spec(cfg, {"state": ArraySpec((3,))}, DA, 30.0)
    lo, hi = -2.0 * np.ones(DA), 2.0 * np.ones(DA)  # robot units: normalization is not the identity
    stats = {"state": {"min": -np.ones(3), "max": np.ones(3), "mean": np.zeros(3), "std": np.ones(3)},
             "action": {"min": lo, "max": hi, "mean": np.zeros(DA), "std": np.ones(DA)}}
    torch.manual_seed(0)
    return make_policy(cfg, spec, stats)


def test_soft_mask_is_one_over_the_delay_and_decays_to_zero_by_the_prefix_end():
    for schedule in ("exp", "linear"):
        w = soft_mask(TA, prefix_len=10, delay=3, schedule=schedule)
        assert w.shape == (TA,)
        assert torch.all(w[:3] == 1) and torch.all(w[10:] == 0)
        assert torch.all(w[3:10] > 0) and torch.all(w[3:10] < 1)
        assert torch.all(w[3:11][1:] <= w[3:11][:-1]), "monotone decay"
    assert torch.all(soft_mask(TA, 10, 3, "ones")[:10] == 1)
    assert soft_mask(TA, 10, 3, "zeros").sum() == 3
    assert soft_mask(TA, 4, 9, "exp").sum() == 4, "the delay never exceeds the prefix"


def test_guidance_weight_is_capped_and_vanishes_at_the_data_end():
    ts = np.linspace(0, 1, 101)
    for beta in (1.0, 5.0, 10.0):
        ws = [guidance_weight(float(t), beta) for t in ts]
        assert max(ws) == beta and ws[0] == beta and ws[-1] == 0.0
    assert guidance_weight(0.5, 100.0) == pytest.approx(0.5 / (0.5 * 0.5))  # (1-t)/(t r^2), r^2 = 1/2


def test_prefix_inpaints_the_first_actions_of_the_next_chunk():
    policy = tiny_policy()
    obs = {"state": np.zeros((2, 2, 3), np.float32)}
    g = torch.Generator().manual_seed(1)
    noise = torch.randn(2, TA, DA, generator=g)
    prefix = torch.rand(2, 10, DA, generator=g) * 3.0 - 1.5  # robot units
    d = 4
    free = policy.predict_chunk(obs, noise=noise)
    guided = policy.predict_chunk(obs, noise=noise, prefix=prefix, prefix_delay=d, max_guidance_weight=5.0)
    assert torch.isfinite(guided).all()
    err_free = (free[:, :d] - prefix[:, :d]).abs().mean().item()
    err_guided = (guided[:, :d] - prefix[:, :d]).abs().mean().item()
    assert err_guided < 0.2 * err_free, (err_guided, err_free)
    # Past the prefix the guide has no say: the tail stays the policy's own (same noise).
    tail_shift = (guided[:, 12:] - free[:, 12:]).abs().mean().item()
    assert tail_shift < err_free
    weights = policy.last_guide.weights
    assert len(weights) == 10 and max(weights) <= 5.0 and weights[0] == 5.0
    # A smaller cap pulls less.
    weak = policy.predict_chunk(obs, noise=noise, prefix=prefix, prefix_delay=d, max_guidance_weight=0.5)
    assert (weak[:, :d] - prefix[:, :d]).abs().mean().item() > err_guided
    assert max(policy.last_guide.weights) <= 0.5


def test_flow_inpainting_matches_the_committed_actions_exactly():
    policy = tiny_policy()
    obs = {"state": np.zeros((2, 2, 3), np.float32)}
    g = torch.Generator().manual_seed(3)
    noise = torch.randn(2, TA, DA, generator=g)
    prefix = torch.rand(2, 10, DA, generator=g) * 3.0 - 1.5
    free = policy.predict_chunk(obs, noise=noise)
    out = policy.predict_chunk(obs, noise=noise, prefix=prefix, prefix_delay=4, prefix_method="inpaint")
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[:, :4], prefix[:, :4], atol=1e-4, rtol=0)
    assert (free[:, :4] - prefix[:, :4]).abs().mean() > 0.1
    assert policy.last_guide.weights == [], "no guidance weight applies when inpainting"
    with pytest.raises(ValueError, match="unknown RTC method"):
        policy.predict_chunk(obs, prefix=prefix, prefix_method="magic")


def test_prefix_as_one_row_and_bad_shapes():
    policy = tiny_policy(steps=3)
    obs = {"state": np.zeros((1, 2, 3), np.float32)}
    out = policy.predict_chunk(obs, prefix=np.zeros((5, DA), np.float32), prefix_delay=2)
    assert out.shape == (1, TA, DA)
    with pytest.raises(ValueError, match="prefix has shape"):
        policy.predict_chunk(obs, prefix=np.zeros((1, 5, DA + 1), np.float32))


@pytest.mark.parametrize("scheduler", ["ddim", "dpmsolver"])
def test_diffusion_inpaints_the_committed_prefix(scheduler):
    policy = tiny_policy("diffusion", steps=4)
    head_cfg = dataclasses.replace(policy.config.head, scheduler=scheduler)
    policy.head = DiffusionHead(policy.head.net, head_cfg, TA, DA)
    assert policy.supports_rtc
    obs = {"state": np.zeros((2, 2, 3), np.float32)}
    g = torch.Generator().manual_seed(2)
    noise = torch.randn(2, TA, DA, generator=g)
    prefix = torch.rand(2, 10, DA, generator=g) * 3.0 - 1.5  # inside the normalized [-1, 1] range
    free = policy.predict_chunk(obs, noise=noise)
    out = policy.predict_chunk(obs, noise=noise, prefix=prefix, prefix_delay=3)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[:, :3], prefix[:, :3], atol=1e-4, rtol=0)
    assert (free[:, :3] - prefix[:, :3]).abs().mean() > 0.1
