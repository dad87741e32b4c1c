"""The `robot` command: one subcommand per module, imported only when used.

Each subcommand module defines `add_arguments(parser)` and `run(args) -> int`.
Add a row to COMMANDS to register one.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback

COMMANDS: dict[str, tuple[str, str]] = {
    # name: (module, one-line help)
    "data": ("robot.cli.data_cmd", "inspect, check, merge and split Zarr episode stores"),
    "collect": ("robot.cli.collect_cmd", "record episodes from a teleop device or scripted expert"),
    "preview": ("robot.cli.preview_cmd", "write mp4 previews of recorded episodes"),
    "train": ("robot.cli.train_cmd", "train a diffusion / flow / VLA policy on a store"),
    "eval": ("robot.cli.eval_cmd", "evaluate a policy checkpoint in simulation"),
    "deploy": ("robot.cli.deploy_cmd", "run a policy on a robot body (the MuJoCo twin) in real time, safely"),
    "finetune": ("robot.cli.finetune_cmd", "RL fine-tuning of a trained policy in sim (residual PPO, noise steering)"),
    "demo": ("robot.cli.demo_cmd", "the main job: collect, train, evaluate, fine-tune and deploy on the default task"),
    "find-port": ("robot.cli.find_port_cmd", "find the serial port of an arm (unplug it when asked)"),
    "find-cameras": ("robot.cli.find_cameras_cmd", "list connected OpenCV and RealSense cameras"),
    "serve": ("robot.cli.serve_cmd", "serve a policy checkpoint to remote robots over websockets"),
}


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (`robot train: ...`) instead of usage plus error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


DEBUG_HELP = "on an error, print the Python traceback too (also: ROBOT_DEBUG=1)"


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every registered subcommand."""
    parser = _Parser(prog="robot", description="Robot learning stack.")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        sp.set_defaults(_module=module)
        # Also after the subcommand (`robot train ... --debug`); SUPPRESS keeps a flag given before it.
        sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise
            continue
        mod.add_arguments(sp)
    return parser


def is_user_error(exc: BaseException) -> bool:
    """Whether `exc` is a mistake the user can fix (exit 2, one line) rather than a bug (exit 1).

    UserError covers ConfigError, data.StoreError, UnknownNameError and
    CheckpointError; a missing or unreadable path the user named is one too.
    """
    from robot.errors import UserError

    return isinstance(exc, (UserError, FileNotFoundError, NotADirectoryError, IsADirectoryError,
                            FileExistsError, PermissionError))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `robot` console script.

    Exit codes: 0 success, 1 a failed run or an internal error, 2 a user mistake
    (one line on stderr, no traceback unless --debug), 130 Ctrl-C.
    """
    import os

    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    if unknown:
        print(f"robot {args.command}: {_unknown_options(parser, args.command, unknown)}", file=sys.stderr)
        return 2
    debug = bool(getattr(args, "debug", False)) or os.environ.get("ROBOT_DEBUG", "") not in ("", "0")
    if debug:
        import logging

        logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
        for package in ("robot", "data", "sim", "policies", "hardware"):  # ours, not every library's
            logging.getLogger(package).setLevel(logging.DEBUG)
    try:
        mod = importlib.import_module(args._module)
        return int(mod.run(args) or 0)
    except KeyboardInterrupt:
        print(f"robot {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - the one place every error reaches the user
        user = is_user_error(e)
        if debug:
            traceback.print_exc()
        if user:
            print(f"robot {args.command}: {_message(e)}", file=sys.stderr)
            return 2
        hint = "" if debug else " (run with --debug for the traceback)"
        print(f"robot {args.command}: internal error: {type(e).__name__}: {_message(e)}{hint}", file=sys.stderr)
        return 1


def _unknown_options(parser: argparse.ArgumentParser, command: str, unknown: list[str]) -> str:
    """One line for arguments no option takes; for a `--section.key=value` it names the closest keys."""
    import difflib

    first = unknown[0]
    if first.startswith("--") and "." in first.split("=", 1)[0]:
        key = first[2:].split("=", 1)[0]
        sub = next(a for a in parser._subparsers._group_actions if isinstance(a, argparse._SubParsersAction))
        known = [o[2:] for o in sub.choices[command]._option_string_actions if o.startswith("--") and "." in o]
        close = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join('--' + c for c in close)}?" if close else ""
        return (f"unknown config key --{key}{hint} (`robot {command} --help` lists the keys and their types)")
    return f"unrecognized arguments: {' '.join(unknown)} (see `robot {command} --help`)"


def _message(exc: BaseException) -> str:
    """One line: the error's message (a KeyError's without its quotes), or its type."""
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}"
    text = " ".join(text.split()) if "\n" not in text.strip() else text.strip()
    return text or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
