"""An emulated Dynamixel X-series bus (protocol 2.0) on a pseudo-terminal, for the Koch follower.

Speaks protocol 2.0 as dynamixel_sdk (and so lerobot's unmodified
`DynamixelMotorsBus`) does: instruction packets `FF FF FD 00 id len_l len_h
instr params... crc_l crc_h` with byte stuffing (`FF FF FD` in the payload
gets an extra `FD`) and CRC-16 (polynomial 0x8005); status packets with
instruction 0x55 and an error byte whose bit 7 (alert) is set while
Hardware_Error_Status is not zero. Handles PING (model number + firmware),
READ, WRITE, SYNC_READ and SYNC_WRITE on a control table per servo (X-series
addresses, little-endian). With torque on, a servo moves toward its goal at
`max_speed_ticks_s`. Faults: `set_silent`, `set_stuck`, `set_temperature`
(over `Temperature_Limit` sets the overheating bit and drops torque).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from hardware.emulators.pty_bus import PtyBus

PING, READ, WRITE, SYNC_READ, SYNC_WRITE, STATUS = 0x01, 0x02, 0x03, 0x82, 0x83, 0x55
BROADCAST = 0xFE
HEADER = b"\xff\xff\xfd\x00"
# X-series control table (lerobot motors/dynamixel/tables.py).
MODEL_NUMBER, FIRMWARE, TEMP_LIMIT, MAX_LIMIT, MIN_LIMIT = 0, 6, 31, 48, 52
TORQUE_ENABLE, HW_ERROR, GOAL_POSITION, MOVING, PRESENT_POSITION, PRESENT_TEMPERATURE = 64, 70, 116, 122, 132, 146
ERR_OVERHEAT, ALERT = 0x04, 0x80
KOCH_MODELS = {1: 1060, 2: 1060, 3: 1200, 4: 1200, 5: 1200, 6: 1200}
"""Koch follower: ids 1-2 XL430-W250 (model 1060), 3-6 XL330-M288 (model 1200)."""


def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) if crc & 0x8000 else crc << 1
        table.append(crc & 0xFFFF)
    return table


_TABLE = _crc_table()


def crc16(data: bytes) -> int:
    """Dynamixel protocol 2.0 CRC-16 (poly 0x8005, init 0, not reflected)."""
    crc = 0
    for b in data:
        crc = ((crc << 8) ^ _TABLE[((crc >> 8) ^ b) & 0xFF]) & 0xFFFF
    return crc


def stuff(payload: bytes) -> bytes:
    """Insert FD after every FF FF FD in `payload` (instruction / error + params)."""
    return payload.replace(b"\xff\xff\xfd", b"\xff\xff\xfd\xfd")


def unstuff(payload: bytes) -> bytes:
    """Inverse of `stuff`."""
    return payload.replace(b"\xff\xff\xfd\xfd", b"\xff\xff\xfd")


def packet(servo_id: int, instr: int, params: bytes = b"") -> bytes:
    """A complete protocol 2.0 packet (instruction, or status when instr is 0x55 and params start with the error)."""
    body = stuff(bytes([instr]) + params)
    head = HEADER + bytes([servo_id]) + (len(body) + 2).to_bytes(2, "little")
    crc = crc16(head + body)
    return head + body + crc.to_bytes(2, "little")


class DynamixelServo:
    """One X-series servo: control table plus position and temperature state."""

    def __init__(self, servo_id: int, model: int, position: int, max_speed_ticks_s: float) -> None:
        self.table = bytearray(256)
        self.table[MODEL_NUMBER:MODEL_NUMBER + 2] = model.to_bytes(2, "little")
        self.table[FIRMWARE] = 52
        self.table[7] = servo_id
        self.table[TEMP_LIMIT] = 72
        self.table[MAX_LIMIT:MAX_LIMIT + 4] = (4095).to_bytes(4, "little")
        self.pos, self.temp, self.max_speed = float(position), 30.0, max_speed_ticks_s
        self.table[GOAL_POSITION:GOAL_POSITION + 4] = position.to_bytes(4, "little")
        self.silent = self.stuck = False
        self._publish()

    def get(self, addr: int, length: int = 4) -> int:
        """Unsigned little-endian register value."""
        return int.from_bytes(self.table[addr:addr + length], "little")

    def advance(self, dt: float) -> None:
        """Move toward the goal for `dt` s when torque is on; protection on over-temperature."""
        if self.temp >= self.table[TEMP_LIMIT]:
            self.table[HW_ERROR] |= ERR_OVERHEAT
            self.table[TORQUE_ENABLE] = 0
        if self.table[TORQUE_ENABLE] and not self.stuck and dt > 0:
            error = self.get(GOAL_POSITION) - self.pos
            step = self.max_speed * dt
            self.pos += max(-step, min(step, error))
        self._publish()

    def _publish(self) -> None:
        self.table[PRESENT_POSITION:PRESENT_POSITION + 4] = (int(round(self.pos)) & 0xFFFFFFFF).to_bytes(4, "little")
        self.table[PRESENT_TEMPERATURE] = max(0, min(255, int(round(self.temp))))
        self.table[MOVING] = int(self.table[TORQUE_ENABLE] and abs(self.get(GOAL_POSITION) - self.pos) > 1)


class DynamixelBusEmulator(PtyBus):
    """Emulated X-series servos behind a pty (`port`); defaults to the Koch follower's six.

    models: {id: model number}. positions: initial Present_Position per id (ticks, default 2048).
    clock: time source, s.
    """

    def __init__(self, models: dict[int, int] | None = None, positions: dict[int, int] | None = None,
                 max_speed_ticks_s: float = 3000.0, clock: Callable[[], float] = time.monotonic) -> None:
        models = models or KOCH_MODELS
        positions = positions or {}
        self.servos = {i: DynamixelServo(i, m, positions.get(i, 2048), max_speed_ticks_s) for i, m in models.items()}
        self.lock = threading.RLock()
        self._clock = clock
        self._t = clock()
        self.requests: list[tuple[int, int]] = []
        super().__init__("dynamixel-emulator")

    def _on_start(self) -> None:
        self._t = self._clock()

    def __enter__(self) -> DynamixelBusEmulator:
        self.start()
        return self

    # -------------------------------------------------------------- control
    def set_calibration(self, servo_id: int, range_min: int, range_max: int, homing_offset: int = 0) -> None:
        """Write Min/Max_Position_Limit and Homing_Offset (two's complement)."""
        with self.lock:
            t = self.servos[servo_id].table
            t[MIN_LIMIT:MIN_LIMIT + 4] = range_min.to_bytes(4, "little")
            t[MAX_LIMIT:MAX_LIMIT + 4] = range_max.to_bytes(4, "little")
            t[20:24] = (homing_offset & 0xFFFFFFFF).to_bytes(4, "little")

    def lerobot_calibration(self, motor_names: Sequence[str]) -> dict[str, dict[str, int]]:
        """The calibration file lerobot would write for this bus."""
        out = {}
        with self.lock:
            for name, (i, s) in zip(motor_names, sorted(self.servos.items()), strict=False):
                raw = s.get(20)
                offset = raw - (1 << 32) if raw & 0x80000000 else raw
                out[name] = {"id": i, "drive_mode": s.table[10], "homing_offset": offset,
                             "range_min": s.get(MIN_LIMIT), "range_max": s.get(MAX_LIMIT)}
        return out

    def set_silent(self, servo_id: int, silent: bool = True) -> None:
        """The servo stops answering."""
        with self.lock:
            self.servos[servo_id].silent = silent

    def set_stuck(self, servo_id: int, stuck: bool = True) -> None:
        """Jam the joint."""
        with self.lock:
            self.servos[servo_id].stuck = stuck

    def set_temperature(self, servo_id: int, celsius: float) -> None:
        """Set the servo's temperature."""
        with self.lock:
            self.servos[servo_id].temp = float(celsius)
            self.servos[servo_id].advance(0.0)

    def advance(self) -> None:
        """Integrate every servo up to now."""
        with self.lock:
            now = self._clock()
            dt, self._t = now - self._t, now
            for s in self.servos.values():
                s.advance(dt)

    # ------------------------------------------------------------- protocol
    def _split(self, buf: bytes) -> tuple[bytes | None, bytes]:
        while True:
            start = buf.find(HEADER)
            if start < 0 or len(buf) < start + 7:
                return None, buf[-3:] if start < 0 else buf[start:]
            buf = buf[start:]
            total = 7 + int.from_bytes(buf[5:7], "little")
            if len(buf) < total:
                return None, buf
            pkt, buf = buf[:total], buf[total:]
            if crc16(pkt[:-2]) == int.from_bytes(pkt[-2:], "little"):
                return pkt, buf

    def _status(self, servo_id: int, data: bytes = b"") -> bytes:
        s = self.servos[servo_id]
        if s.silent:
            return b""
        return packet(servo_id, STATUS, bytes([ALERT if s.table[HW_ERROR] else 0]) + data)

    def handle_packet(self, pkt: bytes) -> bytes:
        """Answer one checked instruction packet."""
        servo_id, payload = pkt[4], unstuff(pkt[7:-2])
        instr, params = payload[0], payload[1:]
        with self.lock:
            if len(self.requests) < 10_000:
                self.requests.append((instr, servo_id))
            self.advance()
            if instr == SYNC_READ:
                addr, length = int.from_bytes(params[0:2], "little"), int.from_bytes(params[2:4], "little")
                return b"".join(self._status(i, bytes(self.servos[i].table[addr:addr + length]))
                                for i in params[4:] if i in self.servos)
            if instr == SYNC_WRITE:
                addr, length = int.from_bytes(params[0:2], "little"), int.from_bytes(params[2:4], "little")
                for k in range(4, len(params), length + 1):
                    s = self.servos.get(params[k])
                    if s is not None and not s.silent:
                        s.table[addr:addr + length] = params[k + 1:k + 1 + length]
                return b""
            if servo_id not in self.servos:
                return b""
            s = self.servos[servo_id]
            if instr == PING:
                return self._status(servo_id, bytes(s.table[0:2]) + bytes([s.table[FIRMWARE]]))
            if instr == READ:
                addr, length = int.from_bytes(params[0:2], "little"), int.from_bytes(params[2:4], "little")
                return self._status(servo_id, bytes(s.table[addr:addr + length]))
            if instr == WRITE:
                addr = int.from_bytes(params[0:2], "little")
                if addr <= TORQUE_ENABLE < addr + len(params) - 2 and params[2 + TORQUE_ENABLE - addr] \
                        and s.table[HW_ERROR]:
                    return self._status(servo_id)  # a servo in protection keeps torque off until rebooted
                s.table[addr:addr + len(params) - 2] = params[2:]
                return self._status(servo_id)
            return packet(servo_id, STATUS, bytes([0x02]))  # instruction error
