"""The software e-stop: once triggered, no motion command is sent and the body goes to its safe state.

Triggers: `EStop.trigger(reason)` (any thread), SIGINT / SIGTERM
(`install_signals()`), a trigger file that appears on disk (`trigger_file`,
polled by `poll()` once per tick: `touch /tmp/estop` from another shell), and a
key on a terminal (`key_tty` + `key`, read by a thread in cbreak mode). The
loop calls `poll()` at the top of every tick and before every send; a
triggered e-stop latches until `clear()`.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EStopConfig:
    """Where an e-stop can come from.

    signals: SIGINT/SIGTERM trigger it (handlers installed by `install_signals`).
    trigger_file: a path; its existence triggers the e-stop ("" = off).
    key_tty: a terminal to read the e-stop key from ("" = off; e.g. /dev/tty or a pty).
    key: the key that triggers it (one character; default space).
    """

    signals: bool = True
    trigger_file: str = ""
    key_tty: str = ""
    key: str = " "

    def __post_init__(self) -> None:
        if len(self.key) != 1:
            raise ValueError(f"estop.key must be one character, got {self.key!r}")


class EStop:
    """A latched stop flag with its triggers; cheap to `poll()` every tick."""

    def __init__(self, config: EStopConfig | None = None) -> None:
        self.config = config or EStopConfig()
        self._event = threading.Event()
        self.reason = ""
        self._old_handlers: dict[int, Any] = {}
        self._key_thread: threading.Thread | None = None
        self._key_stop = threading.Event()
        self._tty_fd: int | None = None
        self._tty_attrs: Any = None

    @property
    def triggered(self) -> bool:
        """Whether the e-stop has fired (latched)."""
        return self._event.is_set()

    def trigger(self, reason: str = "e-stop triggered") -> None:
        """Fire the e-stop (thread-safe); the first reason is kept."""
        if not self._event.is_set():
            self.reason = reason
            self._event.set()
            log.warning("E-STOP: %s", reason)

    def clear(self) -> None:
        """Re-arm after the operator has made the scene safe."""
        self._event.clear()
        self.reason = ""

    def poll(self) -> bool:
        """Check the trigger file; returns `triggered`."""
        if not self._event.is_set() and self.config.trigger_file and os.path.exists(self.config.trigger_file):
            self.trigger(f"e-stop file {self.config.trigger_file} exists")
        return self._event.is_set()

    # ------------------------------------------------------------ lifecycle
    def start(self) -> EStop:
        """Install the signal handlers and the key reader as configured; returns self."""
        if self.config.signals:
            self.install_signals()
        if self.config.key_tty:
            self._start_key_reader(self.config.key_tty)
        return self

    def close(self) -> None:
        """Restore the signal handlers and the terminal, stop the key reader."""
        for sig, old in self._old_handlers.items():
            signal.signal(sig, old)
        self._old_handlers.clear()
        self._key_stop.set()
        if self._key_thread is not None:
            self._key_thread.join(timeout=1.0)
            self._key_thread = None
        if self._tty_fd is not None:
            import termios

            if self._tty_attrs is not None:
                termios.tcsetattr(self._tty_fd, termios.TCSADRAIN, self._tty_attrs)
            os.close(self._tty_fd)
            self._tty_fd = None

    def __enter__(self) -> EStop:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def install_signals(self) -> None:
        """SIGINT and SIGTERM trigger the e-stop instead of killing the process mid-command."""
        if threading.current_thread() is not threading.main_thread():
            log.warning("e-stop: signal handlers can only be installed from the main thread; skipped")
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old_handlers[sig] = signal.getsignal(sig)
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self.trigger(f"signal {signal.Signals(signum).name}")

    def _start_key_reader(self, tty: str) -> None:
        import termios
        import tty as ttymod

        path = Path(tty)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError as e:
            raise OSError(f"e-stop: cannot open key terminal {tty}: {e}") from e
        self._tty_fd = fd
        try:
            self._tty_attrs = termios.tcgetattr(fd)
            ttymod.setcbreak(fd)
        except termios.error:
            self._tty_attrs = None  # not a terminal (a pipe): read bytes as they come
        self._key_stop.clear()
        self._key_thread = threading.Thread(target=self._read_keys, args=(fd,), name="estop-key", daemon=True)
        self._key_thread.start()

    def _read_keys(self, fd: int) -> None:
        key = self.config.key.encode()
        while not self._key_stop.is_set():
            ready, _, _ = select.select([fd], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(fd, 64)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                return
            if key in data:
                self.trigger(f"e-stop key {self.config.key!r} pressed")
