"""Every arm fault ends safe with the joint or device named (real lerobot driver, emulated bus)."""

from __future__ import annotations

import dataclasses
import json
import time

import numpy as np
import pytest

from hardware.arms.lerobot_arm import ArmFault, CalibrationError, LeRobotArm, LeRobotArmConfig
from hardware.arms.ports import PortBusyError, PortLock, PortNotFoundError
from hardware.arms.servo_health import ServoHealthConfig
from robot.interfaces import TeleopCommand

FAST_HEALTH = ServoHealthConfig(rate_hz=1000.0, overload_s=0.0, goal_timeout_s=0.3, goal_error_rad=0.3)
"""Health read every tick, so tests need no waiting."""


class Constant:
    """A Teleop source that always commands `target`."""

    def __init__(self, target):
        self.target = np.asarray(target, dtype=np.float32)

    def connect(self): ...
    def disconnect(self): ...
    def reset(self, obs): ...

    def get_action(self, obs):
        return TeleopCommand(self.target)


def stop_on_faults(arm):
    """What the runtime's watchdog does with `faults()`: end the episode naming them."""
    from robot.runtime import StopEpisode

    def check(action, obs):
        if arm.faults():
            raise StopEpisode("; ".join(arm.faults()))
        return action

    return check


def run_ticks(arm, bus, target, n, dt=1 / 30):
    for _ in range(n):
        arm.get_observation()
        arm.send_action(np.asarray(target, dtype=np.float32))
        bus.skip.advance(dt)


def test_servo_that_stops_answering_mid_run_stops_the_loop_naming_it(so101_bus):
    from robot.runtime import ControlLoop, LoopConfig, Outcome

    bus, cfg = so101_bus
    arm = LeRobotArm(cfg)
    with arm:
        run_ticks(arm, bus, np.zeros(6), 3)
        bus.set_silent(3)
        loop = ControlLoop(arm, Constant(np.full(6, 0.2)), None, LoopConfig(realtime=False, max_steps=20),
                           action_filters=[stop_on_faults(arm)])
        result = loop.run_episode()
        assert result.outcome is Outcome.ABORTED and result.steps < 10
        assert "servo 'elbow_flex' (id 3)" in result.info["abort_reason"]
        assert arm.stopped
        held = arm.send_action(np.full(6, 1.0, dtype=np.float32))  # latched: nothing new goes out
        assert held == pytest.approx(arm.get_observation()[0]["state"])  # the last measured pose
        assert bus.servos[1].get(42) == bus.servos[1].get(56)  # the others hold where they are


def test_torque_off_safe_stop_reaches_every_servo_that_answers(so101_bus):
    bus, cfg = so101_bus
    with LeRobotArm(dataclasses.replace(cfg, safe_stop="torque_off")) as arm:
        assert all(s.table[40] == 1 for s in bus.servos.values())
        bus.set_silent(2)
        for _ in range(cfg.max_read_failures):
            arm.get_observation()
        assert arm.stopped and any("servo 'shoulder_lift' (id 2)" in f for f in arm.faults())
        assert [i for i, s in bus.servos.items() if s.table[40] == 1] == [2]  # only the silent one kept torque
        arm.safe_stop()  # idempotent


def test_a_corrupted_packet_is_retried_but_repeated_ones_stop(so101_bus):
    bus, cfg = so101_bus
    with LeRobotArm(cfg) as arm:
        bus.corrupt_replies(2, 1)
        _obs, t_bad = arm.get_observation()  # this read failed: stale observation, no fault yet
        obs, t_ok = arm.get_observation()
        assert t_ok > t_bad and arm.faults() == [] and not arm.stopped
        bus.corrupt_replies(2, 1000)
        for _ in range(cfg.max_read_failures):
            arm.get_observation()
        assert arm.stopped
        assert any("servo 'shoulder_lift' (id 2)" in f and "corrupted" in f for f in arm.faults())


def test_overload_drops_torque_and_is_reported(so101_bus):
    bus, cfg = so101_bus
    with LeRobotArm(dataclasses.replace(cfg, health=FAST_HEALTH), clock=bus.skip) as arm:
        bus.set_external_load(4, 1.0)  # something pushes the wrist against its full torque
        run_ticks(arm, bus, np.array([0, 0, 0, 0.2, 0, 0.5]), 12)
        faults = arm.faults()
        assert arm.stopped
        assert any("servo 'wrist_flex' (id 4)" in f and "overload" in f for f in faults), faults
        assert bus.servos[4].table[40] == 0  # the servo's own protection cut its torque


def test_over_temperature_derates_then_stops(so101_bus):
    bus, cfg = so101_bus
    with LeRobotArm(dataclasses.replace(cfg, health=FAST_HEALTH), clock=bus.skip) as arm:
        bus.set_temperature(5, 60.0)  # between derate (55) and max (65)
        run_ticks(arm, bus, np.zeros(6), 4)
        assert arm.health.speed_factor() == pytest.approx(1 - 0.5 * 0.7, abs=0.05)
        before = arm.get_observation()[0]["state"]
        sent = arm.send_action(before + 1.0)
        assert np.max(np.abs(sent - before)[:5]) <= cfg.max_step_rad * 0.66  # derated step
        bus.set_temperature(5, 72.0)
        run_ticks(arm, bus, np.zeros(6), 4)
        assert arm.stopped
        assert any("servo 'wrist_roll' (id 5)" in f and "over-temperature" in f for f in arm.faults())


def test_joint_that_does_not_reach_its_goal_stops(so101_bus):
    bus, cfg = so101_bus
    with LeRobotArm(dataclasses.replace(cfg, health=FAST_HEALTH), clock=bus.skip) as arm:
        bus.set_stuck(3)
        run_ticks(arm, bus, np.array([0, 0, 0.45, 0, 0, 0.5]), 20)
        assert arm.stopped
        assert any("servo 'elbow_flex' (id 3)" in f and "not reaching its goal" in f for f in arm.faults())


def test_missing_port_names_find_port():
    arm = LeRobotArm(LeRobotArmConfig(port="/dev/ttyACM_not_here", id="x"))
    with pytest.raises(PortNotFoundError, match="robot find-port"):
        arm.connect()
    assert not arm.is_connected


def test_busy_port_is_refused(so101_bus):
    bus, cfg = so101_bus
    other = PortLock(cfg.port, "another arm")
    other.acquire()
    try:
        with pytest.raises(PortBusyError, match="busy"):
            LeRobotArm(cfg).connect()
    finally:
        other.release()
    with LeRobotArm(cfg):  # free again
        with pytest.raises(PortBusyError):
            LeRobotArm(cfg).connect()


def test_missing_calibration_says_how_to_calibrate(so101_bus, tmp_path):
    _bus, cfg = so101_bus
    cfg = dataclasses.replace(cfg, calibration_dir=str(tmp_path / "empty"))
    with pytest.raises(CalibrationError, match="lerobot-calibrate --robot.type=so101_follower"):
        LeRobotArm(cfg).connect()
    with pytest.raises(CalibrationError):  # the port lock was released: a fresh arm gets the same answer
        LeRobotArm(cfg).connect()


def test_calibration_from_another_arm_names_the_joints(so101_bus, tmp_path):
    bus, cfg = so101_bus
    cal = bus.lerobot_calibration()
    cal["elbow_flex"]["range_min"] += 37
    (tmp_path / "other.json").write_text(json.dumps(cal))
    with pytest.raises(CalibrationError, match=r"another arm.*joint 'elbow_flex' \(id 3\)"):
        LeRobotArm(dataclasses.replace(cfg, id="other", calibration_dir=str(tmp_path))).connect()
    koch_like = {k: v for k, v in bus.lerobot_calibration().items() if k != "gripper"}
    (tmp_path / "koch.json").write_text(json.dumps(koch_like))
    with pytest.raises(CalibrationError, match="another arm type"):
        LeRobotArm(dataclasses.replace(cfg, id="koch", calibration_dir=str(tmp_path))).connect()


def test_servo_missing_at_connect_is_named(so101_bus):
    bus, cfg = so101_bus
    bus.set_silent(6)
    with pytest.raises(ArmFault, match=r"(?s)\b6\b.*power-cycle"):
        LeRobotArm(cfg).connect()
    bus.set_silent(6, False)
    bus.set_temperature(2, 75.0)  # in protection: answers with an error, which lerobot counts as missing
    with pytest.raises(ArmFault, match=r"(?s)- 2 .*in protection"):
        LeRobotArm(cfg).connect()


def test_camera_that_stops_is_a_fault_of_the_arm_naming_it(so101_bus):
    import pyrealsense2  # noqa: F401  (an installed extra: it must import, never skip)

    from hardware.cameras import make_camera
    from hardware.emulators.realsense import EmulatedRealSense

    bus, cfg = so101_bus
    with EmulatedRealSense(depth=False) as emu:
        cam = make_camera("realsense", "wrist", width=64, height=48, fps=30, device=emu.device,
                          stale_after_s=0.2, frame_timeout_ms=50)
        with LeRobotArm(cfg, cameras={"wrist": cam}) as arm:
            assert arm.body_spec.observations["images.wrist"].shape == (48, 64, 3)
            obs, _t = arm.get_observation()
            assert obs["images.wrist"].shape == (48, 64, 3) and arm.faults() == []
            emu.pause()
            end = time.monotonic() + 3.0
            while not arm.faults() and time.monotonic() < end:
                time.sleep(0.02)
            assert any("camera 'wrist'" in f and "no frame for" in f for f in arm.faults()), arm.faults()
            assert not arm.stopped  # reported for the watchdog; the arm itself can still hold
            arm.get_observation()  # and the loop still gets the last frame without waiting


def test_camera_missing_at_connect_leaves_the_arm_closed(so101_bus):
    import pyrealsense2  # noqa: F401  (an installed extra: it must import, never skip)

    from hardware.cameras import CameraError

    bus, cfg = so101_bus
    cfg = dataclasses.replace(cfg, cameras={"front": {"kind": "realsense", "serial": "999999999999"}})
    for _ in range(2):  # the port was released and the bus closed: a retry gets the same answer, not "busy"
        with pytest.raises(CameraError, match="serial 999999999999 is not connected"):
            LeRobotArm(cfg).connect()
    assert all(s.table[40] == 0 for s in bus.servos.values())  # torque off again
