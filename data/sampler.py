"""Sequence sampler: windows of To observations and Ta actions from an episode store.

Sample t (a frame of one episode) gives observations t-To+1 .. t (the
episode's first frame repeated before its start) and actions t .. t+Ta-1 (its
last action repeated past its end, flagged in `action_is_pad`). With
`n_action_steps` (Te) set, only t whose first Te actions are all real are
sampled.

Fast path: low-dim keys (state, action, timestamp) are read into memory once
(one sequential pass), so a window is numpy fancy indexing. Image keys stay on
disk; each DataLoader worker opens the store lazily and keeps an LRU cache of
decoded, chunk-aligned blocks, so a window decodes whole chunks at most once
while it is cached and never issues per-frame Zarr requests.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from data.errors import StoreError
from data.ops import store_split
from data.store import EpisodeStore
from robot.keys import ACTION, INSTRUCTION, TIMESTAMP, is_image_key

SPLITS = (None, "train", "val")


class _ChunkCache:
    """LRU of decoded chunks of one image array: chunk index -> (chunk_len, H, W, C) uint8."""

    def __init__(self, store: EpisodeStore, key: str, max_bytes: int) -> None:
        self.store, self.key = store, key
        self.chunk = store.array(key).chunks[0]
        self.blocks: OrderedDict[int, np.ndarray] = OrderedDict()
        self.max_bytes, self.nbytes = max_bytes, 0
        self.limit = store.num_frames

    def block(self, c: int) -> np.ndarray:
        hit = self.blocks.get(c)
        if hit is not None:
            self.blocks.move_to_end(c)
            return hit
        start = c * self.chunk
        data = self.store.read_frames(self.key, start, min(start + self.chunk, self.limit))
        self.blocks[c] = data
        self.nbytes += data.nbytes
        while self.nbytes > self.max_bytes and len(self.blocks) > 1:
            _, old = self.blocks.popitem(last=False)
            self.nbytes -= old.nbytes
        return data

    def gather(self, frames: np.ndarray) -> np.ndarray:
        """Frames (n,) global indices -> (n, H, W, C)."""
        out = np.empty((len(frames), *self.store.specs[self.key].shape), dtype=np.uint8)
        chunk_ids = frames // self.chunk
        for c in np.unique(chunk_ids):
            sel = chunk_ids == c
            out[sel] = self.block(int(c))[frames[sel] - c * self.chunk]
        return out


class SequenceDataset(Dataset):
    """Torch dataset of (To obs, Ta action) windows over a store; see the module docstring.

    Items: obs keys -> (To, *shape) tensors (images uint8 HWC), `action` (Ta, Da)
    float32, `action_is_pad` (Ta,) bool, `instruction` str when the store has
    instructions; the default collate stacks them to the batch contract of
    docs/architecture.md. `split` picks train / val episodes by `data.ops.store_split`.
    """

    def __init__(
        self,
        store_or_path: EpisodeStore | str | os.PathLike,
        n_obs_steps: int = 2,
        horizon: int = 16,
        keys: list[str] | None = None,
        split: str | None = None,
        val_ratio: float = 0.1,
        seed: int = 0,
        n_action_steps: int | None = None,
        image_cache_mb: float = 1024.0,
    ) -> None:
        store = store_or_path if isinstance(store_or_path, EpisodeStore) \
            else EpisodeStore.open(store_or_path, readonly=True)
        if split not in SPLITS:
            raise StoreError(f"split must be one of {SPLITS}, got {split!r}")
        if n_obs_steps < 1 or horizon < 1:
            raise StoreError(f"n_obs_steps ({n_obs_steps}) and horizon ({horizon}) must be >= 1")
        if n_action_steps is not None and not 1 <= n_action_steps <= horizon:
            raise StoreError(f"n_action_steps ({n_action_steps}) must be in 1..horizon ({horizon})")
        if ACTION not in store.specs:
            raise StoreError(f"{store.path} has no {ACTION!r} key; the sampler needs actions")
        if store.num_episodes == 0:
            raise StoreError(f"{store.path} holds no committed episodes")
        default_obs = [k for k in store.keys if k not in (ACTION, TIMESTAMP)]
        self.obs_keys = list(keys) if keys is not None else default_obs
        for k in self.obs_keys:
            if k not in store.specs or k == ACTION:
                raise StoreError(f"observation key {k!r} is not in {store.path} "
                                 f"(observation keys there: {default_obs})")
        self.path = Path(store.path)
        self.n_obs_steps, self.horizon, self.n_action_steps = n_obs_steps, horizon, n_action_steps
        self.image_keys = [k for k in self.obs_keys if is_image_key(k)]
        self.lowdim_keys = [k for k in self.obs_keys if not is_image_key(k)]
        self.image_cache_bytes = int(image_cache_mb * 2**20)

        n = store.num_frames
        self._lowdim = {k: store.read_frames(k, 0, n) for k in [*self.lowdim_keys, ACTION]}
        self.val_mask = store_split(store, val_ratio, seed)
        chosen = np.arange(store.num_episodes)
        if split == "train":
            chosen = chosen[~self.val_mask]
        elif split == "val":
            chosen = chosen[self.val_mask]
        ends = store.episode_ends
        starts = np.concatenate([[0], ends[:-1]])
        last_ok = (n_action_steps or 1) - 1  # actions t..t+Te-1 must be real
        t_list, ep_list = [], []
        for e in chosen:
            t = np.arange(starts[e], ends[e] - last_ok)
            t_list.append(t)
            ep_list.append(np.full(len(t), e))
        self._t = np.concatenate(t_list).astype(np.int64) if t_list else np.zeros(0, np.int64)
        self._ep = np.concatenate(ep_list).astype(np.int64) if ep_list else np.zeros(0, np.int64)
        self._starts, self._ends = starts.astype(np.int64), ends.astype(np.int64)
        self.episodes = chosen
        metas = store.all_meta()
        self._instructions = [m.get(INSTRUCTION, "") for m in metas]
        self.has_instruction = any(self._instructions)
        self._stats = None
        self._caches: dict[str, _ChunkCache] | None = None
        self._pid = None

    def __len__(self) -> int:
        return len(self._t)

    @property
    def stats(self) -> dict[str, dict[str, np.ndarray]]:
        """Normalization stats {"min","max","mean","std"} of the used keys and `action` (whole store)."""
        if self._stats is None:
            all_stats = EpisodeStore.open(self.path, readonly=True).stats()
            self._stats = {k: all_stats[k] for k in [*self.obs_keys, ACTION]}
        return self._stats

    def _image_caches(self) -> dict[str, _ChunkCache]:
        # Opened lazily and once per process: Zarr handles and their event loop must not be
        # shared across the fork into DataLoader workers.
        if self._caches is None or self._pid != os.getpid():
            store = EpisodeStore.open(self.path, readonly=True)
            per_key = self.image_cache_bytes // max(1, len(self.image_keys))
            self._caches = {k: _ChunkCache(store, k, per_key) for k in self.image_keys}
            self._pid = os.getpid()
        return self._caches

    def indices(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Global frame indices of sample i: obs (To,), actions (Ta,), action_is_pad (Ta,)."""
        t, e = int(self._t[i]), int(self._ep[i])
        start, end = self._starts[e], self._ends[e]
        obs = np.maximum(np.arange(t - self.n_obs_steps + 1, t + 1), start)
        act = np.arange(t, t + self.horizon)
        pad = act >= end
        return obs, np.minimum(act, end - 1), pad

    def __getitem__(self, i: int) -> dict[str, Any]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"sample {i} out of range ({len(self)} samples)")
        i %= len(self)
        obs, act, pad = self.indices(i)
        item: dict[str, Any] = {k: torch.from_numpy(self._lowdim[k][obs]) for k in self.lowdim_keys}
        if self.image_keys:
            caches = self._image_caches()
            for k in self.image_keys:
                item[k] = torch.from_numpy(caches[k].gather(obs))
        item[ACTION] = torch.from_numpy(self._lowdim[ACTION][act])
        item["action_is_pad"] = torch.from_numpy(pad)
        if self.has_instruction:
            item[INSTRUCTION] = self._instructions[int(self._ep[i])]
        return item

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_caches"], state["_pid"] = None, None
        return state


def naive_window(store: EpisodeStore, dataset: SequenceDataset, i: int) -> dict[str, np.ndarray]:
    """The same window as `dataset[i]`, read by per-item Zarr slicing (a cross-check in the tests;
    `benchmarks/bench_sampler.py` compares against a replay-buffer sampler instead)."""
    obs, act, pad = dataset.indices(i)
    out = {k: store.array(k).get_orthogonal_selection((obs,)) for k in dataset.obs_keys}
    out[ACTION] = store.array(ACTION).get_orthogonal_selection((act,))
    out["action_is_pad"] = pad
    return out
