"""Kept for older imports: the emulator is a real component in `hardware.emulators.feetech`."""

from hardware.emulators.feetech import FeetechBusEmulator, status_packet

__all__ = ["FeetechBusEmulator", "status_packet"]
