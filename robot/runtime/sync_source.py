"""A synchronous policy source: infer, then execute (the stand-in until the async `PolicySource` is merged).

Implements the Teleop interface the loop expects from any source. Each tick it
appends the observation to a history of the last To observations (the first
one repeated at the start, as in training and `policies/eval.py`); when its
queue is empty it calls `policy.predict_chunk` on the (1, To, ...) history and
queues the first Te actions. The loop waits for inference (that is what makes
it synchronous: the arm stands still meanwhile).

A policy that returns non-finite actions, or raises FloatingPointError for
them, yields a NaN action: the safety layer holds and, if it persists, stops.
`telemetry()` gives the same keys as the async PolicySource: inference_ms,
queue_depth, stalled_ticks, chunk_age_ms.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from robot import keys as K
from robot.interfaces import Observation, TeleopCommand

log = logging.getLogger(__name__)


class SyncPolicySource:
    """Teleop-style source around a `Policy` (spec + predict_chunk), inferring in the loop's thread.

    n_action_steps: Te actions executed per chunk (0: the policy's own).
    inference_steps: denoising steps (0: the policy's own).
    """

    def __init__(self, policy: Any, n_action_steps: int = 0, inference_steps: int = 0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        spec = policy.spec
        self.to = int(spec.n_obs_steps)
        self.te = int(n_action_steps or spec.n_action_steps)
        if not 1 <= self.te <= spec.horizon:
            raise ValueError(f"n_action_steps={self.te} must be in [1, horizon={spec.horizon}]")
        self.inference_steps = inference_steps
        self._clock = clock
        self._history: deque[Observation] = deque(maxlen=self.to)
        self._queue: deque[np.ndarray] = deque()
        self._inference_ms = math.nan
        self._chunk_time = math.nan
        self.errors = 0

    def connect(self) -> None:
        """Nothing to open."""

    def disconnect(self) -> None:
        """Nothing to close."""

    def close(self) -> None:
        """Same as the async source's `close()`: nothing runs in the background here."""

    def reset(self, obs: Observation) -> None:
        """New episode: history filled with `obs`, queue emptied, policy state reset."""
        self._history = deque([obs] * self.to, maxlen=self.to)
        self._queue.clear()
        if hasattr(self.policy, "reset"):
            self.policy.reset()

    def _batch(self) -> dict[str, Any]:
        spec = self.policy.spec
        batch: dict[str, Any] = {k: np.stack([np.asarray(o[k]) for o in self._history])[None]
                                 for k in spec.observations}
        if spec.uses_instruction:
            batch[K.INSTRUCTION] = [str(self._history[-1].get(K.INSTRUCTION, ""))]
        return batch

    def _infer(self) -> None:
        t0 = self._clock()
        kw = {"steps": self.inference_steps} if self.inference_steps > 0 else {}
        try:
            chunk = self.policy.predict_chunk(self._batch(), **kw)
            if hasattr(chunk, "detach"):
                chunk = chunk.detach().float().cpu().numpy()
            chunk = np.asarray(chunk, dtype=np.float32)[0, : self.te]
        except FloatingPointError as e:
            self.errors += 1
            log.error("policy returned non-finite actions: %s", e)
            chunk = np.full((self.te, self.policy.spec.action_dim), np.nan, np.float32)
        self._inference_ms = (self._clock() - t0) * 1e3
        self._chunk_time = self._clock()
        self._queue.extend(chunk)

    def get_action(self, obs: Observation) -> TeleopCommand:
        """The next action (Da,) of the current chunk, inferring a new chunk when the queue is empty."""
        self._history.append(obs)
        if not self._queue:
            self._infer()
        return TeleopCommand(self._queue.popleft())

    def telemetry(self) -> dict[str, float]:
        """inference_ms (last chunk), queue_depth (actions left), stalled_ticks (0: never stalls, it blocks), chunk_age_ms."""
        return {"inference_ms": self._inference_ms, "queue_depth": float(len(self._queue)),
                "stalled_ticks": 0.0, "chunk_age_ms": (self._clock() - self._chunk_time) * 1e3}
