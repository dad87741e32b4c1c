"""SO-101 follower: lerobot 0.3.2's unmodified SO101Follower / FeetechMotorsBus over the emulated bus."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hardware.arms.lerobot_arm import LeRobotArm, LeRobotArmConfig
from hardware.arms.units import JOINTS, JointMap, twin_joint_limits
from robot.interfaces import Robot, TeleopCommand

TICK = 2 * math.pi / 4095  # lerobot's degrees use max_res = 4095 ticks per 360 deg


def test_joint_map_round_trips_and_matches_the_twin_limits():
    low, high = twin_joint_limits()
    assert low[5] == pytest.approx(-0.1745, abs=1e-3) and high[5] == pytest.approx(1.7453, abs=1e-3)
    for use_degrees in (True, False):
        m = JointMap(low, high, use_degrees)
        q = np.array([0.3, -0.2, 0.5, -1.0, 2.0, 0.4], dtype=np.float32)
        assert m.to_twin(m.to_lerobot(q)) == pytest.approx(q, abs=1e-5)
    m = JointMap(low, high, True, signs=(-1, 1, 1, 1, 1), offsets_rad=(0.1, 0, 0, 0, 0))
    cmd = m.to_lerobot(np.array([0.6, 0, 0, 0, 0, low[5]]))
    assert cmd["shoulder_pan.pos"] == pytest.approx(-math.degrees(0.5)) and cmd["gripper.pos"] == pytest.approx(0.0)
    assert m.to_lerobot(np.full(6, 99.0))["gripper.pos"] == pytest.approx(100.0)  # clipped to the limits first
    with pytest.raises(ValueError, match="signs"):
        JointMap(low, high, True, signs=(2, 1, 1, 1, 1))


def test_body_spec_is_the_twins_and_readable_while_disconnected():
    arm = LeRobotArm(LeRobotArmConfig(port="/dev/nonexistent", fps=50.0))
    spec = arm.body_spec
    assert not arm.is_connected and isinstance(arm, Robot)
    assert spec.action.shape == (6,) and spec.action.names == JOINTS and spec.fps == 50.0
    assert (spec.action_low, spec.action_high) == twin_joint_limits()
    assert arm.faults() == []
    arm.safe_stop()  # a disconnected body is already stopped: no error
    arm.safe_stop()


def test_follower_reads_and_moves_in_twin_radians(so101_bus):
    bus, cfg = so101_bus
    bus.write_u16(1, 56, sum((1000, 3000)) // 2 + 512)  # pan 512 ticks past mid-range
    with LeRobotArm(cfg) as arm:
        obs, t = arm.get_observation()
        assert obs["state"].dtype == np.float32 and obs["state"][0] == pytest.approx(512 * TICK, abs=1e-4)
        assert obs["state"][5] == pytest.approx(np.mean(twin_joint_limits()[0][5:] + twin_joint_limits()[1][5:]), abs=2e-3)
        assert bus.read_u16(1, 42) == bus.read_u16(1, 56)  # goal = present before torque came on: no jump
        target = np.array([0.4, -0.3, 0.2, 0.1, -0.5, 1.2], dtype=np.float32)
        sent = []
        for _ in range(40):
            arm.get_observation()
            sent.append(arm.send_action(target))
            bus.skip.advance(1 / 30)
        # The first commands were rate-limited toward the target from the measured pose.
        assert np.max(np.abs(sent[0] - obs["state"])) <= cfg.max_step_rad + 1e-3
        assert sent[-1] == pytest.approx(target, abs=2e-3)
        bus.skip.advance(1.0)
        state = arm.get_observation()[0]["state"]
        assert state == pytest.approx(target, abs=5e-3)  # the emulated servos reached the goal
        assert arm.faults() == [] and arm.health.reads > 0
        with pytest.raises(ValueError, match="non-finite"):
            arm.send_action(np.full(6, np.nan, dtype=np.float32))
    assert bus.servos[1].table[40] == 0  # torque off on disconnect, as lerobot does
    assert (0x82, 0xFE) in bus.requests and (0x83, 0xFE) in bus.requests  # sync read + sync write


def test_so101_runs_in_the_control_loop_over_the_emulated_bus(so101_bus):
    from robot.runtime import ControlLoop, LoopConfig

    bus, cfg = so101_bus
    target = np.array([0.3, 0.2, -0.2, 0.3, 0.0, 0.5], dtype=np.float32)

    class Constant:
        def connect(self): ...
        def disconnect(self): ...
        def reset(self, obs): ...
        def get_action(self, obs):
            return TeleopCommand(target)

    with LeRobotArm(cfg) as arm:
        result = ControlLoop(arm, Constant(), None, LoopConfig(fps=30.0, realtime=True, max_steps=45)).run_episode()
        state = arm.get_observation()[0]["state"]
    assert result.steps == 45
    assert state == pytest.approx(target, abs=0.02)
    assert bus.read_u16(2, 42) == pytest.approx(sum((800, 3200)) / 2 + 0.2 / TICK, abs=2)
