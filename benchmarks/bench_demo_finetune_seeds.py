"""The main job's fine-tune stage over several RL seeds, on the policy a `robot demo` run trained.

`benchmarks/bench_demo.py` runs the whole demo once (one fine-tune seed). This
takes that demo's trained checkpoint (a camera policy on so101_lift) and runs
the same stage (`robot/cli/demo_finetune.run_finetune`: the method's preset,
the demo's task settings, evaluation seeds, step cap and settle ticks) for each
`--seeds` value (a seed already fine-tuned there is re-used), adds the demo's own
fine-tune (its seed is the training seed) from its results.json, then reports per seed and pooled: success before and after on
the same held-out seeds, Wilson 95%, env steps and minutes.

    python benchmarks/bench_demo.py --work runs/bench_demo2        # once: the base
    python benchmarks/bench_demo_finetune_seeds.py --demo runs/bench_demo2 --seeds 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import write_results  # noqa: E402


def main() -> int:
    """Parse, fine-tune each seed, pool, write."""
    import torch

    from policies.pipeline import load_run_config
    from policies.train_state import latest_checkpoint
    from robot.cli.demo_finetune import DEFAULT_FINETUNE, DEFAULT_FINETUNE_STEPS, run_finetune
    from robot.metrics import wilson_interval

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", default="runs/bench_demo2", help="a finished `robot demo --out` folder")
    parser.add_argument("--method", default=DEFAULT_FINETUNE, choices=("noise", "residual"))
    parser.add_argument("--steps", type=int, default=DEFAULT_FINETUNE_STEPS, help="env steps per seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", default="benchmarks/results/bench_demo_finetune_seeds.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    demo = Path(args.demo)
    train_dir = demo / "train"
    if not (train_dir / "config.yaml").is_file():
        raise SystemExit(f"bench_demo_finetune_seeds: {demo} holds no finished demo; run benchmarks/bench_demo.py")
    cfg = load_run_config(train_dir)
    ckpt = latest_checkpoint(train_dir)
    runs = []
    demo_ft = json.loads((demo / "results.json").read_text()).get("finetune") or {}
    if demo_ft.get("method") == args.method and cfg.train.seed not in args.seeds:
        # the demo's own fine-tune stage ran the fine-tune seed = the training seed: read, not re-run
        runs.append({"seed": cfg.train.seed, "from": str(demo / "results.json"),
                     **{k: demo_ft[k] for k in ("env_steps", "train_minutes", "minutes", "config_hash",
                                                "before", "after")}})
    for seed in args.seeds:
        rec = run_finetune(args.method, args.steps, cfg, cfg.eval, [f"seed={seed}"], ckpt,
                           demo / f"finetune_{args.method}_seed{seed}", progress=False)
        runs.append({"seed": seed, **{k: rec[k] for k in ("env_steps", "train_minutes", "minutes", "config_hash",
                                                        "before", "after")}})
        print(f"seed {seed}: {rec['before']['successes']}/{rec['before']['episodes']} -> "
              f"{rec['after']['successes']}/{rec['after']['episodes']}", file=sys.stderr)
    before = sum(r["before"]["successes"] for r in runs)
    after = sum(r["after"]["successes"] for r in runs)
    n = sum(r["after"]["episodes"] for r in runs)
    gains = [(r["after"]["successes"] - r["before"]["successes"]) / r["after"]["episodes"] for r in runs]
    out = {"benchmark": "bench_demo_finetune_seeds", "method": args.method, "demo": str(demo),
           "base_checkpoint": str(ckpt), "train_preset": cfg.name, "task": cfg.task.name,
           "machine": f"{platform.machine()} {os.cpu_count()} cpus (shared), torch {torch.__version__}, 1 thread",
           "load_average_end": list(os.getloadavg()), "runs": runs,
           "pooled_before": [before, n], "pooled_before_ci95": list(wilson_interval(before, n)),
           "pooled_after": [after, n], "pooled_after_ci95": list(wilson_interval(after, n)),
           "gain_mean": statistics.mean(gains), "gain_std": statistics.stdev(gains) if len(gains) > 1 else 0.0}
    write_results(out, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
