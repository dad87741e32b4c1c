"""`robot collect --teleop keyboard` on a real pseudo-terminal: the status line and operator events.

The scenario of issue #14: an operator starts an episode, drives, presses `k`
after some ticks, and must learn at once that the episode was not saved and
why. The CLI runs as a child whose stdin, stdout and stderr are the pty.
"""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLEAR_LINE = "\r\x1b[K"


class Terminal:
    """The operator's side of the pty: type keys, wait for text."""

    def __init__(self, master: int):
        self.master, self.out = master, ""

    def read_until(self, pattern: str, timeout: float = 60.0) -> re.Match:
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(pattern, self.out)
            if m:
                return m
            left = deadline - time.monotonic()
            assert left > 0, f"no {pattern!r} within {timeout} s; terminal shows:\n{self.out[-3000:]}"
            ready, _, _ = select.select([self.master], [], [], min(left, 0.2))
            if ready:
                try:
                    self.out += os.read(self.master, 65536).decode("utf-8", errors="replace")
                except OSError:  # the child closed the terminal
                    pass

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())


def test_status_line_and_events_on_a_terminal(pty_pair, tmp_path):
    master, name = pty_pair
    slave = os.open(name, os.O_RDWR)
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("DISPLAY", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "robot.cli", "collect", "--task", "so101_lift", "--teleop", "keyboard",
         "--episodes", "1", "--out", str(tmp_path / "mine.zarr"), "--max-steps", "2000"],
        cwd=ROOT, env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    term = Terminal(master)
    try:
        term.read_until(r"waiting for the operator to start \(seed 0\)")
        assert re.search(r"k\s+stop and SAVE", term.out) and re.search(r"x\s+stop and DISCARD", term.out)
        assert "no display (DISPLAY unset): watch in rerun" in term.out
        term.type("\r")  # Enter: start recording
        term.read_until(r"episode started \(seed 0\): recording")
        # The status line is redrawn in place while the episode runs.
        term.read_until(re.escape(CLEAR_LINE) + r"ep 1/1  REC  try 1  seed 0  tick [1-9]\d*  [\d.]+ s  teleop  "
                        r"gripper closed \d+%  ee \[[+-]\d\.\d{3} [+-]\d\.\d{3} [+-]\d\.\d{3}\] m  success no  saved 0/1")
        term.type(" ")  # the arm starts with the gripper shut: space opens it fully
        term.read_until(r"gripper open 100%")
        term.type("k")  # stop: not a success, so not saved, and the operator is told why
        m = term.read_until(r"\[ep 1/1\] stopped by the operator after (\d+) ticks: not saved "
                            r"\(not a success: pass --keep-failed to keep it\)")
        assert int(m.group(1)) > 0
        term.read_until(r"waiting for the operator to start \(seed 1\)")
        term.type("q")
        term.read_until(r"quit by the operator")
        assert proc.wait(timeout=30) == 1  # 0/1 successful episodes
        redraws = term.out.count(CLEAR_LINE)
        assert redraws >= 5
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
