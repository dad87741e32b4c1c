"""`robot demo`: the main job. Collect demos, train, evaluate in sim, fine-tune with RL, deploy on the twin.

    robot demo                                  # so101_lift, cameras + joints, flow policy, 200 + 200 demos, noise-steering RL
    robot demo --episodes 200 --steps 6000      # scale it
    robot demo --finetune noise --finetune-steps 40000      # DSRL noise steering instead; `none` skips the stage
    robot demo --task pusht --policy diffusion --out runs/demo_pusht
    robot demo --train.batch_size=128 --eval.inference_steps=4    # any pipeline key (--help lists them)
    robot demo --finetune.n_envs=16 --set finetune.ppo.lr=1e-4     # any fine-tune key (configs/finetune/)

Writes under --out (default runs/demo): demos.zarr, train/ (checkpoints,
metrics.csv, eval.csv), eval/ (eval.json, videos/*.mp4 at 320x240),
finetune/ (the `robot finetune` run folder: curves.csv, learning_curve.png,
checkpoints, result.json with success before and after on the same held-out
seeds), deploy/ (deploy.json, run.zarr: every tick of the twin deployment,
deploy.rrd: its rerun recording), success.png and results.json (every figure
of the table, and minutes per stage), and ends with a summary table. The
deployment runs the fine-tuned policy when there is one, else the trained one.
Re-running with the same --out continues where it stopped: collection resumes,
training resumes from its latest checkpoint, evaluation runs again, the
fine-tune resumes from its latest checkpoint (or is re-used when it finished
at the asked steps), deployment runs again. A different task, policy,
observation set or fine-tune method on the same --out is refused before
anything is written (robot/cli/demo_report.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from robot.cli.demo_finetune import add_arguments as add_finetune_arguments
from robot.cli.overrides import OVERRIDES_DEST, add_pipeline_overrides
from robot.cli.threads import THREADS_HELP

DEFAULT_TASK = "so101_lift"
DEFAULT_POLICY = "flow"
VLA_TASK = "so101_multi"
RECOVERY_NOISE = 0.02
"""rad of expert joint-target noise in the recovery demos: on so101_lift from cameras, 200 clean + 200
such demos lifted success from 68/100 (400 clean) to 96/100 (BENCHMARKS.md, "Policies from cameras")."""
"""The language-conditioned task: a VLA needs instructions, which so101_lift does not give."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `robot demo`."""
    parser.add_argument("--task", default=None,
                        help=f"registered task (default {DEFAULT_TASK}; {VLA_TASK} for --policy vla)")
    parser.add_argument("--policy", default=DEFAULT_POLICY, choices=("flow", "diffusion", "vla"),
                        help=f"policy family (default {DEFAULT_POLICY})")
    parser.add_argument("--config", help="pipeline preset to use instead of configs/pipelines/<task>_<policy>.yaml")
    parser.add_argument("--episodes", type=int, default=200, help="scripted demonstrations to collect")
    parser.add_argument("--recovery-episodes", type=int, default=None,
                        help="then this many more from the expert with noise on its joint targets, whose slipped "
                             "grasps and re-plans show the policy recoveries (default: --episodes on the arm tasks, "
                             "0 elsewhere)")
    parser.add_argument("--recovery-noise", type=float, default=RECOVERY_NOISE,
                        help=f"those demos' joint-target noise, rad (default {RECOVERY_NOISE})")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the preset's)")
    parser.add_argument("--eval-episodes", type=int, default=None,
                        help="evaluation rollouts (default: the preset's eval.episodes)")
    parser.add_argument("--envs", type=int, default=None,
                        help="evaluation envs run in lockstep (default: the preset's eval.n_envs)")
    parser.add_argument("--videos", type=int, default=None,
                        help="mp4s of the first evaluation episodes (default: eval.videos, else 2)")
    parser.add_argument("--video-size", default="320x240", metavar="WxH",
                        help="evaluation video size (default 320x240; 'native': the camera's own)")
    parser.add_argument("--eval-max-steps", type=int, default=None,
                        help="cap per evaluation episode (default: eval.max_steps; 0: the task's)")
    parser.add_argument("--deploy-episodes", type=int, default=2,
                        help="episodes on the MuJoCo twin through the real-time loop, recorded (0: skip)")
    parser.add_argument("--deploy-max-steps", type=int, default=0, help="cap per deployment episode (0: the task's)")
    parser.add_argument("--threads", type=int, default=1, help=THREADS_HELP)
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--out", default="runs/demo", help="output folder")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_pipeline_overrides(parser, alias_set=True)
    add_finetune_arguments(parser)


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


def _preset_name(preset: str) -> str:
    """A shipped preset by its name (the same on every machine), any other by its path."""
    from policies.pipeline import CONFIG_DIR

    path = Path(preset)
    return path.stem if path.parent.resolve() == (CONFIG_DIR / "pipelines").resolve() else preset


def _stage(k: int, n: int, text: str) -> None:
    print(f"[{k}/{n}] {text}", file=sys.stderr, flush=True)


def _twin_supports(task: str) -> bool:
    """Whether the MuJoCo twin (an SO-101 arm) can run `task`."""
    from sim.registry import ENVS

    return task in ENVS and (task.startswith("so101_") or task == "peg_insert")


def run(args: argparse.Namespace) -> int:
    """Collect -> train -> evaluate -> deploy on the twin; prints the summary table; 0 when every stage ran."""
    from data import EpisodeStore
    from policies.checkpoint import load_policy
    from policies.eval import evaluate
    from policies.pipeline import config_hash, load_pipeline, run_training
    from policies.plots import plot_run
    from policies.train_state import latest_checkpoint
    from robot.cli import main as robot_main
    from robot.cli.demo_finetune import finetune_config, run_finetune, split_overrides
    from robot.cli.demo_report import check_resumable, summary_table
    from robot.cli.eval_cmd import parse_video_size
    from robot.cli.threads import set_torch_threads
    from robot.config import replace
    from robot.errors import UserError

    t0 = time.perf_counter()
    set_torch_threads(args.threads)
    out = Path(args.out)
    if args.task is None:
        args.task = VLA_TASK if args.policy == "vla" else DEFAULT_TASK
    if not args.task.startswith("gym:"):
        from sim.registry import env_class

        env_class(args.task)  # an unknown task is an error now, not after a store is created
    if args.recovery_episodes is None:
        args.recovery_episodes = args.episodes if _twin_supports(args.task) else 0
    if args.episodes < 1 or args.deploy_episodes < 0 or args.finetune_steps < 1 or args.recovery_episodes < 0:
        raise UserError("--episodes and --finetune-steps must be >= 1, --deploy-episodes and "
                        "--recovery-episodes >= 0")
    if args.recovery_episodes and not args.recovery_noise > 0:
        raise UserError(f"--recovery-noise must be > 0 rad (got {args.recovery_noise}); "
                        "--recovery-episodes 0 skips the recovery demos")
    video_size = parse_video_size(args.video_size)
    preset, policy_preset = pick_preset(args.task, args.policy, args.config)
    overrides = [f"task.name={args.task}", f"train.seed={args.seed}", f"train.num_threads={args.threads}"]
    if policy_preset is not None:  # another family on the task's preset: keep the task's observations
        keys = load_pipeline(preset).policy.obs_keys  # (a policy preset reads state only, cube-blind here)
        overrides.append(f"policy.obs_keys=[{','.join(keys)}]")
    if args.steps:
        overrides.append(f"train.steps={args.steps}")
    user_overrides, finetune_overrides = split_overrides(list(getattr(args, OVERRIDES_DEST, [])))
    overrides += user_overrides
    cfg = load_pipeline(preset, overrides, policy_preset=policy_preset)
    store_path, train_dir, eval_dir, deploy_dir = out / "demos.zarr", out / "train", out / "eval", out / "deploy"
    cfg = replace(cfg, data=replace(cfg.data, path=str(store_path)))
    images = any(k.startswith("images.") for k in cfg.policy.obs_keys)
    # The preset's eval section (with any --eval.* override), then the short flags when given.
    eval_cfg = replace(cfg.eval,  # EvalConfig checks the values: --eval-episodes 0 is a ConfigError
                       episodes=args.eval_episodes if args.eval_episodes is not None else cfg.eval.episodes,
                       n_envs=args.envs if args.envs is not None else cfg.eval.n_envs,
                       videos=args.videos if args.videos is not None else (cfg.eval.videos or 2),
                       max_steps=args.eval_max_steps if args.eval_max_steps is not None else cfg.eval.max_steps)
    finetune = args.finetune != "none"
    finetune_dir = out / "finetune"
    if finetune:  # a wrong --finetune.key is a ConfigError (exit 2) now, not after training
        finetune_config(args.finetune, args.finetune_steps, cfg, eval_cfg, finetune_overrides)
    # before anything is written: a different demo (or fine-tune method) is not resumed
    check_resumable(out, cfg, images, args.finetune)
    out.mkdir(parents=True, exist_ok=True)
    deploy = args.deploy_episodes > 0 and _twin_supports(args.task)
    # Stages: collect, train, evaluate, fine-tune (unless --finetune none), deploy (SO-101 tasks).
    n_stages = 3 + finetune + deploy
    minutes: dict[str, float] = {}

    recovery = (f" + {args.recovery_episodes} with {args.recovery_noise} rad of expert noise (recoveries)"
                if args.recovery_episodes else "")
    _stage(1, n_stages, f"collecting {args.episodes} scripted demos{recovery} of {args.task} -> {store_path}")
    collect_args = ["collect", "--task", args.task, "--teleop", "scripted",
                    "--out", str(store_path), *_env_opts(cfg.task.env)]
    if args.no_progress:
        collect_args.append("--no-progress")
    if images:
        collect_args.append("--images")
    # clean demos first, then the noisy ones; each call resumes a store that was cut short
    phases = [["--episodes", str(args.episodes)]]
    if args.recovery_episodes:
        phases.append(["--episodes", str(args.episodes + args.recovery_episodes),
                       "--teleop-opt", f"noise={args.recovery_noise}"])
    for phase in phases:
        with contextlib.redirect_stdout(sys.stderr):  # stdout keeps only the closing table
            rc = robot_main([*collect_args, *phase])
        if rc != 0:
            print(f"robot demo: collection failed (exit {rc})", file=sys.stderr)
            return rc
    minutes["collect"] = (time.perf_counter() - t0) / 60.0

    t = time.perf_counter()
    _stage(2, n_stages, f"training a {cfg.policy.kind} policy for {cfg.train.steps} steps -> {train_dir}")
    summary = run_training(cfg, train_dir, resume=(train_dir / "latest").is_file(), progress=not args.no_progress)
    minutes["train"] = (time.perf_counter() - t) / 60.0

    t = time.perf_counter()
    _stage(3, n_stages, f"evaluating {eval_cfg.episodes} episodes in {eval_cfg.n_envs} envs -> {eval_dir}")
    ckpt = latest_checkpoint(train_dir)
    policy = load_policy(ckpt)
    result = evaluate(policy, args.task, eval_cfg, out_dir=eval_dir, env_overrides=cfg.task.env,
                      progress=not args.no_progress, video_size=video_size)
    plot = plot_run(train_dir, out / "success.png", title=f"{args.task}: {cfg.policy.kind} policy")
    minutes["eval"] = (time.perf_counter() - t) / 60.0

    tuned, deploy_policy = None, train_dir
    if finetune:
        t = time.perf_counter()
        _stage(4, n_stages, f"fine-tuning ({args.finetune}) for {args.finetune_steps} env steps -> {finetune_dir}")
        tuned = run_finetune(args.finetune, args.finetune_steps, cfg, eval_cfg, finetune_overrides, ckpt,
                             finetune_dir, progress=not args.no_progress)
        deploy_policy = finetune_dir  # deployment runs the fine-tuned policy
        minutes["finetune"] = (time.perf_counter() - t) / 60.0

    deployed, deploy_skipped = None, ""
    if deploy:
        t = time.perf_counter()
        _stage(n_stages, n_stages,
               f"deploying {deploy_policy} on the MuJoCo twin for {args.deploy_episodes} episode(s) -> {deploy_dir}")
        deployed = _deploy(args, cfg, deploy_policy, deploy_dir, robot_main)
        if deployed is None:
            return 1
        minutes["deploy"] = (time.perf_counter() - t) / 60.0
    elif args.deploy_episodes > 0:
        deploy_skipped = f"the twin is an SO-101 arm; {args.task} is not an SO-101 task"
    else:
        deploy_skipped = "--deploy-episodes 0"

    n_demos = EpisodeStore.open(store_path, readonly=True).num_episodes
    files = [("results", out / "results.json"), ("plot", plot), ("eval", eval_dir / "eval.json"),
             *[("video", v) for v in result["videos"]], ("checkpoint", ckpt)]
    if tuned:
        files += [("fine-tuned", tuned["checkpoint"]), ("curves", tuned["curves"]), ("fine-tune plot", tuned["plot"])]
    if deployed:
        files += [("deployment", deploy_dir / "deploy.json"), ("recording", deployed["record"]),
                  ("rerun", deployed["rrd"])]
    results = {
        "task": args.task, "policy": cfg.policy.kind, "obs_keys": list(cfg.policy.obs_keys),
        "n_demos": n_demos, "train_steps": summary["step"], "train_minutes": summary["train_minutes"],
        "final_loss": summary["final_loss"], "success_rate": result["success_rate"],
        "successes": result["successes"], "ci95": [result["ci95_low"], result["ci95_high"]],
        "eval_episodes": result["episodes"], "eval_envs": result["n_envs"],
        "inference_ms_p50": result["inference_ms_p50"],
        "mean_max_reward": result["mean_max_reward"], "mean_length": result["mean_length"],
        "collect_minutes": minutes["collect"], "stage_minutes": minutes,
        # what a benchmark needs to tell which preset version these figures came from (tests/test_results_fresh.py)
        "preset": _preset_name(preset), "policy_preset": policy_preset, "overrides": overrides,
        "config_hash": config_hash(cfg),
        "finetune": tuned, "finetune_skipped": "" if finetune else "--finetune none",
        "total_minutes": (time.perf_counter() - t0) / 60.0,
        "checkpoint": str(ckpt), "eval_json": str(eval_dir / "eval.json"), "plot": str(plot),
        "videos": result["videos"], "video_size": list(video_size) if video_size else "native",
        "deploy": deployed, "deploy_skipped": deploy_skipped, "out": str(out),
        "files": [(label, str(path)) for label, path in files],
    }
    (out / "results.json").write_text(json.dumps(results, indent=1))
    print(summary_table(results))
    return 0


def _deploy(args: argparse.Namespace, cfg: Any, policy_dir: Path, deploy_dir: Path, robot_main: Any) -> dict | None:
    """`robot deploy --robot twin` on a run folder (trained or fine-tuned), recorded to Zarr and rerun;
    its summary or None."""
    from robot import keys as K

    record, rrd = deploy_dir / "run.zarr", deploy_dir / "deploy.rrd"
    cams = [K.camera_of(k) for k in cfg.policy.obs_keys if K.is_image_key(k)]
    deploy_args = ["deploy", "--robot", "twin", "--policy", str(policy_dir), "--episodes", str(args.deploy_episodes),
                   "--out", str(deploy_dir), "--record", str(record), "--rerun-save", str(rrd),
                   "--robot-opt", f"cameras={json.dumps(cams)}", "--threads", str(args.threads),
                   # the task the pipeline trained on, stated: a fine-tune run folder has no config.yaml to read it from
                   "--robot-opt", f"task={cfg.task.name}"]
    for k, v in cfg.task.env.items():
        if k == "image_size":
            deploy_args += ["--robot-opt", f"image_size={json.dumps(v)}"]
        elif k not in ("cameras", "privileged_state"):
            deploy_args += ["--env", f"{k}={json.dumps(v)}"]
    if cfg.task.env.get("privileged_state"):
        # The preset trains on true object poses, which only a simulation has: the twin gives them too.
        deploy_args += ["--robot-opt", "privileged_state=true"]
    if args.deploy_max_steps:
        deploy_args += ["--max-steps", str(args.deploy_max_steps)]
    # A fresh recording per run: appending a second run's episodes would mix two checkpoints.
    if record.exists():
        import shutil

        shutil.rmtree(record)
    with contextlib.redirect_stdout(sys.stderr):
        rc = robot_main(deploy_args)
    if not (deploy_dir / "deploy.json").is_file() or rc == 2:
        print(f"robot demo: deployment on the twin failed (exit {rc})", file=sys.stderr)
        return None
    d = json.loads((deploy_dir / "deploy.json").read_text())
    if rc != 0:
        print("robot demo: the deployment ended early (see above); its figures cover the episodes run",
              file=sys.stderr)
    return {"episodes": d["episodes"], "successes": d["successes"], "success_rate": d["success_rate"],
            "ci95": [d["ci95_low"], d["ci95_high"]], "ticks": d["ticks"], "fps": d["fps"],
            "inference_ms_p50": d["inference_ms_p50"], "jitter_ms_p50": d["jitter_ms_p50"],
            "jitter_ms_p99": d["jitter_ms_p99"], "jitter_ms_max": d["jitter_ms_max"],
            "missed_deadlines": d["missed_deadlines"], "late_ticks": d["late_ticks"], "misses": d["misses"],
            "record": str(record), "rrd": str(rrd), "policy": d.get("policy", str(policy_dir)),
            "source": d.get("source", "")}
