"""`robot deploy`: a trained policy drives a robot body in real time, safely, every tick recorded.

    robot deploy --robot twin --policy runs/lift --episodes 10 --out runs/deploy --record runs/deploy/run.zarr
    robot deploy --robot twin --replay runs/deploy/run.zarr --episode 0

One control loop (robot.runtime.ControlLoop) with the safety layer (on by
default), the watchdog (hold, then stop), the e-stop (Ctrl-C / SIGTERM, a
trigger file, a key) and per-tick telemetry. Before anything moves the
checkpoint is checked against the body (action dim, observation keys and
shapes, joint names, privileged state). Writes `<out>/deploy.json`: success on
the twin with a Wilson 95% interval, tick jitter p50/p99/max, misses, clamp
counts, watchdog events. User mistakes exit 2 with one message.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `robot deploy`."""
    parser.add_argument("--robot", default="twin",
                        help="registered robot (hardware.registry: twin, so101, so100, koch; default: twin)")
    parser.add_argument("--port", default="", help="serial port of a lerobot arm (same as --robot-opt port=...)")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--policy", help="checkpoint folder (policy.json) or `robot train` run folder")
    what.add_argument("--replay", help="Zarr store of a recorded run: replay one episode's commands")
    parser.add_argument("--episode", type=int, default=0, help="episode of --replay to replay")
    parser.add_argument("--episodes", type=int, default=1, help="episodes to run")
    parser.add_argument("--seed", type=int, default=100_000, help="scene seed of the first episode (twin)")
    parser.add_argument("--fps", type=float, default=0.0, help="control rate, Hz (0: the policy's own)")
    parser.add_argument("--max-steps", type=int, default=0, help="ticks per episode (0: the task's limit)")
    parser.add_argument("--out", default="runs/deploy", help="folder for deploy.json")
    parser.add_argument("--record", default="", help="Zarr store to record every tick into (created or appended)")
    parser.add_argument("--robot-opt", action="append", default=[], metavar="KEY=VALUE",
                        help="robot config field, e.g. safe_state=torque_off or cameras=[front] (repeatable)")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="task config override for the twin's scene (repeatable)")
    parser.add_argument("--safety", action="append", default=[], metavar="KEY=VALUE",
                        help="safety layer override, e.g. max_velocity=[3.0] (it cannot be turned off here)")
    parser.add_argument("--watchdog", action="append", default=[], metavar="KEY=VALUE",
                        help="watchdog override, e.g. grace_s=0.5 (repeatable)")
    parser.add_argument("--estop-file", default="", help="the e-stop fires when this file exists")
    parser.add_argument("--estop-tty", default="", help="terminal to read the e-stop key from (e.g. /dev/tty)")
    parser.add_argument("--estop-key", default=" ", help="e-stop key on --estop-tty (default: space)")
    parser.add_argument("--intervene", default="", help="teleop device that can take over (e.g. keyboard: i toggles)")
    parser.add_argument("--teleop-opt", action="append", default=[], metavar="KEY=VALUE",
                        help="option of the --intervene device, e.g. tty=/dev/pts/3 (repeatable)")
    parser.add_argument("--source", default="auto", choices=("auto", "async", "sync"),
                        help="policy source: async (inference on its own thread) or sync (infer, then execute); "
                        "auto = async, or sync for per-tick policies (horizon 1, e.g. residual RL)")
    parser.add_argument("--inference-steps", type=int, default=0, help="denoising steps (0: the policy's)")
    from robot.cli.liveview import add_view_arguments

    add_view_arguments(parser)  # --view viewer|rerun|none, --rerun-save, --rerun-connect (docs/liveview.md)
    parser.add_argument("--threads", "--torch-threads", dest="torch_threads", type=int, default=1,
                        help="torch CPU threads for inference (default 1: the loop and physics need the rest)")
    from robot.cli.overrides import add_override_arguments, leaf_fields
    from robot.runtime.safety import SafetyConfig
    from robot.runtime.watchdog import WatchdogConfig

    # --safety.max_velocity=[3.0] is the same as --safety max_velocity=[3.0] (both collect into args.safety).
    add_override_arguments(parser, [f for f in leaf_fields(SafetyConfig, "safety.") if f[0] != "safety.enabled"],
                           "safety layer overrides (--safety.key=value)", dest="safety", strip="safety.")
    add_override_arguments(parser, leaf_fields(WatchdogConfig, "watchdog."),
                           "watchdog overrides (--watchdog.key=value)", dest="watchdog", strip="watchdog.")


def _fail(msg: str) -> int:
    print(f"robot deploy: {msg}", file=sys.stderr)
    return 2


def _twin_defaults(ckpt_run: Path | None, robot_opts: dict[str, Any], env_opts: dict[str, Any]) -> None:
    """The twin simulates the task (and image size) the policy was trained on, unless told otherwise."""
    if ckpt_run is None or not (ckpt_run / "config.yaml").is_file():
        return
    from policies.pipeline import load_run_config

    run_cfg = load_run_config(ckpt_run)
    robot_opts.setdefault("task", run_cfg.task.name)
    task_env = dict(run_cfg.task.env)
    if "image_size" in task_env:
        robot_opts.setdefault("image_size", task_env["image_size"])
    for k, v in task_env.items():
        if k not in ("cameras", "privileged_state", "image_size"):
            env_opts.setdefault(k, v)


def run(args: argparse.Namespace) -> int:
    """Deploy (or replay); 0 when every episode ran to its end, 1 when one was aborted or e-stopped."""
    from robot.config import ConfigError, parse_overrides
    from robot.errors import CheckpointError, UserError

    if not args.policy and not args.replay:
        return _fail("give --policy <checkpoint> to deploy, or --replay <store.zarr> to replay a recorded run")
    if args.episodes < 1:
        return _fail("--episodes must be >= 1")
    if args.estop_file and Path(args.estop_file).exists():
        return _fail(f"--estop-file {args.estop_file} exists, so the e-stop would fire at once; remove it to arm the run")
    try:
        robot_opts, env_opts = parse_overrides(args.robot_opt), parse_overrides(args.env)
        safety_opts, watchdog_opts = parse_overrides(args.safety), parse_overrides(args.watchdog)
    except ConfigError as e:
        return _fail(str(e))
    if args.port:
        robot_opts.setdefault("port", args.port)
    from robot.cli.liveview import ViewError, check_view_args

    try:  # before anything is created: a store, a window, a connection
        check_view_args(args, interactive=bool(args.intervene))
    except ViewError as e:
        return _fail(str(e))
    if "enabled" in safety_opts:
        return _fail("--safety enabled=...: the safety layer cannot be turned off in robot deploy")
    policy, replay = None, None
    if args.policy:
        from robot.cli.eval_cmd import resolve_checkpoint

        ckpt, run_dir = resolve_checkpoint(args.policy)  # FileNotFoundError: a user error (exit 2)
        if args.robot == "twin":
            _twin_defaults(run_dir, robot_opts, env_opts)
        import torch

        from policies.checkpoint import load_policy

        torch.set_num_threads(max(1, args.torch_threads))

        try:
            policy = load_policy(ckpt)
        except (FileNotFoundError, ValueError) as e:  # CheckpointError, ConfigError
            raise CheckpointError(f"cannot load checkpoint {ckpt}: {e}") from e
    else:
        from robot.cli.deploy_session import load_replay

        try:
            replay = load_replay(args.replay, args.episode)
        except (FileNotFoundError, ValueError, KeyError, IndexError) as e:
            return _fail(str(e))
        robot_opts.setdefault("task", replay.task)
    from hardware.registry import make_robot

    robot = make_robot(args.robot, env=env_opts or None, **robot_opts)  # UnknownNameError, ConfigError: exit 2
    try:
        from robot.cli.deploy_session import DeploySession

        session = DeploySession(args, robot, policy, replay, safety_opts, watchdog_opts)
        problems = session.problems()
        if problems:  # before connect(): nothing has moved
            print("robot deploy: the policy does not fit robot "
                  f"{args.robot!r}; nothing was moved:\n  - " + "\n  - ".join(problems), file=sys.stderr)
            return 2
        try:
            summary = session.run()
        except (ConfigError, ValueError):
            raise
        except UserError as e:  # a wrong or busy --port: nothing moved
            return _fail(f"cannot connect --robot {args.robot}: {e}")
        except Exception as e:  # noqa: BLE001 - a fault mid-run (e.g. the inference worker died)
            log.debug("deploy stopped by an exception", exc_info=True)
            kept = f"; the episode so far is in {args.record}" if args.record else ""
            print(f"robot deploy: the run stopped: {type(e).__name__}: {e}; the body was put in its safe "
                  f"state{kept}", file=sys.stderr)
            return 1
    except (ConfigError, ValueError) as e:
        return _fail(str(e))
    finally:
        close = getattr(robot, "close", None) or robot.disconnect
        close()
    if args.policy:
        summary["policy"] = str(ckpt)  # which checkpoint drove the body (a demo deploys trained or fine-tuned)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "deploy.json").write_text(json.dumps(summary, indent=1))
    lo, hi = summary["ci95_low"], summary["ci95_high"]
    print(f"{summary['task']} on {args.robot}: success {summary['successes']}/{summary['episodes']} = "
          f"{summary['success_rate']:.2f} (95% CI {lo:.2f}-{hi:.2f}); jitter p99 "
          f"{summary['jitter_ms_p99']:.2f} ms, misses {summary['misses']}, clamps {summary['clamps']}")
    for e in summary["per_episode"]:
        if e["reason"]:
            print(f"episode seed={e['seed']}: {e['outcome']}: {e['reason']}", file=sys.stderr)
    print(f"results: {out / 'deploy.json'}")
    return 0 if summary["clean"] else 1
