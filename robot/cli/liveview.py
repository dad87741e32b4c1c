"""Live-view flags shared by `robot collect`, `robot eval --view` and `robot deploy`.

    --view auto|viewer|rerun|none   auto: the MuJoCo viewer for an interactive
                                    device when a display exists, else none
    --rerun-save run.rrd            write the rerun stream to a file
    --rerun-connect HOST:PORT       stream to a running rerun viewer (`rerun`, port 9876)
    --rerun-images-every N          log camera images every N ticks (default 1)

A command wires them in with two lines:

    add_view_arguments(parser)                                  # in add_arguments
    observers = make_observers(args, env_or_robot, total=n)     # in run; pass to ControlLoop(observers=...)

and closes them with `robot.runtime.observers.close_all(observers)`. The
terminal status line is always on (in place on a tty, event lines otherwise).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from robot.errors import UserError

VIEWS = ("auto", "viewer", "rerun", "none")


class ViewError(UserError, ValueError):
    """A live-view flag the user got wrong, or a view that cannot open here (exit 2, one line)."""


def add_view_arguments(parser: argparse.ArgumentParser, default: str = "auto") -> None:
    """The live-view flags (see the module docstring)."""
    parser.add_argument("--view", default=default, choices=VIEWS,
                        help="live view: MuJoCo viewer (needs a display), rerun stream, none; auto = viewer for "
                             f"interactive devices when DISPLAY is set (default: {default})")
    parser.add_argument("--rerun-save", default=None, metavar="PATH.rrd",
                        help="save the rerun stream to this file (implies --view rerun)")
    parser.add_argument("--rerun-connect", default=None, metavar="HOST:PORT",
                        help="stream to a running rerun viewer, e.g. 127.0.0.1:9876 (implies --view rerun)")
    parser.add_argument("--rerun-images-every", type=int, default=1, metavar="N",
                        help="log camera images every N ticks in the rerun stream (default 1)")


def ee_position_of(body: Any) -> Any:
    """A callable returning the body's end-effector position (3,) m, or None when it has none (`ee_pos`)."""
    if not hasattr(type(body), "ee_pos") and not hasattr(body, "ee_pos"):
        return None
    return lambda: getattr(body, "ee_pos", None)


def resolve_view(args: argparse.Namespace, interactive: bool) -> str:
    """The view to open: 'viewer', 'rerun' or 'none' (rerun flags imply rerun; auto picks by display)."""
    view = getattr(args, "view", "none")
    wants_rerun = bool(getattr(args, "rerun_save", None) or getattr(args, "rerun_connect", None))
    if view == "rerun" and not wants_rerun:
        raise ViewError("--view rerun needs a destination: --rerun-save run.rrd (a file to open with "
                        "`rerun run.rrd`) or --rerun-connect HOST:PORT (a running `rerun` viewer)")
    if view == "auto":
        if wants_rerun:
            return "rerun"
        return "viewer" if interactive and os.environ.get("DISPLAY") else "none"
    if view == "viewer" and wants_rerun:
        return "viewer+rerun"
    if view == "none" and wants_rerun:
        raise ViewError("--view none contradicts --rerun-save/--rerun-connect; drop one of them")
    return view


def check_view_args(args: argparse.Namespace, interactive: bool) -> str:
    """Validate the view flags before anything is created (a store, a window); returns the resolved view."""
    from sim.viewer import NO_DISPLAY

    if getattr(args, "rerun_images_every", 1) < 1:
        raise ViewError("--rerun-images-every must be >= 1")
    view = resolve_view(args, interactive)
    if "viewer" in view and not os.environ.get("DISPLAY"):
        raise ViewError(NO_DISPLAY)
    return view


def make_observers(args: argparse.Namespace, body: Any, *, total: int = 0, done: int = 0,
                   interactive: bool = False, stream: Any = None, count_all: bool = False) -> list[Any]:
    """Status line plus the requested live view (viewer and/or rerun) for `body` (Env or Robot).

    Raises ViewError with a message for the user when a flag is wrong or the
    viewer cannot open (no display: it suggests rerun).
    """
    from robot.runtime.status import StatusLine

    view = check_view_args(args, interactive)
    ee = ee_position_of(body)
    observers: list[Any] = []
    if "viewer" in view:
        from sim.viewer import MujocoViewer, ViewerUnavailable

        try:
            observers.append(MujocoViewer(body))
        except ViewerUnavailable as e:
            if getattr(args, "view", "") != "auto":
                raise ViewError(str(e)) from None
            # auto: the view was not asked for by name, so collecting goes on without it
            print(f"live view: no MuJoCo viewer: {e}", file=stream if stream is not None else sys.stderr)
    if "rerun" in view:
        from robot.runtime.rerun_log import RerunLogger, open_recording

        try:
            rec = open_recording(f"robot_{body.body_spec.name}", save=args.rerun_save, connect=args.rerun_connect)
        except (ImportError, ValueError, OSError) as e:  # OSError: ConnectionError, unwritable .rrd
            _close(observers)
            raise ViewError(str(e)) from None
        observers.append(RerunLogger(rec, body.body_spec, ee_position=ee, image_every=args.rerun_images_every))
    observers.append(StatusLine(total=total, done=done, count_all=count_all, body_spec=body.body_spec, ee_position=ee,
                                stream=stream if stream is not None else sys.stderr))
    return observers


def describe(observers: list[Any], args: argparse.Namespace) -> str:
    """One line telling the operator where to look."""
    parts = []
    for o in observers:
        name = type(o).__name__
        if name == "MujocoViewer":
            parts.append(f"MuJoCo viewer on DISPLAY={os.environ.get('DISPLAY')}")
        elif name == "RerunLogger":
            if args.rerun_save:
                parts.append(f"rerun stream saved to {args.rerun_save} (open it with `rerun {args.rerun_save}`)")
            if args.rerun_connect:
                parts.append(f"rerun stream sent to {args.rerun_connect}")
    return "live view: " + ("; ".join(parts) if parts else "status line only (--view viewer|rerun for more)")


def _close(observers: list[Any]) -> None:
    from robot.runtime.observers import close_all

    close_all(observers)
