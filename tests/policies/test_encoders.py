"""Observation encoders and normalizers: crops, keypoints, shared vs per-camera, stats guards."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from policies.config import EncoderConfig, PolicyConfig
from policies.encoders import (
    ImageEncoder,
    ObsEncoder,
    ResNet18Backbone,
    SpatialSoftmax,
    crop_images,
)
from policies.normalize import Normalizer
from robot.config import ConfigError

CFG = EncoderConfig(image_channels=(8, 16), state_hidden=(16,), state_out=8, num_keypoints=4, image_out=12)


def test_random_crop_is_a_window_of_each_frame_and_center_crop_is_fixed():
    torch.manual_seed(0)
    frames = torch.randint(0, 256, (16, 20, 20, 3), dtype=torch.uint8)
    crops = crop_images(frames, 0.8, random=True)
    assert crops.shape == (16, 16, 16, 3)
    offsets = set()
    for i in range(16):
        found = [(y, x) for y in range(5) for x in range(5) if torch.equal(frames[i, y : y + 16, x : x + 16], crops[i])]
        assert found, f"crop {i} is not a window of its frame"
        offsets.add(found[0])
    assert len(offsets) > 1, "offsets must differ per frame"
    center = crop_images(frames, 0.8, random=False)
    assert torch.equal(center, frames[:, 2:18, 2:18])
    assert crop_images(frames, 1.0, random=True) is frames


def test_spatial_softmax_finds_the_peak():
    ss = SpatialSoftmax(1, 1)
    with torch.no_grad():
        ss.proj.weight.fill_(1.0)
        ss.proj.bias.zero_()
    feat = torch.zeros(1, 1, 5, 9)
    feat[0, 0, 4, 0] = 50.0  # bottom-left corner
    kp = ss(feat)
    torch.testing.assert_close(kp, torch.tensor([[-1.0, 1.0]]), atol=1e-3, rtol=0)


def test_image_encoder_augments_only_in_training():
    torch.manual_seed(0)
    enc = ImageEncoder(CFG)
    frames = torch.randint(0, 256, (4, 24, 24, 3), dtype=torch.uint8)
    enc.eval()
    assert torch.equal(enc(frames), enc(frames))
    enc.train()
    assert not torch.equal(enc(frames), enc(frames))
    assert enc(frames).shape == (4, 12)
    with pytest.raises(TypeError, match="uint8"):
        enc(frames.float())


def test_obs_encoder_shared_or_per_camera():
    keys = ("state", "images.front", "images.wrist")
    shapes = {"state": (3,), "images.front": (24, 24, 3), "images.wrist": (24, 24, 3)}
    per_cam = ObsEncoder(CFG, keys, shapes, n_obs_steps=2)
    shared = ObsEncoder(EncoderConfig(**{**CFG.__dict__, "shared_image_encoder": True}), keys, shapes, 2)
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert set(per_cam.image_encoders) == {"front", "wrist"} and set(shared.image_encoders) == {"shared"}
    assert n(per_cam) > n(shared)
    obs = {"state": torch.randn(5, 2, 3),
           "images.front": torch.randint(0, 256, (5, 2, 24, 24, 3), dtype=torch.uint8),
           "images.wrist": torch.randint(0, 256, (5, 2, 24, 24, 3), dtype=torch.uint8)}
    for enc in (per_cam, shared):
        enc.eval()
        out = enc(obs)
        assert out.shape == (5, enc.out_dim) and enc.out_dim == 2 * (8 + 12 + 12)
        # Each row depends on its own observation only (GroupNorm, no batch statistics).
        row = enc({k: v[2:3] for k, v in obs.items()})
        torch.testing.assert_close(row, out[2:3], rtol=1e-4, atol=1e-5)


def test_normalizer_modes_and_guards():
    stats = {"min": np.array([0.0, 5.0]), "max": np.array([2.0, 5.0]),
             "mean": np.array([1.0, 5.0]), "std": np.array([0.5, 0.0])}
    x = torch.tensor([[0.0, 5.0], [2.0, 5.0]])
    mm = Normalizer("action", stats, "min_max")
    torch.testing.assert_close(mm.normalize(x), torch.tensor([[-1.0, 0.0], [1.0, 0.0]]))
    torch.testing.assert_close(mm.unnormalize(mm.normalize(x)), x)
    ms = Normalizer("action", stats, "mean_std")
    torch.testing.assert_close(ms.normalize(x), torch.tensor([[-2.0, 0.0], [2.0, 0.0]]))
    torch.testing.assert_close(ms.unnormalize(torch.zeros(1, 2)), torch.tensor([[1.0, 5.0]]))
    with pytest.raises(KeyError, match="'state' lack"):
        Normalizer("state", {"min": np.zeros(2)}, "min_max")
    with pytest.raises(ValueError, match="NaN"):
        Normalizer("state", {**stats, "max": np.array([np.nan, 1.0])}, "min_max")


def test_images_at_to1_use_only_the_newest_frame_and_state_keeps_its_history():
    keys = ("state", "images.front")
    shapes = {"state": (3,), "images.front": (24, 24, 3)}
    cfg = EncoderConfig(**{**CFG.__dict__, "image_obs_steps": 1})
    enc = ObsEncoder(cfg, keys, shapes, n_obs_steps=2).eval()
    assert enc.out_dim == 2 * 8 + 1 * 12
    torch.manual_seed(0)
    obs = {"state": torch.randn(2, 2, 3), "images.front": torch.randint(0, 256, (2, 2, 24, 24, 3), dtype=torch.uint8)}
    out = enc(obs)
    assert out.shape == (2, enc.out_dim)
    other = dict(obs, **{"images.front": obs["images.front"].clone()})
    other["images.front"][:, 0] = 0  # the older frame is never read
    assert torch.equal(enc(other), out)
    other["images.front"][:, 1] = 0
    assert not torch.equal(enc(other), out)
    other["state"] = obs["state"].clone()
    other["state"][:, 0] += 1.0  # the state's older step is
    assert not torch.equal(enc(dict(obs, state=other["state"])), out)
    with pytest.raises(ConfigError, match="image_obs_steps"):
        PolicyConfig.from_config({"n_obs_steps": 1, "encoder": {"image_obs_steps": 2}})


def test_time_major_layout_is_kept_when_every_frame_is_encoded():
    """Checkpoints written before image_obs_steps expect (t0: state, image; t1: state, image)."""
    keys = ("state", "images.front")
    enc = ObsEncoder(CFG, keys, {"state": (3,), "images.front": (24, 24, 3)}, n_obs_steps=2).eval()
    obs = {"state": torch.randn(2, 2, 3), "images.front": torch.randint(0, 256, (2, 2, 24, 24, 3), dtype=torch.uint8)}
    out = enc(obs)
    state_t1 = enc.state_encoders["state"](obs["state"][:, 1])
    torch.testing.assert_close(out[:, 20:28], state_t1)


def test_resize_in_the_encoder_and_the_resnet18_reference():
    frames = torch.randint(0, 256, (2, 40, 40, 3), dtype=torch.uint8)
    small = ImageEncoder(EncoderConfig(**{**CFG.__dict__, "image_size": 16, "crop_ratio": 1.0})).eval()
    seen = []
    small.backbone.register_forward_hook(lambda m, i, o: seen.append(tuple(i[0].shape)))
    assert small(frames).shape == (2, 12)
    assert seen == [(2, 3, 16, 16)]
    ref = ResNet18Backbone()
    assert ref(torch.zeros(1, 3, 64, 64)).shape == (1, 512, 2, 2)
    assert 11.0 < sum(p.numel() for p in ref.parameters()) / 1e6 < 11.3  # ResNet-18's conv trunk
    enc = ImageEncoder(EncoderConfig(image_backbone="resnet18", num_keypoints=4, image_out=8))
    assert enc(frames).shape == (2, 8)
    with pytest.raises(ConfigError, match="image_size"):
        EncoderConfig(image_size=4)
