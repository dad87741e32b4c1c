"""RL fine-tuning on peg_insert: success vs env steps and CPU wall clock, against doing nothing; step cost.

1. Base policy: collect scripted demos (`robot collect`), train a flow policy from
   the peg_insert_flow_privileged preset (PRIVILEGED state: joints + peg and socket
   poses from the simulator; a sim-only RL experiment) with an MLP flow head sized
   for a CPU (cached in --work). --demos / --base-steps are meant to place it in the
   issue's 30-70% band (150 / 15,000 gave 1/50: see BENCHMARKS.md); --base-only
   stops after measuring it.
2. Base success on held-out seeds (the "do nothing" line).
3. For each method (residual PPO, DSRL-SAC and DSRL-NA noise steering) and seed: `Finetuner` for
   its env-step budget, evaluating every --eval-every env steps; env steps and
   wall clock to >= 95% success if reached.
4. Step cost: bare VectorEnv steps/s (no policy) vs the fine-tuning loop's env
   steps/s, and where the loop's time goes (env, base inference, actor, updates, eval).

    python benchmarks/bench_finetune.py --work runs/bfp --demos 150 --base-steps 15000 --base-only
    python benchmarks/bench_finetune.py --work runs/bfp --demos 150 --base-steps 15000 --methods residual noise \
        --residual-steps 150000 --noise-steps 30000 --seeds 0 1 2 --noise-seeds 0 --eval-every 15000
        # -> benchmarks/results/bench_finetune.json (the BENCHMARKS.md command)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import write_results  # noqa: E402

TASK = "peg_insert"
BASE_PRESET = "peg_insert_flow_privileged"


def base_overrides(steps: int) -> list[str]:
    """The base policy's pipeline overrides: the privileged peg_insert preset with an MLP flow head
    (0.04 s per training step on one thread against the U-Net's 0.19) and 5 flow steps (cheap
    base inference inside the fine-tuning loop)."""
    return [f"train.steps={steps}", "train.num_threads=1", "eval.every=0", "train.checkpoint_every=100000",
            "policy.head.network=mlp", "policy.head.mlp_hidden=512", "policy.head.mlp_layers=3",
            "policy.head.inference_steps=5"]


def train_base(work: Path, demos: int, steps: int) -> tuple[Path, dict]:
    """Collect demos and train the base once (cached in `work`); returns (checkpoint, record)."""
    from policies.pipeline import config_hash, load_pipeline, run_training
    from policies.train import latest_checkpoint
    from robot.cli import main

    store, run = work / "demos.zarr", work / "base"
    cfg = load_pipeline(BASE_PRESET, [*base_overrides(steps), f"data.path={store}"])
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # both resume what an earlier run left
        if main(["collect", "--task", TASK, "--episodes", str(demos), "--out", str(store), "--no-progress"]):
            raise RuntimeError("collecting demos failed")
        run_training(cfg, run, resume=(run / "latest").is_file(), progress=False)
    record = {"preset": BASE_PRESET, "overrides": base_overrides(steps), "config_hash": config_hash(cfg),
              "demos": demos, "train_steps": steps, "minutes": (time.perf_counter() - t0) / 60.0}
    return latest_checkpoint(run), record


def bare_env_rate(n_envs: int, steps: int) -> float:
    """Env steps/s of the bare VectorEnv (state only, random joint targets around home)."""
    import numpy as np

    from sim.vector import make_vector_env

    vec = make_vector_env(TASK, n_envs, cameras=())
    vec.reset(seed=0)
    lo, hi = vec.envs[0].action_low, vec.envs[0].action_high
    acts = np.random.default_rng(0).uniform(lo, hi, (steps, n_envs, len(lo))).astype(np.float32)
    t0 = time.perf_counter()
    for a in acts:
        vec.step(a)
        if vec.done.any():
            vec.reset(indices=np.flatnonzero(vec.done))
    dt = time.perf_counter() - t0
    vec.close()
    return steps * n_envs / dt


def run_method(name: str, seed: int, ckpt: Path, work: Path, steps: int, args: argparse.Namespace) -> dict:
    """One fine-tuning run ("residual", "noise" = DSRL-SAC, "noise_na" = DSRL-NA); its eval curve,
    env steps / wall clock to 95 %, and the loop's time split."""
    import csv
    import shutil

    from policies.finetune.trainer import Finetuner
    from policies.pipeline import CONFIG_DIR, config_hash
    from robot.cli.finetune_cmd import load_finetune_config

    sets = [f"env_steps={steps}", f"seed={seed}", f"eval_every={args.eval_every}",
            f"eval_episodes={args.eval_episodes}", "checkpoint_every=1000000", f"n_envs={args.n_envs}"]
    method = "noise" if name.startswith("noise") else name
    if name == "noise_na":
        sets.append("sac.variant=na")
    sets += args.set_noise if method == "noise" else args.set_residual
    cfg = load_finetune_config(method, None, sets)
    out = work / f"{name}_s{seed}"
    shutil.rmtree(out, ignore_errors=True)
    tuner = Finetuner(cfg, ckpt, TASK, out, progress=True)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            summary = tuner.train()
    finally:
        tuner.close()
    with (out / "curves.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r["kind"] == "eval"]
    curve = [{"env_steps": int(r["env_steps"]), "wall_s": float(r["wall_s"]), "success_rate": float(r["success_rate"]),
              "ci95": [float(r["ci95_low"]), float(r["ci95_high"])], "mean_return": float(r["mean_return"])}
             for r in rows]
    hit = next((p for p in curve if p["success_rate"] >= 0.95), None)
    t = summary["timing"]
    loop_s = sum(v for k, v in t.items() if k != "eval")
    return {"method": name, "seed": seed, "finetune_preset": str((CONFIG_DIR / "finetune" / f"{method}.yaml")
                                                                       .relative_to(CONFIG_DIR.parent)),
            "finetune_overrides": sets, "finetune_config_hash": config_hash(cfg),
            "env_steps": summary["env_steps"], "wall_s": summary["wall_s"], "curve": curve,
            "best_success": max(p["success_rate"] for p in curve), "final_success": curve[-1]["success_rate"],
            "env_steps_to_95": hit["env_steps"] if hit else None, "wall_s_to_95": hit["wall_s"] if hit else None,
            "loop_env_steps_per_s": summary["env_steps"] / max(1e-9, loop_s), "time_split_s": t}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="runs/bench_finetune", help="work folder (demos, base, runs)")
    parser.add_argument("--demos", type=int, default=40)
    parser.add_argument("--base-steps", type=int, default=4000)
    parser.add_argument("--noise-steps", type=int, default=30000)
    parser.add_argument("--residual-steps", type=int, default=30000)
    parser.add_argument("--na-steps", type=int, default=10000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--noise-seeds", type=int, nargs="+", default=None,
                        help="seeds of the (slow) noise-steering runs; default: --seeds")
    parser.add_argument("--methods", nargs="+", default=["noise", "residual", "noise_na"],
                        choices=["noise", "residual", "noise_na"])
    parser.add_argument("--n-envs", type=int, default=8)
    parser.add_argument("--eval-every", type=int, default=10000)
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--base-episodes", type=int, default=50)
    parser.add_argument("--out", default="benchmarks/results/bench_finetune.json")
    parser.add_argument("--set-noise", nargs="*", default=[], help="extra key=value for the noise preset")
    parser.add_argument("--set-residual", nargs="*", default=[], help="extra key=value for the residual preset")
    parser.add_argument("--base-only", action="store_true", help="train and measure the base, write nothing")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    ckpt, base_rec = train_base(work, args.demos, args.base_steps)
    print(f"base policy: {ckpt} ({base_rec['minutes']:.1f} min)", file=sys.stderr)
    from policies.checkpoint import load_policy
    from policies.eval import evaluate
    from policies.pipeline import EvalConfig

    base = load_policy(ckpt)
    ev = evaluate(base, TASK, EvalConfig(episodes=args.base_episodes, n_envs=10, seed=100_000),
                  env_overrides={"cameras": ()}, progress=False)
    base_rec["success"] = {"episodes": ev["episodes"], "successes": ev["successes"],
                           "success_rate": ev["success_rate"], "ci95": [ev["ci95_low"], ev["ci95_high"]],
                           "reached_success": ev["reached_success"]}
    print(f"base success {ev['successes']}/{ev['episodes']} {base_rec['success']['ci95']}", file=sys.stderr)
    if args.base_only:
        return 0
    report = {"benchmark": "bench_finetune", "task": TASK,
              "machine": f"{platform.machine()} {os.cpu_count()} cpus (shared), torch {torch.__version__}, 1 thread",
              "targets": {"success": 0.95, "noise_env_steps": 100_000, "residual_env_steps": 300_000},
              "base": base_rec, "bare_env_steps_per_s": bare_env_rate(args.n_envs, 500), "runs": []}
    budgets = {"noise": args.noise_steps, "residual": args.residual_steps, "noise_na": args.na_steps}
    for method in args.methods:
        for seed in (args.noise_seeds or args.seeds) if method.startswith("noise") else args.seeds:
            rec = run_method(method, seed, ckpt, work, budgets[method], args)
            rec["overhead_vs_bare_env"] = report["bare_env_steps_per_s"] / rec["loop_env_steps_per_s"]
            report["runs"].append(rec)
            print(f"{method} seed {seed}: best {rec['best_success']:.2f} final {rec['final_success']:.2f} "
                  f"in {rec['env_steps']} steps, {rec['wall_s']:.0f} s", file=sys.stderr)
    report["total_minutes"] = (time.perf_counter() - t0) / 60.0
    write_results(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
