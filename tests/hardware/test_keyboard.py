"""Keyboard teleop through a real pseudo-terminal: keys written to the pty master."""

from __future__ import annotations

import os
import termios
import time

import numpy as np
import pytest

from hardware.teleop.keyboard import KeyboardConfig, KeyboardDevice
from robot.interfaces import TeleopEvent


def read_until(device, predicate, timeout=30.0):
    """Merge readings until `predicate(merged)` holds (the reader thread needs a moment; the
    generous timeout only matters on a stalled machine, a passing test returns at once)."""
    total = np.zeros(3)
    events, gripper = set(), None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = device.read()
        total += r.translation
        events |= r.events
        gripper = r.gripper if r.gripper is not None else gripper
        if predicate(total, events, gripper):
            break
        time.sleep(0.01)
    return total, events, gripper


def test_keys_on_a_pty_become_steps_gripper_and_events(pty_pair):
    master, name = pty_pair
    dev = KeyboardDevice(KeyboardConfig(tty=name))
    dev.connect()
    try:
        lflag = termios.tcgetattr(dev._fd)[3]
        assert not lflag & termios.ICANON and not lflag & termios.ECHO  # cbreak: key by key, no echo
        os.write(master, b"wwdr \rzq")  # 'z' is unmapped and ignored
        total, events, gripper = read_until(dev, lambda t, e, g: TeleopEvent.QUIT in e)
        assert total.tolist() == [2.0, -1.0, 1.0]
        assert events == {TeleopEvent.START, TeleopEvent.QUIT}
        assert gripper == 0.0  # starts open, space toggles to closed
        os.write(master, b"xki")
        _, events, _ = read_until(dev, lambda t, e, g: len(e) == 3)
        assert events == {TeleopEvent.DISCARD, TeleopEvent.STOP, TeleopEvent.INTERVENE}
        assert dev.read().is_idle
    finally:
        dev.disconnect()
    # The terminal mode is restored on disconnect.
    slave_fd = os.open(name, os.O_RDONLY | os.O_NOCTTY)
    try:
        assert termios.tcgetattr(slave_fd)[3] & termios.ICANON
    finally:
        os.close(slave_fd)


def test_keymap_rejects_unknown_actions():
    with pytest.raises(ValueError, match="fly"):
        KeyboardConfig(keymap={"w": "fly"})
