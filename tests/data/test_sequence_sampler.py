"""Sequence sampler: window indices and padding, splits, DataLoader with workers, naive cross-check."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from data import StoreError
from data.ops import drop_episodes, episode_split, merge_stores, split_store
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


def test_split_is_a_fixed_function_of_each_episode_id():
    mask = episode_split(400, 0.2, seed=3)
    assert 50 < mask.sum() < 110 and (mask == episode_split(400, 0.2, seed=3)).all()
    assert (mask != episode_split(400, 0.2, seed=4)).any()
    assert episode_split(5, 0.0).sum() == 0
    with pytest.raises(StoreError, match="val_ratio"):
        episode_split(3, 1.0)
    ids = [f"ep{k}" for k in range(60)]
    full = dict(zip(ids, episode_split(ids, 0.3, seed=1), strict=True))
    # Any subset, superset or reordering of the ids gives each id the side it has in the full list.
    rng = np.random.default_rng(0)
    for _ in range(20):
        subset = list(rng.permutation(ids)[: rng.integers(1, len(ids))])
        assert dict(zip(subset, episode_split(subset, 0.3, seed=1), strict=True)) == \
            {i: full[i] for i in subset}


def test_a_store_too_small_for_validation_keeps_its_episodes_in_training_as_it_grows():
    # The regression of issue 13: with no id hashing below val_ratio, the lowest one used to be
    # forced into validation and moved back to training once the store grew a genuine one.
    ids = [f"ep{k}" for k in range(40)]
    seed = next(s for s in range(100)
                if not episode_split(ids[:2], 0.2, s).any() and episode_split(ids, 0.2, s).any())
    assert not episode_split(ids[:2], 0.2, seed).any()  # a 2-episode store: no validation episode
    grown = episode_split(ids, 0.2, seed)
    assert grown.any() and not grown[:2].any()  # ... and its 2 episodes stay in training


def _sides(store, val_ratio: float, seed: int) -> dict[str, bool]:
    """episode_id -> True for validation, as the sampler sees the store."""
    val = SequenceDataset(store, split="val", val_ratio=val_ratio, seed=seed).episodes
    train = SequenceDataset(store, split="train", val_ratio=val_ratio, seed=seed).episodes
    assert set(train).isdisjoint(val) and len(train) + len(val) == store.num_episodes
    return {store.episode_meta(e)["episode_id"]: bool(e in set(val)) for e in range(store.num_episodes)}


def test_no_episode_moves_between_train_and_val_under_append_drop_merge_and_split(tmp_path):
    path = tmp_path / "s.zarr"
    store = make_store(path, lengths=(3, 4, 5, 6, 7, 3, 4, 5, 6, 7))
    before = _sides(store, 0.3, seed=1)
    assert 1 <= sum(before.values()) < len(before)  # both sides hold episodes (fixed ids: not luck)
    val = SequenceDataset(store, split="val", val_ratio=0.3, seed=1)
    assert {val[i]["instruction"] for i in range(len(val))} == {f"do {e}" for e in val.episodes}
    for k in range(10, 30):  # append: new ids, old ones keep their side
        w = store.begin_episode(task="t", instruction=f"do {k}", seed=k)
        w.extend(frames(k, 3))
        w.commit()
    grown = _sides(store, 0.3, seed=1)
    assert {i: grown[i] for i in before} == before and any(grown[i] for i in grown if i not in before)
    smaller = drop_episodes(path, [0, 2, 4, 11], out=tmp_path / "d.zarr")  # drop
    after_drop = _sides(smaller, 0.3, seed=1)
    assert len(after_drop) == len(grown) - 4 and after_drop == {i: grown[i] for i in after_drop}
    other = make_store(tmp_path / "o.zarr", lengths=(4, 5, 6))
    other_sides = _sides(other, 0.3, seed=1)
    merged = _sides(merge_stores([other, smaller], tmp_path / "m.zarr"), 0.3, seed=1)  # merge, reordered
    assert merged == {**other_sides, **after_drop}
    train_store, val_store = split_store(path, tmp_path / "t.zarr", tmp_path / "v.zarr", val_ratio=0.3, seed=1)
    assert {val_store.episode_meta(i)["episode_id"] for i in range(val_store.num_episodes)} == \
        {i for i, s in grown.items() if s}
    assert {train_store.episode_meta(i)["episode_id"] for i in range(train_store.num_episodes)} == \
        {i for i, s in grown.items() if not s}


def test_split_store_refuses_an_empty_side_before_writing(tmp_path):
    path = tmp_path / "s.zarr"
    store = make_store(path, lengths=(3, 4))
    ids = [store.episode_meta(i)["episode_id"] for i in range(2)]
    seed = next(s for s in range(100) if not episode_split(ids, 0.1, s).any())
    with pytest.raises(StoreError, match="none of the 2 episodes falls in the validation split"):
        split_store(path, tmp_path / "t.zarr", tmp_path / "v.zarr", val_ratio=0.1, seed=seed)
    assert not (tmp_path / "t.zarr").exists() and not (tmp_path / "v.zarr").exists()
    seed = next(s for s in range(100) if episode_split(ids, 0.9, s).all())
    with pytest.raises(StoreError, match="all 2 episodes fall in the validation split"):
        split_store(path, tmp_path / "t.zarr", tmp_path / "v.zarr", val_ratio=0.9, seed=seed)


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
