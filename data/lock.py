"""The single-writer lock of a store: an `flock` on the store directory itself.

Locking the directory (not a file inside it) leaves nothing in the store for
plain zarr to trip over ("Object at .writer.lock is not recognized as a
component of a Zarr hierarchy" on every open) and nothing beside it. flock is
released by the kernel when the holding process dies, so a SIGKILLed recorder
never leaves the store locked, and a second recorder (another process, or
another handle in this one: flock locks belong to the open file description)
is refused instead of interleaving its rows. Needs a local file system whose
flock works on directories (Linux ext4/xfs/tmpfs/overlayfs, macOS APFS).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from data.errors import WriterBusyError

LEGACY_LOCK_NAME = ".writer.lock"
"""The lock file older versions left inside the store; removed by the next writer."""


class WriterLock:
    """Exclusive, non-blocking writer lock of the store directory `path`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock or raise WriterBusyError naming the store."""
        if self._fd is not None:
            return
        fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise WriterBusyError(f"{self.path}: another writer (in this or another process) is recording "
                                  "into this store; commit or discard it, or record into another path"
                                  ) from None
        self._fd = fd
        (self.path / LEGACY_LOCK_NAME).unlink(missing_ok=True)

    def release(self) -> None:
        """Give the lock back (no-op when not held)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
