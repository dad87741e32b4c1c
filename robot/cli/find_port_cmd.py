"""`robot find-port`: see robot/cli/find_cmd.py."""

from robot.cli.find_cmd import add_port_arguments as add_arguments
from robot.cli.find_cmd import run_port as run

__all__ = ["add_arguments", "run"]
