"""The twin's sim cameras: each renders the twin's scene on its own thread; reads never block.

Split from hardware/twin.py (the Twin owns them: `Twin.cameras[name]`).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

import mujoco
import numpy as np

if TYPE_CHECKING:
    from hardware.twin import Twin

log = logging.getLogger(__name__)


class SimCamera:
    """A sim camera rendering on its own thread at `fps`; `read_latest()` never blocks.

    The GL context is created on the capture thread (contexts are per thread).
    The scene is copied under the twin's lock, then rendered outside it, so
    physics never waits for a frame.
    """

    def __init__(self, name: str, twin: Twin, fps: float, size: tuple[int, int]) -> None:
        self.name = name
        self.fps = float(fps)
        self._twin = twin
        self._size = size
        self._frame: np.ndarray | None = None
        self._time = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.frames = 0

    def connect(self) -> None:
        """Start the capture thread and wait for its first frame."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._ready.clear()
        self._thread = threading.Thread(target=self._run, name=f"twin-camera-{self.name}", daemon=True)
        self._thread.start()
        if not self._ready.wait(30.0) or self._error is not None:
            self.disconnect()
            raise RuntimeError(f"twin camera {self.name!r} produced no frame: {self._error!r}")

    def disconnect(self) -> None:
        """Stop the capture thread (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None

    def pause(self, on: bool = True) -> None:
        """Fault injection: stop delivering frames (the thread stays alive); `pause(False)` resumes."""
        (self._paused.set if on else self._paused.clear)()

    def resume(self) -> None:
        """Deliver frames again after `pause`."""
        self.pause(False)

    def read_latest(self) -> tuple[np.ndarray, float]:
        """Newest frame (H, W, 3) uint8 and its capture time (time.monotonic s)."""
        with self._lock:
            if self._frame is None:
                raise RuntimeError(f"twin camera {self.name!r} has no frame yet: connect() first")
            return self._frame, self._time

    def _run(self) -> None:
        h, w = self._size
        twin = self._twin
        try:
            renderer = mujoco.Renderer(twin.env.model, height=h, width=w)
        except Exception as e:  # noqa: BLE001 - reported by connect()
            self._error = e
            self._ready.set()
            return
        for flag in (mujoco.mjtRndFlag.mjRND_SHADOW, mujoco.mjtRndFlag.mjRND_REFLECTION,
                     mujoco.mjtRndFlag.mjRND_SKYBOX):
            renderer.scene.flags[flag] = False
        period = 1.0 / self.fps
        next_t = time.monotonic()
        try:
            while not self._stop.is_set():
                if not self._paused.is_set():
                    with twin.lock:
                        renderer.update_scene(twin.env.data, camera=self.name)
                        t = time.monotonic()
                    frame = renderer.render().copy()
                    with self._lock:
                        self._frame, self._time = frame, t
                    self.frames += 1
                    self._ready.set()
                next_t += period
                delay = next_t - time.monotonic()
                if delay < -period:  # fell behind: re-anchor instead of bursting
                    next_t = time.monotonic()
                elif delay > 0:
                    self._stop.wait(delay)
        except Exception as e:  # noqa: BLE001 - a dead camera shows up as frame age
            self._error = e
            log.error("twin camera %r stopped: %s", self.name, e)
        finally:
            renderer.close()
