"""Test helpers for the emulated Feetech bus (the emulator itself is `hardware.emulators.feetech`)."""

from hardware.emulators.feetech import FeetechBusEmulator, status_packet

REPLY_TIMEOUT_MS = 300.0
"""Servo reply timeout in tests (lerobot's default is 50 ms): the emulator answers from a
thread of the test process, which a shared, loaded machine can delay past 50 ms."""

__all__ = ["REPLY_TIMEOUT_MS", "FeetechBusEmulator", "status_packet"]
