"""The VLA on so101_multi in closed loop, broken down per goal and per colour.

Runs bench_success's `vla_privileged` (privileged-state control) and/or `vla`
(front + wrist cameras + joints) suites: collect scripted demos, train the
preset, evaluate on unseen seeds with the training phrasings and with the
held-out phrasings (`instruction_split=heldout`). Each split is broken down by
the episode's goal (lift / place) and target colour, read back by resetting the
task with the episode's seed (the draw of goal and colour is seeded).

    python benchmarks/bench_vla.py --suite vla_privileged --episodes 100
    python benchmarks/bench_vla.py --suite vla --steps 3000      # cameras: ~1 s/step on one CPU thread
    python benchmarks/bench_vla.py --out runs/bench_vla_to2 --set policy.n_obs_steps=2   # a variant

Writes benchmarks/results/bench_vla.json (suites already there and not rerun
are kept). Target (the issue's): >= 80% for every split, goal and colour.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("MUJOCO_GL", "egl")

from _results import write_results  # noqa: E402
from bench_success import SUITES, run_suite  # noqa: E402

VLA_SUITES = ("vla_privileged", "vla")
RESULTS = Path(__file__).resolve().parent / "results" / "bench_vla.json"


def breakdown(task: str, env_overrides: dict, per_episode: list[dict]) -> dict:
    """{"lift": {...}, "place": {...}, "red": {...}, ...}: successes / episodes per goal and per colour."""
    from robot.metrics import wilson_interval
    from sim.registry import make_env

    env = make_env(task, **{**env_overrides, "cameras": ()})
    groups: dict[str, list[bool]] = {}
    for ep in per_episode:
        env.reset(seed=ep["seed"])
        for key in (env.goal_kind, env.target_color, f"{env.goal_kind}/{env.target_color}"):
            groups.setdefault(key, []).append(bool(ep["success"]))
    env.close()
    out = {}
    for key, wins in sorted(groups.items()):
        lo, hi = wilson_interval(sum(wins), len(wins))
        out[key] = {"episodes": len(wins), "successes": sum(wins), "success_rate": sum(wins) / len(wins),
                    "ci95": [lo, hi]}
    return out


def main() -> int:
    """Run the suites; write and print the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", action="append", choices=VLA_SUITES, help="repeatable; default vla_privileged")
    parser.add_argument("--demos", type=int, help="override the suite's demo count")
    parser.add_argument("--steps", type=int, help="override the suite's training steps")
    parser.add_argument("--episodes", type=int, default=100, help="evaluation episodes per split")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: the 2-core box is shared)")
    parser.add_argument("--out", default="runs/bench_vla", help="work folder (stores, runs)")
    parser.add_argument("--results", default=str(RESULTS), help="JSON to write (merged by suite)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="extra preset override (repeatable); the record is keyed `<suite>+<overrides>`")
    args = parser.parse_args()
    import torch

    from policies.pipeline import load_pipeline
    from policies.plots import read_csv

    torch.set_num_threads(args.threads)
    path = Path(args.results)
    report = json.loads(path.read_text()) if path.is_file() else {"benchmark": "bench_vla", "suites": {}}
    report["machine"] = f"{platform.machine()} {os.cpu_count()} cpus, torch {torch.__version__}, " \
                        f"{args.threads} thread(s)"
    for name in args.suite or ["vla_privileged"]:
        t0 = time.perf_counter()
        record = run_suite(name, args.demos, args.steps, args.episodes, Path(args.out), args.threads,
                           per_episode=True, extra=tuple(args.set))
        task, splits = SUITES[name][0], SUITES[name][4]
        env = dict(load_pipeline(record["preset"], record["overrides"]).task.env)
        for split, res in record["results"].items():
            res["breakdown"] = breakdown(task, {**env, **splits[split]}, res.pop("per_episode"))
        # every session of a resumed run: per-step times of each logged interval x its steps
        rows = {int(r["step"]): r for r in read_csv(Path(args.out) / name / "train" / "metrics.csv")}
        steps = sorted(rows)
        record["train_minutes_all_sessions"] = sum(
            (s - prev) * (rows[s]["step_time_s"] + rows[s]["data_time_s"]) for prev, s in zip([0, *steps[:-1]], steps, strict=True)
        ) / 60.0
        record["total_minutes"] = (time.perf_counter() - t0) / 60.0
        report["suites"]["+".join([name, *args.set])] = record
        print(f"{name}: {json.dumps({s: r['success_rate'] for s, r in record['results'].items()})}", file=sys.stderr)
    write_results(report, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
