"""VLA-style policy with the real packaged MiniLM: language actually conditions the actions."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from policies.checkpoint import load_policy, save_policy
from policies.config import PolicyConfig
from policies.language import SentenceEncoder
from policies.registry import build_spec, make_policy
from robot.specs import ArraySpec

TA, DA = 8, 2
CFG = {
    "kind": "vla", "horizon": TA, "n_action_steps": 4, "obs_keys": ["state", "images.front"],
    "encoder": {"image_channels": [8, 16], "state_hidden": [16], "state_out": 16},
    "head": {"d_model": 32, "n_layers": 1, "n_heads": 2, "time_embed_dim": 16, "inference_steps": 4,
             "time_sampling": "logit_normal"},
    "vla": {"d_model": 32, "n_layers": 1, "n_heads": 2, "image_tokens_per_camera": 4},
}
OBS = {"state": ArraySpec((3,)), "images.front": ArraySpec((16, 16, 3), "uint8")}
STATS = {"state": {"min": -np.ones(3), "max": np.ones(3)}, "action": {"min": -np.ones(2), "max": np.ones(2)}}
INSTRUCTIONS = ["pick up the red cube", "place the cube in the bowl"]


@pytest.fixture(scope="module")
def policy():
    cfg = PolicyConfig.from_config(CFG)
    torch.manual_seed(0)
    return make_policy(cfg, build_spec(cfg, OBS, DA, fps=30.0), STATS)


def window(b: int) -> dict:
    """B identical state/image windows; instructions alternate between the two."""
    return {"state": torch.zeros(b, 2, 3), "images.front": torch.full((b, 2, 16, 16, 3), 128, dtype=torch.uint8),
            "instruction": [INSTRUCTIONS[i % 2] for i in range(b)]}


def test_sentence_encoder_is_frozen_cached_and_outside_the_checkpoint(policy):
    enc = SentenceEncoder()
    emb = enc.encode([INSTRUCTIONS[0], INSTRUCTIONS[1], INSTRUCTIONS[0]])
    assert emb.shape == (3, 384) and torch.equal(emb[0], emb[2])
    assert not torch.allclose(emb[0], emb[1])
    assert torch.allclose(emb.norm(dim=-1), torch.ones(3), atol=1e-4)
    assert set(enc._cache) == set(INSTRUCTIONS)
    assert not any(k.startswith("language") for k in policy.state_dict())
    with pytest.raises(ValueError, match="not supported"):
        SentenceEncoder("bert-large")


def test_language_conditions_the_chunk_after_a_few_steps_of_training(policy):
    # Same images and state, opposite actions for the two instructions: only language tells them apart.
    obs = window(8)
    actions = torch.tensor([[0.8, -0.5], [-0.8, 0.5]]).repeat(4, 1)[:, None, :].expand(8, TA, DA).clone()
    batch = {**obs, "action": actions, "action_is_pad": torch.zeros(8, TA, dtype=torch.bool)}
    batch_copy = copy.deepcopy(batch)
    opt = torch.optim.AdamW(policy.parameters(), lr=3e-3)
    policy.train()
    losses = []
    for _ in range(60):
        loss, _ = policy.compute_loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])
    for k in ("state", "images.front", "action"):
        assert torch.equal(batch[k], batch_copy[k])
    assert batch["instruction"] == batch_copy["instruction"]
    noise = torch.zeros(2, TA, DA)
    chunk = policy.predict_chunk(window(2), noise)
    assert chunk.shape == (2, TA, DA)
    mean = chunk.mean(dim=1)
    assert mean[0, 0] > 0.3 and mean[1, 0] < -0.3, mean


def test_missing_instruction_is_a_clear_error(policy):
    obs = {k: v for k, v in window(2).items() if k != "instruction"}
    with pytest.raises(ValueError, match="instruction"):
        policy.predict_chunk(obs)
    with pytest.raises(ValueError, match="list of 2 strings"):
        policy.predict_chunk({**obs, "instruction": ["only one"]})


def test_vla_checkpoint_round_trip(policy, tmp_path):
    save_policy(policy, tmp_path)
    loaded = load_policy(tmp_path)
    obs = window(2)
    noise = torch.randn(2, TA, DA)
    assert torch.equal(policy.predict_chunk(obs, noise), loaded.predict_chunk(obs, noise))


def _film_policy():
    cfg = PolicyConfig.from_config({**CFG, "vla": {**CFG["vla"], "language_film": True}})
    torch.manual_seed(0)
    return make_policy(cfg, build_spec(cfg, OBS, DA, fps=30.0), STATS)


def test_language_film_separates_instructions_differing_in_one_colour_word(tmp_path):
    # "green" vs "blue" embeddings are nearly parallel; FiLM on the standardized embedding must tell them apart.
    policy = _film_policy()
    words = ["pick up the green cube", "pick up the blue cube"]
    obs = {**window(8), "instruction": [words[i % 2] for i in range(8)]}
    actions = torch.tensor([[0.8, -0.5], [-0.8, 0.5]]).repeat(4, 1)[:, None, :].expand(8, TA, DA).clone()
    batch = {**obs, "action": actions, "action_is_pad": torch.zeros(8, TA, dtype=torch.bool)}
    opt = torch.optim.AdamW(policy.parameters(), lr=3e-3)
    policy.train()
    for _ in range(60):
        loss, _ = policy.compute_loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert any(k.startswith("encoder.film_proj") for k in policy.state_dict())
    test = {**window(2), "instruction": words}
    noise = torch.zeros(2, TA, DA)
    mean = policy.predict_chunk(test, noise).mean(dim=1)
    assert mean[0, 0] > 0.3 and mean[1, 0] < -0.3, mean
    # Running language statistics (buffers) travel in the checkpoint: identical chunks after reload.
    save_policy(policy, tmp_path)
    loaded = load_policy(tmp_path)
    assert loaded.config.vla.language_film
    assert torch.equal(policy.predict_chunk(test, noise), loaded.predict_chunk(test, noise))
    # A single-row batch in training mode works (no batch statistics from one row).
    policy.train()
    one = {k: v[:1] for k, v in batch.items()}
    policy.compute_loss(one)[0].backward()
