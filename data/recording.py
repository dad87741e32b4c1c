"""The writing half of `EpisodeStore`: begin an episode, commit it atomically, roll back leftovers.

The commit protocol (see data/store.py for why it is crash-safe): the writer
streams frames into rows past the committed end; `_commit` then writes the
episode's metadata row and, last, its `episode_ends` entry, the commit point.
`_rollback` physically removes whatever lies past the committed prefix (rows,
unwritten `episode_ends` slots, metadata rows, `*.partial` temp files of writes
cut short by a kill); it runs under the writer lock before each new episode.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import TYPE_CHECKING, Any

import numpy as np

from data.errors import StoreError, WriterBusyError

if TYPE_CHECKING:
    from data.writer import EpisodeWriter

SOURCES = ("teleop", "scripted", "policy", "intervention")
"""Where an episode's actions came from."""

_RESERVED_META = {"task", "instruction", "source", "success", "note", "length", "recorded_at"}


class RecordingMixin:
    """Recording methods of `EpisodeStore` (which provides path, specs, arrays and committed state)."""

    def begin_episode(self, task: str = "", instruction: str = "", source: str = "teleop",
                      **extra_meta: Any) -> EpisodeWriter:
        """Start recording an episode; returns its writer (append ticks, then commit or discard).

        `source` is one of teleop / scripted / policy / intervention; `extra_meta`
        (JSON-serializable) is kept in the episode metadata.
        """
        from data.writer import EpisodeWriter

        if self.readonly:
            raise StoreError(f"{self.path} is open read-only; open it with readonly=False to record")
        if self._writer is not None:
            raise WriterBusyError(f"{self.path}: an episode is already being recorded; "
                                  "commit or discard it first")
        if source not in SOURCES:
            raise StoreError(f"source {source!r} is not one of {', '.join(SOURCES)}")
        clash = _RESERVED_META & set(extra_meta)
        if clash:
            raise StoreError(f"extra metadata may not use reserved names {sorted(clash)}")
        meta = {"task": str(task), "instruction": str(instruction), "source": source, **extra_meta}
        try:
            json.dumps(meta)
        except TypeError as e:
            raise StoreError(f"episode metadata must be JSON-serializable: {e}") from None
        self._lock.acquire()
        try:
            self.refresh()
            self._rollback()
        except BaseException:
            self._lock.release()
            raise
        self._writer = EpisodeWriter(self, start=self.num_frames, meta=meta)
        return self._writer

    def _rollback(self) -> None:
        """Physically remove everything past the committed prefix (left by a crash or a discard)."""
        n, frames = self.num_episodes, self.num_frames
        for arr in self._arrays.values():
            if arr.shape[0] != frames:
                arr.resize((frames, *arr.shape[1:]))
        if self._raw_ends_len != n:
            self._ends_arr.resize((n,))
            self._raw_ends_len = n
        if self._meta_arr.shape[0] != n:
            self._meta_arr.resize((n,))
        for partial in self.path.rglob("*.partial"):  # temp files of writes cut short by a kill
            partial.unlink(missing_ok=True)

    def _commit(self, meta: dict[str, Any], end: int) -> None:
        """Make the episode ending at frame `end` durable: metadata row, then the episode_ends entry."""
        n = self.num_episodes
        meta = {**meta, "recorded_at": meta.get("recorded_at")
                or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        meta.setdefault("episode_id", uuid.uuid4().hex)  # kept by copies: stable train/val split
        self._meta_arr.resize((n + 1,))
        self._meta_arr[n] = json.dumps(meta)
        self._ends_arr.resize((n + 1,))
        self._ends_arr[n] = end  # the commit point
        self._ends = np.append(self._ends, np.int64(end))
        self._raw_ends_len = n + 1
        self._meta_cache.pop(n, None)

    def _writer_done(self) -> None:
        self._writer = None
        self._lock.release()

    def close(self) -> None:
        """Discard an unfinished episode and release the writer lock."""
        if self._writer is not None:
            self._writer.discard()
        self._lock.release()

