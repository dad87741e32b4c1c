"""3Dconnexion SpaceMouse teleop from its HID reports.

Report format (all little-endian int16, about +-350 at full deflection):
- id 1: translation x, y, z (6 bytes) — newer devices (SpaceMouse Compact /
  Wireless, `combined_report=True`) append rotation rx, ry, rz (12 bytes);
- id 2: rotation rx, ry, rz (6 bytes), older devices only;
- id 3: button bitmask (bit 0 left, bit 1 right).

`SpaceMouseParser` turns report bytes into held axis/button state; it is fed
either by hidapi (`hid`, imported lazily) or by a raw fd (/dev/hidrawN, or a
pipe in tests, framed by the configured report lengths).

Buttons: left toggles the gripper; right raises START and STOP together (the
loop starts on START while waiting, saves on STOP while recording, so one
button both starts and ends an episode); both at once discard.
"""

from __future__ import annotations

import os
import select
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from hardware.teleop.base import DeviceReading
from robot.interfaces import TeleopEvent

VENDOR_IDS = (0x256F, 0x046D)  # 3Dconnexion, Logitech (older SpaceNavigators)
_AXIS6 = struct.Struct("<hhhhhh")
_AXIS3 = struct.Struct("<hhh")


@dataclass(frozen=True)
class SpaceMouseConfig:
    """SpaceMouse settings.

    vendor_id / product_id: HID ids (0 = first 3Dconnexion device found).
    combined_report: report 1 carries translation and rotation (newer devices).
    full_scale: raw value mapped to 1.0; deadzone: fraction ignored around 0.
    axes: EE axis (x, y, z) -> (raw translation index 0..2, sign); the device's
      y points towards the user and z down, hence the default signs.
    report_lengths: report id -> bytes including the id, to frame a raw stream.
    """

    vendor_id: int = 0
    product_id: int = 0
    combined_report: bool = False
    full_scale: float = 350.0
    deadzone: float = 0.05
    axes: dict[str, tuple[int, float]] = field(
        default_factory=lambda: {"x": (1, -1.0), "y": (0, -1.0), "z": (2, -1.0)}
    )
    report_lengths: dict[int, int] = field(default_factory=lambda: {1: 7, 2: 7, 3: 3})


def translation_report(x: int, y: int, z: int) -> bytes:
    """Report id 1 of an older device: raw translation."""
    return bytes([1]) + _AXIS3.pack(x, y, z)


def rotation_report(rx: int, ry: int, rz: int) -> bytes:
    """Report id 2 of an older device: raw rotation."""
    return bytes([2]) + _AXIS3.pack(rx, ry, rz)


def combined_report(x: int, y: int, z: int, rx: int, ry: int, rz: int) -> bytes:
    """Report id 1 of a newer device: translation then rotation."""
    return bytes([1]) + _AXIS6.pack(x, y, z, rx, ry, rz)


def button_report(mask: int) -> bytes:
    """Report id 3: button bitmask (bit 0 left, bit 1 right)."""
    return bytes([3]) + mask.to_bytes(2, "little")


class SpaceMouseParser:
    """Held state of the six axes (raw int16) and buttons, updated report by report."""

    def __init__(self, combined: bool = False) -> None:
        self.combined = combined
        self.translation = np.zeros(3)
        self.rotation = np.zeros(3)
        self.buttons = 0
        self.presses: list[int] = []  # button masks newly pressed, in order

    def feed(self, report: bytes) -> None:
        """Apply one report (id byte first); unknown ids are ignored (LED, battery reports)."""
        if not report:
            return
        rid, body = report[0], bytes(report[1:])
        if rid == 1 and self.combined and len(body) >= 12:
            vals = _AXIS6.unpack_from(body)
            self.translation[:] = vals[:3]
            self.rotation[:] = vals[3:]
        elif rid == 1 and len(body) >= 6:
            self.translation[:] = _AXIS3.unpack_from(body)
        elif rid == 2 and len(body) >= 6:
            self.rotation[:] = _AXIS3.unpack_from(body)
        elif rid == 3 and len(body) >= 1:
            mask = int.from_bytes(body[:2], "little")
            new = mask & ~self.buttons
            if new:
                self.presses.append(mask)
            self.buttons = mask


class FdReportSource:
    """Reports from a raw fd (/dev/hidrawN gives one per read; a pipe is framed by report lengths)."""

    def __init__(self, fd: int, report_lengths: dict[int, int]) -> None:
        self.fd = fd
        self.lengths = report_lengths
        self._buf = b""

    def read_reports(self) -> list[bytes]:
        """All complete reports pending on the fd, without blocking."""
        while select.select([self.fd], [], [], 0)[0]:
            data = os.read(self.fd, 256)
            if not data:
                break
            self._buf += data
        out = []
        while self._buf:
            n = self.lengths.get(self._buf[0])
            if n is None:
                raise ValueError(f"spacemouse: unknown report id {self._buf[0]} in stream; set report_lengths")
            if len(self._buf) < n:
                break
            out.append(self._buf[:n])
            self._buf = self._buf[n:]
        return out


class HidReportSource:
    """Reports from hidapi (`hid` package), non-blocking."""

    def __init__(self, vendor_id: int, product_id: int) -> None:
        try:
            import hid
        except ImportError:
            raise ImportError("SpaceMouse teleop needs hidapi: pip install -e .[teleop]") from None
        if not product_id:
            found = [d for d in hid.enumerate() if d["vendor_id"] in VENDOR_IDS]
            if not found:
                raise RuntimeError("no 3Dconnexion device found (check USB and udev rules for hidraw)")
            vendor_id, product_id = found[0]["vendor_id"], found[0]["product_id"]
        self.dev = hid.device()
        self.dev.open(vendor_id, product_id)
        self.dev.set_nonblocking(1)

    def read_reports(self) -> list[bytes]:
        """All reports pending in hidapi's queue."""
        out = []
        while True:
            data = self.dev.read(64)
            if not data:
                return out
            out.append(bytes(data))

    def close(self) -> None:
        """Release the HID device."""
        self.dev.close()


class SpaceMouseDevice:
    """SpaceMouse as a delta device: held deflection in [-1, 1] per tick, buttons as events."""

    def __init__(self, config: SpaceMouseConfig | None = None, source_factory: Callable[[], object] | None = None) -> None:
        self.config = config or SpaceMouseConfig()
        self._factory = source_factory or (lambda: HidReportSource(self.config.vendor_id, self.config.product_id))
        self.source = None
        self.parser = SpaceMouseParser(self.config.combined_report)
        self._gripper_open = True

    def connect(self) -> None:
        """Open the report source."""
        if self.source is None:
            self.source = self._factory()

    def disconnect(self) -> None:
        """Close the report source."""
        if self.source is not None and hasattr(self.source, "close"):
            self.source.close()
        self.source = None

    def reset_gripper(self, opening: float) -> None:
        """Sync the left-button toggle with the gripper (opening in [0, 1])."""
        self._gripper_open = opening >= 0.5

    def _scale(self, raw: np.ndarray) -> np.ndarray:
        v = np.clip(raw / self.config.full_scale, -1.0, 1.0)
        return np.where(np.abs(v) < self.config.deadzone, 0.0, v)

    def read(self) -> DeviceReading:
        """Apply pending reports; translation from the held deflection, button presses as events."""
        if self.source is None:
            raise RuntimeError("spacemouse not connected: call connect() first")
        for report in self.source.read_reports():
            self.parser.feed(report)
        reading = DeviceReading()
        t = self._scale(self.parser.translation)
        for i, ee in enumerate(("x", "y", "z")):
            if ee in self.config.axes:
                idx, sign = self.config.axes[ee]
                reading.translation[i] = sign * t[idx]
        reading.rotation[:] = self._scale(self.parser.rotation)
        for mask in self.parser.presses:
            if mask & 3 == 3:
                reading.events.add(TeleopEvent.DISCARD)
            elif mask & 1:
                self._gripper_open = not self._gripper_open
                reading.gripper = 1.0 if self._gripper_open else 0.0
            elif mask & 2:
                reading.events |= {TeleopEvent.START, TeleopEvent.STOP}
        self.parser.presses.clear()
        return reading
