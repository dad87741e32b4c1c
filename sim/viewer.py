"""MuJoCo's own viewer as a loop observer: watch the arm, the objects and the goal while driving.

`MujocoViewer(env)` opens `mujoco.viewer.launch_passive` on the env's model and
data. The viewer renders on its own thread; the control loop only calls
`sync()` (copies the sim state into the viewer, about 0.1 ms), at most
`max_hz` times a second, so the view follows the loop at the task's rate
without slowing it (bench_liveview_jitter.py measures it). The task's goal
markers (`env.goal_markers()`) are drawn as translucent spheres and an overlay
shows the episode status and the last operator event.

Needs a display: DISPLAY set to a reachable X server (a desktop, `ssh -X`, or
Xvfb). Without one `ViewerUnavailable` says so and suggests `--view rerun`.
The viewer uses GLFW with the system's OpenGL (Mesa llvmpipe under Xvfb) and
works alongside the EGL offscreen renderer that draws the observation images
(MUJOCO_GL=egl), in one process.

The render thread runs at a lower CPU priority (`render_nice`, Linux per-thread
nice): without a GPU (Xvfb, llvmpipe, no vsync) it draws as fast as it can and
takes most of a core, and on a busy machine the control loop must win.

Two things found the hard way (mujoco 3.x/4.0, Linux):
- `launch_passive` blocks forever when GLFW cannot start (its thread dies
  before handing back a handle), so the launch here has a timeout.
- Exiting the process while the viewer's thread is still tearing down races
  with GLFW's atexit `glfwTerminate` (hang, or GLXBadDrawable + segfault):
  `close()` waits for that thread.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

NO_DISPLAY = ("the MuJoCo viewer needs a display and DISPLAY is not set; on a headless machine use "
              "--view rerun (stream to a rerun viewer with --rerun-connect HOST:PORT or save with --rerun-save "
              "run.rrd), or run under a virtual display: xvfb-run -a robot ...")


class ViewerUnavailable(RuntimeError):
    """The viewer cannot open here (no display, GLFW failed); the message says what to use instead."""


class MujocoViewer:
    """Passive MuJoCo viewer synced from the control loop (a `LoopObserver`).

    env: a MuJoCo task (has `model`, `data`; optionally `goal_markers()`).
    max_hz: most syncs per second (the view follows the loop up to this rate).
    launch_timeout_s: give up when the window does not open within this time.
    show_ui: MuJoCo's left/right panels (off: a clean view for the operator).
    render_nice: niceness added to the viewer's render thread (0 = same priority as the loop).
    clock: time source for the rate limit (injected in tests).
    """

    def __init__(self, env: Any, *, max_hz: float = 60.0, launch_timeout_s: float = 20.0, show_ui: bool = False,
                 render_nice: int = 10, clock: Callable[[], float] = time.monotonic) -> None:
        if not os.environ.get("DISPLAY"):
            raise ViewerUnavailable(NO_DISPLAY)
        model, data = getattr(env, "model", None), getattr(env, "data", None)
        if model is None or data is None:
            raise ViewerUnavailable(f"{type(env).__name__} has no MuJoCo model/data to view; use --view rerun")
        try:
            import mujoco.viewer  # noqa: F401  (imports glfw; fails without libglfw)
        except Exception as e:  # ImportError, or glfw's own errors on a broken GL setup
            raise ViewerUnavailable(f"cannot import mujoco.viewer ({e}); use --view rerun") from e
        self.env = env
        self.min_interval = 1.0 / max_hz if max_hz > 0 else 0.0
        self._clock = clock
        self._last_sync = -float("inf")
        self.sync_count = 0
        self.sync_s_total = 0.0
        self.sync_s_max = 0.0
        self.status = "waiting"
        self.last_event = ""
        self.closed_by_user = False
        self.handle, self._threads = self._launch(model, data, launch_timeout_s, show_ui)
        self._lower_priority(render_nice)
        self._aim_camera(model)
        self._update_overlay()
        self.sync(force=True)

    def _launch(self, model: Any, data: Any, timeout_s: float, show_ui: bool) -> tuple[Any, set[threading.Thread]]:
        import warnings

        import glfw
        import mujoco.viewer

        with warnings.catch_warnings():  # glfw reports why as a warning; the message below says it
            warnings.simplefilter("ignore")
            ok = glfw.init()  # idempotent; the viewer's thread calls it too, but would die silently
        if not ok:
            raise ViewerUnavailable(f"cannot open a window on DISPLAY={os.environ.get('DISPLAY')} (no X server "
                                    "there, or no access); use --view rerun, or run under xvfb-run")

        box: dict[str, Any] = {}
        before = set(threading.enumerate())

        def launch() -> None:
            try:
                box["handle"] = mujoco.viewer.launch_passive(model, data, show_left_ui=show_ui,
                                                             show_right_ui=show_ui)
            except Exception as e:  # noqa: BLE001  (reported to the caller below)
                box["error"] = e

        starter = threading.Thread(target=launch, name="viewer-launch", daemon=True)
        starter.start()
        starter.join(timeout_s)
        if "error" in box:
            raise ViewerUnavailable(f"the MuJoCo viewer failed to start: {box['error']}; use --view rerun")
        if "handle" not in box:
            raise ViewerUnavailable(
                f"the MuJoCo viewer did not open within {timeout_s:g} s on DISPLAY={os.environ.get('DISPLAY')} "
                "(GLFW could not create a window: is the X server reachable, with GLX?); use --view rerun")
        threads = set(threading.enumerate()) - before - {starter}
        return box["handle"], threads

    def _lower_priority(self, nice: int) -> None:
        """Renice the viewer's threads (Linux: niceness is per thread); a no-op where unsupported."""
        if nice <= 0 or not hasattr(os, "setpriority"):
            return
        for t in self._threads:
            if t.native_id is None:
                continue
            try:
                current = os.getpriority(os.PRIO_PROCESS, t.native_id)
                os.setpriority(os.PRIO_PROCESS, t.native_id, min(19, current + nice))
            except OSError:  # not permitted or the thread is gone: the view still works
                pass

    @property
    def render_thread_ids(self) -> list[int]:
        """Native ids of the viewer's threads (for checks and profiling)."""
        return [t.native_id for t in self._threads if t.native_id is not None]

    def _aim_camera(self, model: Any) -> None:
        """Look at the scene's centre from the front-left, close enough to see the gripper."""
        cam = self.handle.cam
        cam.lookat[:] = model.stat.center
        cam.distance = 1.1 * float(model.stat.extent)
        cam.azimuth, cam.elevation = 150.0, -30.0

    @property
    def is_running(self) -> bool:
        """False once the window is closed (by `close()` or the user)."""
        return bool(self.handle.is_running())

    def sync(self, force: bool = False) -> bool:
        """Copy the sim state to the viewer unless synced less than 1 / max_hz ago; returns whether it synced."""
        now = self._clock()
        if not force and now - self._last_sync < self.min_interval:
            return False
        if not self.handle.is_running():
            self.closed_by_user = True
            return False
        self._last_sync = now
        t = time.perf_counter()
        self._draw_goals()
        # A body whose physics runs on its own thread (the twin) has a `lock`: copy a consistent state.
        lock = getattr(self.env, "lock", None)
        if lock is not None:
            with lock:
                self.handle.sync()
        else:
            self.handle.sync()
        dt = time.perf_counter() - t
        self.sync_count += 1
        self.sync_s_total += dt
        self.sync_s_max = max(self.sync_s_max, dt)
        return True

    def _draw_goals(self) -> None:
        import mujoco

        markers = self.env.goal_markers() if hasattr(self.env, "goal_markers") else []
        scn = self.handle.user_scn
        if scn is None:
            return
        with self.handle.lock():
            scn.ngeom = 0
            for m in markers[: scn.maxgeom]:
                geom = scn.geoms[scn.ngeom]
                mujoco.mjv_initGeom(geom, mujoco.mjtGeom.mjGEOM_SPHERE, np.array([m.size, 0.0, 0.0]),
                                    np.asarray(m.pos, dtype=np.float64), np.eye(3).ravel(),
                                    np.asarray(m.rgba, dtype=np.float32))
                geom.label = m.label[:99]
                scn.ngeom += 1

    def _update_overlay(self) -> None:
        import mujoco

        self.handle.set_texts((mujoco.mjtFontScale.mjFONTSCALE_150, mujoco.mjtGridPos.mjGRID_TOPLEFT,
                               self.status, self.last_event))

    # ---------------------------------------------------------------- observer
    def on_episode_start(self, obs: Any, info: Any) -> None:
        """Recording: the overlay says so; the view shows the reset scene."""
        self.status = f"REC seed {info.seed}"
        self._update_overlay()
        self.sync(force=True)

    def on_tick(self, obs: Any, action_sent: np.ndarray, step: Any, timing: Any, source_label: str) -> None:
        """Sync the view (rate-limited); the overlay names who drives."""
        status = f"REC  {source_label.upper() if source_label == 'intervention' else source_label}"
        if status != self.status:
            self.status = status
            self._update_overlay()
        self.sync()

    def on_event(self, text: str) -> None:
        """Show the event in the overlay; also shows the scene while waiting for start."""
        self.last_event = text
        if text.startswith("waiting"):
            self.status = "WAITING"
        self._update_overlay()
        self.sync(force=True)

    def on_episode_end(self, result: Any) -> None:
        """Back to waiting."""
        self.status = "WAITING"
        self._update_overlay()

    def stats(self) -> dict[str, float]:
        """Syncs done and their cost (ms): what the loop paid for the view."""
        n = max(self.sync_count, 1)
        return {"syncs": self.sync_count, "sync_ms_mean": 1e3 * self.sync_s_total / n,
                "sync_ms_max": 1e3 * self.sync_s_max}

    def close(self, timeout_s: float = 10.0) -> None:
        """Close the window and wait for the viewer's thread (see the module docstring for why)."""
        self.handle.close()
        for t in self._threads:
            t.join(timeout_s)
