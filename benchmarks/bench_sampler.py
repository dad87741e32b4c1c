"""Sampler throughput: the fast path vs naive per-item Zarr slicing, side by side; prints JSON.

Builds a store of rendered so101_lift frames (2 cameras 96x96, state, action;
episodes of 150 ticks), then measures:
  * state-only windows (To=2, Ta=16): SequenceDataset.__getitem__ (low-dim in
    memory) vs `naive_window` (per-item Zarr orthogonal selection), random order;
  * image windows (2 cameras, To=2): DataLoader with 1 and 2 workers (`--workers`),
    batch 64, shuffled, vs the naive per-item read of the same windows.

    MUJOCO_GL=egl python benchmarks/bench_sampler.py [--episodes 40]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from _frames import rendered_pool  # noqa: E402

from data import EpisodeStore  # noqa: E402
from data.sampler import SequenceDataset, naive_window  # noqa: E402
from robot.specs import ArraySpec  # noqa: E402


def build_store(path: Path, episodes: int, length: int) -> EpisodeStore:
    pool = rendered_pool(steps=length)
    keys = {"state": ArraySpec((6,)), "action": ArraySpec((6,)),
            "images.front": ArraySpec((96, 96, 3), "uint8"), "images.wrist": ArraySpec((96, 96, 3), "uint8")}
    store = EpisodeStore.create(path, fps=50, robot="so101", keys=keys)
    for e in range(episodes):
        shift = (7 * e) % length  # every episode a different rotation of the rollout
        writer = store.begin_episode(task="so101_lift", instruction="lift the cube", source="scripted")
        writer.extend({k: np.roll(pool[k], shift, axis=0).astype(spec.dtype) for k, spec in keys.items()})
        writer.commit(success=True)
    return store


def rate(fn, items) -> float:
    t0 = time.perf_counter()
    for i in items:
        fn(int(i))
    return len(items) / (time.perf_counter() - t0)


def loader_rate(ds: SequenceDataset, workers: int, batches: int) -> float:
    """Samples/s of a shuffled DataLoader (batch 64) with `workers` processes, after warm-up."""
    loader = torch.utils.data.DataLoader(ds, batch_size=64, shuffle=True, num_workers=workers,
                                         persistent_workers=workers > 0)
    it = iter(loader)
    for _ in range(3):  # warm-up: worker start, store open, first cache fills
        next(it)
    t0 = time.perf_counter()
    n = 0
    for _ in range(batches):
        try:
            batch = next(it)
        except StopIteration:
            it = iter(loader)
            batch = next(it)
        n += len(batch["action"])
    return n / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=40)
    parser.add_argument("--length", type=int, default=150)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="DataLoader worker counts to compare (scaling needs free cores)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        store = build_store(Path(tmp) / "bench.zarr", args.episodes, args.length)
        out: dict = {"frames": store.num_frames, "episodes": store.num_episodes}

        t0 = time.perf_counter()
        ds = SequenceDataset(store, n_obs_steps=2, horizon=16, keys=["state"])
        out["state_init_s"] = round(time.perf_counter() - t0, 3)
        fast = rate(ds.__getitem__, rng.integers(0, len(ds), 20000))
        naive = rate(lambda i: naive_window(store, ds, i), rng.integers(0, len(ds), 300))
        out["state_windows"] = {"fast_samples_per_s": round(fast), "naive_samples_per_s": round(naive),
                                "speedup": round(fast / naive, 1)}

        ds_img = SequenceDataset(store.path, n_obs_steps=2, horizon=16)
        naive_img = rate(lambda i: naive_window(store, ds_img, i), rng.integers(0, len(ds_img), 200))
        single = rate(ds_img.__getitem__, rng.integers(0, len(ds_img), 2000))
        loader_rates = {}
        for workers in args.workers:
            loader_rates[workers] = loader_rate(ds_img, workers, args.batches)
        out["image_windows_2cams_96px"] = {
            **{f"dataloader_{w}_workers_samples_per_s": round(r) for w, r in loader_rates.items()},
            "single_process_samples_per_s": round(single),
            "naive_samples_per_s": round(naive_img),
            "speedup_single_process_vs_naive": round(single / naive_img, 1),
            "cpu_cores_visible": os.cpu_count(),
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
