"""Baseline for bench_sampler: the windowing a Diffusion Policy user would otherwise use.

A re-implementation (written here, not copied) of the indexing approach of the
Diffusion Policy reference's `SequenceSampler` (real-stanford/diffusion_policy,
`diffusion_policy/common/sampler.py`): one precomputed table row per window,
`(buffer_start, buffer_end, sample_start, sample_end)`, built once from
`episode_ends` with `pad_before` / `pad_after`; a sample slices every key's
array `[buffer_start:buffer_end]` and, at episode edges, copies it into a
window whose head repeats the first frame and whose tail repeats the last.

The arrays are whatever the user's replay buffer holds: numpy arrays (the
reference's `ReplayBuffer.copy_from_path` loads the store into memory,
decompressed) or the Zarr arrays of the store on disk (a buffer opened on the
path). Window semantics match `data.sampler.SequenceDataset`: observations are
frames t-To+1..t, actions t..t+Ta-1, so both samplers yield the same windows
(`bench_sampler.py` checks one before timing).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def window_table(episode_ends: np.ndarray, n_obs_steps: int, horizon: int) -> np.ndarray:
    """(N, 4) int64 rows (buffer_start, buffer_end, sample_start, sample_end), one per window.

    A window spans L = To - 1 + Ta frames starting at t - To + 1, for every frame t
    of every episode (pad_before = To - 1, pad_after = Ta - 1).
    """
    length = n_obs_steps - 1 + horizon
    pad_before, pad_after = n_obs_steps - 1, horizon - 1
    rows = []
    start = 0
    for end in np.asarray(episode_ends, dtype=np.int64):
        ep_len = int(end - start)
        first = np.arange(-pad_before, ep_len - length + pad_after + 1)  # window start, episode frames
        buf_start = np.maximum(first, 0) + start
        buf_end = np.minimum(first + length, ep_len) + start
        sample_start = buf_start - (first + start)
        sample_end = length - ((first + length + start) - buf_end)
        rows.append(np.stack([buf_start, buf_end, sample_start, sample_end], axis=1))
        start = int(end)
    return np.concatenate(rows).astype(np.int64)


class ReplayBufferSampler:
    """Windows by table lookup and per-key slicing of `arrays` (numpy in memory, or Zarr arrays).

    arrays: key -> (N_frames, ...) array-like supporting `[a:b]` slicing; must hold "action".
    Returns per window: observation keys (To, ...), "action" (Ta, Da), "action_is_pad" (Ta,).
    """

    def __init__(self, arrays: dict[str, Any], episode_ends: np.ndarray, n_obs_steps: int, horizon: int):
        self.arrays, self.to, self.ta = arrays, n_obs_steps, horizon
        self.length = n_obs_steps - 1 + horizon
        self.table = window_table(episode_ends, n_obs_steps, horizon)

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        buf_start, buf_end, sample_start, sample_end = (int(v) for v in self.table[i])
        out: dict[str, np.ndarray] = {}
        for key, arr in self.arrays.items():
            chunk = np.array(arr[buf_start:buf_end])  # owned, as our sampler returns (a numpy slice is a view)
            if sample_start > 0 or sample_end < self.length:
                data = np.empty((self.length, *chunk.shape[1:]), dtype=chunk.dtype)
                data[:sample_start] = chunk[0]
                data[sample_end:] = chunk[-1]
                data[sample_start:sample_end] = chunk
                chunk = data
            if key == "action":
                out[key] = chunk[self.to - 1:]
            else:
                out[key] = chunk[:self.to]
        pad = np.zeros(self.ta, dtype=bool)
        pad[max(0, sample_end - (self.to - 1)):] = True
        out["action_is_pad"] = pad
        return out
