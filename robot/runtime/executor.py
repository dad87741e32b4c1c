"""Chunk executor: a tick-indexed action queue fed by timestamped chunks, blended where they overlap.

A chunk computed from the observation of tick k holds the actions for ticks
k, k+1, ..., k+T-1 (`start_tick = k`). By the time it arrives (tick `now`,
after the inference delay) its actions for ticks < now are in the past: they
are dropped, never executed late. Where the new chunk overlaps actions still
queued from an older chunk, a named aggregation function blends them; ticks
only the new chunk covers are appended as they are.

Splices are guarded so execution never jumps back in time: the queue is keyed
by tick, ticks already executed are never re-queued, and a chunk older than
the last one spliced (out-of-order arrival) is discarded whole. A chunk whose
every action is already in the past adds nothing (the lerobot SO-101 jump came
from splicing such a warm-up chunk past the queue; see shared/ANCHORS.md).

Aggregators (`AGGREGATORS`, picked by name in config), each
`(old (Da,), new (Da,), n_old, coeff) -> (Da,)` where `old` is the action
queued for the tick (already a blend of `n_old` chunks):

- `latest_only`: the new chunk wins (naive switching).
- `weighted_average`: 0.3 old + 0.7 new (lerobot's async-inference default).
- `average`: 0.5 old + 0.5 new (lerobot's `average`).
- `temporal_ensemble`: ACT's exponential weights over every chunk covering
  the tick, w_i = exp(-coeff * i) with i = 0 the oldest chunk (ACT: coeff 0.01);
  coeff 0 is the plain mean of all chunks.

Testable alone: nothing here reads a clock; ticks are integers the caller owns.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Aggregator = Callable[[np.ndarray, np.ndarray, int, float], np.ndarray]
"""`(old (Da,), new (Da,), n_old chunks already blended into old, coeff) -> (Da,)`."""


def latest_only(old: np.ndarray, new: np.ndarray, n_old: int, coeff: float) -> np.ndarray:
    """The newest chunk replaces what was queued (naive chunk switching)."""
    return new


def weighted_average(old: np.ndarray, new: np.ndarray, n_old: int, coeff: float) -> np.ndarray:
    """0.3 old + 0.7 new, as lerobot's async inference default."""
    return 0.3 * old + 0.7 * new


def average(old: np.ndarray, new: np.ndarray, n_old: int, coeff: float) -> np.ndarray:
    """0.5 old + 0.5 new."""
    return 0.5 * (old + new)


def temporal_ensemble(old: np.ndarray, new: np.ndarray, n_old: int, coeff: float) -> np.ndarray:
    """ACT temporal ensembling: running weighted mean with w_i = exp(-coeff * i), i = 0 oldest."""
    w_old = sum(math.exp(-coeff * i) for i in range(n_old))
    w_new = math.exp(-coeff * n_old)
    return (w_old * old + w_new * new) / (w_old + w_new)


AGGREGATORS: dict[str, Aggregator] = {
    "latest_only": latest_only,
    "weighted_average": weighted_average,
    "average": average,
    "temporal_ensemble": temporal_ensemble,
}


def get_aggregator(name: str) -> Aggregator:
    """The aggregator registered as `name`; a clear error lists the valid names."""
    if name not in AGGREGATORS:
        raise KeyError(f"unknown aggregation {name!r}; registered: {', '.join(sorted(AGGREGATORS))}")
    return AGGREGATORS[name]


@dataclass(frozen=True)
class ExecutorConfig:
    """Chunk executor settings.

    aggregation: name in `AGGREGATORS`.
    temporal_ensemble_coeff: m of ACT's weights exp(-m * i) (temporal_ensemble only).
    actions_per_chunk: how many leading actions of each chunk are queued
      (0: the whole chunk). Later actions of a long horizon are less reliable.
    """

    aggregation: str = "weighted_average"
    temporal_ensemble_coeff: float = 0.01
    actions_per_chunk: int = 0

    def __post_init__(self) -> None:
        get_aggregator(self.aggregation)
        if self.actions_per_chunk < 0:
            raise ValueError(f"actions_per_chunk must be >= 0, got {self.actions_per_chunk}")


@dataclass(frozen=True)
class SpliceReport:
    """What one `add_chunk` did: actions queued fresh, blended with queued ones, dropped as past.

    `rejected` is True when the whole chunk was discarded as out of order.
    """

    added: int
    blended: int
    dropped_past: int
    rejected: bool = False


class ChunkExecutor:
    """Tick-indexed action queue: `add_chunk` splices, `pop(tick)` hands out one action per tick."""

    def __init__(self, config: ExecutorConfig | None = None) -> None:
        self.config = config or ExecutorConfig()
        self._aggregate = get_aggregator(self.config.aggregation)
        self.reset()

    def reset(self) -> None:
        """Empty the queue (episode start)."""
        self._queue: dict[int, np.ndarray] = {}
        self._counts: dict[int, int] = {}
        self._next_tick = 0  # the earliest tick not yet executed
        self._last_start: int | None = None
        self.dropped_total = 0

    @property
    def next_tick(self) -> int:
        """The earliest tick whose action has not been handed out."""
        return self._next_tick

    def add_chunk(self, actions: np.ndarray, start_tick: int, now_tick: int | None = None) -> SpliceReport:
        """Splice `actions` (T, Da) whose first action belongs to `start_tick`.

        now_tick: the next tick to execute (default: the executor's own); actions
        for earlier ticks are dropped. Raises ValueError on non-finite actions:
        they must never reach a body.
        """
        chunk = np.asarray(actions, dtype=np.float32)
        if chunk.ndim != 2:
            raise ValueError(f"a chunk is (T, Da), got shape {chunk.shape}")
        if not np.isfinite(chunk).all():
            raise ValueError("chunk holds non-finite actions (NaN/inf); refusing to queue it")
        if self.config.actions_per_chunk:
            chunk = chunk[: self.config.actions_per_chunk]
        now = self._next_tick if now_tick is None else max(int(now_tick), self._next_tick)
        if self._last_start is not None and start_tick < self._last_start:
            self.dropped_total += len(chunk)
            return SpliceReport(0, 0, len(chunk), rejected=True)
        self._last_start = start_tick
        added = blended = dropped = 0
        for i, action in enumerate(chunk):
            tick = start_tick + i
            if tick < now:
                dropped += 1
                continue
            if tick in self._queue:
                n_old = self._counts[tick]
                self._queue[tick] = np.asarray(
                    self._aggregate(self._queue[tick], action, n_old, self.config.temporal_ensemble_coeff),
                    dtype=np.float32,
                )
                self._counts[tick] = n_old + 1
                blended += 1
            else:
                self._queue[tick] = action.copy()
                self._counts[tick] = 1
                added += 1
        self.dropped_total += dropped
        return SpliceReport(added, blended, dropped)

    def pop(self, tick: int) -> np.ndarray | None:
        """The action for `tick` (None when none is queued); forgets every tick <= `tick`."""
        for t in [t for t in self._queue if t < tick]:
            del self._queue[t], self._counts[t]
        self._next_tick = max(self._next_tick, tick + 1)
        action = self._queue.pop(tick, None)
        self._counts.pop(tick, None)
        return action

    def remaining(self, tick: int) -> int:
        """Actions queued for ticks >= `tick` (the queue depth)."""
        return sum(1 for t in self._queue if t >= tick)

    def committed(self, tick: int) -> np.ndarray:
        """Queued actions for the contiguous ticks tick, tick+1, ... as (K, Da) (K may be 0).

        This is the prefix real-time chunking inpaints the next chunk from.
        """
        rows = []
        t = tick
        while t in self._queue:
            rows.append(self._queue[t])
            t += 1
        if not rows:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack(rows)
