"""Replay a recorded episode's commands through the loop (same safety layer, same body).

`ReplaySource(actions)` is a Teleop-style source: tick k returns recorded
action k (Da,), then None (the loop holds the last command) once they run out.
"""

from __future__ import annotations

import numpy as np

from robot.interfaces import Observation, TeleopCommand


class ReplaySource:
    """Returns the rows of `actions` (T, Da) one per tick, from the start at every reset."""

    def __init__(self, actions: np.ndarray) -> None:
        self.actions = np.asarray(actions, dtype=np.float32)
        if self.actions.ndim != 2 or not len(self.actions):
            raise ValueError(f"replay needs a (T, Da) array of actions with T > 0, got {self.actions.shape}")
        self._k = 0

    def connect(self) -> None:
        """Nothing to open."""

    def disconnect(self) -> None:
        """Nothing to close."""

    def reset(self, obs: Observation) -> None:
        """Start again from the first recorded action."""
        self._k = 0

    def get_action(self, obs: Observation) -> TeleopCommand:
        """The next recorded action, or None after the last."""
        if self._k >= len(self.actions):
            return TeleopCommand(None)
        self._k += 1
        return TeleopCommand(self.actions[self._k - 1])
