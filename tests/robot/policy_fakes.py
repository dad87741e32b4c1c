"""Test doubles for the policy runtime (tests only): a policy whose chunks name their ticks."""

from __future__ import annotations

import threading

import numpy as np

from robot.specs import ArraySpec, PolicySpec


class TickPolicy:
    """Chunk from an observation whose state[0] is the tick k: actions[i] = [k + i + offset] * Da.

    So the action executed at tick t equals t whenever the runtime aligns chunks
    correctly (and t + offset for a chunk built with `offset`). Records every
    call's tick and keyword arguments. `gate` (threading.Event) blocks each call
    until set; `nan_at` / `raise_at` make the call for that tick fail.
    """

    supports_rtc = True

    def __init__(self, horizon=8, n_action_steps=4, n_obs_steps=2, da=2, fps=30.0, offset=0.0):
        self.spec = PolicySpec({"state": ArraySpec((3,))}, da, n_obs_steps, horizon, n_action_steps, fps)
        self.offset = offset
        self.calls: list[tuple[int, dict]] = []
        self.histories: list[np.ndarray] = []
        self.instructions: list = []
        self.gate: threading.Event | None = None
        self.started = threading.Event()
        self.nan_at: set[int] = set()
        self.raise_at: set[int] = set()
        self.resets = 0

    def reset(self):
        self.resets += 1

    def predict_chunk(self, obs, noise=None, **kwargs):
        state = np.asarray(obs["state"])
        assert state.shape[:2] == (1, self.spec.n_obs_steps), state.shape
        k = int(round(float(state[0, -1, 0])))
        self.calls.append((k, kwargs))
        self.histories.append(state[0, :, 0].copy())
        self.instructions.append(obs.get("instruction"))
        self.started.set()
        if self.gate is not None:
            self.gate.wait(10.0)
        if k in self.raise_at:
            raise RuntimeError(f"boom at tick {k}")
        h, da = self.spec.horizon, self.spec.action_dim
        chunk = (k + np.arange(h, dtype=np.float32) + self.offset)[:, None].repeat(da, axis=1)
        if k in self.nan_at:
            chunk[3] = np.nan
        return chunk[None]


def obs_at(tick: int) -> dict:
    """The observation of tick `tick` as TickPolicy reads it."""
    return {"state": np.array([tick, 0.0, 0.0], np.float32), "instruction": "lift the cube"}


class FakeClock:
    """Manual clock (seconds)."""

    def __init__(self, t: float = 0.0):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt
