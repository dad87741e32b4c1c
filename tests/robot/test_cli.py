"""The `robot` command: help lists every registered subcommand and returns fast."""

import subprocess
import sys

from robot.cli import COMMANDS, main


def test_help_lists_every_subcommand():
    # Subcommands import torch/mujoco/zarr lazily; help must not pay for them. Checked by what
    # `--help` imported, not by wall time, which a loaded machine makes meaningless.
    probe = ("import sys\nfrom robot.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
             "print('HEAVY', sorted(m for m in ('torch', 'mujoco', 'zarr', 'diffusers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    for name in COMMANDS:
        assert name in out.stdout
    assert "HEAVY []" in out.stdout, out.stdout.splitlines()[-1]
    ran = subprocess.run([sys.executable, "-m", "robot.cli", "--help"], capture_output=True, text=True, check=True)
    assert all(name in ran.stdout for name in COMMANDS)


def test_no_subcommand_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out
