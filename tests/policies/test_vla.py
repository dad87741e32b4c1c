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


# -- grounding: object tokens from the spec's feature names, language queries that point at them ------------

GROUND_NAMES = ("j1", "j2", "red_x", "red_y", "green_x", "green_y", "bowl_x", "bowl_y")
GROUND_CFG = {
    "kind": "vla", "n_obs_steps": 1, "horizon": 4, "n_action_steps": 2, "obs_keys": ["state"],
    "head": {"d_model": 32, "n_layers": 1, "n_heads": 2, "time_embed_dim": 16, "inference_steps": 4},
    "vla": {"d_model": 32, "n_layers": 1, "n_heads": 2, "grounding": True, "language_queries": 2},
}
GROUND_PHRASES = {("lift", "red"): "pick up the red cube", ("lift", "green"): "pick up the green cube",
                  ("place", "red"): "put the red cube in the bowl", ("place", "green"): "put the green cube in the bowl"}


def grounded_batch(b: int, gen: torch.Generator, keys: list | None = None) -> tuple[dict, torch.Tensor]:
    """Random layouts; the target is the named cube's xy (lift) or the bowl's xy (place): (obs, target (B, 2))."""
    state = torch.rand(b, 1, len(GROUND_NAMES), generator=gen) * 2 - 1
    keys = keys or [list(GROUND_PHRASES)[i] for i in torch.randint(0, 4, (b,), generator=gen)]
    where = {"red": 2, "green": 4}
    target = torch.stack([state[i, 0, 6:8] if g == "place" else state[i, 0, where[c]:where[c] + 2]
                          for i, (g, c) in enumerate(keys)])
    return {"state": state, "instruction": [GROUND_PHRASES[k] for k in keys]}, target


def test_state_groups_follow_the_feature_names():
    from policies.vla_tokens import state_groups

    groups = state_groups(GROUND_NAMES, 8)
    assert [(g, d) for g, d, _ in groups] == [("proprio", (0, 1)), ("red", (2, 3)), ("green", (4, 5)), ("bowl", (6, 7))]
    assert groups[1][2] == groups[2][2] == groups[3][2]  # same fields: one shared projection
    assert state_groups((), 5) == [("state", (0, 1, 2, 3, 4), "state5")]  # no names: one token


def test_grounded_vla_follows_the_colour_word_and_the_goal_word():
    # Only the instruction says which of three objects the chunk must head to, on layouts never seen in
    # training: swapping the colour word must move the chunk to the other cube, the goal word to the bowl.
    cfg = PolicyConfig.from_config(GROUND_CFG)
    obs_spec = {"state": ArraySpec((8,), names=GROUND_NAMES)}
    stats = {"state": {"min": -np.ones(8), "max": np.ones(8)}, "action": {"min": -np.ones(2), "max": np.ones(2)}}
    torch.manual_seed(0)
    policy = make_policy(cfg, build_spec(cfg, obs_spec, 2, fps=30.0), stats)
    assert policy.encoder.n_tokens == 1 + 2 + 4
    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.AdamW(policy.parameters(), lr=3e-3)
    policy.train()
    for _ in range(250):
        obs, target = grounded_batch(64, gen)
        actions = target[:, None, :].expand(64, 4, 2).clone()
        loss, _ = policy.compute_loss({**obs, "action": actions, "action_is_pad": torch.zeros(64, 4, dtype=torch.bool)})
        opt.zero_grad()
        loss.backward()
        opt.step()
    policy.eval()
    n = 32
    state = torch.rand(n, 1, 8, generator=gen) * 2 - 1
    right = {}
    for key in GROUND_PHRASES:
        obs = {"state": state, "instruction": [GROUND_PHRASES[key]] * n}  # the same layouts for every instruction
        target = {"red": state[:, 0, 2:4], "green": state[:, 0, 4:6], "bowl": state[:, 0, 6:8]}
        pred = policy.predict_chunk(obs, torch.zeros(n, 4, 2)).mean(dim=1)
        dist = torch.stack([(pred - target[o]).norm(dim=-1) for o in ("red", "green", "bowl")], dim=-1)
        want = 2 if key[0] == "place" else ("red", "green").index(key[1])
        right[key] = (dist.argmin(dim=-1) == want).float().mean().item()
    assert min(right.values()) >= 0.8, right
    assert policy.encoder.last_pointer.shape == (n, 2, 4)


@pytest.mark.parametrize(("preset", "image_tokens"), [("so101_multi_vla", "patches"), ("so101_multi_vla", "keypoints"),
                                                     ("so101_multi_vla_privileged", "patches")])
def test_so101_multi_presets_build_grounded_tokens_and_step_the_real_env(preset, image_tokens):
    # The deployable preset reads joints + front + wrist cameras (16 patch or keypoint tokens each); the
    # control reads privileged state, grouped into proprio, red, green, blue and bowl tokens by the spec's names.
    from policies.pipeline import load_pipeline
    from sim.registry import make_env

    small = ["policy.head.d_model=32", "policy.head.n_layers=1", "policy.head.inference_steps=2",
             "policy.vla.d_model=32", "policy.vla.n_layers=1", "policy.encoder.image_channels=[8,16]",
             f"policy.vla.image_tokens={image_tokens}"]
    cfg = load_pipeline(preset, small)
    env = make_env(cfg.task.name, **cfg.task.env)
    bs = env.body_spec
    ds = bs.observations["state"].shape[0]
    lo, hi = np.asarray(bs.action_low, np.float64), np.asarray(bs.action_high, np.float64)
    stats = {"state": {"min": -np.ones(ds), "max": np.ones(ds)}, "action": {"min": lo, "max": hi}}
    policy = make_policy(cfg.policy, build_spec(cfg.policy, bs.observations, bs.action.shape[0], bs.fps), stats)
    groups = [name for _, name, _, _ in policy.encoder.groups]
    cams = [k for k in cfg.policy.obs_keys if k.startswith("images.")]
    if cams:
        assert groups == ["proprio"] and cams == ["images.front", "images.wrist"]
        assert not env.config.privileged_state
    else:
        assert groups == ["proprio", "red", "green", "blue", "bowl"]
    obs, _ = env.reset(seed=0)
    batch = {k: np.asarray(obs[k])[None, None] for k in cfg.policy.obs_keys}
    chunk = policy.predict_chunk({**batch, "instruction": [obs["instruction"]]})
    assert policy.encoder.last_pointer.shape[-1] == len(groups) + 16 * len(cams)
    for action in chunk[0, : cfg.policy.n_action_steps].numpy():
        obs, reward, *_ = env.step(action)
        assert np.isfinite(obs["state"]).all() and np.isfinite(reward)
    env.close()


def test_grounding_options_change_the_config_hash_only_when_set():
    # Figures measured before the options existed keep their hash; setting one marks them stale.
    from policies.pipeline import config_hash, load_pipeline

    base = config_hash(load_pipeline("so101_lift_flow"))
    assert base == config_hash(load_pipeline("so101_lift_flow", ["policy.vla.language_queries=2"]))
    assert base != config_hash(load_pipeline("so101_lift_flow", ["policy.vla.grounding=true"]))
    assert base != config_hash(load_pipeline("so101_lift_flow", ["policy.vla.language_queries=3"]))
    assert base == config_hash(load_pipeline("so101_lift_flow", ["policy.vla.slot_init=0.02"]))
    assert base != config_hash(load_pipeline("so101_lift_flow", ["policy.vla.slot_init=1.0"]))
    assert base == config_hash(load_pipeline("so101_lift_flow", ["policy.vla.image_tokens=patches"]))
    assert base != config_hash(load_pipeline("so101_lift_flow", ["policy.vla.image_tokens=keypoints",
                                                                 "policy.vla.grounding=true"]))


def test_keypoint_tokens_carry_where_the_feature_is():
    # A keypoint token is (features attended to, expected x, y): an image whose only bright spot moves
    # moves the keypoint's expected position with it, in the image's own axes.
    from policies.pipeline import load_pipeline
    from policies.vla_tokens import GroundedTrunk
    from robot.config import ConfigError

    cfg = load_pipeline("so101_multi_vla", ["policy.vla.image_tokens=keypoints", "policy.encoder.crop_ratio=1.0"])
    assert cfg.policy.vla.image_tokens == "keypoints"
    with pytest.raises(ConfigError, match="grounding"):
        load_pipeline("so101_multi_vla", ["policy.vla.image_tokens=keypoints", "policy.vla.grounding=false"])
    with pytest.raises(ConfigError, match="image_tokens"):
        load_pipeline("so101_multi_vla", ["policy.vla.image_tokens=grid"])
    trunk = GroundedTrunk.__new__(GroundedTrunk)  # only the image path: backbone -> keypoint tokens
    torch.nn.Module.__init__(trunk)
    trunk.shared, trunk.keypoints, trunk.n_image_tokens, trunk.crop_ratio = True, True, 1, 1.0
    trunk.backbones = torch.nn.ModuleDict({"shared": torch.nn.Identity()})  # the "feature map" is the image
    trunk.keypoint_logits = torch.nn.ModuleDict({"shared": torch.nn.Conv2d(3, 1, 1)})
    captured = {}
    trunk.image_proj = torch.nn.ModuleDict({"shared": _Capture(captured)})
    with torch.no_grad():
        trunk.keypoint_logits["shared"].weight.fill_(20.0)
        trunk.keypoint_logits["shared"].bias.zero_()
    trunk.eval()
    positions = []
    for row, col in ((2, 3), (12, 9)):
        img = torch.zeros(1, 1, 16, 16, 3, dtype=torch.uint8)
        img[0, 0, row, col] = 255
        with torch.no_grad():
            trunk._image_tokens("images.front", img)
        positions.append(captured["x"][0, 0, -2:])
    (x0, y0), (x1, y1) = positions
    assert x1 > x0 + 0.5 and y1 > y0 + 0.9  # col 3 -> 9 and row 2 -> 12 of 16
    assert abs(float(x0) - (-1 + 2 * 3 / 15)) < 0.05 and abs(float(y1) - (-1 + 2 * 12 / 15)) < 0.05


class _Capture(torch.nn.Module):
    """Stands in for the token projection: keeps its input (features + x, y) and passes it on."""

    def __init__(self, store: dict) -> None:
        super().__init__()
        self.store = store

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.store["x"] = x
        return x
