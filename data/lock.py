"""The single-writer lock of a store: an `flock` on `<store>/.writer.lock`.

flock is released by the kernel when the holding process dies, so a
SIGKILLed recorder never leaves the store locked, and a second recorder (in
this or another process) is refused instead of interleaving its rows.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from data.errors import WriterBusyError


class WriterLock:
    """Exclusive, non-blocking writer lock of the store directory `path`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path) / ".writer.lock"
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock or raise WriterBusyError naming the store."""
        if self._fd is not None:
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise WriterBusyError(f"{self.path.parent}: another process is recording into this store; "
                                  "stop it or record into another path") from None
        self._fd = fd

    def release(self) -> None:
        """Give the lock back (no-op when not held)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
