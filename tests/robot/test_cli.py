"""The `robot` command: help lists every registered subcommand and returns fast."""

import subprocess
import sys
import time

from robot.cli import COMMANDS, main


def test_help_lists_every_subcommand():
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "robot.cli", "--help"], capture_output=True, text=True, check=True
    )
    elapsed = time.perf_counter() - start
    for name in COMMANDS:
        assert name in out.stdout
    # Subcommands import torch/mujoco/zarr lazily; help must not pay for them.
    assert elapsed < 10, f"robot --help took {elapsed:.1f}s"


def test_no_subcommand_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out
