"""Policy checkpoints: safetensors + JSON round trip gives identical chunks; bad files fail clearly."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from policies.checkpoint import META, WEIGHTS, load_policy, save_policy
from policies.config import PolicyConfig
from policies.registry import build_spec, make_policy
from robot.config import ConfigError
from robot.specs import ArraySpec

TINY = {
    "horizon": 8, "n_action_steps": 4,
    "encoder": {"image_channels": [8, 16], "state_hidden": [16], "state_out": 8, "num_keypoints": 4, "image_out": 8},
    "head": {"unet_down_dims": [16, 32], "d_model": 32, "n_layers": 1, "n_heads": 2, "time_embed_dim": 16,
             "num_train_timesteps": 50, "inference_steps": 3},
}
OBS = {"state": ArraySpec((3,), names=("a", "b", "c")), "images.front": ArraySpec((20, 20, 3), "uint8")}
STATS = {"state": {"min": np.array([-1.0, 0.0, 0.0]), "max": np.array([1.0, 2.0, 0.0]),
                   "mean": np.zeros(3), "std": np.ones(3)},
         "action": {"min": np.array([-3.0, 1.0]), "max": np.array([3.0, 4.0]),
                    "mean": np.zeros(2), "std": np.ones(2)}}


def make(kind: str, network: str):
    cfg = PolicyConfig.from_config({**TINY, "kind": kind, "obs_keys": ["state", "images.front"]},
                                   head={**TINY["head"], "network": network})
    torch.manual_seed(1)
    return make_policy(cfg, build_spec(cfg, OBS, 2, fps=15.0), STATS)


@pytest.mark.parametrize("kind,network", [("diffusion", "unet"), ("flow", "transformer")])
def test_round_trip_gives_identical_chunks(tmp_path, kind, network):
    policy = make(kind, network)
    with torch.no_grad():  # move weights off their init so a skipped load would show
        for p in policy.parameters():
            p.add_(0.01 * torch.randn_like(p))
    save_policy(policy, tmp_path / "ckpt")
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == sorted([META, WEIGHTS])
    loaded = load_policy(tmp_path / "ckpt")
    assert loaded.config == policy.config and loaded.spec == policy.spec
    assert not loaded.training
    obs = {"state": np.random.rand(2, 2, 3).astype(np.float32),
           "images.front": np.random.randint(0, 256, (2, 2, 20, 20, 3), dtype=np.uint8)}
    noise = torch.randn(2, 8, 2)
    assert torch.equal(policy.predict_chunk(obs, noise), loaded.predict_chunk(obs, noise))
    for k, v in policy.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k


def test_json_is_readable_and_weights_are_not_pickle(tmp_path):
    save_policy(make("flow", "unet"), tmp_path)
    meta = json.loads((tmp_path / META).read_text())
    assert meta["config"]["kind"] == "flow" and meta["spec"]["fps"] == 15.0
    assert meta["spec"]["observations"]["state"]["names"] == ["a", "b", "c"]
    assert meta["stats"]["action"]["max"] == [3.0, 4.0]
    raw = (tmp_path / WEIGHTS).read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + header_len])  # safetensors: a JSON header, then raw tensors
    assert "action_normalizer.scale" in header
    assert not raw.startswith(b"PK") and b"\x80\x02" not in raw[:2]  # neither a zip nor a pickle


def test_bad_checkpoints_fail_with_the_file_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=META):
        load_policy(tmp_path)
    save_policy(make("flow", "unet"), tmp_path)
    meta = json.loads((tmp_path / META).read_text())
    meta["config"]["head"]["unet_down_dims"] = [16, 64]
    (tmp_path / META).write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"model.safetensors does not match"):
        load_policy(tmp_path)
    meta["config"]["head"]["bogus"] = 1
    (tmp_path / META).write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match=r"policy.json.*config.head.bogus"):
        load_policy(tmp_path)
