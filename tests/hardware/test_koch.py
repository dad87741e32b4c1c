"""Koch follower: lerobot 0.3.2's unmodified KochFollower / DynamixelMotorsBus over the emulated X-series bus."""

from __future__ import annotations

import dataclasses
import json

import dynamixel_sdk  # noqa: F401  (an installed extra: it must import, never skip)
import lerobot.robots.koch_follower  # noqa: F401  (an installed extra: it must import, never skip)
import numpy as np
import pytest
from feetech_emulator import REPLY_TIMEOUT_MS  # noqa: E402

from hardware.arms.lerobot_arm import LeRobotArm, LeRobotArmConfig
from hardware.arms.servo_health import ServoHealthConfig
from hardware.arms.units import JOINTS
from hardware.emulators.dynamixel import DynamixelBusEmulator, crc16, packet, stuff, unstuff  # noqa: E402


@pytest.fixture
def koch(tmp_path):
    bus = DynamixelBusEmulator(positions={i: 2000 for i in range(1, 7)})
    for i in range(1, 7):
        bus.set_calibration(i, 1000, 3000)
    (tmp_path / "koch.json").write_text(json.dumps(bus.lerobot_calibration(JOINTS)))
    with bus:
        yield bus, LeRobotArmConfig(kind="koch", port=bus.port, id="koch", calibration_dir=str(tmp_path),
                                    reply_timeout_ms=REPLY_TIMEOUT_MS)


def test_protocol2_framing():
    assert crc16(b"\xff\xff\xfd\x00\x01\x03\x00\x01") == 0x4E19  # ROBOTIS e-manual's ping example
    assert unstuff(stuff(b"\x03\xff\xff\xfd\x10")) == b"\x03\xff\xff\xfd\x10"
    assert packet(1, 0x01) == b"\xff\xff\xfd\x00\x01\x03\x00\x01\x19\x4e"


def test_koch_moves_in_twin_radians(koch):
    bus, cfg = koch
    target = np.array([0.3, -0.2, 0.1, 0.0, 0.2, 0.5], dtype=np.float32)
    with LeRobotArm(cfg) as arm:
        assert arm.get_observation()[0]["state"][:5] == pytest.approx(np.zeros(5), abs=1e-6)
        for _ in range(10):
            arm.get_observation()
            arm.send_action(target)
        bus.servos[1].pos = float(bus.servos[1].get(116))  # skip the motion: servos at their goals
        for s in bus.servos.values():
            s.pos = float(s.get(116))
        state = arm.get_observation()[0]["state"]
    assert state == pytest.approx(target, abs=3e-3)
    assert (0x82, 0xFE) in bus.requests and (0x83, 0xFE) in bus.requests


def test_koch_over_temperature_stops_naming_the_joint(koch):
    bus, cfg = koch
    health = ServoHealthConfig(rate_hz=1000.0, registers=(("temperature", "Present_Temperature"),
                                                          ("status", "Hardware_Error_Status")))
    with LeRobotArm(dataclasses.replace(cfg, health=health)) as arm:
        bus.set_temperature(2, 75.0)
        for _ in range(4):
            arm.get_observation()
            arm.send_action(np.zeros(6, dtype=np.float32))
        assert arm.stopped
        assert any("servo 'shoulder_lift' (id 2)" in f for f in arm.faults()), arm.faults()
        assert bus.servos[2].table[64] == 0  # the servo's protection dropped torque
