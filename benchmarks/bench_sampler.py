"""Sampler throughput against the replay-buffer sampler a user would otherwise use; prints JSON.

Builds a store of rendered so101_lift frames (2 cameras 96x96, state, action;
episodes of 150 ticks). Every contender is warmed up, then reads the *same*
random window indices (equal samples), alternated over `--repeats` rounds (best
round kept, the machine is shared):
  * state-only windows (To=2, Ta=16): SequenceDataset (low-dim in memory) vs the
    Diffusion Policy reference's indexing (`_replay_buffer_sampler.py`) over the
    same arrays loaded into memory (what its `ReplayBuffer.copy_from_path` does);
  * image windows (2 cameras, To=2), with a per-dataset image cache smaller than
    the decoded store (`--image-cache-mb`, default 64 MiB, so most reads miss):
    SequenceDataset vs the replay-buffer sampler over the store's Zarr arrays
    (buffer opened on the path) and over the whole store decoded into RAM (the
    fastest plain alternative, paying the store's decoded size in memory);
  * DataLoader throughput of SequenceDataset with 1 and 2 workers, batch 64.

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
from _replay_buffer_sampler import ReplayBufferSampler  # noqa: E402

from data import EpisodeStore  # noqa: E402
from data.sampler import SequenceDataset  # noqa: E402
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
    """Samples/s of fn over items (wall clock)."""
    t0 = time.perf_counter()
    for i in items:
        fn(int(i))
    return len(items) / (time.perf_counter() - t0)


def compare(contenders: dict, n_items: int, n_windows: int, repeats: int, seed: int) -> dict[str, float]:
    """Best-of-`repeats` samples/s per contender on the same indices, contenders alternated, after warm-up."""
    rng = np.random.default_rng(seed)
    items = rng.integers(0, n_windows, n_items)
    warm = rng.integers(0, n_windows, max(50, n_items // 10))
    for fn in contenders.values():
        for i in warm:
            fn(int(i))
    best = dict.fromkeys(contenders, 0.0)
    for _ in range(repeats):
        for name, fn in contenders.items():
            best[name] = max(best[name], rate(fn, items))
    return best


def same_window(a: dict, b: dict) -> None:
    """The two samplers must agree before their speeds are compared."""
    for key in b:
        if not np.array_equal(np.asarray(a[key]), np.asarray(b[key])):
            raise AssertionError(f"samplers disagree on {key!r}")


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
    parser.add_argument("--state-windows", type=int, default=20000, help="windows per contender per round")
    parser.add_argument("--image-windows", type=int, default=1000, help="windows per contender per round")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--image-cache-mb", type=float, default=64.0,
                        help="SequenceDataset image cache; below the decoded store size so reads miss")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="DataLoader worker counts to compare (scaling needs free cores)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        store = build_store(Path(tmp) / "bench.zarr", args.episodes, args.length)
        n = store.num_frames
        out: dict = {"frames": n, "episodes": store.num_episodes, "repeats": args.repeats,
                     "baseline": "Diffusion Policy replay-buffer indexing (benchmarks/_replay_buffer_sampler.py)"}

        t0 = time.perf_counter()
        ds = SequenceDataset(store, n_obs_steps=2, horizon=16, keys=["state"])
        out["state_init_s"] = round(time.perf_counter() - t0, 3)
        t0 = time.perf_counter()
        in_ram = {k: store.read_frames(k, 0, n) for k in ("state", "action")}
        rb = ReplayBufferSampler(in_ram, store.episode_ends, n_obs_steps=2, horizon=16)
        out["state_baseline_init_s"] = round(time.perf_counter() - t0, 3)
        assert len(rb) == len(ds)
        for i in (0, 1, 149, len(ds) - 1):
            same_window(ds[i], rb[i])
        state = compare({"ours": ds.__getitem__, "replay_buffer_in_ram": rb.__getitem__},
                        args.state_windows, len(ds), args.repeats, seed=0)
        out["state_windows"] = {
            "windows_per_round": args.state_windows,
            "ours_samples_per_s": round(state["ours"]),
            "replay_buffer_in_ram_samples_per_s": round(state["replay_buffer_in_ram"]),
            "ours_over_replay_buffer": round(state["ours"] / state["replay_buffer_in_ram"], 2),
        }

        cams = ("images.front", "images.wrist")
        ds_img = SequenceDataset(store.path, n_obs_steps=2, horizon=16, image_cache_mb=args.image_cache_mb)
        decoded_mb = sum(int(np.prod(store.specs[k].shape)) * n for k in cams) / 2**20  # uint8 frames
        keys = ("state", *cams, "action")
        rb_zarr = ReplayBufferSampler({k: store.array(k) for k in keys}, store.episode_ends, 2, 16)
        t0 = time.perf_counter()
        rb_ram = ReplayBufferSampler({k: store.read_frames(k, 0, n) for k in keys}, store.episode_ends, 2, 16)
        load_s = time.perf_counter() - t0
        for i in (0, 1, 149, len(ds_img) - 1):
            same_window(ds_img[i], rb_zarr[i])
            same_window(ds_img[i], rb_ram[i])
        img = compare({"ours": ds_img.__getitem__, "replay_buffer_zarr": rb_zarr.__getitem__,
                       "replay_buffer_in_ram": rb_ram.__getitem__},
                      args.image_windows, len(ds_img), args.repeats, seed=1)
        loader_rates = {w: loader_rate(ds_img, w, args.batches) for w in args.workers}
        out["image_windows_2cams_96px"] = {
            "windows_per_round": args.image_windows,
            "decoded_store_mb": round(decoded_mb, 1),
            "ours_image_cache_mb": args.image_cache_mb,
            "ours_samples_per_s": round(img["ours"]),
            "replay_buffer_zarr_samples_per_s": round(img["replay_buffer_zarr"]),
            "replay_buffer_in_ram_samples_per_s": round(img["replay_buffer_in_ram"]),
            "replay_buffer_in_ram_load_s": round(load_s, 2),
            "ours_over_replay_buffer_zarr": round(img["ours"] / img["replay_buffer_zarr"], 2),
            "ours_over_replay_buffer_in_ram": round(img["ours"] / img["replay_buffer_in_ram"], 2),
            **{f"dataloader_{w}_workers_samples_per_s": round(r) for w, r in loader_rates.items()},
            "cpu_cores_visible": os.cpu_count(),
            "load_avg_1min": round(os.getloadavg()[0], 2),
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
