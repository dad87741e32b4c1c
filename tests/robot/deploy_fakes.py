"""Test doubles for the guarded loop: a scriptable robot, sources, and a list store, on a fake clock."""

from __future__ import annotations

from typing import Any

import numpy as np

from robot.interfaces import TeleopCommand, TeleopEvent
from robot.specs import ArraySpec, BodySpec

NAMES = ("j0", "j1", "j2")
SPEC = BodySpec("fake_arm", {"state": ArraySpec((3,), names=NAMES)}, ArraySpec((3,), names=NAMES), fps=50.0,
                action_low=(-1.0,) * 3, action_high=(1.0,) * 3)


class FakeClock:
    """A clock whose sleep advances it exactly."""

    def __init__(self) -> None:
        self.now = 10.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, dt: float) -> None:
        self.now += max(dt, 0.0)


class FakeRobot:
    """A Robot whose joints follow commands at once; faults are switched on per tick by the test.

    stale_from / camera_stops_at / dead_from / fault_at: tick index from which the observation
    time freezes, the camera frame time freezes, reads raise TimeoutError, faults() reports one.
    """

    def __init__(self, clock: FakeClock, stale_from: int = -1, stale_until: int = 10**9, camera_stops_at: int = -1,
                 dead_from: int = -1, fault_at: int = -1) -> None:
        self.body_spec = SPEC
        self.clock = clock
        self.q = np.zeros(3, np.float32)
        self.sent: list[np.ndarray] = []
        self.send_times: list[float] = []
        self.holds = self.safe_stops = self.reads = 0
        self.stale_from, self.stale_until = stale_from, stale_until
        self.camera_stops_at, self.dead_from, self.fault_at = camera_stops_at, dead_from, fault_at
        self._obs_time = self._frame_time = clock()
        self.is_connected = True

    def connect(self) -> None:
        self.is_connected = True

    def disconnect(self) -> None:
        self.is_connected = False

    def get_observation(self) -> tuple[dict[str, Any], float]:
        k = self.reads
        self.reads += 1
        if 0 <= self.dead_from <= k:
            raise TimeoutError("no status packet from servo 2")
        if not (0 <= self.stale_from <= k < self.stale_until):
            self._obs_time = self.clock()
        if not 0 <= self.camera_stops_at <= k:
            self._frame_time = self.clock()
        return {"state": self.q.copy()}, self._obs_time

    def send_action(self, action: np.ndarray) -> np.ndarray:
        self.sent.append(np.asarray(action, np.float32).copy())
        self.send_times.append(self.clock())
        self.q = np.asarray(action, np.float32).copy()
        return self.q.copy()

    def hold(self) -> None:
        self.holds += 1

    def safe_stop(self) -> None:
        self.safe_stops += 1

    def faults(self) -> list[str]:
        return ["servo 'j1' (id 2): over-temperature 71 C > 65 C"] if 0 <= self.fault_at < self.reads else []

    def frame_times(self) -> dict[str, float]:
        return {"front": self._frame_time}


class RampSource:
    """Moves joint 0 by 0.01 rad per tick; `on_tick(k)` lets a test act mid-run (e.g. trigger the e-stop)."""

    def __init__(self, on_tick=None) -> None:
        self.k = 0
        self.on_tick = on_tick

    def connect(self) -> None: ...

    def disconnect(self) -> None: ...

    def reset(self, obs) -> None:
        self.k = 0

    def get_action(self, obs) -> TeleopCommand:
        if self.on_tick is not None:
            self.on_tick(self.k)
        self.k += 1
        return TeleopCommand(np.array([0.01 * self.k, 0.0, 0.0], np.float32))


class StallingSource(RampSource):
    """An async-style source whose worker stops delivering after `stall_at` ticks (telemetry says so)."""

    def __init__(self, stall_at: int) -> None:
        super().__init__()
        self.stall_at = stall_at

    def get_action(self, obs) -> TeleopCommand:
        if self.k >= self.stall_at:
            self.k += 1
            return TeleopCommand(None)  # nothing fresh: the loop repeats the last command
        return super().get_action(obs)

    def telemetry(self) -> dict[str, float]:
        return {"inference_ms": 40.0, "queue_depth": 0.0, "stalled_ticks": float(max(0, self.k - self.stall_at)),
                "chunk_age_ms": 0.0}


class NaNPolicy:
    """A policy that returns NaN chunks (B, Ta, Da) without raising."""

    def __init__(self, spec) -> None:
        self.spec = spec

    def reset(self) -> None: ...

    def predict_chunk(self, obs, noise=None, **kwargs):
        b = len(next(iter(obs.values())))
        return np.full((b, self.spec.horizon, self.spec.action_dim), np.nan, np.float32)


class Operator:
    """A teleop device that presses INTERVENE at tick `at` and commands joint 1 = 0.05 meanwhile."""

    def __init__(self, at: int) -> None:
        self.at, self.k = at, 0

    def connect(self) -> None: ...

    def disconnect(self) -> None: ...

    def reset(self, obs) -> None: ...

    def get_action(self, obs) -> TeleopCommand:
        self.k += 1
        events = {TeleopEvent.INTERVENE} if self.k == self.at else set()
        return TeleopCommand(np.array([0.0, 0.05, 0.0], np.float32), events)


class ListStore:
    """The store contract of the recorder hook, in memory."""

    def __init__(self) -> None:
        self.episodes: list[list[dict]] = []
        self.metas: list[dict] = []

    def begin_episode(self, task="", instruction="", source="teleop", **extra):
        rows: list[dict] = []
        store = self

        class Writer:
            def append(self, row):
                rows.append(dict(row))

            def commit(self, success, note=""):
                store.episodes.append(rows)
                store.metas.append({"task": task, "source": source, "success": success, "note": note, **extra})

            def discard(self):
                rows.clear()

        return Writer()
