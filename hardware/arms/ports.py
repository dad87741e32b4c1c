"""Serial ports of arms: existence and exclusive-use checks, and listing (for `robot find-port`).

Two processes writing one servo bus corrupt each other's packets, and pyserial
opens ports without a lock. `PortLock` takes an advisory exclusive `flock` on
the port for as long as an arm is connected; a second arm (or a second
`robot deploy`) on the same port gets `PortBusyError` naming the processes
that have it open.
"""

from __future__ import annotations

import fcntl
import glob
import os
import sys
from pathlib import Path

from robot.errors import UserError


class PortError(UserError, ConnectionError):
    """A serial port cannot be used; the message says which and what to do (a user error: exit 2)."""


class PortNotFoundError(PortError):
    """The port does not exist (arm unplugged, wrong path)."""


class PortBusyError(PortError):
    """Another process holds the port."""


def list_serial_ports() -> list[str]:
    """Serial devices an arm controller may appear as (USB CDC/serial adapters), sorted."""
    patterns = ("/dev/ttyACM*", "/dev/ttyUSB*", "/dev/tty.usbmodem*", "/dev/tty.usbserial*", "/dev/serial/by-id/*")
    return sorted({p for pat in patterns for p in glob.glob(pat)})


def holders(port: str) -> list[str]:
    """'pid (name)' of other processes with `port` open, from /proc (best effort, Linux)."""
    try:
        target = os.path.realpath(port)
    except OSError:
        return []
    out = []
    for fd_dir in glob.glob("/proc/[0-9]*/fd"):
        pid = fd_dir.split("/")[2]
        if int(pid) == os.getpid():
            continue
        try:
            links = [os.readlink(os.path.join(fd_dir, fd)) for fd in os.listdir(fd_dir)]
        except OSError:
            continue
        if target in links:
            name = Path(f"/proc/{pid}/comm").read_text().strip() if Path(f"/proc/{pid}/comm").exists() else "?"
            out.append(f"{pid} ({name})")
    return out


def check_port_exists(port: str, device: str) -> None:
    """Raise PortNotFoundError naming `device` and the ports that do exist."""
    if not os.path.exists(port):
        found = list_serial_ports()
        hint = f"serial ports present: {', '.join(found)}" if found else "no serial ports found"
        raise PortNotFoundError(f"{device}: port {port!r} does not exist ({hint}); plug the arm in, "
                                "or run `robot find-port` to find its port")


class PortLock:
    """Exclusive advisory lock on a serial port for the lifetime of a connection."""

    def __init__(self, port: str, device: str) -> None:
        self.port, self.device = port, device
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise PortBusyError (PortNotFoundError when the port is gone)."""
        check_port_exists(self.port, self.device)
        fd = os.open(self.port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            who = holders(self.port)
            raise PortBusyError(f"{self.device}: port {self.port!r} is busy (locked by another connection"
                                f"{': ' + ', '.join(who) if who else ''}); stop the other program first") from None
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (idempotent)."""
        if self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None


def find_port_interactive(input_fn=input, list_fn=list_serial_ports, out=sys.stdout) -> str | None:
    """LeRobot's find-port dance: list ports, ask the user to unplug the arm, diff the lists."""
    before = set(list_fn())
    print(f"Ports now: {', '.join(sorted(before)) or '(none)'}", file=out)
    input_fn("Unplug the USB cable of the arm's controller board and press Enter... ")
    after = set(list_fn())
    gone = sorted(before - after)
    if len(gone) == 1:
        print(f"The arm's port is {gone[0]}. Plug the cable back in.", file=out)
        return gone[0]
    print("Could not tell the port: " + ("no port disappeared" if not gone else f"several disappeared: {gone}"), file=out)
    return None
