"""`robot eval`: roll out a policy checkpoint in parallel sim envs; success rate, videos, JSON, plot.

    robot eval --checkpoint runs/lift --task so101_lift --episodes 50 --envs 10 --videos 4 --out eval/
    robot eval --checkpoint runs/pusht/checkpoints/step_0002000 --task gym:gym_pusht/PushT-v0
    robot eval --checkpoint runs/lift --episodes 3 --envs 1 --view viewer      # watch it, in real time

`--checkpoint` is a run folder (its latest checkpoint is used) or a checkpoint
folder holding policy.json. The task defaults to the one the run trained on.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from robot.cli.liveview import add_view_arguments
from robot.cli.threads import THREADS_HELP

EVAL_DEST = "eval_overrides"


def add_eval_overrides(parser: argparse.ArgumentParser) -> None:
    """`--eval.key=V` for every EvalConfig field (the flags above are short forms of some of them)."""
    from policies.eval_config import EvalConfig
    from robot.cli.overrides import add_override_arguments, leaf_fields

    add_override_arguments(parser, leaf_fields(EvalConfig, "eval."), "evaluation overrides (--eval.key=value; "
                           "these win over the short flags)", dest=EVAL_DEST, strip="eval.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `robot eval`."""
    parser.add_argument("--checkpoint", required=True, help="run folder or checkpoint folder (policy.json)")
    parser.add_argument("--task", help="registered task or gym:<id> (default: the run's task)")
    parser.add_argument("--episodes", type=int, default=50, help="rollouts in total")
    parser.add_argument("--envs", type=int, default=10, help="envs stepped in lockstep (batched inference)")
    parser.add_argument("--videos", type=int, default=0, help="mp4s of the first N episodes")
    parser.add_argument("--camera", default="", help="camera for the videos (default: the task's first)")
    parser.add_argument("--video-size", default="320x240", metavar="WxH",
                        help="video frame size in pixels (default 320x240; 'native': the camera's own)")
    parser.add_argument("--seed", type=int, default=100_000, help="seed of the first episode")
    parser.add_argument("--max-steps", type=int, default=0, help="cap per episode (0: the task's limit)")
    parser.add_argument("--inference-steps", type=int, default=0, help="denoising steps (0: the policy's)")
    parser.add_argument("--settle-ticks", type=int, default=5,
                        help="ticks success must hold after its first to count (as `robot collect`)")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="task config override, repeatable (e.g. --env max_steps=200)")
    parser.add_argument("--device", default="cpu", help="torch device for the policy")
    parser.add_argument("--out", help="results folder (default: <run>/eval)")
    parser.add_argument("--threads", type=int, default=None, help=THREADS_HELP)
    add_eval_overrides(parser)
    add_view_arguments(parser)  # auto: no window for eval unless --view viewer; rerun flags imply rerun


def resolve_checkpoint(path: str | Path) -> tuple[Path, Path | None]:
    """(checkpoint folder holding policy.json, run folder or None) for a run or checkpoint path."""
    from policies.train_state import latest_checkpoint

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p} does not exist; pass a `robot train` run folder or a checkpoint folder")
    if (p / "policy.json").is_file():
        run = p.parent.parent if p.parent.name == "checkpoints" else None
        return p, run
    if (p / "latest").is_file():
        return latest_checkpoint(p), p
    raise FileNotFoundError(f"{p} is neither a checkpoint folder (policy.json) nor a run folder (latest); "
                            "pass the --out folder of `robot train`")


def parse_video_size(text: str) -> tuple[int, int] | None:
    """"320x240" -> (320, 240); "native" -> None (the env's image size)."""
    from robot.errors import UserError

    if text == "native":
        return None
    w, _, h = text.lower().partition("x")
    try:
        size = (int(w), int(h))
    except ValueError:
        raise UserError(f"--video-size {text!r}: expected WIDTHxHEIGHT, e.g. 320x240, or native") from None
    if not (16 <= size[0] <= 4096 and 16 <= size[1] <= 4096):
        raise UserError(f"--video-size {text!r}: each side must be 16..4096 pixels")
    return size


def parse_env_overrides(items: list[str]) -> dict[str, Any]:
    """["max_steps=200", "images=true"] -> {"max_steps": 200, "images": True} (YAML scalars)."""
    from robot.config import ConfigError, parse_overrides

    try:
        return parse_overrides(items)
    except ConfigError as e:
        raise ConfigError(f"--env: {e}") from None


def run_task_settings(run_dir: Path | None) -> tuple[str, dict[str, Any]] | None:
    """(task, task env settings) a run folder was trained or fine-tuned with, or None for a bare checkpoint.

    A `robot train` run keeps them in config.yaml, a `robot finetune` run in
    finetune.json; eval and finetune start their envs from them, so a policy
    meets observations of the shape it was trained on without repeated --env flags.
    """
    if run_dir is None:
        return None
    if (run_dir / "config.yaml").is_file():
        from policies.pipeline import load_run_config

        run_cfg = load_run_config(run_dir)
        return run_cfg.task.name, dict(run_cfg.task.env)
    if (run_dir / "finetune.json").is_file():
        tuned = json.loads((run_dir / "finetune.json").read_text())
        return tuned["task"], dict(tuned["config"].get("env", {}))
    return None


def run(args: argparse.Namespace) -> int:
    """Evaluate; prints the summary and the paths written; returns 0."""
    from policies.checkpoint import load_policy
    from policies.eval import EvalConfig, evaluate, make_envs, state_only_overrides
    from policies.plots import plot_run
    from policies.preflight import check_policy_on_task
    from robot.cli.liveview import ViewError, make_observers, resolve_view
    from robot.config import ConfigError
    from robot.runtime.observers import close_all

    ckpt, run_dir = resolve_checkpoint(args.checkpoint)
    task, env_overrides = args.task, parse_env_overrides(args.env)
    settings = run_task_settings(run_dir)
    if settings is not None and task is None:
        task = settings[0]
        env_overrides = {**settings[1], **env_overrides}
    if task is None:
        raise ConfigError("--task is required when the checkpoint is not inside a `robot train` run folder")
    out = Path(args.out) if args.out else (run_dir or ckpt) / "eval"
    from robot.cli.threads import set_torch_threads
    from robot.config import from_dict, merge, parse_overrides

    set_torch_threads(args.threads, args.device)
    flags = {"episodes": args.episodes, "n_envs": args.envs, "seed": args.seed, "max_steps": args.max_steps,
             "videos": args.videos, "camera": args.camera, "inference_steps": args.inference_steps,
             "settle_ticks": args.settle_ticks}
    cfg = from_dict(EvalConfig, merge(flags, parse_overrides(getattr(args, EVAL_DEST, []))), "eval")
    video_size = parse_video_size(args.video_size)
    policy = load_policy(ckpt, device=args.device)
    # Before any env is stepped: the task gives every observation the policy reads, at its shape.
    check_policy_on_task(policy.spec, task, state_only_overrides(task, policy, env_overrides), args.checkpoint)
    envs, observers = None, []
    try:
        if resolve_view(args, interactive=False) != "none":
            # Env 0 of every wave is shown, in real time at the task's rate.
            envs = make_envs(task, min(args.envs, args.episodes), state_only_overrides(task, policy, env_overrides))
            observers = make_observers(args, envs[0], total=args.episodes, count_all=True)
    except ViewError as e:
        print(f"robot eval: {e}", file=sys.stderr)
        for env in envs or []:
            env.close()
        return 2
    try:
        result = evaluate(policy, task, cfg, out_dir=out, envs=envs, env_overrides=env_overrides,
                          observers=observers, video_size=video_size)
    finally:
        close_all(observers)
        for env in envs or []:
            env.close()
    result["checkpoint"] = str(ckpt)
    (out / "eval.json").write_text(json.dumps(result, indent=1))
    plot = None
    if run_dir is not None and ((run_dir / "eval.csv").is_file() or (run_dir / "metrics.csv").is_file()):
        plot = plot_run(run_dir, out / "success.png", title=f"{task}: {run_dir.name}")
    lo, hi = result["ci95_low"], result["ci95_high"]
    print(f"{task}: success {result['successes']}/{result['episodes']} = {result['success_rate']:.2f} "
          f"(95% CI {lo:.2f}-{hi:.2f}), mean max reward {result['mean_max_reward']:.3f}, "
          f"mean length {result['mean_length']:.0f}")
    print(f"results: {out / 'eval.json'}")
    for v in result["videos"]:
        print(f"video:   {v}")
    if plot:
        print(f"plot:    {plot}")
    return 0
