"""Is image training loader-bound? Loader samples/s against training samples/s, side by side.

Builds the sampler benchmark's store (2 cameras 96x96 + state, so101_lift frames),
then in one run measures (a) a shuffled DataLoader of batch 64 with N workers and
(b) full optimizer steps (forward, backward, AdamW) of the flow preset with both
cameras (default image encoder) on batches already in memory. Prints JSON; the ratio
loader / train > 1 means the loader keeps up.

    MUJOCO_GL=egl python benchmarks/bench_image_train_step.py [--steps 10 --workers 1 2]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sampler import build_store, loader_rate  # noqa: E402

from data.sampler import SequenceDataset  # noqa: E402
from policies.config import PolicyConfig  # noqa: E402
from policies.registry import build_spec, make_policy  # noqa: E402
from robot.config import load_config, replace  # noqa: E402

PRESET = Path(__file__).resolve().parents[1] / "configs" / "policies" / "flow.yaml"

CAMERAS = ("images.front", "images.wrist")


def train_rate(ds: SequenceDataset, store, steps: int, threads: int) -> dict[str, float]:
    """Samples/s of optimizer steps of the image flow policy on pre-loaded batches of 64."""
    torch.set_num_threads(threads)
    # The CPU preset (configs/policies/flow.yaml: U-Net (64, 128, 256)) with both cameras.
    preset = load_config(PolicyConfig, PRESET)
    cfg = replace(preset, obs_keys=("state", *CAMERAS))
    spec = build_spec(cfg, store.specs, action_dim=6, fps=store.fps)
    policy = make_policy(cfg, spec, ds.stats)
    policy.train()
    optim = torch.optim.AdamW(policy.parameters(), lr=1e-4)
    loader = torch.utils.data.DataLoader(ds, batch_size=64, shuffle=True, num_workers=0)
    batches = list(itertools.islice(loader, 3))
    for batch in batches[:2]:  # warm-up
        loss, _ = policy.compute_loss(batch)
        loss.backward()
        optim.step()
        optim.zero_grad(set_to_none=True)
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(steps):
        loss, _ = policy.compute_loss(batches[i % len(batches)])
        loss.backward()
        optim.step()
        optim.zero_grad(set_to_none=True)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"step_s": wall / steps, "step_cpu_s": cpu / steps, "samples_per_s": 64 * steps / wall,
            "threads": threads, "params_M": sum(p.numel() for p in policy.parameters()) / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = build_store(Path(tmp) / "bench.zarr", episodes=20, length=150)
        ds = SequenceDataset(store, n_obs_steps=2, horizon=16, keys=("state", *CAMERAS))
        train = train_rate(ds, store, args.steps, args.threads)
        loaders = {f"loader_{w}_workers_samples_per_s": round(loader_rate(ds, w, args.batches), 1)
                   for w in args.workers}
    best_loader = max(loaders.values())
    print(json.dumps({
        "benchmark": "bench_image_train_step",
        "policy": "configs/policies/flow.yaml with 2 cameras 96x96 + state, default image encoder, batch 64",
        "train": {k: round(v, 4) for k, v in train.items()},
        **loaders,
        "loader_over_train": round(best_loader / train["samples_per_s"], 2),
        # On a shared machine wall time includes waiting for a core; CPU time does not.
        "loader_over_train_cpu": round(best_loader / (64 / train["step_cpu_s"]), 2),
        "loader_bound": best_loader < train["samples_per_s"],
    }, indent=2))


if __name__ == "__main__":
    main()
