"""Gamepad teleop from the Linux evdev event stream (/dev/input/eventN).

The device file yields `struct input_event` records (timeval, type, code,
value). `InputEventReader` parses them from any fd (a device node, or a pipe
in tests) without a thread: each `read()` drains what is pending, without
blocking, and updates the held axis and button state. The `evdev` package is
imported only to find the gamepad and its axis ranges.

Default mapping (Xbox-style pad; `GamepadConfig` changes it):

    left stick   up/down -> +x/-x, left/right -> +y/-y   right stick up/down -> +z/-z
    RB close gripper   LB open gripper
    Start  start recording   A  stop and save   B  discard   X  intervene   Mode  quit
"""

from __future__ import annotations

import os
import select
import struct
from dataclasses import dataclass, field

import numpy as np

from hardware.teleop.base import DeviceReading
from robot.interfaces import TeleopEvent

INPUT_EVENT = struct.Struct("llHHi")
"""`struct input_event` on 64-bit Linux: tv_sec, tv_usec, type, code, value (24 bytes)."""

EV_SYN, EV_KEY, EV_ABS = 0x00, 0x01, 0x03
ABS_CODES = {"ABS_X": 0x00, "ABS_Y": 0x01, "ABS_Z": 0x02, "ABS_RX": 0x03, "ABS_RY": 0x04, "ABS_RZ": 0x05,
             "ABS_HAT0X": 0x10, "ABS_HAT0Y": 0x11}
BTN_CODES = {"BTN_SOUTH": 0x130, "BTN_EAST": 0x131, "BTN_NORTH": 0x133, "BTN_WEST": 0x134,
             "BTN_TL": 0x136, "BTN_TR": 0x137, "BTN_SELECT": 0x13A, "BTN_START": 0x13B, "BTN_MODE": 0x13C}
_EVENT_NAMES = {"start": TeleopEvent.START, "stop": TeleopEvent.STOP, "discard": TeleopEvent.DISCARD,
                "intervene": TeleopEvent.INTERVENE, "quit": TeleopEvent.QUIT}


def pack_event(type_: int, code: int, value: int, sec: int = 0, usec: int = 0) -> bytes:
    """Bytes of one `struct input_event` (what the kernel writes to /dev/input/eventN)."""
    return INPUT_EVENT.pack(sec, usec, type_, code, value)


@dataclass(frozen=True)
class GamepadConfig:
    """Gamepad settings.

    device: /dev/input/eventN ('' = the first gamepad evdev finds).
    axes: EE axis (x, y, z) -> (ABS code name, sign); the stick's "up" is negative on Linux.
    axis_range: (min, max) raw value of the sticks when evdev cannot tell.
    deadzone: fraction of half-range ignored around the centre.
    buttons: action (start/stop/discard/intervene/quit/gripper_open/gripper_close) -> BTN code name.
    """

    device: str = ""
    axes: dict[str, tuple[str, float]] = field(
        default_factory=lambda: {"x": ("ABS_Y", -1.0), "y": ("ABS_X", -1.0), "z": ("ABS_RY", -1.0)}
    )
    axis_range: tuple[int, int] = (-32768, 32767)
    deadzone: float = 0.15
    buttons: dict[str, str] = field(
        default_factory=lambda: {"start": "BTN_START", "stop": "BTN_SOUTH", "discard": "BTN_EAST",
                                 "intervene": "BTN_WEST", "quit": "BTN_MODE",
                                 "gripper_close": "BTN_TR", "gripper_open": "BTN_TL"}
    )

    def __post_init__(self) -> None:
        for ee, (code, _sign) in self.axes.items():
            if ee not in ("x", "y", "z"):
                raise ValueError(f"gamepad axes: {ee!r} must be one of x, y, z")
            if code not in ABS_CODES:
                raise ValueError(f"gamepad axes.{ee}: unknown axis {code!r}; known: {', '.join(ABS_CODES)}")
        for action, code in self.buttons.items():
            if action not in (*_EVENT_NAMES, "gripper_open", "gripper_close"):
                raise ValueError(f"gamepad buttons: unknown action {action!r}")
            if code not in BTN_CODES:
                raise ValueError(f"gamepad buttons.{action}: unknown button {code!r}; known: {', '.join(BTN_CODES)}")


class InputEventReader:
    """Parses `struct input_event` records from a non-blocking fd into held axis/button state."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buf = b""
        self.axes: dict[int, int] = {}
        self.pressed: list[int] = []  # key codes pressed since the last `poll`, in order
        self.closed = False

    def poll(self) -> list[tuple[int, int, int]]:
        """Drain pending bytes; returns the (type, code, value) events parsed."""
        events = []
        while not self.closed and select.select([self.fd], [], [], 0)[0]:
            try:
                data = os.read(self.fd, INPUT_EVENT.size * 64)
            except BlockingIOError:
                break
            if not data:
                self.closed = True
                break
            self._buf += data
        n = len(self._buf) // INPUT_EVENT.size
        for i in range(n):
            _s, _us, type_, code, value = INPUT_EVENT.unpack_from(self._buf, i * INPUT_EVENT.size)
            events.append((type_, code, value))
            if type_ == EV_ABS:
                self.axes[code] = value
            elif type_ == EV_KEY and value == 1:  # 1 press, 0 release, 2 autorepeat
                self.pressed.append(code)
        self._buf = self._buf[n * INPUT_EVENT.size:]
        return events


class GamepadDevice:
    """Gamepad as a delta device: stick deflection in [-1, 1] per tick, buttons as events."""

    def __init__(self, config: GamepadConfig | None = None, fd: int | None = None) -> None:
        self.config = config or GamepadConfig()
        self._given_fd = fd
        self.reader: InputEventReader | None = None
        self._ranges: dict[int, tuple[int, int]] = {}
        self._fd: int | None = None

    def connect(self) -> None:
        """Open the event device (found through evdev when none is configured)."""
        if self.reader is not None:
            return
        if self._given_fd is not None:
            self._fd = self._given_fd
        else:
            path = self.config.device or find_gamepad()
            self._ranges = _abs_ranges(path)
            try:
                self._fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            except PermissionError:
                raise PermissionError(f"cannot read {path}: add your user to the 'input' group") from None
        self.reader = InputEventReader(self._fd)

    def disconnect(self) -> None:
        """Close the device (a caller-given fd is left open)."""
        if self._fd is not None and self._given_fd is None:
            os.close(self._fd)
        self._fd = None
        self.reader = None

    def _normalized(self, code: int) -> float:
        assert self.reader is not None
        if code not in self.reader.axes:
            return 0.0
        lo, hi = self._ranges.get(code, self.config.axis_range)
        mid, half = (lo + hi) / 2.0, (hi - lo) / 2.0
        v = (self.reader.axes[code] - mid) / half
        if abs(v) < self.config.deadzone:
            return 0.0
        # rescale so motion starts from 0 at the deadzone edge
        return float(np.sign(v) * min(1.0, (abs(v) - self.config.deadzone) / (1.0 - self.config.deadzone)))

    def read(self) -> DeviceReading:
        """Current stick deflection as translation, button presses as events and gripper commands."""
        if self.reader is None:
            raise RuntimeError("gamepad not connected: call connect() first")
        self.reader.poll()
        reading = DeviceReading()
        for i, ee in enumerate(("x", "y", "z")):
            if ee in self.config.axes:
                code_name, sign = self.config.axes[ee]
                reading.translation[i] = sign * self._normalized(ABS_CODES[code_name])
        by_code = {BTN_CODES[c]: a for a, c in self.config.buttons.items()}
        for code in self.reader.pressed:
            action = by_code.get(code)
            if action == "gripper_close":
                reading.gripper = 0.0
            elif action == "gripper_open":
                reading.gripper = 1.0
            elif action is not None:
                reading.events.add(_EVENT_NAMES[action])
        self.reader.pressed.clear()
        return reading


def _evdev():
    try:
        import evdev
    except ImportError:
        raise ImportError("gamepad discovery needs evdev: pip install -e .[teleop]") from None
    return evdev


def find_gamepad() -> str:
    """Path of the first input device with sticks and a south button."""
    evdev = _evdev()
    for path in evdev.list_devices():
        dev = evdev.InputDevice(path)
        caps = dev.capabilities()
        if BTN_CODES["BTN_SOUTH"] in caps.get(EV_KEY, []) and EV_ABS in caps:
            dev.close()
            return path
        dev.close()
    raise RuntimeError("no gamepad found under /dev/input (is it plugged in, and can you read /dev/input/event*?)")


def _abs_ranges(path: str) -> dict[int, tuple[int, int]]:
    """Raw (min, max) of each absolute axis of `path`, as evdev reports them."""
    evdev = _evdev()
    dev = evdev.InputDevice(path)
    try:
        return {code: (info.min, info.max) for code, info in dev.capabilities().get(EV_ABS, [])}
    finally:
        dev.close()
