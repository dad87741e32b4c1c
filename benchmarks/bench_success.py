"""Success rates of policies trained from scripted-expert demos, end to end on this machine.

For each suite: collect N scripted demos (`robot collect`), train with the
suite's pipeline preset for S steps (`policies.pipeline.run_training`), then
evaluate E episodes on unseen seeds (`policies.eval.evaluate`). Prints one
JSON object: per suite n_demos, steps, train_minutes, step time, success rate
with its 95% Wilson interval (PushT: mean coverage too; VLA: train and
held-out phrasings).

    python benchmarks/bench_success.py                       # all suites, default sizes
    python benchmarks/bench_success.py --suite lift --steps 2000 --demos 100
    python benchmarks/bench_success.py --suite vla --out /tmp/bench_runs
    python benchmarks/bench_success.py --suite lift_cameras --episodes 100 --json benchmarks/results/bench_success_lift_cameras.json
    python benchmarks/bench_success.py --suite lift_cameras --noisy-demos 200 --demo-noise 0.02   # + recoveries

Suites whose preset reads cameras collect with `--images`. Targets (the issue's):
so101_lift from cameras + joints >= 90 % trained in <= 12 min on 2 cores, so101_lift
privileged state >= 95 %, PushT mean coverage >= 0.85, VLA on so101_multi >= 80 %.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

VLA_SPLITS = {"train_phrasings": {"instruction_split": "train"},
              "held_out_phrasings": {"instruction_split": "heldout"}}
SUITES = {
    # name: (task, pipeline preset, demos, steps, eval env overrides per split)
    "lift": ("so101_lift", "so101_lift_flow_privileged", 200, 4000, {"": {}}),
    "lift_cameras": ("so101_lift", "so101_lift_flow", 200, None, {"": {}}),
    "place_cameras": ("so101_place", "so101_place_flow", 200, None, {"": {}}),
    "peg_cameras": ("peg_insert", "peg_insert_flow", 200, None, {"": {}}),
    "pusht": ("pusht", "pusht_flow", 200, 2500, {"": {}}),
    "pusht_image": ("pusht", "pusht_flow_image", 200, None, {"": {}}),
    "vla": ("so101_multi", "so101_multi_vla", 400, 5000, VLA_SPLITS),
    "vla_privileged": ("so101_multi", "so101_multi_vla_privileged", 400, 5000, VLA_SPLITS),
}


def collect(task: str, n: int, path: Path, env: dict, images: bool = False, noise: float = 0.0) -> float:
    """Record n successful scripted episodes (resumes an existing store; noise: the expert's
    joint-target noise, rad); returns minutes."""
    from robot.cli import main

    t0 = time.perf_counter()
    args = ["collect", "--task", task, "--episodes", str(n), "--out", str(path), "--no-progress"]
    if images:
        args.append("--images")
    if noise:
        args += ["--teleop-opt", f"noise={noise}"]
    for k, v in env.items():
        args += ["--env-opt", f"{k}={json.dumps(v)}"]
    with contextlib.redirect_stdout(sys.stderr):  # keep stdout for the JSON result
        if main(args) != 0:
            raise RuntimeError(f"collection of {task} failed")
    return (time.perf_counter() - t0) / 60.0


def run_suite(name: str, demos: int | None, steps: int | None, episodes: int, out: Path, threads: int,
              per_episode: bool = False, extra: tuple[str, ...] | list[str] = (),
              noisy_demos: int = 0, demo_noise: float = 0.0) -> dict:
    """Collect, train, evaluate one suite; returns its JSON record (per_episode: keep each split's
    per-episode records under "per_episode", for breakdowns such as benchmarks/bench_vla.py's;
    extra: further `key=value` preset overrides, recorded with the others; noisy_demos: after
    the clean demos, this many more from the expert with `demo_noise` rad on its joint targets,
    whose slipped grasps and re-plans show the policy recoveries)."""
    import dataclasses

    from data import EpisodeStore
    from policies.checkpoint import load_policy
    from policies.eval import evaluate
    from policies.pipeline import config_hash, load_pipeline, run_training
    from policies.plots import read_csv
    from policies.train_state import latest_checkpoint

    task, preset, n_demos, n_steps, splits = SUITES[name]
    n_demos, n_steps = demos or n_demos, steps or n_steps  # None: the preset's steps
    run_dir = out / name
    store = run_dir / "demos.zarr"
    overrides = [f"train.steps={n_steps}"] if n_steps else []
    overrides += [f"train.num_threads={threads}", "eval.every=0", *extra]
    cfg = load_pipeline(preset, [*overrides, f"data.path={store}"])
    images = any(k.startswith("images.") for k in cfg.policy.obs_keys)
    collect_min = collect(task, n_demos, store, cfg.task.env, images)
    if noisy_demos:
        collect_min += collect(task, n_demos + noisy_demos, store, cfg.task.env, images, noise=demo_noise)
    train_dir = run_dir / "train"
    summary = run_training(cfg, train_dir, resume=(train_dir / "latest").is_file(), progress=False)
    rows = read_csv(train_dir / "metrics.csv")
    step_s = sum(r["step_time_s"] for r in rows) / max(1, len(rows))
    data_s = sum(r["data_time_s"] for r in rows) / max(1, len(rows))
    policy = load_policy(latest_checkpoint(train_dir))
    record = {
        "task": task, "preset": preset, "overrides": overrides, "config_hash": config_hash(cfg),
        "policy": cfg.policy.kind, "obs_keys": list(cfg.policy.obs_keys),
        "n_demos": EpisodeStore.open(store, readonly=True).num_episodes, "collect_minutes": collect_min,
        "noisy_demos": noisy_demos, "demo_noise_rad": demo_noise,
        "steps": summary["step"], "batch_size": cfg.train.batch_size,
        "train_minutes": summary["train_minutes"], "steps_this_run": summary.get("steps_this_run"),
        # over every logged step, also those of an interrupted run this one resumed
        "train_minutes_all_runs": sum(r["step_time_s"] + r["data_time_s"] for r in rows) * cfg.train.log_every / 60.0,
        "train_step_s": step_s, "loader_s_per_batch": data_s,
        "train_samples_per_s": cfg.train.batch_size / max(1e-9, step_s + data_s),
        "final_loss": summary["final_loss"], "load_avg_1min_after_training": round(os.getloadavg()[0], 2),
        "results": {},
    }
    for split, env in splits.items():
        ev = dataclasses.replace(cfg.eval, episodes=episodes, videos=0)  # settle_ticks etc. from the preset
        res = evaluate(policy, task, ev, env_overrides={**cfg.task.env, **env}, progress=False)
        record["results"][split or "all"] = {
            "episodes": res["episodes"], "successes": res["successes"], "success_rate": res["success_rate"],
            "settle_ticks": res["settle_ticks"], "reached_success": res["reached_success"],
            "ci95": [res["ci95_low"], res["ci95_high"]], "mean_max_reward": res["mean_max_reward"],
            "mean_final_reward": res["mean_final_reward"], "mean_length": res["mean_length"],
            "inference_ms_per_chunk": res["inference_ms_per_chunk"], "eval_minutes": res["wall_s"] / 60.0,
        }
        if per_episode:
            record["results"][split or "all"]["per_episode"] = res["per_episode"]
    return record


def main() -> int:
    """Run the suites; print the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", action="append", choices=sorted(SUITES),
                        help="repeatable; default all but `vla` (cameras: hours of CPU training, ask for it)")
    parser.add_argument("--demos", type=int, help="override the suite's demo count")
    parser.add_argument("--steps", type=int, help="override the suite's training steps")
    parser.add_argument("--episodes", type=int, default=50, help="evaluation episodes per split")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: the 2-core box is shared)")
    parser.add_argument("--out", default="runs/bench_success", help="work folder (stores, runs)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="pipeline override for every suite, repeatable (recorded with the result)")
    parser.add_argument("--noisy-demos", type=int, default=0,
                        help="after the clean demos, this many more with expert noise (recoveries)")
    parser.add_argument("--demo-noise", type=float, default=0.02, help="the noisy demos' joint-target noise, rad")
    parser.add_argument("--json", help="also write the JSON here (e.g. benchmarks/results/<name>.json)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    t0 = time.perf_counter()
    report = {"benchmark": "bench_success", "machine": f"{platform.machine()} {os.cpu_count()} cpus, "
              f"torch {torch.__version__}, {args.threads} thread(s)", "suites": {}}
    for name in args.suite or [n for n in SUITES if n not in ("vla", "place_cameras", "peg_cameras", "pusht_image")]:  # ask for these: 12 min to 2 h each
        report["suites"][name] = run_suite(name, args.demos, args.steps, args.episodes, out, args.threads,
                                           extra=args.set, noisy_demos=args.noisy_demos, demo_noise=args.demo_noise)
        print(f"{name}: {json.dumps(report['suites'][name]['results'])}", file=sys.stderr)
    report["total_minutes"] = (time.perf_counter() - t0) / 60.0
    report["load_avg_1min_end"] = round(os.getloadavg()[0], 2)
    if args.json:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _results import write_results

        write_results(report, args.json)
    else:
        print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
