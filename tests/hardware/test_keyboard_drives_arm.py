"""Keyboard teleop drives the real SO-101 MuJoCo task through a pty and the shared loop."""

from __future__ import annotations

import os

import numpy as np
import pytest

import sim.registry as sim_registry
from hardware.teleop import make_teleop
from robot.runtime import ControlLoop, LoopConfig, Outcome


@pytest.mark.parametrize("keys, axis, sign", [(b"w" * 6, 0, 1.0), (b"a" * 6, 1, 1.0), (b"f" * 6, 2, -1.0)])
def test_keys_move_the_end_effector_in_their_direction(pty_pair, keys, axis, sign):
    master, name = pty_pair
    env = sim_registry.make_env("so101_lift", {"cameras": ()})
    teleop = make_teleop("keyboard", env, options={"tty": name}, step_m=0.01)
    loop = ControlLoop(env, teleop, None, LoopConfig(realtime=False, max_steps=25, wait_for_start=True))
    teleop.connect()
    try:
        # Enter starts the episode; the moves typed with it are applied from the first tick.
        os.write(master, b"\r" + keys)
        env.reset(seed=0)
        start = env.ee_pos
        result = loop.run_episode(seed=0)
    finally:
        teleop.disconnect()
    end = env.ee_pos
    moved = end - start
    assert result.outcome is Outcome.MAX_STEPS and result.steps == 25
    # 6 presses x 1 cm = 6 cm commanded along the axis; the arm tracks most of it.
    assert sign * moved[axis] > 0.04, moved
    others = [i for i in range(3) if i != axis]
    assert np.all(np.abs(moved[others]) < 0.015), moved
