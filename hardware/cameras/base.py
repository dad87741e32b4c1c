"""A camera with a capture thread: `read_latest()` never waits on the sensor.

The capture thread grabs frames as the sensor delivers them and keeps only the
newest, stamped with the host's receive time (time.monotonic s) and the
sensor's own timestamp (ms, the device or file clock) when it has one. The
control loop reads the newest frame without blocking; how old it is
(`frame_age_s`), how many grabs came back empty (`late`), and whether the camera
stopped delivering (`faults()`, after `stale_after_s`) are reported, never
waited for.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


class CameraError(RuntimeError):
    """A camera cannot be opened or has no frame yet; the message names the device and what to do."""


@dataclass(frozen=True)
class Frame:
    """One captured frame.

    image: (H, W, 3) uint8 RGB. depth: (H, W) uint16 (sensor depth units) or None.
    host_time: time.monotonic() when the frame reached the host, s.
    sensor_time_ms: the sensor's timestamp (device clock or file position), ms; NaN if none.
    seq: frames delivered so far (1 = first).
    """

    image: np.ndarray
    host_time: float
    sensor_time_ms: float
    seq: int
    depth: np.ndarray | None = None


Grab = tuple[np.ndarray, float, "np.ndarray | None"]
"""What a backend's `_grab` returns: (RGB image, sensor time ms, depth or None)."""


class ThreadedCamera:
    """Base of the camera backends: capture thread, newest frame, age and fault reporting.

    Subclasses implement `_open()`, `_grab() -> Grab | None` (None: no frame within the
    backend's timeout) and `_close()`, and set `self.shape` (H, W, 3) and `self.device`.
    """

    def __init__(self, name: str, stale_after_s: float = 0.5, first_frame_timeout_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.stale_after_s = stale_after_s
        self.first_frame_timeout_s = first_frame_timeout_s
        self.shape: tuple[int, int, int] = (0, 0, 3)
        self.device = name
        self._clock = clock
        self._lock = threading.Lock()
        self._new = threading.Condition(self._lock)
        self._latest: Frame | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._error: str = ""
        self.frames = 0
        self.late = 0

    # -------------------------------------------------------- backend hooks
    def _open(self) -> None:
        raise NotImplementedError

    def _grab(self) -> Grab | None:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError

    # --------------------------------------------------------------- public
    @property
    def is_connected(self) -> bool:
        """Whether the capture thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def connect(self) -> None:
        """Open the device, start the capture thread and wait (up to first_frame_timeout_s) for a first frame."""
        if self._thread is not None:
            return
        self._open()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"camera-{self.name}", daemon=True)
        self._thread.start()
        with self._new:
            self._new.wait_for(lambda: self._latest is not None or self._error, self.first_frame_timeout_s)
        if self._latest is None:
            why = self._error or f"no frame within {self.first_frame_timeout_s:g} s"
            self.disconnect()
            raise CameraError(f"camera {self.name!r} ({self.device}): {why}")

    def disconnect(self) -> None:
        """Stop the capture thread and close the device (idempotent)."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout=2.0)
        self._thread = None
        self._close()

    def __enter__(self) -> ThreadedCamera:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.disconnect()

    def latest(self) -> Frame:
        """The newest frame with its timestamps (never waits); CameraError if none arrived yet."""
        frame = self._latest
        if frame is None:
            raise CameraError(f"camera {self.name!r} ({self.device}) has no frame yet: connect() it first")
        return frame

    def read_latest(self) -> tuple[np.ndarray, float]:
        """Newest frame (H, W, 3) uint8 and its host receive time (time.monotonic s); never waits."""
        frame = self.latest()
        return frame.image, frame.host_time

    def frame_age_s(self, now: float | None = None) -> float:
        """Seconds since the newest frame reached the host (inf before the first)."""
        frame = self._latest
        if frame is None:
            return float("inf")
        return (self._clock() if now is None else now) - frame.host_time

    def faults(self) -> list[str]:
        """'camera ...: no frame for X s' when frames stopped, or the capture error; empty when healthy."""
        if self._thread is None:
            return []
        if self._error:
            return [f"camera {self.name!r} ({self.device}): {self._error}"]
        age = self.frame_age_s()
        if age > self.stale_after_s:
            return [f"camera {self.name!r} ({self.device}): no frame for {age:.2f} s (> {self.stale_after_s:g} s)"]
        return []

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                got = self._grab()
            except Exception as e:  # the device went away: report it, stop capturing
                with self._new:
                    self._error = f"capture failed: {type(e).__name__}: {e}"
                    self._new.notify_all()
                return
            if got is None:
                self.late += 1
                continue
            image, sensor_ms, depth = got
            with self._new:
                self.frames += 1
                self._latest = Frame(image, self._clock(), sensor_ms, self.frames, depth)
                self._new.notify_all()
