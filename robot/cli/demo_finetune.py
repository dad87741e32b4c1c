"""The fine-tune stage of `robot demo`: RL on top of the trained policy, before and after on the same seeds.

The stage runs `policies.finetune.trainer.Finetuner` (what `robot finetune`
runs) on the demo's task with the training run's checkpoint as the frozen base,
into <out>/finetune/. The task settings (image size, privileged state) are the
pipeline's, so the fine-tuned policy sees what the base saw; evaluation caps
(max steps, settle ticks, seeds) are the demo's evaluation stage's, so "before"
is the stage-3 policy on the stage-3 seeds. The closing before/after figures are
`Finetuner.final_table` with the evaluation stage's episode count.

A second run on the same --out resumes an unfinished fine-tune from its latest
checkpoint, re-uses a finished one (result.json at the requested steps and
episodes), and starts over (with a note) when training moved the base checkpoint.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

FINETUNE_METHODS = ("residual", "noise", "none")
DEFAULT_FINETUNE = "noise"
DEFAULT_FINETUNE_STEPS = 20_000
"""Env steps of the default demo's fine-tune, sized to the 20-minute budget: collection, 2,000 training steps,
evaluation and deployment leave a few minutes, and benchmarks/bench_demo_finetune_cost.py measured the stage with
a camera base at the preset's size (results/bench_demo_finetune_cost.json, shared 2-core CPU at load ~2.6: 3.7 ms per
env step for residual PPO, 2.6 for noise steering; the before/after table 1.4 s per evaluation episode with a
residual, which encodes the cameras every tick, 0.64 s with noise steering). 20,000 noise-steering steps are
then ~0.9 min of training plus ~1.5 min for the 130 evaluation episodes (curve 3 x 10, before/after 2 x 50);
residual PPO ~1.2 + ~3 min. benchmarks/bench_demo.py times the whole default demo."""
CURVE_EPISODES = 10
"""Held-out episodes per learning-curve point (start and end); the before/after table uses the eval stage's count."""
PREFIX = "finetune."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`--finetune`, `--finetune-steps` and `--finetune.key=value` (any FinetuneConfig key but `method`)."""
    from policies.finetune.config import FinetuneConfig
    from robot.cli.overrides import add_override_arguments, leaf_fields

    parser.add_argument("--finetune", default=DEFAULT_FINETUNE, choices=FINETUNE_METHODS,
                        help=f"fine-tune stage after evaluation (default {DEFAULT_FINETUNE}): residual PPO, "
                             "DSRL noise steering, or none")
    parser.add_argument("--finetune-steps", type=int, default=DEFAULT_FINETUNE_STEPS,
                        help=f"env steps of the fine-tune (default {DEFAULT_FINETUNE_STEPS})")
    fields = [f for f in leaf_fields(FinetuneConfig, PREFIX) if f[0] not in (PREFIX + "method", PREFIX + "env_steps")]
    add_override_arguments(parser, fields, "fine-tune overrides (--finetune.key=value or --set finetune.key=value; "
                           "configs/finetune/<method>.yaml)")


def split_overrides(overrides: list[str]) -> tuple[list[str], list[str]]:
    """(pipeline overrides, fine-tune overrides without their `finetune.` prefix)."""
    pipeline = [o for o in overrides if not o.startswith(PREFIX)]
    return pipeline, [o[len(PREFIX):] for o in overrides if o.startswith(PREFIX)]


def finetune_config(method: str, steps: int, cfg: Any, eval_cfg: Any, user: list[str]) -> Any:
    """The method's preset, pointed at the demo's task settings and evaluation seeds; `user` overrides last."""
    from robot.cli.finetune_cmd import load_finetune_config

    sets = [f"env_steps={steps}", f"env={json.dumps(dict(cfg.task.env))}", f"eval_seed={eval_cfg.seed}",
            f"max_steps={eval_cfg.max_steps}", f"settle_ticks={eval_cfg.settle_ticks}",
            f"eval_every={max(1, steps)}", f"checkpoint_every={max(1, steps // 3)}",
            f"eval_episodes={min(CURVE_EPISODES, eval_cfg.episodes)}", f"seed={cfg.train.seed}"]
    return load_finetune_config(method, None, [*sets, *user])


def _finished(out: Path, ckpt: Path, ft_cfg: Any, episodes: int) -> dict | None:
    """result.json of a finished fine-tune of this base at these steps and episodes, else None."""
    try:
        meta = json.loads((out / "finetune.json").read_text())
        result = json.loads((out / "result.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    same = (meta.get("base_checkpoint") == str(ckpt) and result["env_steps"] >= ft_cfg.env_steps
            and result["finetuned"]["episodes"] == episodes)
    return result if same else None


def run_finetune(method: str, steps: int, cfg: Any, eval_cfg: Any, user: list[str], ckpt: Path, out: Path,
                 progress: bool) -> dict[str, Any]:
    """Fine-tune (or resume, or re-use) into `out`; results.json's "finetune" section."""
    from policies.finetune.trainer import RUN_META, Finetuner, plot_curves
    from policies.pipeline import config_hash

    ft_cfg = finetune_config(method, steps, cfg, eval_cfg, user)
    t0 = time.perf_counter()
    result = _finished(out, ckpt, ft_cfg, eval_cfg.episodes)
    reused = result is not None
    if result is None:
        if (out / RUN_META).is_file() and json.loads((out / RUN_META).read_text()).get("base_checkpoint") != str(ckpt):
            print(f"robot demo: {out} fine-tuned another checkpoint than {ckpt} (training went on); starting it over",
                  file=sys.stderr)
            shutil.rmtree(out)
        tuner = Finetuner(ft_cfg, ckpt, cfg.task.name, out, resume=(out / "latest").is_file(), progress=progress)
        try:
            tuner.train()
            result = tuner.final_table(eval_cfg.episodes)
        finally:
            tuner.close()
    plot = plot_curves(out)
    checkpoint = out / (out / "latest").read_text().strip()
    return {"method": method, "env_steps": result["env_steps"], "train_minutes": result["wall_s"] / 60.0,
            "minutes": (time.perf_counter() - t0) / 60.0, "reused": reused, "config_hash": config_hash(ft_cfg),
            "before": result["base"], "after": result["finetuned"], "checkpoint": str(checkpoint),
            "run": str(out), "curves": str(out / "curves.csv"), "plot": str(plot),
            "result_json": str(out / "result.json")}
