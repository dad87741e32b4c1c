"""Where so101_lift policies fail: each evaluation episode sorted by how far it got.

Evaluates each training run's latest checkpoint on the same unseen seeds as
`benchmarks/bench_success.py` (the run's preset eval config: seed 100000 on,
success held for the settle ticks) and sorts the episodes by the reward terms
of so101_lift (sim/so101_lift.py: reach = -distance, grasp = 1 while both
fingers touch the cube, lift = 10 x height, capped at 0.5):

- success: lifted 5 cm while grasped, held for the settle ticks;
- reached, not held: lifted but dropped within the settle ticks;
- grasped, not lifted: the fingers closed on the cube (max reward >= 0.5) but it never rose 5 cm;
- never grasped.

    python benchmarks/bench_lift_outcomes.py runs/lift_seed1/lift_cameras/train [more runs] \
        --json benchmarks/results/bench_lift_outcomes.json

A sim-only diagnostic: it reads the simulator's rewards, not what the policy sees.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections import Counter
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import write_results  # noqa: E402

GRASPED = 0.5  # max reward at or above: grasp (1) + reach (>= -0.1 m) happened at some tick


def outcome(ep: dict) -> str:
    """The category of one per-episode record of policies.eval.evaluate."""
    if ep["success"]:
        return "success"
    if ep["reached_success"]:
        return "reached_not_held"
    return "grasped_not_lifted" if ep["max_reward"] >= GRASPED else "never_grasped"


def run_outcomes(run: Path, episodes: int) -> dict:
    """Evaluate the run's latest checkpoint; returns its outcome counts and episode lengths."""
    from policies.checkpoint import load_policy
    from policies.eval import evaluate
    from policies.pipeline import config_hash, load_run_config
    from policies.train_state import latest_checkpoint

    cfg = load_run_config(run)
    if cfg.task.name != "so101_lift":
        raise SystemExit(f"{run}: task {cfg.task.name!r}, this diagnostic reads so101_lift's reward terms")
    policy = load_policy(latest_checkpoint(run))
    ev = dataclasses.replace(cfg.eval, episodes=episodes, videos=0)
    res = evaluate(policy, cfg.task.name, ev, env_overrides=dict(cfg.task.env), progress=False)
    counts = Counter(outcome(e) for e in res["per_episode"])
    failed = [e for e in res["per_episode"] if not e["success"]]
    return {
        "run": str(run), "config_hash": config_hash(cfg), "episodes": res["episodes"], "seed": res["seed"],
        "settle_ticks": res["settle_ticks"], "successes": res["successes"],
        "outcomes": {k: counts.get(k, 0) for k in ("success", "reached_not_held", "grasped_not_lifted", "never_grasped")},
        # lengths and last rewards of the failures (a last reward near -0.1: the gripper ended ~10 cm from the cube)
        "failed_mean_length": sum(e["length"] for e in failed) / len(failed) if failed else None,
        "failed_mean_final_reward": sum(e["final_reward"] for e in failed) / len(failed) if failed else None,
    }


def main() -> int:
    """Evaluate every run given; write and print the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="training run folders (robot train --out)")
    parser.add_argument("--episodes", type=int, default=100, help="evaluation episodes per run")
    parser.add_argument("--json", default="benchmarks/results/bench_lift_outcomes.json")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    report = {"benchmark": "bench_lift_outcomes", "runs": [run_outcomes(r, args.episodes) for r in args.runs]}
    write_results(report, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
