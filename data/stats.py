"""Normalization statistics of a store: min, max, mean, std per key and dimension.

Low-dim keys (state, action, timestamp) get per-dimension statistics over all
committed frames; image keys get per-channel statistics in pixel units
(0..255). Computed chunk by chunk in float64 (sums of x and x^2, shifted by
the first frame's value so the variance keeps its precision), and cached in
the store attributes under "stats" with the `episode_ends` they were computed
from, so they are recomputed only after episodes change.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from robot.keys import is_image_key

# Typed loosely on purpose: data/store.py imports this module (lazily), never the other way round.
EpisodeStore = Any

STAT_NAMES = ("min", "max", "mean", "std")


def _fingerprint(store: EpisodeStore) -> str:
    return hashlib.sha1(store.episode_ends.tobytes()).hexdigest()


def compute_stats(store: EpisodeStore, keys: list[str] | None = None) -> dict[str, dict[str, np.ndarray]]:
    """Statistics of `keys` (default: all) over every committed frame; see the module docstring."""
    out: dict[str, dict[str, np.ndarray]] = {}
    n = store.num_frames
    for key in keys or store.keys:
        spec = store.specs[key]
        image = is_image_key(key)
        dims = (spec.shape[-1],) if image else spec.shape
        if n == 0:
            empty = np.zeros(dims, dtype=np.float64)
            out[key] = {name: empty.copy() for name in STAT_NAMES}
            continue
        step = store.array(key).chunks[0]
        lo = np.full(dims, np.inf)
        hi = np.full(dims, -np.inf)
        total = np.zeros(dims)
        total_sq = np.zeros(dims)
        shift = None
        count = 0
        for start in range(0, n, step):
            block = store.read_frames(key, start, min(n, start + step)).astype(np.float64)
            if image:
                block = block.reshape(-1, dims[0])
            if shift is None:
                shift = block[0].copy()
            lo = np.minimum(lo, block.min(axis=0))
            hi = np.maximum(hi, block.max(axis=0))
            centered = block - shift
            total += centered.sum(axis=0)
            total_sq += np.square(centered).sum(axis=0)
            count += block.shape[0]
        mean_c = total / count
        var = np.maximum(total_sq / count - np.square(mean_c), 0.0)
        out[key] = {"min": lo, "max": hi, "mean": mean_c + shift, "std": np.sqrt(var)}
    return out


def _to_json(stats: dict[str, dict[str, np.ndarray]]) -> dict[str, Any]:
    return {k: {n: np.asarray(v).tolist() for n, v in d.items()} for k, d in stats.items()}


def _from_json(data: dict[str, Any]) -> dict[str, dict[str, np.ndarray]]:
    return {k: {n: np.asarray(v, dtype=np.float64) for n, v in d.items()} for k, d in data.items()}


def _copy(stats: dict[str, dict[str, np.ndarray]]) -> dict[str, dict[str, np.ndarray]]:
    return {k: {n: v.copy() for n, v in d.items()} for k, d in stats.items()}


def _save(store: EpisodeStore, payload: dict[str, Any]) -> None:
    """Persist the stats in the store attributes; a read-only handle still saves them when the
    directory is writable (they are derived data), so training runs do not recompute them."""
    if not store.readonly:
        store._set_attr("stats", payload)
        return
    import zarr

    try:
        root = zarr.open_group(zarr.storage.LocalStore(store.path), mode="r+", zarr_format=3)
        root.attrs["stats"] = payload
    except OSError:
        pass  # a read-only file system: keep them in memory only


def cached_stats(store: EpisodeStore, force: bool = False) -> dict[str, dict[str, np.ndarray]]:
    """`compute_stats` of every key, reusing the copy saved in the store when still valid."""
    fingerprint = _fingerprint(store)
    memo = getattr(store, "_stats_memo", None)
    if not force and memo is not None and memo[0] == fingerprint:
        return _copy(memo[1])
    saved = store.attrs.get("stats")
    if not force and isinstance(saved, dict) and saved.get("episode_ends_sha1") == fingerprint \
            and set(saved.get("keys", {})) == set(store.keys):
        stats = _from_json(saved["keys"])
    else:
        stats = compute_stats(store)
        _save(store, {"episode_ends_sha1": fingerprint, "num_frames": store.num_frames,
                      "keys": _to_json(stats)})
    store._stats_memo = (fingerprint, stats)
    return _copy(stats)
