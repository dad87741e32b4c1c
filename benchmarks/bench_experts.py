"""Scripted-expert success rate per task over N seeded episodes, with a 95% Wilson interval; prints JSON.

Episode i of a task resets the env with seed `--seed + i`; one expert (seeded
with `--seed`) drives every episode; an episode succeeds when the env's
`info["success"]` holds at its end (termination on success, or the last step).

    python benchmarks/bench_experts.py --task pusht [--task so101_lift ...] [--episodes 200]
        [--noise 0.0] [--out benchmarks/results/bench_experts.json]

With no --task it runs every task of the registry. `--out` merges this run's
tasks into an existing JSON file, so engineers can each add their own tasks.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("MUJOCO_GL", "egl")  # before mujoco is imported

from robot.metrics import wilson_interval  # noqa: E402
from sim.registry import ENVS, make_env, make_expert  # noqa: E402


def run_task(task: str, episodes: int, seed: int, noise: float) -> dict:
    """Roll the task's expert for `episodes` episodes; success counts, interval, lengths, wall time."""
    from robot.progress import progress

    env = make_env(task)
    expert = make_expert(task, env, seed=seed, noise=noise)
    successes, lengths, success_lengths = 0, [], []
    t0 = time.perf_counter()
    for i in progress(range(episodes), desc=task):
        obs, info = env.reset(seed=seed + i)
        expert.reset(obs)
        steps = 0
        for steps in range(1, env.config.max_steps + 1):  # noqa: B007  (steps is read after the loop)
            action = expert.get_action(obs).action
            obs, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                break
        ok = bool(info["success"])
        successes += ok
        lengths.append(steps)
        if ok:
            success_lengths.append(steps)
    lo, hi = wilson_interval(successes, episodes)
    return {
        "episodes": episodes,
        "successes": successes,
        "success_rate": round(successes / episodes, 4),
        "wilson95": [round(lo, 4), round(hi, 4)],
        "mean_steps": round(float(np.mean(lengths)), 1),
        "mean_steps_successful": round(float(np.mean(success_lengths)), 1) if success_lengths else None,
        "max_steps": env.config.max_steps,
        "fps": env.body_spec.fps,
        "noise": noise,
        "seed": seed,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", action="append", choices=sorted(ENVS), help="repeatable; default: all tasks")
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--noise", type=float, default=0.0)
    parser.add_argument("--out", type=Path, help="merge the results into this JSON file")
    args = parser.parse_args()
    tasks = args.task or sorted(ENVS)
    results = {task: run_task(task, args.episodes, args.seed, args.noise) for task in tasks}
    out = {"benchmark": "bench_experts", "tasks": results}
    print(json.dumps(out, indent=2))
    if args.out:
        merged = json.loads(args.out.read_text()) if args.out.is_file() else {"benchmark": "bench_experts", "tasks": {}}
        merged.setdefault("tasks", {}).update(results)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(merged, indent=2) + "\n")


if __name__ == "__main__":
    main()
