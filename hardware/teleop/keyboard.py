"""Keyboard teleop over a terminal: no display, works over ssh.

A reader thread puts the tty in cbreak mode (keys arrive one by one, no echo,
Ctrl-C still interrupts), waits on the fd with `select` and queues each key.
A terminal has no key-up events, so every key press is one step: holding a
key moves at the terminal's auto-repeat rate (about 30 Hz after a 0.5 s delay).

Default keys (`KeyboardConfig.keymap` changes them):

    w / s  +x / -x      a / d  +y / -y      r / f  +z / -z
    space  toggle gripper (open <-> closed)
    Enter  start recording        k  stop and save
    x      discard and re-record  i  intervene (take over)   q  quit
"""

from __future__ import annotations

import os
import queue
import select
import sys
import termios
import threading
import tty
from dataclasses import dataclass, field

from hardware.teleop.base import DeviceReading
from robot.interfaces import TeleopEvent

_AXES = {"+x": (0, 1.0), "-x": (0, -1.0), "+y": (1, 1.0), "-y": (1, -1.0), "+z": (2, 1.0), "-z": (2, -1.0)}
_EVENTS = {
    "start": TeleopEvent.START,
    "stop": TeleopEvent.STOP,
    "discard": TeleopEvent.DISCARD,
    "intervene": TeleopEvent.INTERVENE,
    "quit": TeleopEvent.QUIT,
}
ACTIONS = (*_AXES, "gripper", *_EVENTS)

DEFAULT_KEYMAP: dict[str, str] = {
    "w": "+x", "s": "-x", "a": "+y", "d": "-y", "r": "+z", "f": "-z",
    " ": "gripper",
    "\r": "start", "\n": "start", "k": "stop", "x": "discard", "i": "intervene", "q": "quit",
}


@dataclass(frozen=True)
class KeyboardConfig:
    """tty: terminal device to read ('' = this process's stdin); keymap: key -> action name."""

    tty: str = ""
    keymap: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_KEYMAP))
    gripper_open_at_start: bool = True

    def __post_init__(self) -> None:
        for key, action in self.keymap.items():
            if len(key) != 1:
                raise ValueError(f"keyboard keymap: key {key!r} must be one character")
            if action not in ACTIONS:
                raise ValueError(f"keyboard keymap: {key!r} -> {action!r}; valid actions: {', '.join(ACTIONS)}")


class KeyboardDevice:
    """Reads key presses from a terminal fd on a thread; `read()` drains them into a reading."""

    def __init__(self, config: KeyboardConfig | None = None) -> None:
        self.config = config or KeyboardConfig()
        self._fd: int | None = None
        self._owns_fd = False
        self._saved_mode: list | None = None
        self._keys: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._gripper_open = self.config.gripper_open_at_start

    def connect(self) -> None:
        """Open the tty, switch it to cbreak mode and start the reader thread."""
        if self._thread is not None:
            return
        if self.config.tty:
            self._fd = os.open(self.config.tty, os.O_RDONLY | os.O_NOCTTY)
            self._owns_fd = True
        else:
            if not sys.stdin.isatty():
                raise RuntimeError("keyboard teleop needs a terminal: run it in a terminal or set teleop tty=/dev/pts/N")
            self._fd = sys.stdin.fileno()
        if os.isatty(self._fd):
            self._saved_mode = termios.tcgetattr(self._fd)
            tty.setcbreak(self._fd, termios.TCSANOW)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="keyboard-teleop", daemon=True)
        self._thread.start()

    def disconnect(self) -> None:
        """Stop the thread and restore the terminal mode."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
            self._thread = None
        if self._fd is not None:
            if self._saved_mode is not None:
                termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved_mode)
                self._saved_mode = None
            if self._owns_fd:
                os.close(self._fd)
            self._fd = None

    def _run(self) -> None:
        assert self._fd is not None
        while not self._stop.is_set():
            ready, _, _ = select.select([self._fd], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(self._fd, 64)
            except OSError:  # the terminal went away (pty closed)
                return
            if not data:
                return
            for ch in data.decode("utf-8", errors="ignore"):
                self._keys.put(ch)

    def read(self) -> DeviceReading:
        """All key presses since the last read: summed steps, gripper state, events."""
        reading = DeviceReading()
        while True:
            try:
                ch = self._keys.get_nowait()
            except queue.Empty:
                break
            action = self.config.keymap.get(ch) or self.config.keymap.get(ch.lower())
            if action is None:
                continue
            if action in _AXES:
                axis, sign = _AXES[action]
                reading.translation[axis] += sign
            elif action == "gripper":
                self._gripper_open = not self._gripper_open
                reading.gripper = 1.0 if self._gripper_open else 0.0
            else:
                reading.events.add(_EVENTS[action])
        return reading

    def reset_gripper(self, opening: float) -> None:
        """Sync the toggle state with the gripper (opening in [0, 1])."""
        self._gripper_open = opening >= 0.5


ACTION_HELP: dict[str, str] = {
    "+x": "end-effector forward (+x)", "-x": "end-effector back (-x)",
    "+y": "end-effector left (+y)", "-y": "end-effector right (-y)",
    "+z": "end-effector up (+z)", "-z": "end-effector down (-z)",
    "gripper": "toggle the gripper (open <-> closed)",
    "start": "start recording the episode",
    "stop": "stop and SAVE (saved when a success; failures only with --keep-failed)",
    "discard": "stop and DISCARD, then re-record the same scene",
    "intervene": "take over from the policy / hand back (deploy)",
    "quit": "quit (the episode being recorded is dropped)",
}
"""What each action does, as the key map printed at start says it."""


def help_text(keymap: dict[str, str] | None = None) -> str:
    """One line per action: its keys and what it does (which keys save, which discard)."""
    keymap = DEFAULT_KEYMAP if keymap is None else keymap
    names = {" ": "space", "\r": "Enter", "\n": "Enter"}
    lines = []
    for action in ACTIONS:
        keys = sorted({names.get(k, k) for k, a in keymap.items() if a == action})
        if keys:
            lines.append(f"  {'/'.join(keys):>8}  {ACTION_HELP[action]}")
    return "\n".join(lines)
