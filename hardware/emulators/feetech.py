"""An emulated Feetech STS3215 servo bus on a pseudo-terminal, with dynamics and fault injection.

Speaks Feetech protocol 0 as scservo_sdk (and so lerobot's unmodified
`FeetechMotorsBus`) does: instruction packets `FF FF id len instr params...
checksum`, checksum = ~(id + len + instr + sum(params)) & 0xFF; status packets
`FF FF id len err data... checksum` where `err` is the servo's Status bits.
Handles PING, READ, WRITE, SYNC_READ and SYNC_WRITE against each servo's
control table (`hardware.emulators.servo_model`), and advances every servo's
dynamics to the current time before it answers, so positions, load and
temperature evolve in real time (or on an injected clock).

Faults (each a method, for tests and demos): `set_silent(id)` (no reply),
`corrupt_replies(id, n)` (bad checksum on the next n replies), `force_status`
(e.g. overload bit), `set_temperature`, `set_stuck` (joint jammed),
`set_external_load` (fraction of full torque pushing against the joint).

Run it standalone (prints the pty path; Ctrl-C stops it):

    python -m hardware.emulators.feetech --ids 1 2 3 4 5 6 --lerobot-id follower [--fault overheat:3:2.5]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from hardware.emulators.pty_bus import PtyBus
from hardware.emulators.servo_model import (
    HOMING_OFFSET,
    MAX_LIMIT,
    MIN_LIMIT,
    ServoPhysics,
    ServoState,
)

PING, READ, WRITE, SYNC_READ, SYNC_WRITE = 0x01, 0x02, 0x03, 0x82, 0x83
BROADCAST = 0xFE
SO101_MOTORS = ("shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper")
"""lerobot's SO-100/SO-101 motor names for ids 1..6."""


def checksum(body: bytes) -> int:
    """Protocol-0 checksum of id..params."""
    return (~sum(body)) & 0xFF


def status_packet(servo_id: int, data: bytes = b"", error: int = 0) -> bytes:
    """A servo's reply: `FF FF id len err data checksum`."""
    body = bytes([servo_id, len(data) + 2, error]) + data
    return b"\xff\xff" + body + bytes([checksum(body)])


class FeetechBusEmulator(PtyBus):
    """Emulated servos behind the slave side of a pty; `port` is the path a driver opens.

    servo_ids: ids on the bus. positions: initial Present_Position per id (ticks, default 2048).
    physics: the servos' dynamics constants. clock: time source, s (inject one to step time by hand).
    Use as a context manager (starts/stops the serving thread).
    """

    def __init__(self, servo_ids: Sequence[int], model_number: int = 777, firmware: tuple[int, int] = (3, 10),
                 positions: dict[int, int] | None = None, physics: ServoPhysics | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.physics = physics or ServoPhysics()
        positions = positions or {}
        self.servos = {i: ServoState(i, self.physics, model_number, firmware, positions.get(i, 2048))
                       for i in servo_ids}
        self.lock = threading.RLock()
        self._clock = clock
        self._t = clock()
        super().__init__("feetech-emulator")
        self.requests: list[tuple[int, int]] = []  # (instruction, id) seen, for assertions
        self.n_requests = 0
        self.sync_writes = 0  # SYNC_WRITE packets served (one per control tick of lerobot's followers)
        self._on_sync_write: list[tuple[int, Callable[[], None]]] = []

    # ------------------------------------------------------------ registers
    @property
    def tables(self) -> dict[int, bytearray]:
        """Each servo's 256-byte control table (live)."""
        return {i: s.table for i, s in self.servos.items()}

    def write_u16(self, servo_id: int, addr: int, value: int) -> None:
        """Set a 2-byte register (little-endian), e.g. Present_Position at 56 (also moves the servo there)."""
        with self.lock:
            s = self.servos[servo_id]
            s.set(addr, value, 2)
            if addr == 56:
                s.pos = float(value)

    def read_u16(self, servo_id: int, addr: int) -> int:
        """A 2-byte register's value (after advancing the dynamics)."""
        with self.lock:
            self.advance()
            return self.servos[servo_id].get(addr, 2)

    def read_u8(self, servo_id: int, addr: int) -> int:
        """A 1-byte register's value (after advancing the dynamics)."""
        with self.lock:
            self.advance()
            return self.servos[servo_id].table[addr]

    def set_calibration(self, servo_id: int, range_min: int, range_max: int, homing_offset: int = 0) -> None:
        """Write the EEPROM calibration registers (Min/Max_Position_Limit, Homing_Offset, sign bit 11)."""
        with self.lock:
            s = self.servos[servo_id]
            s.set(MIN_LIMIT, range_min)
            s.set(MAX_LIMIT, range_max)
            s.set(HOMING_OFFSET, abs(homing_offset) | (0x800 if homing_offset < 0 else 0))

    def lerobot_calibration(self, motor_names: Sequence[str] = SO101_MOTORS) -> dict[str, dict[str, int]]:
        """The calibration file lerobot would write for this bus (`{motor: MotorCalibration fields}`)."""
        out = {}
        with self.lock:
            for name, (i, s) in zip(motor_names, sorted(self.servos.items()), strict=False):
                raw = s.get(HOMING_OFFSET)
                offset = -(raw & 0x7FF) if raw & 0x800 else raw
                out[name] = {"id": i, "drive_mode": 0, "homing_offset": offset,
                             "range_min": s.get(MIN_LIMIT), "range_max": s.get(MAX_LIMIT)}
        return out

    # -------------------------------------------------------------- faults
    def set_silent(self, servo_id: int, silent: bool = True) -> None:
        """The servo stops answering (as if its cable came off)."""
        with self.lock:
            self.servos[servo_id].silent = silent

    def corrupt_replies(self, servo_id: int, n: int) -> None:
        """The servo's next `n` replies carry a wrong checksum."""
        with self.lock:
            self.servos[servo_id].corrupt_replies = n

    def force_status(self, servo_id: int, bits: int) -> None:
        """OR `bits` into the servo's Status register and reply error byte (e.g. 32 = overload)."""
        with self.lock:
            self.servos[servo_id].forced_status = bits

    def set_temperature(self, servo_id: int, celsius: float) -> None:
        """Set the servo's temperature (it keeps evolving from there)."""
        with self.lock:
            self.servos[servo_id].temp = float(celsius)
            self.servos[servo_id].advance(1e-6)

    def set_stuck(self, servo_id: int, stuck: bool = True) -> None:
        """Jam the joint: it stops moving while its effort rises toward the goal error."""
        with self.lock:
            self.servos[servo_id].stuck = stuck

    def set_external_load(self, servo_id: int, fraction: float) -> None:
        """An external torque on the joint, as a signed fraction of full torque."""
        with self.lock:
            self.servos[servo_id].external_load = float(fraction)

    # ------------------------------------------------------------- serving
    def advance(self) -> None:
        """Integrate every servo's dynamics up to now."""
        with self.lock:
            now = self._clock()
            dt, self._t = now - self._t, now
            for s in self.servos.values():
                s.advance(dt)

    def _on_start(self) -> None:
        self._t = self._clock()

    def __enter__(self) -> FeetechBusEmulator:
        self.start()
        return self

    def _split(self, buf: bytes) -> tuple[bytes | None, bytes]:
        while True:
            start = buf.find(b"\xff\xff")
            if start < 0 or len(buf) < start + 4:
                return None, buf
            buf = buf[start:]
            total = 4 + buf[3]
            if len(buf) < total:
                return None, buf
            packet, buf = buf[:total], buf[total:]
            if checksum(packet[2:-1]) == packet[-1]:
                return packet, buf
            # a real servo ignores a corrupt packet; the driver times out

    def handle_packet(self, packet: bytes) -> bytes:
        """Answer one checked instruction packet."""
        return self.handle(packet[2], packet[4], packet[5:-1])

    def _reply(self, servo_id: int, data: bytes = b"") -> bytes:
        s = self.servos[servo_id]
        if s.silent:
            return b""
        pkt = status_packet(servo_id, data, s.status)
        if s.corrupt_replies > 0:
            s.corrupt_replies -= 1
            pkt = pkt[:-1] + bytes([pkt[-1] ^ 0x5A])
        return pkt

    def handle(self, servo_id: int, instr: int, params: bytes) -> bytes:
        """Answer one instruction packet; returns the reply bytes (empty: no reply)."""
        with self.lock:
            self.n_requests += 1
            if len(self.requests) < 10_000:
                self.requests.append((instr, servo_id))
            self.advance()
            if instr == SYNC_READ:
                addr, length, ids = params[0], params[1], params[2:]
                return b"".join(self._reply(i, bytes(self.servos[i].table[addr:addr + length]))
                                for i in ids if i in self.servos)
            if instr == SYNC_WRITE:
                addr, length = params[0], params[1]
                for k in range(2, len(params), length + 1):
                    i = params[k]
                    if i in self.servos and not self.servos[i].silent:
                        self.servos[i].table[addr:addr + length] = params[k + 1:k + 1 + length]
                        self.servos[i].on_write(addr, length)
                self.sync_writes += 1
                due = [a for n, a in self._on_sync_write if self.sync_writes >= n]
                self._on_sync_write = [(n, a) for n, a in self._on_sync_write if self.sync_writes < n]
                for action in due:
                    action()
                return b""
            if servo_id == BROADCAST and instr == WRITE:
                for s in self.servos.values():
                    s.table[params[0]:params[0] + len(params) - 1] = params[1:]
                    s.on_write(params[0], len(params) - 1)
                return b""
            if servo_id not in self.servos:
                return b""  # nobody answers: the driver sees a timeout
            s = self.servos[servo_id]
            if instr == PING:
                return self._reply(servo_id)
            if instr == READ:
                addr, length = params[0], params[1]
                return self._reply(servo_id, bytes(s.table[addr:addr + length]))
            if instr == WRITE:
                if s.silent:
                    return b""
                addr = params[0]
                s.table[addr:addr + len(params) - 1] = params[1:]
                s.on_write(addr, len(params) - 1)
                return self._reply(servo_id)
            return status_packet(servo_id, error=0x08)  # instruction error


FAULTS = ("silent", "corrupt", "overload", "overheat", "stuck")
"""Faults the CLI can schedule with --fault KIND:ID:AFTER_S or KIND:ID:@N."""


def schedule_fault(bus: FeetechBusEmulator, spec: str) -> threading.Timer | None:
    """Inject fault `KIND:ID:AFTER` into `bus`; ValueError if malformed.

    AFTER is seconds after now (`overheat:3:2.5`, a timer, returned) or `@N`,
    after the bus has served N SYNC_WRITE packets (`overheat:3:@20`: after 20
    control ticks of a lerobot follower, whatever the machine's speed; None).
    """
    try:
        kind, sid, after = spec.split(":")
        servo_id = int(sid)
        writes = int(after[1:]) if after.startswith("@") else None
        delay = float(after) if writes is None else 0.0
    except ValueError:
        raise ValueError(f"--fault {spec!r}: expected KIND:ID:AFTER_S or KIND:ID:@N, "
                         "e.g. overheat:3:2.5 or overheat:3:@20") from None
    if kind not in FAULTS:
        raise ValueError(f"--fault {spec!r}: kind must be one of {', '.join(FAULTS)}")
    if servo_id not in bus.servos:
        raise ValueError(f"--fault {spec!r}: no servo with id {servo_id} on the bus")
    actions = {
        "silent": lambda: bus.set_silent(servo_id),
        "corrupt": lambda: bus.corrupt_replies(servo_id, 10**9),
        "overload": lambda: bus.set_external_load(servo_id, 1.0),
        "overheat": lambda: bus.set_temperature(servo_id, 75.0),
        "stuck": lambda: bus.set_stuck(servo_id),
    }
    if writes is not None:
        with bus.lock:
            bus._on_sync_write.append((writes, actions[kind]))
        return None
    timer = threading.Timer(delay, actions[kind])
    timer.daemon = True
    timer.start()
    return timer


def main(argv: list[str] | None = None) -> int:
    """`python -m hardware.emulators.feetech`: serve an emulated bus until Ctrl-C."""
    p = argparse.ArgumentParser(prog="python -m hardware.emulators.feetech", description=__doc__.split("\n")[0])
    p.add_argument("--ids", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6], help="servo ids on the bus")
    p.add_argument("--range", type=int, nargs=2, default=(1024, 3072), metavar=("MIN", "MAX"),
                   help="calibrated range written to every servo (ticks); servos start mid-range")
    p.add_argument("--calibration-out", default="",
                   help="also write the matching lerobot calibration JSON here (e.g. <calib dir>/so101_follower/<id>.json)")
    p.add_argument("--lerobot-id", default="",
                   help="also write it where lerobot looks for SO-101 follower <ID> "
                        "($HF_LEROBOT_CALIBRATION/robots/so101_follower/<ID>.json)")
    p.add_argument("--fault", action="append", default=[], metavar="KIND:ID:AFTER",
                   help=f"inject a fault ({', '.join(FAULTS)}) AFTER seconds after start, or after @N sync "
                        "writes (control ticks), e.g. overheat:3:2.5 or overheat:3:@20")
    args = p.parse_args(argv)
    lo, hi = args.range
    if not 0 <= lo < hi <= 4095:
        print(f"--range must satisfy 0 <= MIN < MAX <= 4095, got {lo} {hi}", file=sys.stderr)
        return 2
    bus = FeetechBusEmulator(args.ids, positions={i: (lo + hi) // 2 for i in args.ids})
    for i in args.ids:
        bus.set_calibration(i, lo, hi)
    outs = [Path(args.calibration_out)] if args.calibration_out else []
    if args.lerobot_id:
        from hardware.arms.calibration import calibration_path

        outs.append(calibration_path("so101", args.lerobot_id))
    for path in outs:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(bus.lerobot_calibration(), indent=4))
    with bus:
        try:
            for spec in args.fault:
                schedule_fault(bus, spec)
        except ValueError as e:
            print(e, file=sys.stderr)
            return 2
        print(bus.port, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
