"""Shared by the runtime benchmarks: a small so101_lift flow policy, trained here if none is given.

    ckpt = lift_checkpoint(args.checkpoint, work_dir, episodes=100, steps=2500)

Collects scripted expert demos (privileged state, as the so101_lift_flow_privileged
preset) with `robot collect`, trains with the preset and `steps` steps on one
thread, and returns the checkpoint folder. A finished run in `work_dir` is
reused. About 5 min on one core at the defaults of the benchmarks.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

TASK = "so101_lift"
ENV = {"privileged_state": True, "cameras": ()}


def lift_checkpoint(checkpoint: str | None, work_dir: Path, episodes: int, steps: int) -> Path:
    """The checkpoint folder of `checkpoint` (run or checkpoint folder), or of a run trained in `work_dir`."""
    from robot.cli.eval_cmd import resolve_checkpoint

    if checkpoint:
        return resolve_checkpoint(checkpoint)[0]
    from policies.pipeline import load_pipeline, run_training
    from policies.train_state import latest_checkpoint
    from robot.cli import main as robot_main
    from robot.config import replace

    work_dir.mkdir(parents=True, exist_ok=True)
    train_dir = work_dir / f"train_{episodes}ep_{steps}steps"
    if (train_dir / "latest").is_file():
        return latest_checkpoint(train_dir)
    store = work_dir / f"demos_{episodes}.zarr"
    if not store.exists():
        rc = robot_main(["collect", "--task", TASK, "--teleop", "scripted", "--episodes", str(episodes),
                         "--out", str(store), "--env-opt", "privileged_state=true", "--no-progress"])
        if rc != 0:
            raise RuntimeError(f"collecting demos failed (exit {rc})")
    overrides = [f"train.steps={steps}", "train.num_threads=1", "eval.every=0",
                 f"train.checkpoint_every={steps}", f"train.warmup_steps={min(100, max(1, steps // 10))}"]
    cfg = load_pipeline("so101_lift_flow_privileged", overrides)
    cfg = replace(cfg, data=replace(cfg.data, path=str(store)))
    print(f"training a {TASK} flow policy: {episodes} demos, {steps} steps -> {train_dir}", file=sys.stderr)
    run_training(cfg, train_dir, progress=False)
    return latest_checkpoint(train_dir)


def make_lift_env(max_steps: int = 0) -> Any:
    """so101_lift with the privileged state the preset's policy reads, no cameras."""
    from sim.registry import make_env

    return make_env(TASK, **ENV, **({"max_steps": max_steps} if max_steps else {}))
