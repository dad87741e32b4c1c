"""An emulated Feetech STS servo bus on a pseudo-terminal, for testing real lerobot driver code.

Speaks Feetech protocol 0 as scservo_sdk does: packets `FF FF id len instr
params... checksum`, checksum = ~(id + len + instr + sum(params)) & 0xFF;
replies (status packets) `FF FF id len err data... checksum`. Handles PING,
READ, WRITE, SYNC_READ and SYNC_WRITE against a 256-byte little-endian
control table per servo. Test helper only (tests/).
"""

from __future__ import annotations

import os
import select
import threading
import tty

PING, READ, WRITE, SYNC_READ, SYNC_WRITE = 0x01, 0x02, 0x03, 0x82, 0x83
BROADCAST = 0xFE


def _checksum(body: bytes) -> int:
    return (~sum(body)) & 0xFF


def status_packet(servo_id: int, data: bytes = b"", error: int = 0) -> bytes:
    """A servo's reply."""
    body = bytes([servo_id, len(data) + 2, error]) + data
    return b"\xff\xff" + body + bytes([_checksum(body)])


class FeetechBusEmulator:
    """Servos with control tables behind the slave side of a pty (`port` is its path)."""

    def __init__(self, servo_ids: list[int], model_number: int = 777, firmware: tuple[int, int] = (3, 10)) -> None:
        self.tables = {i: bytearray(256) for i in servo_ids}
        self.lock = threading.Lock()
        for i in servo_ids:
            self.write_u16(i, 3, model_number)
            self.tables[i][0], self.tables[i][1] = firmware
            self.tables[i][5] = i
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self.requests: list[tuple[int, int]] = []  # (instruction, id) seen, for assertions
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="feetech-emulator", daemon=True)

    def write_u16(self, servo_id: int, addr: int, value: int) -> None:
        """Set a 2-byte register (little-endian), e.g. Present_Position at 56."""
        with self.lock:
            self.tables[servo_id][addr : addr + 2] = int(value).to_bytes(2, "little")

    def read_u16(self, servo_id: int, addr: int) -> int:
        """A 2-byte register's value."""
        with self.lock:
            return int.from_bytes(self.tables[servo_id][addr : addr + 2], "little")

    def __enter__(self) -> FeetechBusEmulator:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0)
        os.close(self.master)
        os.close(self._slave)

    def _serve(self) -> None:
        buf = b""
        while not self._stop.is_set():
            if not select.select([self.master], [], [], 0.02)[0]:
                continue
            try:
                buf += os.read(self.master, 1024)
            except OSError:
                return
            while True:
                start = buf.find(b"\xff\xff")
                if start < 0 or len(buf) < start + 4:
                    break
                buf = buf[start:]
                total = 4 + buf[3]
                if len(buf) < total:
                    break
                packet, buf = buf[:total], buf[total:]
                if _checksum(packet[2:-1]) != packet[-1]:
                    continue  # a real servo ignores a corrupt packet; the driver times out
                reply = self._handle(packet[2], packet[4], packet[5:-1])
                if reply:
                    os.write(self.master, reply)

    def _handle(self, servo_id: int, instr: int, params: bytes) -> bytes:
        self.requests.append((instr, servo_id))
        with self.lock:
            if instr == SYNC_READ:
                addr, length, ids = params[0], params[1], params[2:]
                return b"".join(status_packet(i, bytes(self.tables[i][addr : addr + length]))
                                for i in ids if i in self.tables)
            if instr == SYNC_WRITE:
                addr, length = params[0], params[1]
                for k in range(2, len(params), length + 1):
                    i = params[k]
                    if i in self.tables:
                        self.tables[i][addr : addr + length] = params[k + 1 : k + 1 + length]
                return b""
            if servo_id not in self.tables:
                return b""  # nobody answers: the driver sees a timeout
            table = self.tables[servo_id]
            if instr == PING:
                return status_packet(servo_id)
            if instr == READ:
                addr, length = params[0], params[1]
                return status_packet(servo_id, bytes(table[addr : addr + length]))
            if instr == WRITE:
                addr = params[0]
                table[addr : addr + len(params) - 1] = params[1:]
                return b"" if servo_id == BROADCAST else status_packet(servo_id)
        return status_packet(servo_id, error=0x08)  # instruction error
