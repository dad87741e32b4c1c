"""Chunk-boundary handling vs inference delay: naive switching, weighted overlap, real-time chunking.

    MUJOCO_GL=egl python benchmarks/bench_rtc.py [--checkpoint runs/lift] [--episodes 30] [--delays 0 1 2 3 4]
    python benchmarks/bench_rtc.py --quick       # smoke run: tiny training, delays 0 and 2, 2 short episodes

The RTC paper's delay sweep on our task: a so101_lift flow policy (trained
here if no --checkpoint, ~5 min on one core, see _lift_policy.py) drives the
env through the one ControlLoop with a PolicySource in "stepped" mode, where
each chunk is released exactly d ticks after its observation (a
machine-independent inference delay; the actions for the d ticks already
past are dropped). The next chunk is requested when half the chunk (8 of 16)
remains. Methods:
- naive: `latest_only` (the new chunk replaces the queue);
- weighted: `weighted_average` (0.3 old + 0.7 new over the overlap, lerobot's default);
- rtc: `latest_only` + real-time chunking (exp soft mask, guidance cap 5);
- rtc_inpaint: the same prefix and mask, blended in after each flow step instead of guidance.
Same seeds and torch noise seeds in every cell. Figures per (method, delay):
success rate with Wilson 95% interval, mean per-tick action change
(max over joints, rad) and its p99, and the arm's per-tick change on ticks
where a new chunk took over vs within a chunk (the boundary jump RTC is
meant to remove; gripper excluded). Writes
benchmarks/results/bench_rtc.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

METHODS = {
    "naive": {"aggregation": "latest_only", "rtc": False},
    "weighted": {"aggregation": "weighted_average", "rtc": False},
    "rtc": {"aggregation": "latest_only", "rtc": True, "rtc_method": "guidance"},
    "rtc_inpaint": {"aggregation": "latest_only", "rtc": True, "rtc_method": "inpaint"},
}


class ActionLog:
    """Env wrapper keeping the actions it was stepped with."""

    def __init__(self, env: Any) -> None:
        self.env, self.body_spec, self.actions = env, env.body_spec, []

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> Any:
        self.actions = []
        return self.env.reset(seed=seed)

    def step(self, action: np.ndarray) -> Any:
        self.actions.append(np.array(action, dtype=np.float64))
        return self.env.step(action)

    def close(self) -> None:
        self.env.close()


def run_cell(
    policy: Any, method: str, delay: int, seeds: list[int], max_steps: int, beta: float = 5.0
) -> dict[str, Any]:
    """Episodes of one (method, delay) cell; success and action-change figures."""
    import torch

    from benchmarks._lift_policy import make_lift_env
    from robot.metrics import wilson_interval
    from robot.runtime import ControlLoop, LoopConfig
    from robot.runtime.policy_source import PolicySource, PolicySourceConfig, RTCConfig

    m = METHODS[method]
    cfg = PolicySourceConfig(mode="stepped", delay_ticks=delay, aggregation=m["aggregation"],
                             request_threshold=0.5, rtc=RTCConfig(enabled=m["rtc"], schedule="exp",
                                                                  max_guidance_weight=beta,
                                                                  method=m.get("rtc_method", "guidance")))
    env = ActionLog(make_lift_env(max_steps))
    source = PolicySource(policy, cfg)
    commanded: list[tuple[np.ndarray, bool]] = []  # (action, a new chunk took over this tick)
    real_get = source.get_action

    def get_action(obs: Any) -> Any:
        before = source.stats.chunks
        cmd = real_get(obs)
        if cmd.action is not None:
            commanded.append((np.array(cmd.action, dtype=np.float64), source.stats.chunks > before))
        return cmd

    source.get_action = get_action  # type: ignore[method-assign]
    loop = ControlLoop(env, source, config=LoopConfig(realtime=False, max_steps=max_steps), source_kind="policy")
    successes, deltas, boundary, inside, steps = 0, [], [], [], []
    t0 = time.perf_counter()
    for seed in seeds:
        torch.manual_seed(seed)
        commanded.clear()
        result = loop.run_episode(seed=seed)
        successes += int(result.success)
        steps.append(result.steps)
        acts = np.stack(env.actions)
        if len(acts) > 1:
            deltas.append(np.abs(np.diff(acts, axis=0)).max(axis=1))
        # Arm joints only (the last action dim is the gripper, which opens and closes in steps).
        for (prev, _), (cur, spliced) in zip(commanded, commanded[1:], strict=False):
            (boundary if spliced else inside).append(float(np.abs(cur[:-1] - prev[:-1]).max()))
    source.close()
    env.close()
    d = np.concatenate(deltas) if deltas else np.zeros(1)
    lo, hi = wilson_interval(successes, len(seeds))
    return {
        "method": method, "delay_ticks": delay, "episodes": len(seeds), "successes": successes,
        "success_rate": successes / len(seeds), "success_ci95": [lo, hi],
        "action_change_rad_mean": float(d.mean()), "action_change_rad_p99": float(np.percentile(d, 99)),
        "arm_change_at_chunk_switch_rad_mean": float(np.mean(boundary)) if boundary else None,
        "arm_change_within_chunk_rad_mean": float(np.mean(inside)) if inside else None,
        "steps_mean": float(np.mean(steps)), "wall_s": time.perf_counter() - t0,
    }


def main() -> None:
    import torch

    from benchmarks._lift_policy import lift_checkpoint
    from policies.checkpoint import load_policy

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="so101_lift flow checkpoint (default: train one)")
    parser.add_argument("--work-dir", default="runs/bench_runtime", help="where demos and the trained policy go")
    parser.add_argument("--episodes", type=int, default=30, help="episodes per (method, delay) cell")
    parser.add_argument("--delays", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="inference delays, ticks")
    parser.add_argument("--max-steps", type=int, default=200, help="ticks per episode")
    parser.add_argument("--train-episodes", type=int, default=100)
    parser.add_argument("--train-steps", type=int, default=2500)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--beta", type=float, default=5.0, help="RTC guidance weight cap (paper's code: 5)")
    parser.add_argument("--quick", action="store_true", help="tiny training, delays 0 and 2, 2 short episodes")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "bench_rtc.json"))
    args = parser.parse_args()
    if args.quick:
        args.episodes, args.delays, args.max_steps = 2, [0, 2], 40
        args.train_episodes, args.train_steps = 3, 20
    torch.set_num_threads(1)
    ckpt = lift_checkpoint(args.checkpoint, Path(args.work_dir), args.train_episodes, args.train_steps)
    policy = load_policy(ckpt)
    seeds = [100_000 + i for i in range(args.episodes)]
    cells = []
    for delay in args.delays:
        for method in args.methods:
            cells.append(run_cell(policy, method, delay, seeds, args.max_steps, args.beta))
            print(json.dumps(cells[-1]), file=sys.stderr)
    out = {
        "checkpoint": str(ckpt), "task": "so101_lift", "mode": "stepped (exact delay in ticks), realtime=False",
        "request_threshold": 0.5, "rtc_beta": args.beta, "chunk": {"horizon": policy.spec.horizon, "n_action_steps": policy.spec.n_action_steps},
        "episodes_per_cell": args.episodes, "max_steps": args.max_steps, "quick": args.quick, "cells": cells,
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "torch_threads": 1},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    for c in cells:
        print(f"delay {c['delay_ticks']}  {c['method']:8s}  success {c['successes']}/{c['episodes']} "
              f"[{c['success_ci95'][0]:.2f}, {c['success_ci95'][1]:.2f}]  "
              f"action change mean {c['action_change_rad_mean']:.4f} p99 {c['action_change_rad_p99']:.4f} rad  "
              f"arm change at switch {c['arm_change_at_chunk_switch_rad_mean'] or float('nan'):.4f} "
              f"within {c['arm_change_within_chunk_rad_mean'] or float('nan'):.4f} rad")


if __name__ == "__main__":
    main()
