"""Inference worker: runs a policy off the control thread and returns timestamped chunks.

The control loop never waits for it: `submit` drops a request into a
one-slot mailbox (latest observation wins: a request not yet started is
replaced by a newer one) and returns; `poll` hands back the chunks finished
since the last poll. Each `TimedChunk` carries the tick and clock time of the
observation it was computed from (its first action belongs to that tick) and
the inference latency.

Failures surface, never silently: a policy exception is re-raised from the
next `poll` as `InferenceError` (chained to the original), and a chunk with
NaN/inf is never handed out: `poll` raises `NonFiniteChunkError` instead.

`policy` is any object with `spec` (PolicySpec) and
`predict_chunk(obs, noise=None, **kwargs) -> (B, Ta, Da)` (array or tensor):
a local policy or `robot.runtime.remote.RemotePolicy`. This module imports no
policy package.

Modes: `threaded=True` runs a daemon thread (deployment); `threaded=False`
computes inline in `submit` and releases the chunk `delay_ticks` polls later,
an exact, machine-independent emulation of an inference delay (benchmarks,
tests).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class InferenceError(RuntimeError):
    """The policy failed to produce a chunk; the message says why (the cause is chained)."""


class NonFiniteChunkError(InferenceError):
    """The policy returned NaN/inf actions; they were not executed."""


@dataclass
class InferenceRequest:
    """One request: the (1, To, ...) observation batch of tick `tick` captured at `obs_time`.

    kwargs go to `predict_chunk` as they are (steps, RTC prefix, ...).
    """

    obs: Mapping[str, Any]
    tick: int
    obs_time: float
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TimedChunk:
    """A finished chunk: actions (Ta, Da) float32 robot units, actions[0] for tick `start_tick`.

    obs_time: clock time of the observation (s); latency_s: predict_chunk wall time (s);
    done_time: clock time the chunk was ready (s).
    """

    actions: np.ndarray
    start_tick: int
    obs_time: float
    latency_s: float
    done_time: float


def to_numpy_chunk(out: Any) -> np.ndarray:
    """First batch row of a predict_chunk result (array or torch tensor) as (Ta, Da) float32."""
    if hasattr(out, "detach"):
        out = out.detach().cpu().numpy()
    arr = np.asarray(out, dtype=np.float32)
    if arr.ndim == 3:
        arr = arr[0]
    if arr.ndim != 2:
        raise InferenceError(f"predict_chunk returned shape {arr.shape}; expected (B, Ta, Da)")
    return arr


class InferenceWorker:
    """Runs `policy.predict_chunk` for the latest request, on a thread or inline.

    clock: seconds (time.monotonic by default; inject a fake one in tests).
    threaded: own daemon thread; False: compute inline and release after `delay_ticks` polls.
    """

    def __init__(
        self,
        policy: Any,
        *,
        clock: Callable[[], float] = time.monotonic,
        threaded: bool = True,
        delay_ticks: int = 0,
    ) -> None:
        if delay_ticks < 0:
            raise ValueError(f"delay_ticks must be >= 0, got {delay_ticks}")
        self.policy = policy
        self.clock = clock
        self.threaded = threaded
        self.delay_ticks = delay_ticks
        self.last_latency_s = float("nan")
        self.requests = 0
        self.completed = 0
        self.replaced = 0  # requests overwritten before they started (latest observation wins)
        self._cv = threading.Condition()
        self._pending: InferenceRequest | None = None
        self._running = False
        self._done: list[TimedChunk] = []
        self._error: BaseException | None = None
        self._epoch = 0
        self._closed = False
        self._delayed: list[tuple[int, TimedChunk]] = []  # inline mode: (polls left, chunk)
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._serve, name="inference-worker", daemon=True)
            self._thread.start()

    # -- control-thread side ---------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """A request is waiting or running (or, inline, a chunk is still on its way)."""
        with self._cv:
            return self._pending is not None or self._running or bool(self._delayed)

    def submit(self, request: InferenceRequest) -> None:
        """Queue `request`, replacing one not yet started; never blocks (threaded mode)."""
        if self._closed:
            raise InferenceError("the inference worker is closed")
        self.requests += 1
        if not self.threaded:
            chunk = self._compute(request)
            if chunk is not None:
                self._delayed.append((self.delay_ticks, chunk))
            return
        with self._cv:
            if self._pending is not None:
                self.replaced += 1
            self._pending = request
            self._cv.notify_all()

    def run_now(self, request: InferenceRequest) -> TimedChunk:
        """Compute `request` on the calling thread and return its chunk (synchronous inference)."""
        self.requests += 1
        chunk = self._compute(request)
        self._raise_error()
        assert chunk is not None
        return chunk

    def poll(self) -> list[TimedChunk]:
        """Chunks finished since the last poll, oldest first; raises the worker's error if any."""
        self._raise_error()
        if not self.threaded:
            ready = [c for left, c in self._delayed if left <= 0]
            self._delayed = [(left - 1, c) for left, c in self._delayed if left > 0]
            return ready
        with self._cv:
            done, self._done = self._done, []
        return done

    def reset(self) -> None:
        """Between episodes: drop pending work, wait for a running call, discard results, `policy.reset()`."""
        with self._cv:
            self._pending = None
            self._epoch += 1
            while self._running:
                self._cv.wait()
            self._done = []
            self._delayed = []
            self._error = None
            if hasattr(self.policy, "reset"):
                self.policy.reset()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread (waits up to `timeout` s for a running call); idempotent."""
        with self._cv:
            self._closed = True
            self._pending = None
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    # -- worker side -----------------------------------------------------------------------------
    def _raise_error(self) -> None:
        with self._cv:
            err, self._error = self._error, None
        if err is None:
            return
        if isinstance(err, InferenceError):
            raise err
        if isinstance(err, FloatingPointError):  # GenerativePolicy's refusal of NaN/inf chunks
            raise NonFiniteChunkError(f"policy refused a non-finite chunk: {err}") from err
        raise InferenceError(f"policy.predict_chunk raised {type(err).__name__}: {err}") from err

    def _compute(self, request: InferenceRequest) -> TimedChunk | None:
        """predict_chunk + checks; stores the error (raised by the next poll) and returns None on failure."""
        t0 = self.clock()
        try:
            out = self.policy.predict_chunk(request.obs, **request.kwargs)
            actions = to_numpy_chunk(out)
            if not np.isfinite(actions).all():
                bad = int((~np.isfinite(actions)).any(axis=-1).sum())
                raise NonFiniteChunkError(
                    f"policy returned a chunk with non-finite actions at {bad} of {len(actions)} steps "
                    f"(request for tick {request.tick}); none of it was executed"
                )
        except BaseException as e:  # noqa: BLE001 - every failure must reach the control thread
            with self._cv:
                self._error = e
            return None
        t1 = self.clock()
        self.last_latency_s = t1 - t0
        self.completed += 1
        return TimedChunk(actions, request.tick, request.obs_time, t1 - t0, t1)

    def _serve(self) -> None:
        while True:
            with self._cv:
                while self._pending is None and not self._closed:
                    self._cv.wait()
                if self._closed:
                    return
                request, self._pending = self._pending, None
                epoch = self._epoch
                self._running = True
            chunk = None
            try:
                chunk = self._compute(request)
            finally:
                with self._cv:
                    self._running = False
                    if chunk is not None and epoch == self._epoch:
                        self._done.append(chunk)
                    self._cv.notify_all()
