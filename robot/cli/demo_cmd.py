"""`robot demo`: the main job. Collect scripted demos, train a policy, evaluate it in sim.

    robot demo                                  # so101_lift, cameras + joints, flow policy, 200 demos
    robot demo --episodes 200 --steps 6000      # scale it
    robot demo --task pusht --policy diffusion --out runs/demo_pusht

Writes under --out (default runs/demo): demos.zarr, train/ (checkpoints,
metrics.csv, eval.csv), eval/ (eval.json, videos/*.mp4), success.png and
results.json. Re-running continues where it stopped: collection resumes,
training resumes from its latest checkpoint, evaluation runs again.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

DEFAULT_TASK = "so101_lift"
DEFAULT_POLICY = "flow"
VLA_TASK = "so101_multi"
"""The language-conditioned task: a VLA needs instructions, which so101_lift does not give."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `robot demo`."""
    parser.add_argument("--task", default=None,
                        help=f"registered task (default {DEFAULT_TASK}; {VLA_TASK} for --policy vla)")
    parser.add_argument("--policy", default=DEFAULT_POLICY, choices=("flow", "diffusion", "vla"),
                        help=f"policy family (default {DEFAULT_POLICY})")
    parser.add_argument("--config", help="pipeline preset to use instead of configs/pipelines/<task>_<policy>.yaml")
    parser.add_argument("--episodes", type=int, default=200, help="scripted demonstrations to collect")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the preset's)")
    parser.add_argument("--eval-episodes", type=int, default=50, help="evaluation rollouts")
    parser.add_argument("--envs", type=int, default=10, help="evaluation envs run in lockstep")
    parser.add_argument("--videos", type=int, default=2, help="mp4s of the first evaluation episodes")
    parser.add_argument("--eval-max-steps", type=int, default=0, help="cap per evaluation episode (0: the task's)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="pipeline config override, repeatable (e.g. --set train.batch_size=128)")
    # One thread by default: with 2 threads, a second busy process on a 2-core machine
    # makes OpenMP threads spin on a shared core (measured 5 s/step instead of 0.1 s).
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--out", default="runs/demo", help="output folder")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def pick_preset(task: str, policy: str, config: str | None) -> tuple[str, str | None]:
    """(pipeline preset, policy preset or None) for a task and policy family."""
    from policies.pipeline import CONFIG_DIR

    if config:
        return config, None
    pipelines = CONFIG_DIR / "pipelines"
    exact = pipelines / f"{task}_{policy}.yaml"
    if exact.is_file():
        return str(exact), None
    same_task = sorted(pipelines.glob(f"{task}_*.yaml"))
    if same_task:
        return str(same_task[0]), policy
    return str(pipelines / f"{DEFAULT_TASK}_{DEFAULT_POLICY}.yaml"), policy


def _env_opts(env: dict[str, Any]) -> list[str]:
    """Task overrides as `--env-opt key=value` arguments for `robot collect` (JSON is valid YAML)."""
    out: list[str] = []
    for k, v in env.items():
        out += ["--env-opt", f"{k}={json.dumps(v)}"]
    return out


def run(args: argparse.Namespace) -> int:
    """Collect -> train -> evaluate; prints a summary with paths; 0 on success of every stage."""
    import torch

    from policies.checkpoint import load_policy
    from policies.eval import evaluate
    from policies.pipeline import EvalConfig, load_pipeline, run_training
    from policies.plots import plot_run
    from policies.train import latest_checkpoint
    from robot.cli import main as robot_main

    t0 = time.perf_counter()
    torch.set_num_threads(max(1, args.threads))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.task is None:
        args.task = VLA_TASK if args.policy == "vla" else DEFAULT_TASK
    preset, policy_preset = pick_preset(args.task, args.policy, args.config)
    overrides = [f"task.name={args.task}", f"train.seed={args.seed}", f"train.num_threads={args.threads}"]
    if policy_preset is not None:  # another family on the task's preset: keep the task's observations
        keys = load_pipeline(preset).policy.obs_keys  # (a policy preset reads state only, cube-blind here)
        overrides.append(f"policy.obs_keys=[{','.join(keys)}]")
    if args.steps:
        overrides.append(f"train.steps={args.steps}")
    overrides += list(args.set)
    cfg = load_pipeline(preset, overrides, policy_preset=policy_preset)
    store_path, train_dir, eval_dir = out / "demos.zarr", out / "train", out / "eval"

    print(f"[1/3] collecting {args.episodes} scripted demos of {args.task} -> {store_path}", file=sys.stderr)
    collect_args = ["collect", "--task", args.task, "--teleop", "scripted", "--episodes", str(args.episodes),
                    "--out", str(store_path), *_env_opts(cfg.task.env)]
    if args.no_progress:
        collect_args.append("--no-progress")
    if any(k.startswith("images.") for k in cfg.policy.obs_keys):
        collect_args.append("--images")
    rc = robot_main(collect_args)
    if rc != 0:
        print(f"robot demo: collection failed (exit {rc})", file=sys.stderr)
        return rc
    t_collect = time.perf_counter() - t0

    print(f"[2/3] training a {cfg.policy.kind} policy for {cfg.train.steps} steps -> {train_dir}", file=sys.stderr)
    resume = (train_dir / "latest").is_file()
    from robot.config import replace

    cfg = replace(cfg, data=replace(cfg.data, path=str(store_path)))
    summary = run_training(cfg, train_dir, resume=resume, progress=not args.no_progress)

    print(f"[3/3] evaluating {args.eval_episodes} episodes in {args.envs} envs -> {eval_dir}", file=sys.stderr)
    ckpt = latest_checkpoint(train_dir)
    policy = load_policy(ckpt)
    eval_cfg = EvalConfig(episodes=args.eval_episodes, n_envs=args.envs, videos=args.videos, seed=cfg.eval.seed,
                          max_steps=args.eval_max_steps)
    result = evaluate(policy, args.task, eval_cfg, out_dir=eval_dir, env_overrides=cfg.task.env,
                      progress=not args.no_progress)
    plot = plot_run(train_dir, out / "success.png", title=f"{args.task}: {cfg.policy.kind} policy")

    from data import EpisodeStore

    n_demos = EpisodeStore.open(store_path, readonly=True).num_episodes
    results = {
        "task": args.task, "policy": cfg.policy.kind, "obs_keys": list(cfg.policy.obs_keys),
        "n_demos": n_demos, "train_steps": summary["step"], "train_minutes": summary["train_minutes"],
        "final_loss": summary["final_loss"], "success_rate": result["success_rate"],
        "ci95": [result["ci95_low"], result["ci95_high"]], "eval_episodes": result["episodes"],
        "mean_max_reward": result["mean_max_reward"], "mean_length": result["mean_length"],
        "collect_minutes": t_collect / 60.0, "total_minutes": (time.perf_counter() - t0) / 60.0,
        "checkpoint": str(ckpt), "eval_json": str(eval_dir / "eval.json"), "plot": str(plot),
        "videos": result["videos"],
    }
    (out / "results.json").write_text(json.dumps(results, indent=1))
    lo, hi = results["ci95"]
    print(f"\n{args.task} with a {cfg.policy.kind} policy from {n_demos} scripted demos, "
          f"{summary['step']} steps ({results['train_minutes']:.1f} min training):")
    print(f"  success {result['successes']}/{result['episodes']} = {result['success_rate']:.0%} "
          f"(95% CI {lo:.0%}-{hi:.0%}), total {results['total_minutes']:.1f} min")
    print(f"  results    {out / 'results.json'}")
    print(f"  eval       {eval_dir / 'eval.json'}")
    print(f"  plot       {plot}")
    print(f"  checkpoint {ckpt}")
    for v in result["videos"]:
        print(f"  video      {v}")
    return 0
