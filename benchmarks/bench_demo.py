"""The main job as a user runs it: `robot demo` with its defaults, timed per stage against the 20-minute budget.

Runs `robot demo` (defaults, or the flags given after `--`) into a work folder
and writes what its results.json says: minutes per stage (collect, train, eval,
fine-tune, deploy) and in all, the closing table's figures (demos, training,
success in sim, before and after fine-tuning with Wilson 95% intervals,
inference latency, loop jitter, deadline misses), plus the load average and the
machine, since the stages share the CPU with whatever else runs.

    python benchmarks/bench_demo.py                          # -> benchmarks/results/bench_demo.json
    python benchmarks/bench_demo.py --work /tmp/d --out /tmp/bench_demo.json -- --episodes 2 --steps 2

A work folder that holds an earlier demo is removed first (a resumed demo would
time only what was left); --keep resumes it instead.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import write_results  # noqa: E402

BUDGET_MINUTES = 20.0
"""Issue #11: the whole default demo within 20 minutes on 2 CPU cores."""
SUMMARY_KEYS = ("task", "policy", "obs_keys", "n_demos", "train_steps", "train_minutes", "final_loss",
                "successes", "eval_episodes", "success_rate", "ci95", "inference_ms_p50")
DEPLOY_KEYS = ("episodes", "successes", "success_rate", "ci95", "ticks", "fps", "inference_ms_p50",
               "jitter_ms_p50", "jitter_ms_p99", "jitter_ms_max", "missed_deadlines", "late_ticks", "misses", "policy")


def summarize(results: dict) -> dict:
    """The bench's record from the demo's results.json (the preset's hash kept beside its name)."""
    rec = {k: results[k] for k in SUMMARY_KEYS}
    if results.get("policy_preset") is None:  # a pipeline preset as it is: its hash is checkable
        rec.update(preset=results["preset"], overrides=results["overrides"], config_hash=results["config_hash"])
    else:
        rec.update(pipeline=results["preset"], policy_preset_used=results["policy_preset"],
                   pipeline_overrides=results["overrides"], pipeline_config_hash=results["config_hash"])
    f = results.get("finetune")
    rec["finetune"] = None if not f else {
        "method": f["method"], "env_steps": f["env_steps"], "train_minutes": f["train_minutes"],
        "minutes": f["minutes"], "reused": f["reused"], "config_hash": f.get("config_hash"),
        "before": f["before"], "after": f["after"]}
    d = results.get("deploy")
    rec["deploy"] = None if not d else {k: d.get(k) for k in DEPLOY_KEYS}
    rec["deploy_skipped"] = results.get("deploy_skipped", "")
    return rec


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="runs/bench_demo", help="the demo's --out folder")
    parser.add_argument("--keep", action="store_true", help="resume the demo already in --work")
    parser.add_argument("--out", default="benchmarks/results/bench_demo.json")
    parser.add_argument("demo_args", nargs="*", help="flags for `robot demo` (after --)")
    args = parser.parse_args()
    from robot.cli import main as robot_main

    work = Path(args.work)
    if work.exists() and not args.keep:
        shutil.rmtree(work)
    load_start = list(os.getloadavg())
    t0 = time.perf_counter()
    rc = robot_main(["demo", *args.demo_args, "--out", str(work), "--no-progress"])
    wall = (time.perf_counter() - t0) / 60.0
    if rc != 0:
        print(f"bench_demo: robot demo exited {rc}", file=sys.stderr)
        return rc
    import json

    import torch

    results = json.loads((work / "results.json").read_text())
    report = {"benchmark": "bench_demo", "command": " ".join(["robot demo", *args.demo_args]),
              "machine": f"{platform.machine()} {os.cpu_count()} cpus (shared), torch {torch.__version__}, "
                         f"{torch.get_num_threads()} thread(s)",
              "load_average_start": load_start, "load_average_end": list(os.getloadavg()),
              "stage_minutes": results["stage_minutes"], "total_minutes": results["total_minutes"],
              "wall_minutes": wall, "budget_minutes": BUDGET_MINUTES,
              "within_budget": results["total_minutes"] <= BUDGET_MINUTES, "summary": summarize(results)}
    write_results(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
