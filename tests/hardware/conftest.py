"""Fixtures shared by the hardware tests."""

import os
import sys

import pytest


@pytest.fixture(autouse=True)
def fast_thread_switching():
    """Hand the GIL over every 0.5 ms (default 5 ms) while a hardware test runs.

    The emulated buses answer from a thread of the test process, while the driver
    (scservo_sdk) busy-polls the port for the reply with a 50 ms timeout. With the
    default interval, each of the emulator's few GIL hand-offs per reply can wait
    5 ms, and on a loaded machine a reply then misses the driver's timeout. A real
    bus answers from its own hardware, so only the in-process emulator needs this.
    """
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)
    yield
    sys.setswitchinterval(before)


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

    import lerobot.robots.so101_follower  # noqa: F401  (an installed extra: it must import, never skip)
    from feetech_emulator import REPLY_TIMEOUT_MS

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
        # A generous reply timeout: the emulator answers from a thread of this (possibly loaded) process.
        yield bus, LeRobotArmConfig(port=bus.port, id="follower", calibration_dir=str(tmp_path),
                                    reply_timeout_ms=REPLY_TIMEOUT_MS)
