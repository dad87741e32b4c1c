"""Sequence sampler: window indices and padding, splits, DataLoader with workers, naive cross-check."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from data import StoreError
from data.ops import drop_episodes, episode_split, split_store
from data.sampler import SequenceDataset, naive_window

sys.path.insert(0, str(Path(__file__).parent))
from datastore_helpers import frames, make_store  # noqa: E402

LENGTHS = (5, 23, 17)


def test_windows_pad_at_episode_edges(tmp_path):
    store = make_store(tmp_path / "s.zarr", lengths=LENGTHS)
    ds = SequenceDataset(store, n_obs_steps=3, horizon=8)
    assert len(ds) == sum(LENGTHS) and ds.obs_keys == ["state", "images.front"]
    item = ds[0]  # episode 0, t = 0: the first frame repeated before the start
    assert item["state"].shape == (3, 3) and item["images.front"].shape == (3, 8, 10, 3)
    assert item["images.front"].dtype == torch.uint8 and item["action"].shape == (8, 2)
    np.testing.assert_array_equal(item["state"][:, 1].numpy(), [0, 0, 0])
    # Actions t..t+Ta-1 with the last (t=4) repeated past the end of episode 0 and flagged.
    np.testing.assert_array_equal(item["action"][:, 1].numpy(), [0.5, 1.5, 2.5, 3.5, 4.5, 4.5, 4.5, 4.5])
    np.testing.assert_array_equal(item["action_is_pad"].numpy(), [0] * 5 + [1] * 3)
    assert item["instruction"] == "do 0"
    item = ds[5 + 10]  # episode 1, t = 10: all real
    np.testing.assert_array_equal(item["state"][:, 0].numpy(), [1, 1, 1])
    np.testing.assert_array_equal(item["state"][:, 1].numpy(), [8, 9, 10])
    np.testing.assert_array_equal(item["images.front"].numpy(), frames(1, 23)["images.front"][8:11])
    assert not item["action_is_pad"].any()
    # Every window equals the naive per-item Zarr read of the same indices.
    for i in range(0, len(ds), 3):
        fast, slow = ds[i], naive_window(store, ds, i)
        for key, value in slow.items():
            np.testing.assert_array_equal(fast[key].numpy(), value, err_msg=f"sample {i} {key}")
    # With Te = 4, only t whose first 4 actions are real are sampled.
    ds_te = SequenceDataset(store, n_obs_steps=2, horizon=8, n_action_steps=4)
    assert len(ds_te) == sum(n - 3 for n in LENGTHS)
    assert all(not ds_te[i]["action_is_pad"][:4].any() for i in range(len(ds_te)))


def test_split_is_seeded_disjoint_and_stable_as_the_store_changes(tmp_path):
    mask = episode_split(400, 0.2, seed=3)
    assert 50 < mask.sum() < 110 and (mask == episode_split(400, 0.2, seed=3)).all()
    assert (mask != episode_split(400, 0.2, seed=4)).any()
    assert episode_split(1, 0.5).sum() == 0 and episode_split(2, 0.01).sum() == 1
    assert episode_split(3, 0.99).sum() == 2 and episode_split(5, 0.0).sum() == 0
    with pytest.raises(StoreError, match="val_ratio"):
        episode_split(3, 1.0)
    path = tmp_path / "s.zarr"
    store = make_store(path, lengths=(3, 4, 5, 6, 7, 3, 4, 5, 6, 7))
    train = SequenceDataset(store, split="train", val_ratio=0.3, seed=1)
    val = SequenceDataset(store, split="val", val_ratio=0.3, seed=1)
    assert set(train.episodes).isdisjoint(val.episodes) and len(val.episodes) >= 1
    assert len(train) + len(val) == 50
    assert {val[i]["instruction"] for i in range(len(val))} == {f"do {e}" for e in val.episodes}
    held_out = {store.episode_meta(e)["seed"] for e in val.episodes}
    # Appending, dropping and copying never move an episode between train and val.
    for k in range(10, 16):
        w = store.begin_episode(task="t", instruction=f"do {k}", seed=k)
        w.extend(frames(k, 3))
        w.commit()
    grown = SequenceDataset(store, split="val", val_ratio=0.3, seed=1)
    assert held_out <= {store.episode_meta(e)["seed"] for e in grown.episodes}
    smaller = drop_episodes(path, [0, 2, 4], out=tmp_path / "d.zarr")
    val_after = SequenceDataset(smaller, split="val", val_ratio=0.3, seed=1).episodes
    assert held_out - {0, 2, 4} == {smaller.episode_meta(e)["seed"] for e in val_after} & held_out
    _, val_store = split_store(path, tmp_path / "t.zarr", tmp_path / "v.zarr", val_ratio=0.3, seed=1)
    assert {val_store.episode_meta(i)["seed"] for i in range(val_store.num_episodes)} == \
        {store.episode_meta(e)["seed"] for e in grown.episodes}


def test_dataloader_with_workers_batches_to_the_contract(tmp_path):
    store = make_store(tmp_path / "s.zarr", lengths=LENGTHS)
    ds = SequenceDataset(tmp_path / "s.zarr", n_obs_steps=2, horizon=16, image_cache_mb=0.001)
    loader = torch.utils.data.DataLoader(ds, batch_size=8, num_workers=2, shuffle=False)
    batches = list(loader)
    assert sum(len(b["action"]) for b in batches) == len(ds)
    b = batches[1]
    assert b["state"].shape == (8, 2, 3) and b["images.front"].shape == (8, 2, 8, 10, 3)
    assert b["action"].shape == (8, 16, 2) and b["action_is_pad"].shape == (8, 16)
    assert b["action_is_pad"].dtype == torch.bool and isinstance(b["instruction"], list)
    np.testing.assert_array_equal(b["images.front"][3].numpy(), naive_window(store, ds, 11)["images.front"])
    stats = ds.stats
    assert set(stats) == {"state", "images.front", "action"} and stats["action"]["std"].shape == (2,)


def test_bad_sampler_arguments(tmp_path):
    store = make_store(tmp_path / "s.zarr", lengths=(4,), instruction=False)
    with pytest.raises(StoreError, match="observation key 'depth'"):
        SequenceDataset(store, keys=["depth"])
    with pytest.raises(StoreError, match="split must be one of"):
        SequenceDataset(store, split="test")
    with pytest.raises(StoreError, match="n_action_steps"):
        SequenceDataset(store, horizon=4, n_action_steps=5)
    ds = SequenceDataset(store, keys=["state"])
    assert "instruction" not in ds[0] and set(ds[0]) == {"state", "action", "action_is_pad"}
