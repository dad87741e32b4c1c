"""Pool the training seeds of one bench_success suite: per-seed success, mean and spread, pooled Wilson 95%.

Each seed is its own `benchmarks/bench_success.py` run (same preset and demos,
`--set train.seed=N`); this reads their JSON files and writes the headline row:

    python benchmarks/bench_seeds.py --suite lift_cameras \
        benchmarks/results/bench_success_lift_cameras_unet.json \
        benchmarks/results/bench_success_lift_cameras_seed1.json \
        benchmarks/results/bench_success_lift_cameras_seed2.json \
        --out benchmarks/results/bench_seeds.json

Every input must hold the same task, preset, evaluation episode count and demos
(count, recovery demos and their noise), and differ only in the training seed;
anything else is refused. The recovery recipe (200 clean + 200 noisy demos):

    python benchmarks/bench_seeds.py --suite lift_cameras \
        benchmarks/results/bench_success_lift_cameras_recovery.json \
        benchmarks/results/bench_success_lift_cameras_recovery_seed1.json \
        benchmarks/results/bench_success_lift_cameras_recovery_seed2.json \
        --out benchmarks/results/bench_seeds_recovery.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import write_results  # noqa: E402

from robot.metrics import wilson_interval  # noqa: E402


def seed_of(overrides: list[str]) -> int:
    """The `train.seed=` override of a run (0, the preset's, when absent)."""
    for o in overrides:
        if o.startswith("train.seed="):
            return int(o.split("=", 1)[1])
    return 0


def pool(suite: str, paths: list[Path]) -> dict:
    """The pooled record of `suite` over the runs in `paths`."""
    runs = []
    for p in paths:
        rec = json.loads(p.read_text())["suites"][suite]
        res = rec["results"]["all"]
        runs.append({"file": str(p), "seed": seed_of(rec["overrides"]), "config_hash": rec["config_hash"],
                     "preset": rec["preset"], "task": rec["task"], "episodes": res["episodes"],
                     "successes": res["successes"], "ci95": res["ci95"], "train_minutes": rec["train_minutes"],
                     "load_avg_1min_after_training": rec.get("load_avg_1min_after_training"),
                     # the demo recipe: clean demos, then noisy (recovery) ones
                     "n_demos": rec.get("n_demos"), "noisy_demos": rec.get("noisy_demos", 0),
                     "demo_noise_rad": rec.get("demo_noise_rad", 0.0)})
    same = {(r["preset"], r["task"], r["episodes"], r["n_demos"], r["noisy_demos"], r["demo_noise_rad"]) for r in runs}
    if len(same) != 1 or len({r["seed"] for r in runs}) != len(runs):
        raise SystemExit("bench_seeds: the runs must share preset, task, episodes and demos and differ in seed: "
                         f"{runs}")
    rates = [r["successes"] / r["episodes"] for r in runs]
    wins, n = sum(r["successes"] for r in runs), sum(r["episodes"] for r in runs)
    minutes = [r["train_minutes"] for r in runs]
    # "train_preset", not "preset": each run's own record (with its hash) is checked by test_results_fresh
    return {"benchmark": "bench_seeds", "suite": suite, "train_preset": runs[0]["preset"], "task": runs[0]["task"],
            "n_demos": runs[0]["n_demos"], "noisy_demos": runs[0]["noisy_demos"],
            "demo_noise_rad": runs[0]["demo_noise_rad"],
            "seeds": [r["seed"] for r in runs], "per_seed": [{k: v for k, v in r.items() if k != "preset"}
                                                               for r in runs],
            "success_mean": statistics.mean(rates), "success_std": statistics.stdev(rates) if len(rates) > 1 else 0.0,
            "success_min": min(rates), "success_max": max(rates),
            "pooled_successes": wins, "pooled_episodes": n, "pooled_ci95": list(wilson_interval(wins, n)),
            "train_minutes_mean": statistics.mean(minutes), "train_minutes_max": max(minutes)}


def main() -> int:
    """Parse, pool, write."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", required=True, help="bench_success suite name, e.g. lift_cameras")
    parser.add_argument("inputs", nargs="+", help="bench_success JSON files, one per training seed")
    parser.add_argument("--out", default="benchmarks/results/bench_seeds.json", help="where the pooled JSON goes")
    args = parser.parse_args()
    write_results(pool(args.suite, [Path(p) for p in args.inputs]), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
