"""The recorder hook: every tick of the loop goes to an episode writer of a store.

The runtime must not import `data/`, so `StoreRecorder` codes against the
store contract of docs/architecture.md only: `store.begin_episode(task=...,
instruction=..., source=..., seed=...)` (seed as extra metadata) returns a writer with `append(row)`,
`commit(success=..., note=...)` and `discard()`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from robot import keys as K
from robot.interfaces import Observation


@dataclass(frozen=True)
class EpisodeInfo:
    """What the loop knows when an episode starts: task, seed, source kind."""

    task: str
    seed: int | None
    source: str
    instruction: str = ""


@runtime_checkable
class RecorderHook(Protocol):
    """Called by the loop: `start` once, `record` every tick, `finish` once."""

    def start(self, obs: Observation, info: EpisodeInfo) -> None: ...

    def record(self, obs: Observation, action: np.ndarray, timestamp: float,
               extra: Mapping[str, Any] | None = None) -> None: ...

    def finish(self, save: bool, success: bool, note: str = "") -> bool:
        """Commit (save=True) or drop the episode; returns whether it was committed."""
        ...


class StoreRecorder:
    """Appends each tick's observation keys, action and timestamp to a store episode.

    `obs_keys` are the per-tick observation keys to record (`state`,
    `images.<cam>`); the instruction goes to episode metadata. With
    `keep_failed=False` an unsuccessful episode is discarded instead of being
    committed with `success=False`. `extra_keys` are per-tick keys the loop
    passes in `record(..., extra=...)` (deployment telemetry `telemetry.<field>`).
    """

    def __init__(self, store: Any, obs_keys: Sequence[str], keep_failed: bool = False,
                 extra_keys: Sequence[str] = ()) -> None:
        if not obs_keys:
            raise ValueError("StoreRecorder needs at least one observation key to record (e.g. 'state')")
        self.store = store
        self.obs_keys = tuple(obs_keys)
        self.extra_keys = tuple(extra_keys)
        self.keep_failed = keep_failed
        self._writer: Any = None
        self._ticks = 0
        self._episode = ""
        self.why_not_saved = ""
        """Why the last finished episode was dropped ('' when it was committed or never recorded)."""

    @property
    def recording(self) -> bool:
        """True between `start` and `finish`."""
        return self._writer is not None

    def start(self, obs: Observation, info: EpisodeInfo) -> None:
        """Open a writer for a new episode."""
        if self._writer is not None:
            raise RuntimeError("StoreRecorder.start() while an episode is open: finish() it first")
        instruction = info.instruction or str(obs.get(K.INSTRUCTION, "") or "")
        missing = [k for k in self.obs_keys if k not in obs]
        if missing:
            raise KeyError(
                f"observation of task {info.task!r} lacks {missing} (has {sorted(obs)}); "
                "enable the matching observations in the task config (e.g. images) or record fewer keys"
            )
        extra = {} if info.seed is None else {"seed": int(info.seed)}
        self._writer = self.store.begin_episode(
            task=info.task, instruction=instruction, source=info.source, **extra
        )
        self._ticks = 0
        self._episode = f"{info.task} seed={info.seed}"

    def record(self, obs: Observation, action: np.ndarray, timestamp: float,
               extra: Mapping[str, Any] | None = None) -> None:
        """Append one tick: the observation before the action, the action sent, its time, `extra_keys`."""
        if self._writer is None:
            raise RuntimeError("StoreRecorder.record() before start()")
        row: dict[str, Any] = {}
        for k in self.obs_keys:
            if k not in obs:
                raise KeyError(f"episode {self._episode}, tick {self._ticks}: observation lacks {k!r}")
            row[k] = obs[k]
        row[K.ACTION] = np.asarray(action, dtype=np.float32)
        row[K.TIMESTAMP] = np.float64(timestamp)
        for k in self.extra_keys:
            if extra is None or k not in extra:
                raise KeyError(f"episode {self._episode}, tick {self._ticks}: the loop gave no {k!r}")
            row[k] = extra[k]
        self._writer.append(row)
        self._ticks += 1

    def finish(self, save: bool, success: bool, note: str = "") -> bool:
        """Commit when `save` and (success or keep_failed), else discard. Empty episodes are dropped."""
        if self._writer is None:
            return False
        writer, self._writer = self._writer, None
        if save and self._ticks > 0 and (success or self.keep_failed):
            writer.commit(success=bool(success), note=note)
            self.why_not_saved = ""
            return True
        writer.discard()
        if not save:
            self.why_not_saved = "the episode was cut short"
        elif self._ticks == 0:
            self.why_not_saved = "no ticks were recorded"
        else:
            self.why_not_saved = "not a success: pass --keep-failed to keep it"
        return False
