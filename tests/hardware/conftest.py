"""Fixtures shared by the teleop device tests."""

import os

import pytest


@pytest.fixture
def pty_pair():
    """A pseudo-terminal: (master fd the test writes keys to, slave tty path the device opens)."""
    master, slave = os.openpty()
    yield master, os.ttyname(slave)
    os.close(master)
    os.close(slave)


SO101_RANGES = {1: (1000, 3000), 2: (800, 3200), 3: (900, 3100), 4: (850, 3150), 5: (100, 4000), 6: (2000, 3400)}
"""Calibrated range (ticks) of each emulated SO-101 servo; each starts mid-range (joint zero)."""


class SkipClock:
    """time.monotonic plus a skip the test adds: emulated servos move `advance(dt)` seconds at once."""

    def __init__(self) -> None:
        import time

        self._mono = time.monotonic
        self.offset = 0.0

    def __call__(self) -> float:
        return self._mono() + self.offset

    def advance(self, dt: float) -> None:
        self.offset += dt


@pytest.fixture
def so101_bus(tmp_path):
    """An emulated SO-101 bus with calibrated servos and the matching lerobot calibration file.

    Yields (bus, LeRobotArmConfig) with port, id and calibration_dir set; `bus.skip` is a
    `SkipClock` that moves the servos' time forward.
    """
    import json

    pytest.importorskip("lerobot.robots.so101_follower")
    from hardware.arms.lerobot_arm import LeRobotArmConfig
    from hardware.emulators.feetech import FeetechBusEmulator

    clock = SkipClock()
    bus = FeetechBusEmulator(list(SO101_RANGES), positions={i: (lo + hi) // 2 for i, (lo, hi) in SO101_RANGES.items()},
                             clock=clock)
    bus.skip = clock
    for i, (lo, hi) in SO101_RANGES.items():
        bus.set_calibration(i, lo, hi)
    (tmp_path / "follower.json").write_text(json.dumps(bus.lerobot_calibration()))
    with bus:
        yield bus, LeRobotArmConfig(port=bus.port, id="follower", calibration_dir=str(tmp_path))
