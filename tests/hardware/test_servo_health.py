"""Servo health decisions on a fake register reader and fake time."""

from __future__ import annotations

import numpy as np
import pytest

from hardware.arms.servo_health import ServoHealthConfig, ServoHealthMonitor, decode_load_pct

MOTORS = {"shoulder_pan": 1, "elbow_flex": 3}


class Registers:
    def __init__(self):
        self.values = {"Present_Temperature": {"shoulder_pan": 30, "elbow_flex": 30},
                       "Present_Load": {"shoulder_pan": 0, "elbow_flex": 0}, "Status": {"shoulder_pan": 0, "elbow_flex": 0}}
        self.calls: list[str] = []
        self.fail = False

    def __call__(self, register):
        self.calls.append(register)
        if self.fail:
            raise ConnectionError("no status packet")
        return self.values[register]


def test_one_register_per_poll_at_the_configured_rate():
    regs = Registers()
    mon = ServoHealthMonitor(MOTORS, regs, ServoHealthConfig(rate_hz=2.0))
    t = 0.0
    for _ in range(300):  # 10 s of 30 Hz ticks
        mon.poll(t)
        t += 1 / 30
    # 2 sweeps/s x 3 registers = 6 reads/s, interleaved, never two in one tick.
    assert 59 <= len(regs.calls) <= 61
    assert regs.calls[:6] == ["Present_Temperature", "Present_Load", "Status"] * 2


def test_derating_is_linear_between_the_thresholds():
    regs = Registers()
    mon = ServoHealthMonitor(MOTORS, regs, ServoHealthConfig(rate_hz=1000, derate_temp_c=50, max_temp_c=60,
                                                             registers=(("temperature", "Present_Temperature"),),
                                                             derate_min_factor=0.4))
    assert mon.speed_factor() == 1.0
    regs.values["Present_Temperature"]["elbow_flex"] = 55
    mon.poll(0.0)
    assert mon.speed_factor() == pytest.approx(0.7) and mon.faults() == []
    regs.values["Present_Temperature"]["elbow_flex"] = 60
    mon.poll(1.0)
    assert mon.speed_factor() == pytest.approx(0.4)
    assert mon.faults() == ["servo 'elbow_flex' (id 3): over-temperature 60 C >= 60 C"]


def test_overload_must_last_and_status_bits_are_named():
    regs = Registers()
    mon = ServoHealthMonitor(MOTORS, regs, ServoHealthConfig(rate_hz=1000, registers=(("load", "Present_Load"),),
                                                             overload_pct=90, overload_s=0.5))
    regs.values["Present_Load"]["shoulder_pan"] = 950 | 0x400  # 95 % pushing the other way
    assert decode_load_pct(950 | 0x400) == pytest.approx(-95.0)
    mon.poll(0.0)
    mon.poll(0.3)
    assert mon.faults() == [] and mon.load_pct["shoulder_pan"] == pytest.approx(-95.0)
    mon.poll(0.6)
    assert mon.faults() == ["servo 'shoulder_pan' (id 1): overload 95% >= 90% for 0.6 s"]
    mon2 = ServoHealthMonitor(MOTORS, regs, ServoHealthConfig(rate_hz=1000, registers=(("status", "Status"),)))
    regs.values["Status"]["elbow_flex"] = 32 | 4
    mon2.poll(0.0)
    assert "servo 'elbow_flex' (id 3): over-temperature (status bit), overload (status bit)" in mon2.faults()[0]


def test_repeated_read_failures_and_goal_tracking():
    regs = Registers()
    mon = ServoHealthMonitor(MOTORS, regs, ServoHealthConfig(rate_hz=1000, max_read_failures=3, goal_timeout_s=1.0))
    regs.fail = True
    for k in range(2):
        mon.poll(float(k))
    assert mon.faults() == []
    mon.poll(5.0)
    assert "3 consecutive failed health read" in mon.faults()[0]
    mon.reset()
    assert mon.faults() == []
    joints = tuple(MOTORS)
    goal = np.array([0.0, 1.0])
    mon.track(goal, np.array([0.0, 0.2]), 10.0, joints)
    mon.track(goal, np.array([0.0, 0.2]), 10.9, joints)
    assert mon.faults() == []
    mon.track(goal, np.array([0.0, 0.2]), 11.0, joints)
    assert mon.faults()[0].startswith("servo 'elbow_flex' (id 3): not reaching its goal, 0.80 rad off")
    with pytest.raises(ValueError, match="derate_temp_c"):
        ServoHealthConfig(derate_temp_c=70, max_temp_c=65)
