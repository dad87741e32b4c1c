"""Success on the twin: `robot deploy` against `robot eval`, same policy, same unseen seeds, side by side.

    MUJOCO_GL=egl python benchmarks/bench_deploy_success.py                      # trains via `robot demo`, 50 episodes each
    MUJOCO_GL=egl python benchmarks/bench_deploy_success.py --checkpoint runs/demo/train --episodes 50
    MUJOCO_GL=egl python benchmarks/bench_deploy_success.py --quick              # smoke test (tiny training, 3 episodes)

Without --checkpoint it trains a so101_lift flow policy with `robot demo`
(--demos scripted demos, --steps training steps) under
runs/bench_deploy_success/. Then, through the real CLI entry points:
`robot eval --checkpoint C --episodes N --seed S` (the batched sim path) and
`robot deploy --robot twin --policy C --episodes N --seed S` (the real-time
loop: twin physics and camera threads, policy source, safety layer, watchdog,
e-stop, telemetry). Both score episode k on the scene of seed S + k.
The project's so101_lift preset reads privileged state (the cube pose), so
for such a checkpoint the twin runs with `privileged_state=true` (sim only;
the JSON says so); a camera policy runs on the plain twin.

The "done when" of issue #7: the deploy rate lies within the eval rate's Wilson
95% interval. Writes benchmarks/results/bench_deploy_success[.quick].json:
both rates with intervals, per-seed agreement, the deploy loop's jitter,
misses and clamp counts, and which policy source ran (the synchronous
stand-in until the async PolicySource is merged).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._results import write_results  # noqa: E402


def cli(argv: list[str]) -> None:
    """Run one `robot` subcommand in this process; a non-zero exit is an error."""
    from robot.cli import main

    rc = main(argv)
    if rc not in (0, None):
        raise SystemExit(f"robot {' '.join(argv)} exited {rc}")


def reads_privileged_state(ckpt: str) -> bool:
    """Whether the checkpoint's policy reads state features beyond the arm's joints (sim-only object poses)."""
    from robot.cli.eval_cmd import resolve_checkpoint
    from sim.so101_scene import ARM_JOINTS

    folder, _run = resolve_checkpoint(ckpt)
    spec = json.loads((folder / "policy.json").read_text())["spec"]
    names = tuple(spec["observations"].get("state", {}).get("names", ()))
    return len(names) > len(ARM_JOINTS)


def main() -> None:
    """Train (or take) a checkpoint, evaluate it in sim and deploy it on the twin; write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="", help="run or checkpoint folder (default: train one)")
    parser.add_argument("--episodes", type=int, default=50, help="episodes per path")
    parser.add_argument("--seed", type=int, default=100_000, help="seed of the first (unseen) scene")
    parser.add_argument("--demos", type=int, default=200, help="scripted demos when training")
    parser.add_argument("--steps", type=int, default=0, help="training steps when training (0: the preset's)")
    parser.add_argument("--work", default="runs/bench_deploy_success", help="folder for training and outputs")
    parser.add_argument("--quick", action="store_true", help="smoke test: 8 demos, 60 steps, 3 episodes")
    parser.add_argument("--out", default="", help="JSON path (default benchmarks/results/bench_deploy_success[.quick].json)")
    args = parser.parse_args()
    os.environ.setdefault("MUJOCO_GL", "egl")
    if args.quick:
        args.demos, args.steps, args.episodes = 8, 60, 3
        args.work = args.work.rstrip("/") + "_quick"
    work = Path(args.work)
    t0 = time.monotonic()
    ckpt = args.checkpoint
    if not ckpt:
        demo = ["demo", "--task", "so101_lift", "--policy", "flow", "--episodes", str(args.demos),
                "--eval-episodes", "1", "--envs", "1", "--videos", "0", "--out", str(work / "demo"), "--no-progress"]
        if args.steps:
            demo += ["--steps", str(args.steps)]
        cli(demo)
        ckpt = str(work / "demo" / "train")
    train_s = time.monotonic() - t0
    n, seed = str(args.episodes), str(args.seed)
    t1 = time.monotonic()
    cli(["eval", "--checkpoint", ckpt, "--episodes", n, "--envs", str(min(10, args.episodes)), "--seed", seed,
         "--out", str(work / "eval")])
    eval_s = time.monotonic() - t1
    t2 = time.monotonic()
    from robot.cli import main as robot_main

    privileged = reads_privileged_state(ckpt)
    extra = ["--robot-opt", "privileged_state=true"] if privileged else []
    deploy_rc = robot_main(["deploy", "--robot", "twin", "--policy", ckpt, "--episodes", n, "--seed", seed,
                            "--out", str(work / "deploy"), *extra])
    if not (work / "deploy" / "deploy.json").is_file():
        raise SystemExit(f"robot deploy exited {deploy_rc} without results")
    deploy_s = time.monotonic() - t2
    ev = json.loads((work / "eval" / "eval.json").read_text())
    dep = json.loads((work / "deploy" / "deploy.json").read_text())
    ev_ok = {int(e["seed"]): bool(e["success"]) for e in ev["per_episode"]}
    dep_ok = {int(e["seed"]): bool(e["success"]) for e in dep["per_episode"]}
    common = sorted(set(ev_ok) & set(dep_ok))
    out = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_avg_1m_at_end": round(os.getloadavg()[0], 2)},
        "quick": args.quick, "checkpoint": ckpt, "task": dep["task"], "first_seed": args.seed,
        "twin_privileged_state": privileged,
        "eval": {"episodes": ev["episodes"], "successes": ev["successes"], "success_rate": ev["success_rate"],
                 "ci95": [ev["ci95_low"], ev["ci95_high"]],
                 "inference_ms_per_chunk": ev.get("inference_ms_per_chunk"), "wall_s": round(eval_s, 1)},
        "deploy": {"episodes": dep["episodes"], "successes": dep["successes"], "success_rate": dep["success_rate"],
                   "ci95": [dep["ci95_low"], dep["ci95_high"]], "source": dep["source"], "fps": dep.get("fps"),
                   "inference_ms_p50": dep["inference_ms_p50"], "jitter_ms_p50": dep["jitter_ms_p50"], "jitter_ms_p99": dep["jitter_ms_p99"],
                   "jitter_ms_max": dep["jitter_ms_max"], "misses": dep["misses"], "clamps": dep["clamps"],
                   "watchdog_holds": dep["watchdog_holds"], "clean": dep["clean"], "exit_code": deploy_rc,
                   "outcomes": sorted({e["outcome"] for e in dep["per_episode"]}), "wall_s": round(deploy_s, 1)},
        "per_seed_agreement": round(sum(ev_ok[s] == dep_ok[s] for s in common) / len(common), 3) if common else None,
        "deploy_within_eval_ci95": ev["ci95_low"] - 1e-9 <= dep["success_rate"] <= ev["ci95_high"] + 1e-9,
        "train_wall_s": round(train_s, 1),
    }
    path = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / (
        "bench_deploy_success" + (".quick" if args.quick else "") + ".json")
    write_results(out, path)


if __name__ == "__main__":
    main()
