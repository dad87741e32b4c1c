"""What the fine-tune stage of `robot demo` costs per env step on its default task and preset.

`robot demo --finetune-steps N` needs a default N that keeps the whole demo
within its 20-minute budget on 2 CPU cores. This measures the two parts of the
stage's cost with a camera base policy at the preset's size (so101_lift_flow:
joints + front and wrist cameras at 64x64), trained only briefly (the cost per
step does not depend on how good the base is):

1. the training loop: seconds per env step of `Finetuner.train` (rendering,
   base inference, actor, updates), evaluations excluded;
2. the before/after table: seconds per evaluation episode of `final_table`
   (base and fine-tuned on the same seeds);
3. the deploy stage that follows: `robot deploy --robot twin` of the base and
   of each fine-tuned policy (ticks that woke late, overran, skipped deadlines):
   a residual acts every tick, so the deploy runs it synchronously, the base's
   chunk planning included, where the base and noise steering run async.

    python benchmarks/bench_demo_finetune_cost.py      # -> benchmarks/results/bench_demo_finetune_cost.json
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import write_results  # noqa: E402

TASK = "so101_lift"
PRESET = "so101_lift_flow"


def train_base(work: Path, demos: int, steps: int) -> tuple[Path, dict]:
    """Scripted demos with cameras, then the preset trained for `steps` (cached in `work`)."""
    from policies.pipeline import config_hash, load_pipeline, run_training
    from policies.train_state import latest_checkpoint
    from robot.cli import main

    store, run = work / "demos.zarr", work / "base"
    overrides = [f"train.steps={steps}", "train.num_threads=1", "eval.every=0"]
    cfg = load_pipeline(PRESET, [*overrides, f"data.path={store}"])
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):
        if main(["collect", "--task", TASK, "--episodes", str(demos), "--images", "--env-opt", "image_size=[64,64]",
                 "--out", str(store), "--no-progress"]):
            raise RuntimeError("collecting demos failed")
        run_training(cfg, run, resume=(run / "latest").is_file(), progress=False)
    record = {"preset": PRESET, "overrides": overrides, "config_hash": config_hash(cfg), "demos": demos,
              "train_steps": steps, "minutes": (time.perf_counter() - t0) / 60.0}
    return latest_checkpoint(run), record


DEPLOY_KEYS = ("episodes", "successes", "ticks", "fps", "misses", "late_ticks", "missed_deadlines",
               "inference_ms_p50", "inference_ms_max", "jitter_ms_p50", "jitter_ms_p99", "jitter_ms_max", "source")


def deploy(policy_dir: Path, episodes: int, out: Path) -> dict:
    """`robot deploy --robot twin` as `robot demo` runs it; the loop's timing figures."""
    import json

    from robot.cli import main

    argv = ["deploy", "--robot", "twin", "--policy", str(policy_dir), "--episodes", str(episodes), "--out", str(out),
            "--robot-opt", 'cameras=["front", "wrist"]', "--robot-opt", f"task={TASK}",
            "--robot-opt", "image_size=[64, 64]", "--threads", "1"]
    with contextlib.redirect_stdout(sys.stderr):
        rc = main(argv)
    d = json.loads((out / "deploy.json").read_text())
    return {"exit": rc, **{k: d[k] for k in DEPLOY_KEYS}}


def measure(method: str, ckpt: Path, work: Path, args: argparse.Namespace) -> dict:
    """One short fine-tuning run of `method`: loop seconds per env step, final-table seconds per episode."""
    from policies.finetune.trainer import Finetuner
    from robot.cli.finetune_cmd import load_finetune_config

    sets = [f"env_steps={args.env_steps}", "env={image_size: [64, 64]}", f"eval_episodes={args.curve_episodes}",
            f"eval_every={args.env_steps}", "checkpoint_every=1000000"]
    cfg = load_finetune_config(method, None, sets)
    out = work / method
    shutil.rmtree(out, ignore_errors=True)
    tuner = Finetuner(cfg, ckpt, TASK, out, progress=False)
    try:
        summary = tuner.train()
        t_eval = tuner.timing.eval
        t0 = time.perf_counter()
        table = tuner.final_table(args.final_episodes)
        final_s = time.perf_counter() - t0
    finally:
        tuner.close()
    t = summary["timing"]
    loop_s = summary["wall_s"] - t_eval
    deployed = deploy(out, args.deploy_episodes, work / f"deploy_{method}") if args.deploy_episodes else None
    return {"method": method, "finetune_overrides": sets, "n_envs": cfg.n_envs, "env_steps": summary["env_steps"],
            "wall_s": summary["wall_s"], "loop_s": loop_s, "s_per_env_step": loop_s / max(1, summary["env_steps"]),
            "time_split_s": t, "curve_eval_episodes": 4 * args.curve_episodes,
            "final_table_s": final_s, "final_table_episodes": 2 * args.final_episodes,
            "s_per_eval_episode": final_s / (2 * args.final_episodes),
            "before": table["base"], "after": table["finetuned"], "deploy": deployed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="runs/bench_demo_finetune_cost")
    parser.add_argument("--demos", type=int, default=10)
    parser.add_argument("--base-steps", type=int, default=300)
    parser.add_argument("--env-steps", type=int, default=1600, help="per method (one wave of 8 envs x 200 ticks)")
    parser.add_argument("--curve-episodes", type=int, default=4)
    parser.add_argument("--final-episodes", type=int, default=10)
    parser.add_argument("--deploy-episodes", type=int, default=2, help="twin episodes per policy (0: none)")
    parser.add_argument("--methods", nargs="+", default=["residual", "noise"], choices=["residual", "noise"])
    parser.add_argument("--out", default="benchmarks/results/bench_demo_finetune_cost.json")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    ckpt, base = train_base(work, args.demos, args.base_steps)
    print(f"base policy: {ckpt} ({base['minutes']:.1f} min)", file=sys.stderr)
    report = {"benchmark": "bench_demo_finetune_cost", "task": TASK,
              "machine": f"{platform.machine()} {os.cpu_count()} cpus (shared), torch {torch.__version__}, 1 thread",
              "load_average": list(os.getloadavg()), "base": base, "runs": []}
    if args.deploy_episodes:
        report["base_deploy"] = deploy(ckpt.parent.parent, args.deploy_episodes, work / "deploy_base")
    for method in args.methods:
        rec = measure(method, ckpt, work, args)
        print(f"{method}: {rec['s_per_env_step'] * 1000:.1f} ms per env step, "
              f"{rec['s_per_eval_episode']:.1f} s per eval episode", file=sys.stderr)
        report["runs"].append(rec)
    report["load_average_end"] = list(os.getloadavg())
    report["total_minutes"] = (time.perf_counter() - t0) / 60.0
    write_results(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
