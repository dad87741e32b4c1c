"""Every policy family: built from its config, trains, predicts robot-unit chunks, fails loudly.

Tiny sizes so the whole file runs in a few seconds on one core. The VLA family
(real MiniLM) is covered in test_vla.py.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from policies.config import PolicyConfig
from policies.registry import build_spec, make_policy
from robot.config import ConfigError
from robot.interfaces import Policy
from robot.specs import ArraySpec

DS, DA, TO, TA, TE = 4, 2, 2, 8, 4
IMG = (24, 24, 3)
TINY = {
    "horizon": TA,
    "n_action_steps": TE,
    "n_obs_steps": TO,
    "encoder": {"image_channels": [8, 16], "state_hidden": [32], "state_out": 16, "num_keypoints": 8, "image_out": 16},
    "head": {"unet_down_dims": [32, 64], "d_model": 32, "n_layers": 1, "n_heads": 2, "time_embed_dim": 32,
             "mlp_hidden": 64, "mlp_layers": 1, "num_train_timesteps": 50, "inference_steps": 5},
}
FAMILIES = [(kind, net) for kind in ("diffusion", "flow") for net in ("unet", "transformer", "mlp")]


def stats() -> dict[str, dict[str, np.ndarray]]:
    """Store-like stats: action range [-2, 3] x [10, 20] robot units, state [-1, 1]."""
    return {
        "state": {"min": -np.ones(DS), "max": np.ones(DS), "mean": np.zeros(DS), "std": np.ones(DS)},
        "action": {"min": np.array([-2.0, 10.0]), "max": np.array([3.0, 20.0]),
                   "mean": np.array([0.5, 15.0]), "std": np.array([1.0, 2.0])},
    }


def build(kind: str, network: str, images: bool = False, head: dict | None = None, action_stats=None):
    """A tiny policy; `head` entries override TINY's, `action_stats` replaces the action stats."""
    keys = ["state", "images.front"] if images else ["state"]
    cfg = PolicyConfig.from_config(
        {**TINY, "kind": kind, "obs_keys": keys}, head={**TINY["head"], "network": network, **(head or {})}
    )
    observations = {"state": ArraySpec((DS,)), "images.front": ArraySpec(IMG, "uint8")}
    s = stats()
    if action_stats is not None:
        s["action"] = action_stats
    torch.manual_seed(0)
    return make_policy(cfg, build_spec(cfg, observations, DA, fps=10.0), s)


def batch(b: int = 4, images: bool = False, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    out = {
        "state": torch.rand(b, TO, DS, generator=g) * 2 - 1,
        "action": torch.stack([torch.rand(b, TA, generator=g) * 5 - 2, torch.rand(b, TA, generator=g) * 10 + 10], -1),
        "action_is_pad": torch.zeros(b, TA, dtype=torch.bool),
    }
    if images:
        out["images.front"] = torch.randint(0, 256, (b, TO, *IMG), dtype=torch.uint8, generator=g)
    return out


@pytest.mark.parametrize("kind,network", FAMILIES)
def test_loss_backprops_and_decreases_on_overfit_batch(kind, network):
    policy = build(kind, network)
    data = batch()
    opt = torch.optim.AdamW(policy.parameters(), lr=3e-3)

    # Same noise and times before and after training (a fair comparison), over 16 draws per
    # row so the diffusion loss's variance over timesteps does not decide the outcome.
    probe = {k: v.repeat_interleave(16, 0) for k, v in data.items()}

    def fixed_loss() -> float:
        torch.manual_seed(123)
        with torch.no_grad():
            return policy.compute_loss(probe)[0].item()

    before = fixed_loss()
    for _ in range(60):
        loss, metrics = policy.compute_loss(data)
        opt.zero_grad()
        loss.backward()
        assert all(p.grad is not None for p in policy.head.parameters() if p.requires_grad)
        opt.step()
    assert set(metrics) >= {"loss"} and np.isfinite(metrics["loss"])
    after = fixed_loss()
    assert after < 0.7 * before, (before, after)


@pytest.mark.parametrize("kind,network", FAMILIES)
def test_predict_chunk_shape_units_determinism_and_no_mutation(kind, network):
    policy = build(kind, network, images=True)
    assert isinstance(policy, Policy)
    obs = {k: v.numpy() for k, v in batch(3, images=True).items() if k not in ("action", "action_is_pad")}
    obs_copy = copy.deepcopy(obs)
    noise = torch.randn(3, TA, DA)
    noise_copy = noise.clone()
    a = policy.predict_chunk(obs, noise=noise)
    b = policy.predict_chunk(obs, noise=noise)
    assert a.shape == (3, TA, DA)
    assert torch.equal(a, b), "same noise must give identical chunks"
    for k in obs:
        np.testing.assert_array_equal(obs[k], obs_copy[k])
    assert torch.equal(noise, noise_copy)
    if kind == "diffusion":  # clipped to the normalized box, i.e. the data's action range
        assert (a[..., 0] >= -2 - 1e-4).all() and (a[..., 0] <= 3 + 1e-4).all()
        assert (a[..., 1] >= 10 - 1e-4).all() and (a[..., 1] <= 20 + 1e-4).all()
    c = policy.predict_chunk(obs, noise=torch.randn(3, TA, DA))
    assert not torch.equal(a, c), "different noise should give a different chunk"
    assert policy.predict_chunk(obs, noise=noise, steps=2).shape == (3, TA, DA)


@pytest.mark.parametrize("kind", ["diffusion", "flow"])
def test_output_is_in_robot_units_of_the_stats(kind):
    """Same weights, action stats mapped by y = 2x + 1: the chunk must follow exactly."""
    s = stats()["action"]
    moved = {n: (2 * v + 1 if n in ("min", "max", "mean") else 2 * v) for n, v in s.items()}
    pa, pb = build(kind, "unet"), build(kind, "unet", action_stats=moved)
    obs = {"state": batch(2)["state"]}
    noise = torch.randn(2, TA, DA)
    a, b = pa.predict_chunk(obs, noise), pb.predict_chunk(obs, noise)
    torch.testing.assert_close(b, 2 * a + 1, rtol=1e-5, atol=1e-4)


def test_inference_step_count_is_independent_of_training():
    policy = build("flow", "unet")
    obs = {"state": batch(2)["state"]}
    noise = torch.randn(2, TA, DA)
    one, four = policy.predict_chunk(obs, noise, steps=1), policy.predict_chunk(obs, noise, steps=4)
    assert one.shape == four.shape and not torch.equal(one, four)
    dpm = build("diffusion", "unet", head={"scheduler": "dpmsolver"})
    assert dpm.predict_chunk(obs, noise, steps=3).shape == (2, TA, DA)
    with pytest.raises(ValueError, match="num_train_timesteps"):
        dpm.predict_chunk(obs, noise, steps=51)


def test_wrong_observation_key_shape_or_dtype_is_a_clear_error():
    policy = build("diffusion", "unet", images=True)
    good = {k: v for k, v in batch(2, images=True).items() if k.startswith(("state", "images"))}
    with pytest.raises(KeyError, match="images.front"):
        policy.predict_chunk({"state": good["state"]})
    with pytest.raises(ValueError, match=r"'state' has shape \(2, 2, 5\)"):
        policy.predict_chunk({**good, "state": torch.zeros(2, TO, DS + 1)})
    with pytest.raises(ValueError, match="To=2"):
        policy.predict_chunk({**good, "state": torch.zeros(2, 1, DS)})
    with pytest.raises(TypeError, match="uint8"):
        policy.predict_chunk({**good, "images.front": good["images.front"].float()})
    with pytest.raises(ValueError, match="noise has shape"):
        policy.predict_chunk(good, noise=torch.zeros(2, TA + 1, DA))
    with pytest.raises(ValueError, match="batch\\['action'\\]"):
        policy.compute_loss({**batch(2, images=True), "action": torch.zeros(2, TA, DA + 1)})


def test_nan_output_raises_instead_of_returning_nan():
    policy = build("flow", "unet")
    with torch.no_grad():
        policy.head.net.final[1].bias.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="non-finite"):
        policy.predict_chunk({"state": batch(1)["state"]})


@pytest.mark.parametrize("kind,scheduler", [("flow", "ddim"), ("diffusion", "ddim"), ("diffusion", "dpmsolver")])
def test_warm_start_uses_previous_chunk_and_reset_clears_it(kind, scheduler):
    policy = build(kind, "unet", head={"warm_start": True, "warm_start_strength": 0.5, "scheduler": scheduler})
    obs = {"state": batch(1)["state"]}
    torch.manual_seed(0)
    first = policy.predict_chunk(obs)
    assert policy._prev_chunk is not None
    init = policy._warm_start(1)
    # Shifted by Te, tail repeats the last action of the previous chunk.
    assert torch.equal(init[:, : TA - TE], policy._prev_chunk[:, TE:])
    assert torch.equal(init[:, -1], policy._prev_chunk[:, -1])
    torch.manual_seed(0)
    second = policy.predict_chunk(obs)
    assert not torch.equal(first, second), "warm start must change the sampling start"
    policy.reset()
    torch.manual_seed(0)
    assert torch.equal(policy.predict_chunk(obs), first), "after reset sampling starts from noise again"


def test_normalization_lives_inside_with_constant_dims_guarded():
    s = stats()
    s["state"]["min"][0] = s["state"]["max"][0] = 0.25  # a joint that never moved in the data
    cfg = PolicyConfig.from_config({**TINY, "kind": "flow"})
    policy = make_policy(cfg, build_spec(cfg, {"state": ArraySpec((DS,))}, DA, 10.0), s)
    x = torch.tensor([[0.25, 1.0, -1.0, 0.0]])
    z = policy.obs_normalizers["state"].normalize(x)
    assert torch.allclose(z, torch.tensor([[0.0, 1.0, -1.0, 0.0]]))
    a = torch.tensor([[-2.0, 10.0], [3.0, 20.0]])
    n = policy.action_normalizer.normalize(a)
    assert torch.allclose(n, torch.tensor([[-1.0, -1.0], [1.0, 1.0]]))
    assert torch.allclose(policy.action_normalizer.unnormalize(n), a)


def test_config_and_spec_errors_name_the_key():
    with pytest.raises(ConfigError, match="head.bogus"):
        PolicyConfig.from_config({"head": {"bogus": 1}})
    with pytest.raises(ConfigError, match="kind"):
        PolicyConfig.from_config({"kind": "gan"})
    with pytest.raises(ConfigError, match="horizon"):
        PolicyConfig.from_config({"horizon": 10, "head": {"unet_down_dims": [8, 16, 32]}})
    cfg = PolicyConfig.from_config({**TINY, "obs_keys": ["state", "images.wrist"]})
    with pytest.raises(KeyError, match="images.wrist"):
        build_spec(cfg, {"state": ArraySpec((DS,))}, DA, 10.0)
    cfg = PolicyConfig.from_config(TINY)
    s = stats()
    del s["state"]
    with pytest.raises(KeyError, match="'state'"):
        make_policy(cfg, build_spec(cfg, {"state": ArraySpec((DS,))}, DA, 10.0), s)
