"""A one-line terminal status for the operator, as a loop observer.

On a terminal the line is redrawn in place (carriage return + clear to end of
line), at most `refresh_hz` times a second so a 100 Hz loop does not spend its
time writing to the tty:

    ep 2/5  REC  try 3  seed 2  tick 87  2.9 s  teleop  gripper closed 0%  ee [+0.212 -0.031 +0.064] m  success no  saved 1/5

("ep 2/5": the second of five successful episodes wanted is being worked on;
"try 3": the third episode of this session.)

Operator events (started, saved, discarded and why, intervention) are printed
as their own lines above it as they happen. When the stream is not a terminal
(a log file, a pipe) nothing is redrawn: each event is one plain line.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import IO, Any

import numpy as np

from robot.interfaces import Observation

CLEAR_LINE = "\r\x1b[K"
GRIPPER_OPEN_ABOVE = 0.2
"""Commanded opening (fraction of the gripper's range) above which the status says "open"."""


def gripper_opening(action: np.ndarray, names: tuple[str, ...], low: tuple[float, ...],
                    high: tuple[float, ...]) -> float | None:
    """Commanded gripper opening in [0, 1] (0 closed, 1 open; upper bound = open), None without a gripper."""
    if "gripper" not in names or not low or not high:
        return None
    i = names.index("gripper")
    lo, hi = low[i], high[i]
    if not np.isfinite(hi - lo) or hi <= lo:
        return None
    return float(np.clip((float(action[i]) - lo) / (hi - lo), 0.0, 1.0))


class StatusLine:
    """Episode k of n, recording or waiting, ticks and seconds, gripper, end-effector, success so far.

    stream: where to write (default sys.stderr); `tty` overrides its isatty().
    total: episodes wanted (the n of "k of n"); `done` those already stored.
    count_all: count every finished episode (deploy, eval), not only saved successes (collection).
    body_spec: gives the action names and bounds (gripper opening).
    ee_position: callable returning the end-effector position (3,) m, or None
      when the body does not offer one.
    clock: time source for the refresh limit (injected in tests).
    """

    def __init__(self, *, total: int = 0, done: int = 0, count_all: bool = False, body_spec: Any = None,
                 ee_position: Callable[[], np.ndarray | None] | None = None,
                 stream: IO[str] | None = None, tty: bool | None = None, refresh_hz: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.total = total
        self.saved_ok = done
        self.count_all = count_all  # deploy / eval: every episode counts, not only saved successes
        self.episode = 0
        self.body_spec = body_spec
        self.ee_position = ee_position
        self.refresh_s = 1.0 / refresh_hz if refresh_hz > 0 else 0.0
        self._clock = clock
        self._last_draw = -float("inf")
        self.state = "WAIT"
        self.seed: int | None = None
        self.ticks = 0
        self.seconds = 0.0
        self.source = ""
        self.gripper: float | None = None
        self.ee: np.ndarray | None = None
        self.success = False
        self.lines_drawn = 0

    def on_episode_start(self, obs: Observation, info: Any) -> None:
        """A new episode is recording."""
        self.episode += 1
        self.state, self.seed, self.ticks, self.seconds, self.success = "REC", info.seed, 0, 0.0, False
        self._draw(force=True)

    def on_tick(self, obs: Observation, action_sent: np.ndarray, step: Any, timing: Any, source_label: str) -> None:
        """Update the counters; redraw at most `refresh_hz` times a second."""
        self.ticks += 1
        self.seconds += timing.period if timing.period > 0 else 0.0
        self.source = source_label
        self.success = self.success or bool(step.success)
        spec = self.body_spec
        if spec is not None:
            self.gripper = gripper_opening(action_sent, spec.action.names, spec.action_low, spec.action_high)
        if self.tty:
            self._draw()

    def on_episode_end(self, result: Any) -> None:
        """Count saved successes; back to waiting."""
        if self.count_all or (result.saved and result.success):
            self.saved_ok += 1
        self.state = "WAIT"
        self._draw(force=True)

    def on_event(self, text: str) -> None:
        """Print the event as its own line (above the status line on a terminal)."""
        if text.startswith("waiting"):
            self.state = "WAIT"
        if self.tty:
            self.stream.write(f"{CLEAR_LINE}{self._prefix()}{text}\n")
            self._draw(force=True)
        else:
            self.stream.write(f"{self._prefix()}{text}\n")
            self.stream.flush()

    def close(self) -> None:
        """End the status line with a newline so the shell prompt starts clean."""
        if self.tty and self.lines_drawn:
            self.stream.write("\n")
            self.stream.flush()

    def _episode_label(self) -> str:
        """'ep k/n': k is the successful episode being worked on (saved so far + 1), n the target."""
        if not self.total:
            return f"ep {max(self.episode, 1)}"
        return f"ep {min(self.saved_ok + 1, self.total)}/{self.total}"

    def _prefix(self) -> str:
        return f"[{self._episode_label()}] "

    def text(self) -> str:
        """The status line's content (without terminal control codes)."""
        parts = [self._episode_label(), self.state]
        if self.total:
            parts.append(f"try {max(self.episode, 1)}")
        if self.seed is not None:
            parts.append(f"seed {self.seed}")
        parts += [f"tick {self.ticks}", f"{self.seconds:.1f} s"]
        if self.source:
            parts.append("INTERVENTION" if self.source == "intervention" else self.source)
        if self.gripper is not None:
            word = "open" if self.gripper >= GRIPPER_OPEN_ABOVE else "closed"
            parts.append(f"gripper {word} {100 * self.gripper:.0f}%")
        if self.ee_position is not None:
            ee = self.ee_position()
            if ee is not None:
                parts.append("ee [" + " ".join(f"{v:+.3f}" for v in np.asarray(ee)[:3]) + "] m")
        parts.append(f"success {'yes' if self.success else 'no'}")
        if self.total:
            parts.append(f"saved {self.saved_ok}/{self.total}")
        return "  ".join(parts)

    def _draw(self, force: bool = False) -> None:
        if not self.tty:
            return
        now = self._clock()
        if not force and now - self._last_draw < self.refresh_s:
            return
        self._last_draw = now
        self.stream.write(CLEAR_LINE + self.text())
        self.stream.flush()
        self.lines_drawn += 1
