"""`robot train`: train a diffusion / flow / VLA policy on an episode store from a pipeline preset.

    robot train --config configs/pipelines/so101_lift_flow.yaml --data demos.zarr --out runs/lift \\
        [--policy-config configs/policies/diffusion.yaml] [--train.steps=2000 --policy.horizon=16 ...]
    robot train --resume runs/lift [--train.steps=4000]
    torchrun --nproc_per_node=2 -m robot.cli train --config ... --data ... --out ...

Every leaf key of the pipeline config is a `--section.key=value` override (robot/cli/overrides.py;
`robot train --help` lists them with their types).
"""

from __future__ import annotations

import argparse
import json

from robot.cli.overrides import OVERRIDES_DEST, add_pipeline_overrides
from robot.cli.threads import THREADS_HELP


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `robot train`."""
    parser.add_argument("--config", help="pipeline preset: a YAML path or a name in configs/pipelines/")
    parser.add_argument("--policy-config", help="policy preset replacing the pipeline's policy section "
                        "(a YAML path or a name in configs/policies/: diffusion, flow, vla)")
    parser.add_argument("--data", help="episode store (Zarr) to train on; overrides data.path")
    parser.add_argument("--out", help="run folder (checkpoints, metrics.csv, eval.csv)")
    parser.add_argument("--resume", metavar="RUN", help="continue the run in this folder from its latest checkpoint")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--threads", type=int, default=None, help=THREADS_HELP + "; same as --train.num_threads")
    add_pipeline_overrides(parser)


def run(args: argparse.Namespace) -> int:
    """Train; prints a JSON summary and returns 0."""
    from pathlib import Path

    from policies.pipeline import load_pipeline, load_run_config, run_training
    from robot.config import ConfigError

    overrides = list(getattr(args, OVERRIDES_DEST, []))
    if args.threads:
        overrides.append(f"train.num_threads={args.threads}")
    if args.data:
        overrides.append(f"data.path={args.data}")
    if args.resume:
        if args.config or args.policy_config:
            raise ConfigError("--resume uses the config saved in the run folder; drop --config/--policy-config")
        if args.out and Path(args.out).resolve() != Path(args.resume).resolve():
            raise ConfigError("--resume continues the run in its own folder; drop --out")
        out = Path(args.resume)
        cfg = load_run_config(args.resume, overrides)
    else:
        if not args.config:
            raise ConfigError("--config is required (e.g. --config so101_lift_flow); or --resume RUN")
        cfg = load_pipeline(args.config, overrides, policy_preset=args.policy_config)
        out = Path(args.out or f"runs/{cfg.name}")
        if (out / "latest").exists():
            raise ConfigError(f"{out} already holds a run; pass --resume {out} to continue it, "
                              "or choose another --out")
    from robot.cli.threads import set_torch_threads

    # run_training sets train.num_threads when > 0; 0 (torch's default) becomes 1 on CPU here.
    set_torch_threads(args.threads or cfg.train.num_threads or None, cfg.train.device)
    summary = run_training(cfg, out, resume=bool(args.resume), progress=not args.no_progress)
    print(json.dumps({k: v for k, v in summary.items() if k != "last_eval"}, indent=1, default=str))
    return 0
