"""The Feetech bus emulator on its own: protocol, dynamics, protections, CLI."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time

import pytest

from hardware.emulators.feetech import FeetechBusEmulator, checksum
from hardware.emulators.servo_model import (
    ERR_OVERHEAT,
    ERR_OVERLOAD,
    GOAL_POSITION,
    PRESENT_LOAD,
    PRESENT_POSITION,
    PRESENT_TEMPERATURE,
    STATUS,
    TORQUE_ENABLE,
)


class ManualClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def instruction(servo_id, instr, params=b""):
    body = bytes([servo_id, len(params) + 2, instr]) + params
    return b"\xff\xff" + body + bytes([checksum(body)])


def test_protocol_packets_and_checksums():
    bus = FeetechBusEmulator([1, 2])
    try:
        assert bus.handle(1, 0x01, b"") == b"\xff\xff\x01\x02\x00\xfc"  # ping reply: id 1, len 2, no error
        reply = bus.handle(2, 0x02, bytes([3, 2]))  # read Model_Number
        assert reply[5:7] == (777).to_bytes(2, "little") and checksum(reply[2:-1]) == reply[-1]
        both = bus.handle(0xFE, 0x82, bytes([PRESENT_POSITION, 2, 1, 2]))  # sync read: one packet per servo
        assert both.count(b"\xff\xff") == 2
        assert bus.handle(9, 0x01, b"") == b""  # nobody with id 9: silence
        bus.corrupt_replies(1, 1)
        bad = bus.handle(1, 0x01, b"")
        assert checksum(bad[2:-1]) != bad[-1]
        bus.set_silent(2)
        assert bus.handle(0xFE, 0x82, bytes([PRESENT_POSITION, 2, 1, 2])).count(b"\xff\xff") == 1
    finally:
        bus.close()


def test_corrupt_instruction_is_ignored_over_the_pty():
    with FeetechBusEmulator([1]) as bus:
        fd = os.open(bus.port, os.O_RDWR | os.O_NOCTTY)
        try:
            good = instruction(1, 0x01)
            os.write(fd, good[:-1] + bytes([good[-1] ^ 1]) + good)  # a corrupted ping, then a good one
            deadline, got = time.monotonic() + 2.0, b""
            while len(got) < 6 and time.monotonic() < deadline:
                if select.select([fd], [], [], 0.1)[0]:
                    got += os.read(fd, 64)
        finally:
            os.close(fd)
    assert got == b"\xff\xff\x01\x02\x00\xfc"  # exactly one reply: the corrupt packet got none


def test_servo_moves_at_its_speed_limit_and_heats_under_load():
    clock = ManualClock()
    bus = FeetechBusEmulator([1], positions={1: 1000}, clock=clock)
    s = bus.servos[1]
    try:
        s.table[TORQUE_ENABLE] = 1
        s.set(GOAL_POSITION, 3000)
        clock.t = 0.1
        bus.advance()
        assert bus.read_u16(1, PRESENT_POSITION) == pytest.approx(1000 + 0.1 * bus.physics.max_speed_ticks_s, abs=2)
        clock.t = 2.0
        assert bus.read_u16(1, PRESENT_POSITION) == 3000
        # Something holds the joint at 60 % of full torque: effort stays, it heats, below overload (80 %).
        s.set(GOAL_POSITION, 3240)  # 240 ticks of error demand 60 % effort
        s.stuck = True
        t0 = s.temp
        for k in range(1, 31):
            clock.t = 2.0 + k
            bus.advance()
        load = bus.read_u16(1, PRESENT_LOAD)
        assert load == pytest.approx(600, abs=5) and s.table[STATUS] == 0
        assert bus.read_u8(1, PRESENT_TEMPERATURE) > t0 + 5
    finally:
        bus.close()


def test_overload_and_over_temperature_protections_cut_torque():
    clock = ManualClock()
    bus = FeetechBusEmulator([1, 2], clock=clock)
    try:
        for i in (1, 2):
            bus.servos[i].table[TORQUE_ENABLE] = 1
        bus.set_external_load(1, 1.0)
        clock.t = 0.1
        bus.advance()
        assert bus.servos[1].table[STATUS] == 0  # not yet: Protection_Time is 20 x 10 ms
        clock.t = 0.3
        bus.advance()
        assert bus.servos[1].table[STATUS] & ERR_OVERLOAD and bus.servos[1].table[TORQUE_ENABLE] == 0
        assert bus.handle(1, 0x01, b"")[4] & ERR_OVERLOAD  # and every reply carries it
        bus.set_temperature(2, 71.0)
        assert bus.servos[2].table[STATUS] & ERR_OVERHEAT and bus.servos[2].table[TORQUE_ENABLE] == 0
        # Re-enabling torque clears overload once the load is gone; over-temperature stays while hot.
        bus.set_external_load(1, 0.0)
        bus.handle(1, 0x03, bytes([TORQUE_ENABLE, 1]))
        bus.handle(2, 0x03, bytes([TORQUE_ENABLE, 1]))
        assert bus.servos[1].table[STATUS] == 0 and bus.servos[1].table[TORQUE_ENABLE] == 1
        assert bus.servos[2].table[TORQUE_ENABLE] == 0
    finally:
        bus.close()


def test_cli_prints_its_pty_and_writes_the_calibration(tmp_path):
    cal = tmp_path / "so101_follower" / "emu.json"
    env = {**os.environ, "HF_LEROBOT_CALIBRATION": str(tmp_path / "lerobot")}
    proc = subprocess.Popen([sys.executable, "-m", "hardware.emulators.feetech", "--ids", "1", "2", "3", "4", "5", "6",
                             "--calibration-out", str(cal), "--lerobot-id", "emu"], stdout=subprocess.PIPE, text=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), env=env)
    try:
        port = proc.stdout.readline().strip()
        assert port.startswith("/dev/") and os.path.exists(port)
        data = json.loads(cal.read_text())
        assert json.loads((tmp_path / "lerobot" / "robots" / "so101_follower" / "emu.json").read_text()) == data
        assert data["gripper"] == {"id": 6, "drive_mode": 0, "homing_offset": 0, "range_min": 1024, "range_max": 3072}
        fd = os.open(port, os.O_RDWR | os.O_NOCTTY)
        try:
            os.write(fd, instruction(3, 0x01))
            assert select.select([fd], [], [], 5.0)[0]
            assert os.read(fd, 64)[:3] == b"\xff\xff\x03"
        finally:
            os.close(fd)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    bad = subprocess.run([sys.executable, "-m", "hardware.emulators.feetech", "--range", "3000", "100"],
                         capture_output=True, text=True, cwd=os.path.dirname(os.path.dirname(os.path.dirname(
                             os.path.abspath(__file__)))))
    assert bad.returncode == 2 and "--range" in bad.stderr


def test_cli_faults_are_scheduled_and_checked():
    from hardware.emulators.feetech import schedule_fault

    bus = FeetechBusEmulator([1, 2, 3])
    try:
        schedule_fault(bus, "overheat:3:0").join(timeout=5)
        assert bus.servos[3].temp == pytest.approx(75.0, abs=0.01) and bus.servos[3].table[STATUS] & ERR_OVERHEAT
        schedule_fault(bus, "silent:2:0").join(timeout=5)
        assert bus.servos[2].silent
        for bad, why in (("overheat:9:1", "no servo with id 9"), ("melt:1:1", "kind must be"), ("x", "KIND:ID")):
            with pytest.raises(ValueError, match=why):
                schedule_fault(bus, bad)
    finally:
        bus.close()
