"""Async executor vs synchronous loop: time the arm stands still waiting for inference, and task time.

    MUJOCO_GL=egl python benchmarks/bench_async_inference.py [--checkpoint runs/lift] [--episodes 20]
    python benchmarks/bench_async_inference.py --quick      # smoke run: tiny training, 2 short episodes

A real so101_lift flow policy (trained here if no --checkpoint, see
_lift_policy.py) is wrapped so every chunk takes 30-80 ms (uniform, seeded:
the policy's own time plus a sleep), as a larger model would. The same
ControlLoop drives the MuJoCo twin (hardware/twin.py: physics on its own
thread in step with the wall clock, so time passes while the arm waits; the
task's 30 Hz; privileged state because the preset's policy reads it, no
cameras) with a PolicySource in
- "sync": infer, then execute Te=8 actions (the arm gets no command while inferring);
- "async": inference on the worker thread, next chunk requested at 0.5 of the
  chunk, overlaps blended with weighted_average; the loop never waits.
Seeds are shared and the modes interleave per seed. Stand-still time: sync =
seconds the tick blocked on inference; async = stalled ticks (no fresh action)
x period, split into the episode's first chunk (unavoidable without warm-up)
and the rest. Task time: wall seconds from reset to the end of a successful
episode. Success with Wilson 95% intervals. Writes
benchmarks/results/bench_async_inference.json.
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


class DelayedPolicy:
    """A real policy whose every chunk takes U(lo, hi) seconds in total (sleeps the difference)."""

    def __init__(self, policy: Any, lo_s: float, hi_s: float, seed: int) -> None:
        self.policy, self.spec = policy, policy.spec
        self.lo_s, self.hi_s = lo_s, hi_s
        self.rng = np.random.default_rng(seed)
        self.own_s: list[float] = []
        self.total_s: list[float] = []

    def reset(self) -> None:
        self.policy.reset()

    def predict_chunk(self, obs: Any, noise: Any = None, **kwargs: Any) -> Any:
        target = float(self.rng.uniform(self.lo_s, self.hi_s))
        t0 = time.perf_counter()
        out = self.policy.predict_chunk(obs, noise, **kwargs)
        own = time.perf_counter() - t0
        self.own_s.append(own)
        if own < target:
            time.sleep(target - own)
        self.total_s.append(time.perf_counter() - t0)
        return out


def run_mode(policy: Any, mode: str, seed: int, max_steps: int) -> dict[str, Any]:
    """One real-time episode of `policy` in `mode`; returns its figures."""
    from hardware.registry import make_robot
    from robot.runtime import ControlLoop, LoopConfig
    from robot.runtime.policy_source import PolicySource, PolicySourceConfig

    env = make_robot("twin", task="so101_lift", cameras=[], privileged_state=True)
    env.connect()
    cfg = PolicySourceConfig(mode=mode, aggregation="weighted_average", request_threshold=0.5)
    source = PolicySource(policy, cfg)
    period = 1.0 / env.body_spec.fps
    first: dict[str, float] = {}  # stall counters when the first action came out
    real_get = source.get_action

    def get_action(obs: Any) -> Any:
        cmd = real_get(obs)
        if not first and cmd.action is not None:
            first.update(ticks=source.stats.stalled_ticks_total, blocked_s=source.stats.blocked_s)
        return cmd

    source.get_action = get_action  # type: ignore[method-assign]
    loop = ControlLoop(env, source, config=LoopConfig(realtime=True, max_steps=max_steps), source_kind="policy")
    try:
        result = loop.run_episode(seed=seed)
    finally:
        source.close()
        env.close()
    st = source.stats
    if mode == "sync":
        still = st.blocked_s
        still_after_first = st.blocked_s - first.get("blocked_s", 0.0)
    else:
        still = st.stalled_ticks_total * period
        still_after_first = (st.stalled_ticks_total - first.get("ticks", 0)) * period
    tel = result.telemetry.summary()
    return {
        "seed": seed, "success": bool(result.success), "steps": result.steps, "wall_s": result.wall_s,
        "stand_still_s": still, "stand_still_after_first_chunk_s": still_after_first,
        "stalled_ticks": st.stalled_ticks_total, "chunks": st.chunks, "late_ticks": tel["late_ticks"],
        "missed_deadlines": tel["missed_deadlines"],
        "inference_ms_mean": 1000.0 * float(np.mean(policy.total_s)) if policy.total_s else None,
        "policy_own_ms_mean": 1000.0 * float(np.mean(policy.own_s)) if policy.own_s else None,
    }


def warm_up(policy: Any, calls: int = 3) -> None:
    """A few untimed predict_chunk calls (first-call allocations) before any episode."""
    spec = policy.spec
    obs = {k: np.zeros((1, spec.n_obs_steps, *v.shape), dtype=v.dtype) for k, v in spec.observations.items()}
    for _ in range(calls):
        policy.predict_chunk(obs)


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Means and a Wilson interval over one mode's episodes."""
    from robot.metrics import wilson_interval

    n, k = len(rows), sum(r["success"] for r in rows)
    lo, hi = wilson_interval(k, n)
    ok = [r["wall_s"] for r in rows if r["success"]]
    return {
        "episodes": n, "successes": k, "success_rate": k / n if n else 0.0, "success_ci95": [lo, hi],
        "stand_still_s_mean": float(np.mean([r["stand_still_s"] for r in rows])),
        "stand_still_after_first_chunk_s_mean": float(np.mean([r["stand_still_after_first_chunk_s"] for r in rows])),
        "stand_still_fraction_of_episode": float(np.sum([r["stand_still_s"] for r in rows])
                                                 / max(1e-9, np.sum([r["wall_s"] for r in rows]))),
        "task_time_s_mean_successes": float(np.mean(ok)) if ok else None,
        "late_ticks_mean": float(np.mean([r["late_ticks"] for r in rows])),
        "inference_ms_mean": float(np.mean([r["inference_ms_mean"] for r in rows if r["inference_ms_mean"]])),
    }


def main() -> None:
    import torch

    from benchmarks._lift_policy import lift_checkpoint
    from policies.checkpoint import load_policy

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="so101_lift flow checkpoint (default: train one)")
    parser.add_argument("--work-dir", default="runs/bench_runtime", help="where demos and the trained policy go")
    parser.add_argument("--episodes", type=int, default=20, help="episodes per mode (same seeds)")
    parser.add_argument("--max-steps", type=int, default=200, help="ticks per episode")
    parser.add_argument("--latency-ms", type=float, nargs=2, default=(30.0, 80.0), help="chunk latency range")
    parser.add_argument("--train-episodes", type=int, default=100)
    parser.add_argument("--train-steps", type=int, default=2500)
    parser.add_argument("--quick", action="store_true", help="tiny training, 2 short episodes (smoke test)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "bench_async_inference.json"))
    args = parser.parse_args()
    if args.quick:
        args.episodes, args.max_steps, args.train_episodes, args.train_steps = 2, 40, 3, 20
    torch.set_num_threads(1)
    ckpt = lift_checkpoint(args.checkpoint, Path(args.work_dir), args.train_episodes, args.train_steps)
    base = load_policy(ckpt)
    warm_up(base)
    lo, hi = (v / 1000.0 for v in args.latency_ms)
    rows: dict[str, list[dict[str, Any]]] = {"sync": [], "async": []}
    for i in range(args.episodes):
        seed = 100_000 + i
        for mode in ("sync", "async") if i % 2 == 0 else ("async", "sync"):
            policy = DelayedPolicy(base, lo, hi, seed)
            rows[mode].append(run_mode(policy, mode, seed, args.max_steps))
            print(mode, rows[mode][-1], file=sys.stderr)
    out = {
        "checkpoint": str(ckpt), "task": "so101_lift", "body": "twin (real-time physics thread), privileged_state=True, no cameras",
        "fps": 30.0, "latency_ms": list(args.latency_ms), "episodes_per_mode": args.episodes,
        "max_steps": args.max_steps, "quick": args.quick,
        "sync": summarize(rows["sync"]), "async": summarize(rows["async"]), "episodes": rows,
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "torch_threads": 1},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(json.dumps({k: out[k] for k in ("sync", "async")}, indent=2))


if __name__ == "__main__":
    main()
