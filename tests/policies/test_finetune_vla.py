"""Noise steering of the language-conditioned VLA policy (its own file: the sentence encoder takes a while to load)."""

from __future__ import annotations

import numpy as np
import torch
from families import INSTRUCTIONS
from families import tiny_policy as family_policy

from policies.checkpoint import load_policy, save_policy
from policies.finetune.config import NoiseConfig
from policies.finetune.wrappers import NoiseSteeredPolicy, zero_obs


def test_noise_steering_steers_the_language_conditioned_vla(tmp_path):
    """As DSRL steers pi0: the actor sees the VLA's frozen language/state features, picks the noise."""
    torch.manual_seed(0)
    vla = family_policy("vla")
    pol = NoiseSteeredPolicy(vla, NoiseConfig(shape="repeat"))
    with torch.no_grad():
        for p in pol.actor.parameters():
            p.normal_(0.0, 1.0)
    obs = zero_obs(vla.spec, 2)
    obs["state"] = np.random.default_rng(0).uniform(-1, 1, obs["state"].shape).astype(np.float32)
    obs["instruction"] = list(INSTRUCTIONS)
    a = pol.predict_chunk(obs)
    assert torch.equal(a, pol.predict_chunk(obs)) and a.shape == (2, vla.spec.horizon, vla.spec.action_dim)
    other = dict(obs, instruction=[INSTRUCTIONS[1], INSTRUCTIONS[0]])
    assert not torch.equal(pol.features(other), pol.features(obs))  # the instruction reaches the actor
    save_policy(pol, tmp_path / "vla")
    assert torch.equal(load_policy(tmp_path / "vla").predict_chunk(obs), a)
