"""`robot collect`: record episodes from a teleop device or scripted expert into a Zarr store.

    robot collect --task so101_lift --teleop scripted --episodes 100 --out demos.zarr [--images]
    robot collect --task pusht --teleop keyboard --episodes 5 --out mine.zarr
    robot collect --task so101_lift --teleop keyboard --episodes 5 --out mine.zarr --view rerun --rerun-save s.rrd
    robot collect --task so101_lift --robot so101 --port /dev/ttyACM0 --teleop leader --episodes 20 --out real.zarr

With `--robot` (so101, so100, koch: hardware.registry) the episodes are
recorded on that arm instead of the simulator: joint state and the arm's
cameras (`--robot-opt cameras=...`), every command through the safety layer
(`robot deploy`'s). A physical arm cannot tell success, so the operator's
stop-and-save key ends an episode as a success; `--task` names the task.

Live view (robot/cli/liveview.py): the MuJoCo viewer for interactive devices
when a display exists, a rerun stream on request, and always a status line.

Re-running on an existing store resumes: it appends until the store holds
`--episodes` successful episodes of the task, continuing after the highest
seed recorded. Failed episodes are dropped unless `--keep-failed` (then they
are committed with success=false). Heavy modules are imported inside `run`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from robot.cli.liveview import add_view_arguments
from robot.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `robot collect`."""
    parser.add_argument("--task", required=True, help="task name from sim.registry (e.g. so101_lift, pusht)")
    parser.add_argument("--teleop", default="scripted",
                        help="scripted | keyboard | gamepad | spacemouse | leader (default: scripted)")
    parser.add_argument("--episodes", type=int, default=10, help="successful episodes the store should hold")
    parser.add_argument("--out", required=True, help="Zarr store path (created, or appended to)")
    parser.add_argument("--images", action="store_true", help="record camera images (the task's cameras)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first episode (episode k uses seed+k)")
    parser.add_argument("--realtime", action="store_true",
                        help="run at the task's fps (always on for interactive devices)")
    parser.add_argument("--max-steps", type=int, default=None, help="ticks per episode (default: the task's max_steps)")
    parser.add_argument("--settle-ticks", type=int, default=5, help="ticks recorded after success before ending")
    parser.add_argument("--keep-failed", action="store_true", help="commit failed episodes with success=false")
    parser.add_argument("--max-attempts", type=int, default=None, help="cap on episodes tried (default 3x needed + 10)")
    parser.add_argument("--step-m", type=float, default=None, help="end-effector metres per device unit per tick")
    parser.add_argument("--teleop-opt", action="append", default=[], metavar="KEY=VALUE",
                        help="device option, e.g. tty=/dev/pts/3 or device=/dev/input/event5 (repeatable)")
    parser.add_argument("--env-opt", action="append", default=[], metavar="KEY=VALUE",
                        help="task config override, e.g. randomization.object_pos=0.02 (repeatable)")
    parser.add_argument("--robot", default="",
                        help="record on a physical arm (hardware.registry: so101, so100, koch) instead of the sim")
    parser.add_argument("--port", default="", help="serial port of --robot (same as --robot-opt port=...)")
    parser.add_argument("--robot-opt", action="append", default=[], metavar="KEY=VALUE",
                        help="arm config, e.g. id=follower or cameras={front: {kind: realsense}} (repeatable)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_view_arguments(parser)


def _build_env(task: str, images: bool, env_opts: dict[str, Any]) -> Any:
    from sim.registry import make_env

    overrides = dict(env_opts)
    if not images:
        overrides.setdefault("cameras", ())
    env = make_env(task, overrides or None)
    if images and not env.body_spec.cameras:
        cams = tuple(getattr(env, "camera_names", ()))
        if not cams:
            raise UserError(f"--images given but task {task!r} has no cameras")
        env.close()
        env = make_env(task, {**overrides, "cameras": cams})
    return env


def _build_robot(args: argparse.Namespace) -> Any:
    """The arm of `--robot`, connected; raises ValueError with a message for the user."""
    from hardware.registry import make_robot
    from robot.config import ConfigError, parse_overrides

    if args.teleop == "scripted":
        raise ValueError("--teleop scripted needs the simulator's object poses; on a physical arm record with "
                         "keyboard, gamepad, spacemouse or leader")
    try:
        opts = parse_overrides(args.robot_opt)
        if args.port:
            opts.setdefault("port", args.port)
        arm = make_robot(args.robot, **opts)
    except KeyError as e:
        raise ValueError(str(e.args[0])) from None
    except ConfigError as e:
        raise ValueError(str(e)) from None
    try:
        arm.connect()
    except Exception as e:  # noqa: BLE001 - port missing or busy, calibration, servo not answering
        raise ValueError(f"cannot connect --robot {args.robot}: {e}") from None
    return arm


def _close(body: Any) -> None:
    """Close a sim env or disconnect an arm."""
    close = getattr(body, "close", None)
    if callable(close):
        close()
    else:
        body.disconnect()


def _arm_safety(arm: Any) -> list[Any]:
    """The safety layer `robot deploy` puts between every source and the arm, with the arm's defaults."""
    from robot.runtime.safety import SafetyConfig, SafetyLayer

    get_cfg = getattr(arm, "safety_config", None)
    fk = getattr(arm, "forward_kinematics", None)
    return [SafetyLayer(arm.body_spec, get_cfg() if callable(get_cfg) else SafetyConfig(),
                        fps=arm.body_spec.fps, fk=fk if callable(fk) else None)]


def store_keys(body_spec: Any) -> tuple[list[str], dict[str, Any]]:
    """(observation keys to record, store key -> ArraySpec) for a body: its observations, action, timestamp."""
    from robot import keys as K
    from robot.specs import ArraySpec

    obs_keys = [k for k in body_spec.observations if k == K.STATE or K.is_image_key(k)]
    specs = {k: body_spec.observations[k] for k in obs_keys}
    specs[K.ACTION] = body_spec.action
    specs[K.TIMESTAMP] = ArraySpec((), "float64", "s")
    return obs_keys, specs


def resume_point(store: Any, task: str, seed: int) -> tuple[int, int]:
    """(successful episodes of `task` already stored, first seed to use)."""
    metas = [m for m in store.all_meta() if m.get("task") == task]
    done = sum(1 for m in metas if m.get("success"))
    seeds = [int(m["seed"]) for m in metas if isinstance(m.get("seed"), int)]
    return done, max([seed, *(s + 1 for s in seeds)])


def run(args: argparse.Namespace) -> int:
    """Collect episodes; exit 0 when the store holds the requested successes, 1 otherwise."""
    from data import DataError, EpisodeStore
    from hardware.teleop import INTERACTIVE, TELEOPS, make_teleop
    from robot.cli.liveview import ViewError, check_view_args, describe, make_observers
    from robot.config import parse_overrides
    from robot.progress import progress
    from robot.runtime import ControlLoop, LoopConfig, StoreRecorder, collect
    from robot.runtime.observers import close_all

    if args.teleop not in TELEOPS:
        print(f"robot collect: unknown --teleop {args.teleop!r}; choose from {', '.join(TELEOPS)}", file=sys.stderr)
        return 2
    if args.episodes < 1:
        print("robot collect: --episodes must be >= 1", file=sys.stderr)
        return 2
    interactive = args.teleop in INTERACTIVE
    try:
        check_view_args(args, interactive)  # before a store or a window exists
    except ViewError as e:
        print(f"robot collect: {e}", file=sys.stderr)
        return 2
    if args.robot:
        try:
            env = _build_robot(args)
        except ValueError as e:
            print(f"robot collect: {e}", file=sys.stderr)
            return 2
    else:
        # an unknown task or a wrong --env-opt raises a UserError: robot.cli.main prints it (exit 2)
        env = _build_env(args.task, args.images, parse_overrides(args.env_opt))
    try:  # a wrong --teleop-opt is refused before the store is created
        teleop = make_teleop(args.teleop, env, task=args.task, seed=args.seed, step_m=args.step_m,
                             options=parse_overrides(args.teleop_opt))
    except BaseException:
        _close(env)
        raise
    spec = env.body_spec
    obs_keys, specs = store_keys(spec)
    try:
        store = EpisodeStore.open_or_create(args.out, fps=spec.fps, keys=specs,
                                            robot=args.robot or getattr(env, "robot", ""))
    except DataError as e:
        print(f"robot collect: {e}", file=sys.stderr)
        _close(env)
        return 2
    done, first_seed = resume_point(store, args.task, args.seed)
    if done >= args.episodes:
        print(f"{args.out} already holds {done} successful {args.task} episodes (>= {args.episodes}); nothing to do")
        _close(env)
        return 0
    max_steps = args.max_steps or int(getattr(getattr(env, "config", None), "max_steps", 0) or 600)
    # A source without buttons (leader arm with no event keyboard) cannot press start.
    wait = interactive and bool(getattr(teleop, "has_events", True))
    cfg = LoopConfig(realtime=args.realtime or interactive or bool(args.robot), max_steps=max_steps,
                     settle_ticks=args.settle_ticks, wait_for_start=wait, operator_judges_success=bool(args.robot))
    recorder = StoreRecorder(store, obs_keys, keep_failed=args.keep_failed)
    try:
        observers = make_observers(args, env, total=args.episodes, done=done, interactive=interactive)
    except ViewError as e:
        print(f"robot collect: {e}", file=sys.stderr)
        _close(env)
        return 2
    if not interactive and not args.no_progress and not sys.stderr.isatty():
        # In a log, two event lines per episode (400 for `robot demo`) drown the run; the progress
        # lines below (every 5%, with tried/failed/discarded counts) say the same.
        from robot.runtime.status import StatusLine

        observers = [o for o in observers if not isinstance(o, StatusLine)]
    loop = ControlLoop(env, teleop, recorder, cfg, task=args.task, observers=observers,
                       source_kind="scripted" if args.teleop == "scripted" else "teleop",
                       action_filters=_arm_safety(env) if args.robot else ())
    if interactive:
        print(f"recording {args.task} at {spec.fps:g} Hz with {args.teleop}; start each episode with the "
              "device's start button (keyboard: Enter)", file=sys.stderr)
        if args.teleop == "keyboard":
            from hardware.teleop.keyboard import help_text

            print(help_text(), file=sys.stderr)
        print(describe(observers, args), file=sys.stderr)
        if args.view == "auto" and not os.environ.get("DISPLAY"):
            print("no display (DISPLAY unset): watch in rerun with --rerun-connect HOST:PORT or --rerun-save run.rrd",
                  file=sys.stderr)

    # On a terminal the status line (episode k of n, saved so far) replaces the progress bar.
    bar = progress(total=args.episodes, initial=done, desc=f"collect {args.task}", unit="ep",
                   disable=args.no_progress or sys.stderr.isatty())

    def on_episode(result: Any, summary: Any) -> None:
        bar.n = summary.successes
        bar.set_postfix(tried=summary.attempts, failed=summary.failed, discarded=summary.discarded,
                        last=result.outcome.value, steps=result.steps)

    try:
        teleop.connect()
    except (OSError, RuntimeError, ImportError) as e:
        print(f"robot collect: cannot connect --teleop {args.teleop}: {e}", file=sys.stderr)
        close_all(observers)
        _close(env)
        return 2
    try:
        summary = collect(loop, args.episodes, already_successful=done, first_seed=first_seed,
                          max_attempts=args.max_attempts, on_episode=on_episode)
    finally:
        recorder.finish(save=False, success=False)  # drops an episode cut short by Ctrl-C
        teleop.disconnect()
        close_all(observers)
        bar.close()
        _close(env)
    report = {"store": str(args.out), "task": args.task, "teleop": args.teleop,
              "episodes_in_store": store.num_episodes, **summary.to_dict()}
    print(json.dumps(report))
    if summary.successes < args.episodes:
        why = "quit by the operator" if summary.quit else f"gave up after {summary.attempts} attempts"
        print(f"robot collect: {summary.successes}/{args.episodes} successful episodes ({why}); "
              "re-run the same command to resume", file=sys.stderr)
        return 1
    return 0
