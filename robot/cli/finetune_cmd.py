"""`robot finetune`: RL fine-tuning of a frozen policy in sim (residual PPO or DSRL noise steering).

    robot finetune --method residual --checkpoint runs/peg --task peg_insert --out runs/peg_residual
    robot finetune --method noise --checkpoint runs/peg --task peg_insert --out runs/peg_noise --set env_steps=50000
    robot finetune --method noise --checkpoint runs/peg --task peg_insert --out runs/peg_noise --resume

The preset is configs/finetune/<method>.yaml unless --config names another;
`--set key=value` overrides any key (e.g. sac.utd=4). The result is a run
folder whose latest checkpoint `robot eval` and `robot deploy` load as they
load any policy. Ends with base vs fine-tuned success (95% Wilson intervals).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from robot.cli.threads import THREADS_HELP


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `robot finetune`."""
    parser.add_argument("--method", required=True, choices=("residual", "noise"),
                        help="residual: PPO on a bounded residual; noise: DSRL-SAC on the sampler's initial noise")
    parser.add_argument("--checkpoint", required=True, help="base policy: `robot train` run folder or checkpoint")
    parser.add_argument("--task", required=True, help="registered task (e.g. peg_insert) or gym:<id>")
    parser.add_argument("--out", required=True, help="run folder of the fine-tuning")
    parser.add_argument("--config", help="preset YAML (default: configs/finetune/<method>.yaml)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override, repeatable (e.g. --set env_steps=20000 --set sac.utd=4)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its latest checkpoint")
    parser.add_argument("--threads", type=int, default=0, help=THREADS_HELP)
    parser.add_argument("--no-progress", action="store_true", help="no progress output")


def load_finetune_config(method: str, preset: str | None, overrides: list[str]):
    """FinetuneConfig from the preset and overrides; --method wins over the preset's method."""
    from policies.finetune.config import FinetuneConfig
    from policies.pipeline import CONFIG_DIR, resolve_preset
    from robot.config import load_config

    path = resolve_preset(preset, "finetune") if preset else CONFIG_DIR / "finetune" / f"{method}.yaml"
    return load_config(FinetuneConfig, path, [*overrides, f"method={method}"])


def with_base_task_env(cfg, base_run: Path | None, task: str):  # noqa: ANN001, ANN201 - FinetuneConfig
    """`cfg` whose `env` starts from the base run's task settings (image size, privileged state) on its task.

    The base was trained on observations of that shape, so the fine-tuning envs must give the same;
    `--set env.key=...` still wins.
    """
    from robot.cli.eval_cmd import run_task_settings
    from robot.config import replace

    settings = run_task_settings(base_run)
    if settings is None or settings[0] != task:
        return cfg
    return replace(cfg, env={**settings[1], **cfg.env})


def run(args: argparse.Namespace) -> int:
    """Fine-tune; prints progress, the paths written and the base vs fine-tuned table."""
    from policies.finetune.trainer import RUN_META, FinetuneInputError, Finetuner, plot_curves
    from robot.cli.eval_cmd import resolve_checkpoint
    from robot.cli.threads import set_torch_threads

    out = Path(args.out)
    try:
        if args.resume and not (out / "latest").is_file():
            raise FinetuneInputError(f"{out} holds no fine-tuning checkpoint to resume")
        if args.resume and (out / RUN_META).is_file():
            prev = json.loads((out / RUN_META).read_text())
            if prev.get("method") != args.method:
                raise FinetuneInputError(f"{out} is a --method {prev.get('method')} run, not {args.method}; "
                                         "resume it with that method or pass a new --out")
        try:
            ckpt, base_run = resolve_checkpoint(args.checkpoint)
        except FileNotFoundError as e:
            raise FinetuneInputError(str(e)) from None
        cfg = load_finetune_config(args.method, args.config, args.set)
        cfg = with_base_task_env(cfg, base_run, args.task)
        set_torch_threads(args.threads)
        tuner = Finetuner(cfg, ckpt, args.task, out, resume=args.resume, progress=not args.no_progress)
    except FinetuneInputError as e:
        print(f"robot finetune: {e}", file=sys.stderr)
        return 2
    try:
        summary = tuner.train()
        table = tuner.final_table()
    finally:
        tuner.close()
    png = plot_curves(out)
    print(f"\n{'policy':<12} {'success':>10} {'95% CI':>15}  mean return")
    for name in ("base", "finetuned"):
        r = table[name]
        print(f"{name:<12} {r['successes']:>4}/{r['episodes']:<5} {r['ci95_low']:>6.2f}-{r['ci95_high']:<6.2f}"
              f"  {r['mean_return']:.2f}")
    t = summary["timing"]
    print(f"{summary['env_steps']} env steps in {summary['wall_s']:.0f} s "
          f"(env {t['env']:.0f} s, base inference {t['base']:.0f} s, updates {t['update']:.0f} s, "
          f"eval {t['eval']:.0f} s)")
    print(f"policy:  {out / (out / 'latest').read_text().strip()}")
    print(f"curves:  {out / 'curves.csv'}\nplot:    {png}\nresults: {out / 'result.json'}")
    return 0
