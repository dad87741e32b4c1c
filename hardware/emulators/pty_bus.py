"""The serial side shared by the bus emulators: a pseudo-terminal and a thread answering packets.

A subclass says how to cut one packet off the byte stream (`_split`) and how
to answer it (`handle_packet`); this class owns the pty, the thread and the
start/stop life cycle. A driver opens `port` (the pty's slave path) as it
would open /dev/ttyACM0.
"""

from __future__ import annotations

import os
import select
import threading
import tty


class PtyBus:
    """Base of the emulated buses: `port` path, `start()` / `close()`, context manager."""

    def __init__(self, name: str) -> None:
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)

    def _split(self, buf: bytes) -> tuple[bytes | None, bytes]:
        """(one complete valid packet or None if more bytes are needed, the rest of the buffer)."""
        raise NotImplementedError

    def handle_packet(self, packet: bytes) -> bytes:
        """The reply bytes for one packet (empty: no reply)."""
        raise NotImplementedError

    def _on_start(self) -> None:
        """Hook run just before the serving thread starts."""

    def start(self) -> PtyBus:
        """Start answering packets in a background thread."""
        self._on_start()
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and close the pty."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=1.0)
        for fd in (self.master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _serve(self) -> None:
        buf = b""
        while not self._stop.is_set():
            if not select.select([self.master], [], [], 0.02)[0]:
                continue
            try:
                buf += os.read(self.master, 4096)
            except OSError:
                return
            while True:
                packet, buf = self._split(buf)
                if packet is None:
                    break
                reply = self.handle_packet(packet)
                if reply:
                    try:
                        os.write(self.master, reply)
                    except OSError:
                        return
