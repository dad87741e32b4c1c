"""The benchmarks' baselines compute the same thing as what they are compared with."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from data import EpisodeStore
from data.sampler import SequenceDataset
from robot.specs import ArraySpec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _replay_buffer_sampler import ReplayBufferSampler  # noqa: E402


@pytest.mark.parametrize("n_obs_steps, horizon", [(2, 16), (1, 8), (3, 4)])
def test_replay_buffer_baseline_yields_our_sampler_windows(tmp_path, n_obs_steps, horizon):
    """Every window, including episodes shorter than the window and both edges, is identical."""
    keys = {"state": ArraySpec((3,)), "action": ArraySpec((2,)), "images.front": ArraySpec((4, 4, 3), "uint8")}
    store = EpisodeStore.create(tmp_path / "s.zarr", fps=10, robot="test", keys=keys)
    rng = np.random.default_rng(0)
    for length in (3, 20, 17):
        w = store.begin_episode(task="t", source="scripted")
        w.extend({"state": rng.normal(size=(length, 3)).astype(np.float32),
                  "action": rng.normal(size=(length, 2)).astype(np.float32),
                  "images.front": rng.integers(0, 255, (length, 4, 4, 3), dtype=np.uint8)})
        w.commit(success=True)
    ours = SequenceDataset(store.path, n_obs_steps=n_obs_steps, horizon=horizon)
    n = store.num_frames
    baseline = ReplayBufferSampler({k: store.read_frames(k, 0, n) for k in keys}, store.episode_ends,
                                   n_obs_steps, horizon)
    assert len(baseline) == len(ours) == 40
    for i in range(len(ours)):
        a, b = ours[i], baseline[i]
        for key in ("state", "action", "images.front", "action_is_pad"):
            np.testing.assert_array_equal(np.asarray(a[key]), b[key], err_msg=f"window {i} {key}")
