"""`robot find-cameras`: see robot/cli/find_cmd.py."""

from robot.cli.find_cmd import add_camera_arguments as add_arguments
from robot.cli.find_cmd import run_cameras as run

__all__ = ["add_arguments", "run"]
