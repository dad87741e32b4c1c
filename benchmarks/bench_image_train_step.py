"""Is image training loader-bound? Loader cost per batch against training cost per batch, same units.

Builds the sampler benchmark's store (2 cameras 96x96 + state, so101_lift frames)
with a decoded size several times the sampler's image cache (`--image-cache-mb`),
so most window reads decode a Zarr chunk, as on a dataset larger than memory.
Then, alternating one batch of each side by side (same load on the shared
machine), measures:
  (a) the loader: one shuffled batch of 64 windows (To=2, both cameras) read and
      collated in this thread, the work one DataLoader worker does per batch;
  (b) one optimizer step (forward, backward, AdamW) of the flow preset
      (`configs/policies/flow.yaml`) with both cameras, on batches already in memory.
Both are reported in process CPU seconds per batch (the same unit on both sides;
process, not thread, time because Zarr decodes chunks on its own threads) and
in wall seconds; `train_over_loader_cpu` > 1 means one worker produces a
batch faster than a training step consumes it. Prints JSON.

    MUJOCO_GL=egl python benchmarks/bench_image_train_step.py [--steps 10 --episodes 40 --image-cache-mb 64]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sampler import build_store  # noqa: E402

from data.sampler import SequenceDataset  # noqa: E402
from policies.config import PolicyConfig  # noqa: E402
from policies.pipeline import config_hash, resolve_preset  # noqa: E402
from policies.registry import build_spec, make_policy  # noqa: E402
from robot.config import load_config  # noqa: E402

CAMERAS = ("images.front", "images.wrist")
POLICY_PRESET = "flow"
POLICY_OVERRIDES = [f"obs_keys=[state,{','.join(CAMERAS)}]"]


def timed(fn) -> tuple[float, float]:
    """(wall s, process CPU s) of one call: process CPU, because Zarr decodes in its own threads."""
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="measured batches per side")
    parser.add_argument("--episodes", type=int, default=40, help="150-frame episodes in the store")
    parser.add_argument("--image-cache-mb", type=float, default=64.0, help="sampler image cache per dataset")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = load_config(PolicyConfig, resolve_preset(POLICY_PRESET, "policies"), POLICY_OVERRIDES)
    with tempfile.TemporaryDirectory() as tmp:
        store = build_store(Path(tmp) / "bench.zarr", episodes=args.episodes, length=150)
        decoded_mb = sum(int(np.prod(store.specs[k].shape)) for k in CAMERAS) * store.num_frames / 2**20
        ds = SequenceDataset(store.path, n_obs_steps=cfg.n_obs_steps, horizon=cfg.horizon,
                             keys=list(cfg.obs_keys), image_cache_mb=args.image_cache_mb)
        spec = build_spec(cfg, store.specs, action_dim=6, fps=store.fps)
        policy = make_policy(cfg, spec, ds.stats)
        policy.train()
        optim = torch.optim.AdamW(policy.parameters(), lr=1e-4)
        loader = torch.utils.data.DataLoader(ds, batch_size=64, shuffle=True, num_workers=0,
                                             generator=torch.Generator().manual_seed(0))
        it = itertools.cycle(loader)
        batches = [next(it) for _ in range(3)]

        def train_step(i: int) -> None:
            loss, _ = policy.compute_loss(batches[i % len(batches)])
            loss.backward()
            optim.step()
            optim.zero_grad(set_to_none=True)

        for i in range(2):  # warm-up both sides: allocator, oneDNN kernels, the image cache
            train_step(i)
        for _ in range(5):
            next(it)
        train, load = [], []
        for i in range(args.steps):  # alternate: both sides see the same machine load
            load.append(timed(lambda: next(it)))
            train.append(timed(lambda i=i: train_step(i)))
        # the cache filled to its cap, which is smaller than the decoded images: most reads decode
        resident_mb = sum(c.nbytes for c in ds._image_caches().values()) / 2**20
    train_wall, train_cpu = (float(np.median([t[j] for t in train])) for j in (0, 1))
    load_wall, load_cpu = (float(np.median([t[j] for t in load])) for j in (0, 1))
    print(json.dumps({
        "benchmark": "bench_image_train_step",
        "policy_preset": POLICY_PRESET, "policy_overrides": POLICY_OVERRIDES, "config_hash": config_hash(cfg),
        "params_M": round(sum(p.numel() for p in policy.parameters()) / 1e6, 3),
        "batch_size": 64, "threads": args.threads, "batches_per_side": args.steps,
        "store_frames": store.num_frames, "decoded_images_mb": round(decoded_mb, 1),
        "image_cache_mb": args.image_cache_mb, "cache_resident_mb": round(resident_mb, 1),
        "train_cpu_s_per_batch": round(train_cpu, 4), "train_wall_s_per_batch": round(train_wall, 4),
        "loader_cpu_s_per_batch": round(load_cpu, 4), "loader_wall_s_per_batch": round(load_wall, 4),
        "train_over_loader_cpu": round(train_cpu / load_cpu, 2),
        "train_over_loader_wall": round(train_wall / load_wall, 2),
        "loader_bound_one_worker": load_cpu > train_cpu,
        "cpu_cores_visible": os.cpu_count(), "load_avg_1min": round(os.getloadavg()[0], 2),
    }, indent=2))


if __name__ == "__main__":
    main()
