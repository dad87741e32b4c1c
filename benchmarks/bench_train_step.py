"""Training step cost per policy variant on so101_lift-shaped state batches; prints JSON.

Each case is the `so101_lift_flow_privileged` pipeline preset plus dotted overrides (stored with
its `config_hash`, so `tests/test_results_fresh.py` notices when the preset moves).
One optimizer step = `compute_loss` + backward + AdamW on a batch of 64 windows
(state (2, 11): joints + cube pose, action (16, 6)) already in memory, so the
loader is not in the figure. Cases are alternated step by step after a warm-up,
so they share the machine's load; the median thread CPU time per step is the
figure (wall time, which a shared machine inflates, is reported next to it).

    python benchmarks/bench_train_step.py [--steps 10]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from policies.pipeline import config_hash, load_pipeline  # noqa: E402
from policies.registry import build_spec, make_policy  # noqa: E402
from robot.specs import ArraySpec  # noqa: E402

PRESET = "so101_lift_flow_privileged"
CASES = {
    "flow_unet_32_64_128": ["policy.head.unet_down_dims=[32,64,128]"],
    "flow_unet_64_128_256_preset": [],
    "flow_transformer_d128_2layers": ["policy.head.network=transformer", "policy.head.d_model=128",
                                      "policy.head.n_layers=2"],
    "diffusion_unet_32_64_128": ["policy.kind=diffusion", "policy.head.unet_down_dims=[32,64,128]"],
}
DS, DA, BATCH = 11, 6, 64


def build(overrides: list[str]):
    """(policy, optimizer, batch, config hash) of one case."""
    cfg = load_pipeline(PRESET, overrides)
    p = cfg.policy
    spec = build_spec(p, {"state": ArraySpec((DS,))}, DA, fps=30.0)
    stats = {"state": {"min": -np.ones(DS), "max": np.ones(DS), "mean": np.zeros(DS), "std": np.ones(DS)},
             "action": {"min": -np.ones(DA), "max": np.ones(DA), "mean": np.zeros(DA), "std": np.ones(DA)}}
    torch.manual_seed(0)
    policy = make_policy(p, spec, stats)
    policy.train()
    optim = torch.optim.AdamW(policy.parameters(), lr=cfg.train.lr)
    g = torch.Generator().manual_seed(0)
    batch = {"state": torch.rand(BATCH, p.n_obs_steps, DS, generator=g) * 2 - 1,
             "action": torch.rand(BATCH, p.horizon, DA, generator=g) * 2 - 1,
             "action_is_pad": torch.zeros(BATCH, p.horizon, dtype=torch.bool)}
    return policy, optim, batch, config_hash(cfg)


def step(policy, optim, batch) -> tuple[float, float]:
    """(wall s, thread CPU s) of one optimizer step."""
    t0, c0 = time.perf_counter(), time.thread_time()
    loss, _ = policy.compute_loss(batch)
    loss.backward()
    optim.step()
    optim.zero_grad(set_to_none=True)
    return time.perf_counter() - t0, time.thread_time() - c0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="measured steps per case")
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    built = {name: build(ov) for name, ov in CASES.items()}
    for policy, optim, batch, _ in built.values():
        for _ in range(args.warmup):
            step(policy, optim, batch)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in CASES}
    for _ in range(args.steps):
        for name, (policy, optim, batch, _) in built.items():
            times[name].append(step(policy, optim, batch))
    cases = {}
    for name, (policy, _, _, digest) in built.items():
        cases[name] = {
            "preset": PRESET, "overrides": CASES[name], "config_hash": digest,
            "params_M": round(sum(p.numel() for p in policy.parameters()) / 1e6, 3),
            "cpu_ms_per_step_median": round(1000 * float(np.median([t[1] for t in times[name]])), 1),
            "wall_ms_per_step_median": round(1000 * float(np.median([t[0] for t in times[name]])), 1),
        }
    print(json.dumps({"benchmark": "bench_train_step", "batch_size": BATCH, "state_dim": DS, "action_dim": DA,
                      "steps_per_case": args.steps, "threads": 1, "torch": torch.__version__,
                      "cpu_cores_visible": os.cpu_count(), "load_avg_1min": round(os.getloadavg()[0], 2),
                      "cases": cases}, indent=1))


if __name__ == "__main__":
    main()
