"""The `robot` command: one subcommand per module, imported only when used.

Each subcommand module defines `add_arguments(parser)` and `run(args) -> int`.
Add a row to COMMANDS to register one.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    # name: (module, one-line help)
    "data": ("robot.cli.data_cmd", "inspect, check, merge and split Zarr episode stores"),
    "collect": ("robot.cli.collect_cmd", "record episodes from a teleop device or scripted expert"),
    "preview": ("robot.cli.preview_cmd", "write mp4 previews of recorded episodes"),
    "train": ("robot.cli.train_cmd", "train a diffusion / flow / VLA policy on a store"),
    "eval": ("robot.cli.eval_cmd", "evaluate a policy checkpoint in simulation"),
    "deploy": ("robot.cli.deploy_cmd", "run a policy on a robot body (the MuJoCo twin) in real time, safely"),
    "finetune": ("robot.cli.finetune_cmd", "RL fine-tuning of a trained policy in sim (residual PPO, noise steering)"),
    "demo": ("robot.cli.demo_cmd", "the main job: collect, train and evaluate on the default task"),
    "find-port": ("robot.cli.find_port_cmd", "find the serial port of an arm (unplug it when asked)"),
    "find-cameras": ("robot.cli.find_cameras_cmd", "list connected OpenCV and RealSense cameras"),
    "serve": ("robot.cli.serve_cmd", "serve a policy checkpoint to remote robots over websockets"),
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every registered subcommand."""
    parser = argparse.ArgumentParser(prog="robot", description="Robot learning stack.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        sp.set_defaults(_module=module)
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise
            continue
        mod.add_arguments(sp)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `robot` console script."""
    from robot.config import ConfigError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    mod = importlib.import_module(args._module)
    try:
        return int(mod.run(args) or 0)
    except ConfigError as e:
        print(f"robot {args.command}: config error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"robot {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
