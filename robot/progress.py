"""Progress for long loops: a tqdm bar on a terminal, a plain line every few percent in a log.

    for ep in progress(episodes, desc="preview", unit="ep"):
        ...
    bar = progress(total=steps, initial=step, desc="train")
    bar.update(1); bar.set_postfix(loss="0.0123"); bar.close()

Why not tqdm everywhere: redirected to a file (`make demo > log`, CI) tqdm
writes a carriage-return update per refresh, thousands of them in one line.
Here a stream that is not a terminal gets at most one line per `every_pct`
percent (about 20 lines per loop), each a complete, greppable line:

    train: 1200/4000 (30%) 21.3 it/s, 2m11s left, loss=0.0123

Every bar writes to stderr, so stdout keeps only results (JSON summaries).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any


def progress(iterable: Iterable[Any] | None = None, *, total: int | None = None, initial: int = 0,
             desc: str = "", unit: str = "it", disable: bool = False, file: IO[str] | None = None,
             every_pct: float = 5.0, tty: bool | None = None) -> Progress:
    """A progress reporter over `iterable` (or driven by `update`); see the module docstring.

    total: expected count (default len(iterable) when it has one).
    file: where to write (default stderr). tty: force the bar (True) or plain lines (False);
      default: a bar exactly when `file` is a terminal.
    """
    return Progress(iterable, total=total, initial=initial, desc=desc, unit=unit, disable=disable, file=file,
                    every_pct=every_pct, tty=tty)


class Progress:
    """tqdm's small subset the stack uses (`update`, `n`, `set_postfix`, `write`, `close`), TTY-aware."""

    def __init__(self, iterable: Iterable[Any] | None, *, total: int | None, initial: int, desc: str, unit: str,
                 disable: bool, file: IO[str] | None, every_pct: float, tty: bool | None) -> None:
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.file = file if file is not None else sys.stderr
        self.disable, self.every_pct = disable, max(0.1, float(every_pct))
        self.n, self._start_n = initial, initial
        self._postfix: dict[str, Any] = {}
        self._t0 = self._last_t = time.monotonic()
        self._next_pct = self._pct_step_after(initial)
        self._closed = False
        self._printed_n: int | None = None  # the count the last plain line showed
        self._bar = None
        is_tty = bool(getattr(self.file, "isatty", lambda: False)()) if tty is None else tty
        if not disable and is_tty:
            from tqdm import tqdm

            self._bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, file=self.file, dynamic_ncols=True)

    # ---- the tqdm subset ----
    def __iter__(self) -> Iterator[Any]:
        if self.iterable is None:
            raise TypeError("progress(): iterate over an iterable, or call update() without one")
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        """Count `n` more units done."""
        self.n += n
        if self._bar is not None:
            self._bar.update(n)
        else:
            self._maybe_line()

    def set_postfix(self, **values: Any) -> None:
        """Values shown after the count (loss, failures, ...); also syncs a bar to an `n` set directly."""
        self._postfix = values
        if self._bar is not None:
            if self._bar.n != self.n:
                self._bar.n = self.n
            self._bar.set_postfix(**values)
        else:
            self._maybe_line()

    def write(self, message: str, file: IO[str] | None = None) -> None:
        """Print a line without breaking the bar."""
        if self._bar is not None:
            self._bar.write(message, file=file or self.file)
        else:
            print(message, file=file or self.file, flush=True)

    def close(self) -> None:
        """End the bar; in plain mode write the final line unless the last one already said it."""
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.n = self.n
            self._bar.close()
        elif not self.disable and self.n != self._printed_n:
            self._line()

    # ---- plain lines ----
    def _pct_step_after(self, n: int) -> float:
        if not self.total:
            return float("inf")
        pct = 100.0 * n / self.total
        return (int(pct // self.every_pct) + 1) * self.every_pct

    def _maybe_line(self) -> None:
        if self.disable:
            return
        if self.total:
            if 100.0 * self.n / self.total + 1e-9 >= self._next_pct:
                self._line()
                self._next_pct = self._pct_step_after(self.n)
        elif time.monotonic() - self._last_t >= 30.0:  # no total: a line every half minute
            self._line()

    def _line(self) -> None:
        now = time.monotonic()
        self._last_t, self._printed_n = now, self.n
        elapsed = now - self._t0
        done = self.n - self._start_n
        rate = done / elapsed if elapsed > 0 else 0.0
        parts = [f"{self.desc + ': ' if self.desc else ''}{self.n}"]
        if self.total:
            parts[0] += f"/{self.total} ({100.0 * self.n / self.total:.0f}%)"
        parts[0] += f" {rate:.1f} {self.unit}/s"
        if self.total and rate > 0 and self.n < self.total:
            parts.append(f"{_duration((self.total - self.n) / rate)} left")
        elif self.n:
            parts.append(f"{_duration(elapsed)} elapsed")
        parts += [f"{k}={v}" for k, v in self._postfix.items()]
        print(", ".join(parts), file=self.file, flush=True)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
